//! Lint output: for people (rustc-style), for tools (JSON), and for CI annotations (GitHub
//! workflow commands, GitLab Code Quality reports).

use serde_json::json;

use crate::diagnostic::{Diagnostic, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Github,
    Gitlab,
}

pub fn render(findings: &[Diagnostic], format: Format) -> String {
    match format {
        Format::Human => human(findings),
        Format::Json => json_list(findings),
        Format::Github => github(findings),
        Format::Gitlab => gitlab(findings),
    }
}

fn human(findings: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in findings {
        out.push_str(&d.with_rule());
        out.push('\n');
    }
    let count = |s| findings.iter().filter(|d| d.severity == s).count();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    out.push_str(&format!(
        "{}, {}, {}\n",
        plural(count(Severity::Error), "error"),
        plural(count(Severity::Warning), "warning"),
        plural(count(Severity::Note), "note")
    ));
    out
}

fn fields(d: &Diagnostic) -> (String, usize, usize) {
    d.location
        .as_ref()
        .map_or((String::new(), 0, 0), |l| (l.file.clone(), l.line, l.col))
}

fn json_list(findings: &[Diagnostic]) -> String {
    let items: Vec<_> = findings
        .iter()
        .map(|d| {
            let (file, line, col) = fields(d);
            json!({
                "severity": d.severity,
                "rule": d.rule,
                "message": d.message,
                "file": file,
                "line": line,
                "col": col,
                "hint": d.hint,
            })
        })
        .collect();
    serde_json::to_string_pretty(&items).expect("findings serialize") + "\n"
}

/// GitHub workflow commands: data and properties need their own escaping.
fn github(findings: &[Diagnostic]) -> String {
    let data = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let property = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
    let mut out = String::new();
    for d in findings {
        let level = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "notice",
        };
        let (file, line, col) = fields(d);
        let mut text = d.message.clone();
        if let Some(hint) = &d.hint {
            text.push_str(&format!("\nhint: {hint}"));
        }
        let mut props = vec![format!("title={}", property(d.rule.name()))];
        if !file.is_empty() {
            props.insert(0, format!("file={},line={line},col={col}", property(&file)));
        }
        out.push_str(&format!("::{level} {}::{}\n", props.join(","), data(&text)));
    }
    out
}

/// GitLab Code Quality: a JSON array; fingerprints identify a finding across pipelines.
fn gitlab(findings: &[Diagnostic]) -> String {
    let items: Vec<_> = findings
        .iter()
        .map(|d| {
            let (file, line, _) = fields(d);
            let identity = format!("{}\0{file}\0{}", d.rule, d.message);
            let digest = ring::digest::digest(&ring::digest::SHA256, identity.as_bytes());
            let fingerprint: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            let severity = match d.severity {
                Severity::Error => "major",
                Severity::Warning => "minor",
                Severity::Note => "info",
            };
            let description = match &d.hint {
                Some(h) => format!("{} (hint: {h})", d.message),
                None => d.message.clone(),
            };
            json!({
                "description": description,
                "check_name": d.rule,
                "fingerprint": fingerprint,
                "severity": severity,
                "location": { "path": file, "lines": { "begin": line.max(1) } },
            })
        })
        .collect();
    serde_json::to_string_pretty(&items).expect("findings serialize") + "\n"
}
