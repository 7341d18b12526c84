//! The farm spec: `farm.toml` → `RawFarm` (raw.rs) → checks (validate/) → `Farm`.
//! `Farm` is complete (defaults applied) and consistent; everything downstream trusts it.
//! Object, DNS and endpoint names are built in `names.rs` and nowhere else.

pub mod defaults;
mod model;
pub mod names;
pub mod raw;
pub mod releases;
pub mod size;
pub mod spans;
pub mod syntax;
mod validate;
pub mod version;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::diagnostic::{Diagnostic, Invalid, Source};

use crate::rule::Rule;

pub use model::*;

impl Farm {
    /// The source ranges of every pool's load balancers, each once, in spec order.
    pub fn outside_ranges(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for e in self.pools.iter().filter_map(|p| p.expose.as_ref()) {
            for r in &e.source_ranges {
                if !out.contains(&r.as_str()) {
                    out.push(r);
                }
            }
        }
        out
    }

    /// The namespaces of the Gateways that route to the pools, each once.
    pub fn gateway_namespaces(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for g in self
            .pools
            .iter()
            .filter_map(|p| p.expose.as_ref()?.gateway.as_ref())
        {
            let ns = g.namespace.as_deref().unwrap_or(&self.namespace);
            if !out.contains(&ns) {
                out.push(ns);
            }
        }
        out
    }

    /// Where the `[expose]` key `key` that pool `index` uses is written: its own table's, else
    /// the farm's; for a key written nowhere, the table that sets the pool's `type`.
    pub fn expose_path(&self, index: usize, key: &str) -> String {
        let own = format!("pool.{index}.expose");
        for table in [own.as_str(), "expose"] {
            if self.spans.value(&format!("{table}.{key}")).is_some() {
                return format!("{table}.{key}");
            }
        }
        match self.spans.value(&format!("{own}.type")) {
            Some(_) => own,
            None => "expose".into(),
        }
    }

    /// A finding about `path` (or its nearest written parent, else the top of the file).
    /// With the rule's default severity (`.severity(..)` overrides it).
    pub fn finding(&self, rule: Rule, path: &str, message: impl Into<String>) -> Diagnostic {
        // A misspelled path would silently point at its parent: every rule's case in tests/bad
        // runs this in a debug build.
        debug_assert!(is_key_path(path), "`{path}` is no farm.toml key path");
        let mut at = path;
        let span = loop {
            if let Some(span) = self.spans.value(at) {
                break Some(span);
            }
            match at.rsplit_once('.') {
                Some((parent, _)) => at = parent,
                None => break None,
            }
        };
        self.source
            .error(span, message)
            .rule(rule)
            .severity(rule.severity())
    }

    /// A finding at the key `path` (as written, e.g. `["buildkitd", "worker", "oci", "gc"]`),
    /// at `fallback` (as for `finding`) when not found.
    pub fn finding_at_key(
        &self,
        rule: Rule,
        path: &[String],
        fallback: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        let at: Vec<spans::Seg> = path.iter().cloned().map(spans::Seg::Key).collect();
        match self.spans.key(&at) {
            Some(span) => self
                .source
                .error(Some(span), message)
                .rule(rule)
                .severity(rule.severity()),
            None => self.finding(rule, fallback, message),
        }
    }
}

/// Whether `path` (`gc.max_used`, `pool.0.replicas`) is a key farm.toml can hold, by its schema.
#[cfg(debug_assertions)]
fn is_key_path(path: &str) -> bool {
    use serde_json::Value;
    static SCHEMA: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let root = SCHEMA.get_or_init(|| serde_json::from_str(&schema()).expect("the schema is JSON"));
    // Each node a path step can reach: through `$ref`s and `anyOf` alternatives.
    fn step<'a>(root: &'a Value, node: &'a Value, seg: &str, out: &mut Vec<&'a Value>) {
        if let Some(name) = node["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/$defs/"))
        {
            return step(root, &root["$defs"][name], seg, out);
        }
        for alt in node["anyOf"].as_array().into_iter().flatten() {
            step(root, alt, seg, out);
        }
        let next = match seg.parse::<usize>() {
            Ok(_) => &node["items"],
            Err(_) => &node["properties"][seg],
        };
        if !next.is_null() {
            out.push(next);
        } else if matches!(
            node["additionalProperties"],
            Value::Object(_) | Value::Bool(true)
        ) {
            // A map of the user's own keys (`node_selector`): anything below it, dots and all.
            out.push(&Value::Bool(true));
        }
    }
    let mut nodes = vec![root];
    for seg in path.split('.') {
        if nodes.iter().any(|n| n.is_boolean()) {
            return true;
        }
        let mut next = Vec::new();
        for node in nodes {
            step(root, node, seg, &mut next);
        }
        nodes = next;
    }
    !nodes.is_empty()
}

#[cfg(not(debug_assertions))]
fn is_key_path(_: &str) -> bool {
    true
}

/// The JSON Schema of farm.toml, derived from `RawFarm` (its `///` docs are the descriptions).
pub fn schema() -> String {
    let mut schema = schemars::schema_for!(raw::RawFarm);
    schema.insert("title".into(), "buildfarm farm.toml".into());
    serde_json::to_string_pretty(&schema).expect("a schema serializes") + "\n"
}

/// Where a spec comes from.
pub enum Origin<'a> {
    /// A farm.toml the user named or that exists in the current folder.
    File(&'a Path),
    /// No farm.toml: the embedded default farm.
    BuiltIn,
}

/// The largest spec read: a farm of a thousand pools is under 300 KiB.
pub const MAX_SPEC_BYTES: u64 = 4 << 20;

/// Reads a spec: its text, and the folder its relative paths (`tls.dir`) start from. Only a
/// regular file of at most `MAX_SPEC_BYTES` is read (a FIFO would block, `/dev/zero` never
/// ends); text that is not UTF-8 is invalid input, located at its first bad byte.
pub fn read(origin: Origin<'_>) -> anyhow::Result<(Source, PathBuf)> {
    Ok(match origin {
        Origin::File(path) => {
            let name = path.display().to_string();
            let meta =
                std::fs::metadata(path).with_context(|| format!("failed to read `{name}`"))?;
            if !meta.is_file() {
                anyhow::bail!(
                    "`{name}` is not a regular file: --spec takes a farm.toml, not a device, FIFO or folder"
                );
            }
            let mut bytes = Vec::new();
            let file =
                std::fs::File::open(path).with_context(|| format!("failed to read `{name}`"))?;
            std::io::Read::read_to_end(
                &mut std::io::Read::take(file, MAX_SPEC_BYTES + 1),
                &mut bytes,
            )
            .with_context(|| format!("failed to read `{name}`"))?;
            if bytes.len() as u64 > MAX_SPEC_BYTES {
                // The file as a whole: its name, no excerpt.
                let d = Source::new(name.as_str(), String::new())
                    .error(
                        None,
                        format!(
                            "`{name}` is larger than {} MiB, the most a farm.toml may be",
                            MAX_SPEC_BYTES >> 20
                        ),
                    )
                    .rule(Rule::SpecTooLarge)
                    .hint("a farm of a thousand pools is under 300 KiB: is this the right file?");
                return Err(Invalid::from(d).into());
            }
            let text = match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    let at = e.utf8_error().valid_up_to();
                    // Locate the bad byte in the valid text before it; show the line up to there.
                    let valid = String::from_utf8_lossy(&e.as_bytes()[..at]).into_owned();
                    let source = Source::new(name, valid);
                    let d = source
                        .error(
                            Some(at..at),
                            format!("the spec is not UTF-8: byte {at} is not valid UTF-8"),
                        )
                        .rule(Rule::InvalidUtf8)
                        .hint("save farm.toml as UTF-8");
                    return Err(Invalid::from(d).into());
                }
            };
            let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            (Source::new(name, text), base)
        }
        Origin::BuiltIn => (
            Source::new("<built-in farm>", defaults::BUILT_IN_FARM),
            PathBuf::new(),
        ),
    })
}

/// Reads and checks a spec. `certs_dir` (from `--certs`) overrides `tls.dir`.
pub fn load(origin: Origin<'_>, certs_dir: Option<&Path>) -> anyhow::Result<Farm> {
    let (source, base) = read(origin)?;
    Ok(parse(&source, &base, certs_dir)?)
}

/// Parses and checks spec text; relative paths in it are taken from `base`. Every problem is
/// reported, sorted by position, not just the first.
pub fn parse(source: &Source, base: &Path, certs_dir: Option<&Path>) -> Result<Farm, Invalid> {
    let (raw, mut problems) = parse_raw(source);
    let checked = raw.map(|(raw, spans)| validate::check(raw, spans, source, base, certs_dir));
    match checked {
        Some(Ok(farm)) if problems.is_empty() => return Ok(farm),
        Some(Err(Invalid(more))) => problems.extend(more),
        _ => {}
    }
    problems.sort_by_key(|d| d.location.as_ref().map(|l| (l.line, l.col)));
    Err(Invalid(problems))
}

/// At most this many shape problems are collected from one file.
const MAX_SHAPE_PROBLEMS: usize = 100;

/// The raw spec and every shape problem (syntax, unknown keys, wrong types). Serde stops at the
/// first problem, so each one found is cut out of the parsed document and the rest read again.
/// Only unknown keys leave a spec worth checking further: a value cut out for its type would
/// look missing and cause follow-on errors.
fn parse_raw(source: &Source) -> (Option<(raw::RawFarm, spans::Spans)>, Vec<Diagnostic>) {
    let (mut doc, syntax) = toml::de::DeTable::parse_recoverable(&source.text);
    if !syntax.is_empty() {
        return (None, syntax.iter().map(|e| toml_error(source, e)).collect());
    }
    let spans = spans::Spans::of(doc.get_ref());
    let mut problems = Vec::new();
    while problems.len() < MAX_SHAPE_PROBLEMS {
        let parsed = <raw::RawFarm as serde::Deserialize>::deserialize(
            toml::de::Deserializer::from(doc.clone()),
        );
        match parsed {
            Ok(raw) => {
                let only_unknown_keys = problems
                    .iter()
                    .all(|d: &Diagnostic| d.rule == "unknown-key");
                return (only_unknown_keys.then_some((raw, spans)), problems);
            }
            Err(e) => {
                problems.push(toml_error(source, &e));
                let removed = e.span().is_some_and(|span| remove_at(doc.get_mut(), &span));
                if !removed {
                    break;
                }
            }
        }
    }
    (None, problems)
}

/// Removes the entry whose key or value sits at `span` (for a bad array element, the array).
fn remove_at(table: &mut toml::de::DeTable<'_>, span: &std::ops::Range<usize>) -> bool {
    use toml::de::DeValue;
    let within = |outer: std::ops::Range<usize>| outer.start <= span.start && span.end <= outer.end;
    let mut hit = None;
    for (key, value) in table.iter_mut() {
        if key.span() == *span || value.span() == *span {
            hit = Some(key.get_ref().to_string());
            break;
        }
        let found = match value.get_mut() {
            DeValue::Table(t) => remove_at(t, span),
            DeValue::Array(items) => {
                let in_a_table = items.iter_mut().any(|item| remove_in(item.get_mut(), span));
                if !in_a_table && items.iter().any(|item| within(item.span())) {
                    hit = Some(key.get_ref().to_string());
                    break;
                }
                in_a_table
            }
            _ => false,
        };
        if found {
            return true;
        }
    }
    hit.is_some_and(|key| table.remove(key.as_str()).is_some())
}

fn remove_in(value: &mut toml::de::DeValue<'_>, span: &std::ops::Range<usize>) -> bool {
    match value {
        toml::de::DeValue::Table(t) => remove_at(t, span),
        _ => false,
    }
}

/// A TOML or shape error, with the unknown-key case turned into a did-you-mean.
fn toml_error(source: &Source, err: &toml::de::Error) -> Diagnostic {
    let message = err.message().trim_end();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let hint = match crate::suggest::did_you_mean(field, known.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("known keys here: {}", crate::suggest::one_of(&known)),
        };
        let d = source.error(err.span(), format!("unknown key `{field}`"));
        return d.rule(Rule::UnknownKey).hint(hint);
    }
    let first = message.lines().next().unwrap_or(message);
    if err.span().is_none() && first.contains("recursion limit") {
        // The parser gives up without a place: point at the most deeply nested line.
        let d = source.error(Some(deepest_line(&source.text)), "keys nested too deeply");
        return d
            .rule(Rule::TomlSyntax)
            .hint("no farm.toml key is more than a few levels deep: is this the right file?");
    }
    let d = source.error(err.span(), first.to_string());
    if first.starts_with("invalid type") || first.starts_with("invalid value") {
        d.rule(Rule::InvalidType)
            .hint("see the farm.toml reference in README.md for the expected type")
    } else {
        d.rule(Rule::TomlSyntax)
    }
}

/// The span of the line with the most nesting marks (`.`, `[`, `{`), where a parser that hit
/// its recursion limit was.
fn deepest_line(text: &str) -> std::ops::Range<usize> {
    let mut best = (0, 0..0);
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let marks = line
            .bytes()
            .filter(|b| matches!(b, b'.' | b'[' | b'{'))
            .count();
        if marks > best.0 {
            best = (marks, start..start + line.trim_end().len());
        }
        start += line.len();
    }
    best.1.start..best.1.start
}

#[cfg(all(test, debug_assertions))]
mod key_path_tests {
    #[test]
    fn key_paths_are_checked_against_the_schema() {
        for good in [
            "tls",
            "gc.max_used",
            "pool.0.replicas",
            "pool.3.affinity",
            "network",
        ] {
            assert!(super::is_key_path(good), "{good}");
        }
        for bad in ["gc.max_use", "pool.replicas", "pool.0.replica", "tsl", ""] {
            assert!(!super::is_key_path(bad), "{bad}");
        }
    }
}
