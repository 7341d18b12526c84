//! Spec text → `Farm`: TOML and shape problems (each collected, not just the first), then the
//! checks in `validate/`.

use std::path::Path;

use super::model::Farm;
use super::{raw, spans, validate};
use crate::diagnostic::{Diagnostic, Invalid, Source};
use crate::rule::Rule;

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

/// `spec` parsed as a farm.toml with no folder around it: for unit tests.
#[cfg(test)]
pub(crate) fn parse_str(spec: &str) -> Result<Farm, Invalid> {
    parse(&Source::new("farm.toml", spec), Path::new(""), None)
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
