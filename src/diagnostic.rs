//! What a finding is: its rule and severity, what it says, where (file:line:col, with the
//! line shown under a caret) and how to fix it; and `Invalid`, the error of bad input.

use std::fmt;
use std::ops::Range;

use crate::rule::Rule;
pub use crate::rule::Severity;

/// A source file kept beside its diagnostics so every message can show the offending line.
#[derive(Debug, Clone)]
pub struct Source {
    /// What the user calls the file (the path as given, or `<built-in farm>`).
    pub name: String,
    pub text: String,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Source {
            name: name.into(),
            text: text.into(),
        }
    }

    /// An error at `span` (byte offsets into the text); `None` is about the file as a whole
    /// (located at its top, shown without a source excerpt).
    pub fn error(&self, span: Option<Range<usize>>, message: impl Into<String>) -> Diagnostic {
        let whole_file = span.is_none();
        let span = span.unwrap_or(0..0);
        let start = span.start.min(self.text.len());
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |i| start + i);
        let line_text = self.text[line_start..line_end].trim_end_matches('\r');
        let line = self.text[..start].matches('\n').count() + 1;
        let col = self.text[line_start..start].chars().count() + 1;
        let end = span.end.clamp(start, line_end.max(start));
        let width = match whole_file {
            true => 0,
            false => self.text[start..end].chars().count().max(1),
        };
        Diagnostic {
            severity: Severity::Error,
            rule: Rule::InvalidSpec,
            message: message.into(),
            location: Some(Location {
                file: self.name.clone(),
                line,
                col,
                line_text: line_text.to_string(),
                width,
            }),
            hint: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub col: usize,
    pub line_text: String,
    /// How many characters the caret underlines; 0 for the file as a whole (no excerpt).
    pub width: usize,
}

/// One problem with the user's input: a fact, where it is, and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable, self-explaining kebab-case name (`unknown-key`, `gc-cap-above-volume`).
    pub rule: Rule,
    pub message: String,
    pub location: Option<Location>,
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic with no place in a file (e.g. a problem between two files).
    pub fn bare(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            rule: Rule::InvalidSpec,
            message: message.into(),
            location: None,
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn rule(mut self, rule: Rule) -> Self {
        self.rule = rule;
        self
    }

    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Like `Display`, with the rule name after the severity (`warning[image-unpinned]: …`).
    pub fn with_rule(&self) -> String {
        let plain = self.to_string();
        let prefix = format!("{}: ", self.severity.as_str());
        let tagged = format!("{}[{}]: ", self.severity.as_str(), self.rule);
        plain.replacen(&prefix, &tagged, 1)
    }
}

/// Text from the spec as a terminal should show it: control characters (but tab), DEL, C1
/// controls and bidi overrides as `\u{..}` escapes, so a spec value cannot move the cursor,
/// recolour the terminal, fake a line or reorder what the reader sees.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && c != '\t')
            || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match unsafe_char(c) {
            true => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            false => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {}",
            self.severity.as_str(),
            printable(&self.message)
        )?;
        if let Some(loc) = &self.location {
            let gutter = loc.line.to_string().len();
            let pad = " ".repeat(gutter);
            writeln!(
                f,
                "{pad}--> {}:{}:{}",
                printable(&loc.file),
                loc.line,
                loc.col
            )?;
        }
        if let Some(loc) = self.location.as_ref().filter(|l| l.width > 0) {
            let pad = " ".repeat(loc.line.to_string().len());
            writeln!(f, "{pad} |")?;
            writeln!(f, "{} | {}", loc.line, printable(&loc.line_text))?;
            // The caret follows the escaped text: an escape takes more than one column.
            let before: String = loc.line_text.chars().take(loc.col - 1).collect();
            let lead: String = printable(&before)
                .chars()
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            writeln!(f, "{pad} | {lead}{}", "^".repeat(loc.width))?;
        }
        if let Some(hint) = &self.hint {
            let pad = self
                .location
                .as_ref()
                .map_or(0, |l| l.line.to_string().len());
            writeln!(f, "{}= hint: {}", " ".repeat(pad + 1), printable(hint))?;
        }
        Ok(())
    }
}

/// What a stage wants said to the user besides its result; the command prints it (on stderr,
/// after the work is done), so no stage below the commands writes to the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    /// Worth knowing: printed unless `--quiet`.
    Note(String),
    /// Only with `--verbose`.
    Detail(String),
}

/// The input is invalid: every problem found, so the user can fix them all in one go.
#[derive(Debug, Clone)]
pub struct Invalid(pub Vec<Diagnostic>);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        let n = self.0.len();
        write!(
            f,
            "\nerror: {n} problem{} found; nothing was written",
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for Invalid {}

impl From<Diagnostic> for Invalid {
    fn from(d: Diagnostic) -> Self {
        Invalid(vec![d])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_points_at_the_span() {
        let src = Source::new("farm.toml", "name = \"ci\"\nmode = \"rootles\"\n");
        let d = src
            .error(Some(19..28), "unknown mode `rootles`")
            .hint("did you mean `rootless`?");
        assert_eq!(
            d.to_string(),
            "error: unknown mode `rootles`\n --> farm.toml:2:8\n  |\n2 | mode = \"rootles\"\n  |        ^^^^^^^^^\n  = hint: did you mean `rootless`?\n"
        );
    }

    #[test]
    fn terminal_control_characters_are_escaped() {
        let src = Source::new("farm.toml", "name = \"a\u{1b}[31mb\u{202e}c\"\n");
        let d = src.error(Some(7..21), "bad name `a\u{1b}[31mb\rfake: line\u{202e}`");
        let shown = d.to_string();
        assert!(!shown.contains('\u{1b}') && !shown.contains('\r') && !shown.contains('\u{202e}'));
        assert!(
            shown.contains("a\\u{1b}[31mb\\u{d}fake: line\\u{202e}"),
            "{shown}"
        );
        assert!(
            shown.contains("1 | name = \"a\\u{1b}[31mb\\u{202e}c\""),
            "{shown}"
        );
        assert_eq!(printable("plain\ttext"), "plain\ttext");
    }
}

/// The user interrupted a command (Ctrl-C) after it cleaned up what it started: the edge
/// (`report`) ends the process with 130, as a shell does for SIGINT.
#[derive(Debug)]
pub(crate) struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}
