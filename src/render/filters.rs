//! The only ways a value reaches YAML. Every user string is double-quoted and escaped, so no
//! spec value can add keys, documents or change a type (`"true"`, `"1.30"`, `"- x"` stay strings).

use std::fmt::Write as _;

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};

use crate::yaml::{needs_escape, quote, quote_into};

/// `{{ s | yaml_str }}`: a user string as a quoted YAML scalar.
pub(crate) fn yaml_str(value: &Value) -> Result<Value, Error> {
    match value.as_str() {
        Some(s) => Ok(Value::from_safe_string(quote(s))),
        None => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("yaml_str expects a string, got {}", value.kind()),
        )),
    }
}

/// `{{ map | to_yaml(8) }}`: a map or list as block YAML, every line indented by `indent`.
pub(crate) fn to_yaml(value: &Value, indent: usize) -> Result<Value, Error> {
    let mut out = String::with_capacity(256);
    write_block(&mut out, value, indent, false)?;
    out.pop(); // the template supplies the final newline
    Ok(Value::from_safe_string(out))
}

/// `{{ text | yaml_block(4) }}`: multi-line text as a `|` literal block (diff-friendly), or a
/// quoted scalar when a block could not hold it exactly.
pub(crate) fn yaml_block(value: &Value, indent: usize) -> Result<Value, Error> {
    let text = value
        .as_str()
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "yaml_block expects a string"))?;
    let body = text.strip_suffix('\n');
    let fits = body.is_some_and(|b| {
        !b.is_empty()
            && !b.ends_with('\n')
            && !b.starts_with([' ', '\t'])
            && !b
                .chars()
                .any(|c| (needs_escape(c) && c != '\t' && c != '\n') || c == '\r')
            && b.lines().all(|l| !l.ends_with([' ', '\t']))
    });
    if !fits {
        return Ok(Value::from_safe_string(quote(text)));
    }
    let pad = " ".repeat(indent);
    let mut out = String::from("|");
    for line in body.unwrap_or_default().split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    Ok(Value::from_safe_string(out))
}

/// `indent` spaces (none when the line already holds a `- `).
fn pad(out: &mut String, indent: usize, inline: bool) {
    if !inline {
        out.extend(std::iter::repeat_n(' ', indent));
    }
}

/// `value` as block lines at `indent`; with `inline`, its first line continues the current one.
fn write_block(out: &mut String, value: &Value, indent: usize, inline: bool) -> Result<(), Error> {
    match value.kind() {
        ValueKind::Map => {
            if value.len() == Some(0) {
                pad(out, indent, inline);
                out.push_str("{}\n");
            }
            for (i, key) in value.try_iter()?.enumerate() {
                let v = value.get_item(&key)?;
                pad(out, indent, inline && i == 0);
                key_into(out, &key)?;
                out.push(':');
                write_nested(out, &v, indent + 2, indent)?;
            }
        }
        ValueKind::Seq => {
            if value.len() == Some(0) {
                pad(out, indent, inline);
                out.push_str("[]\n");
            }
            for (i, item) in value.try_iter()?.enumerate() {
                pad(out, indent, inline && i == 0);
                out.push('-');
                write_nested(out, &item, indent + 2, indent)?;
            }
        }
        _ => {
            pad(out, indent, inline);
            scalar_into(out, value)?;
            out.push('\n');
        }
    }
    Ok(())
}

/// A value after `key:` or `-`: scalars on the same line, collections below (list items under
/// a key stay at the key's indent, the common Kubernetes style).
fn write_nested(out: &mut String, v: &Value, child: usize, parent: usize) -> Result<(), Error> {
    let empty = v.len() == Some(0);
    let after_dash = out.ends_with('-');
    match v.kind() {
        // After "- ", the first key goes on the same line.
        ValueKind::Map if !empty && after_dash => {
            out.push(' ');
            write_block(out, v, child, true)?;
        }
        ValueKind::Map if !empty => {
            out.push('\n');
            write_block(out, v, child, false)?;
        }
        ValueKind::Seq if !empty => {
            out.push('\n');
            let level = if after_dash { child } else { parent };
            write_block(out, v, level, false)?;
        }
        ValueKind::Map => out.push_str(" {}\n"),
        ValueKind::Seq => out.push_str(" []\n"),
        _ => {
            out.push(' ');
            scalar_into(out, v)?;
            out.push('\n');
        }
    }
    Ok(())
}

fn scalar_into(out: &mut String, v: &Value) -> Result<(), Error> {
    match v.kind() {
        ValueKind::String => quote_into(out, v.as_str().unwrap_or_default()),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            let _ = write!(out, "{v}");
        }
        ValueKind::None | ValueKind::Undefined => out.push_str("null"),
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("cannot write a {other} as YAML"),
            ));
        }
    }
    Ok(())
}

/// Keys stay plain when YAML cannot read them as anything but that string.
fn key_into(out: &mut String, key: &Value) -> Result<(), Error> {
    let s = key
        .as_str()
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "map keys must be strings"))?;
    let plain = s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && !["y", "yes", "n", "no", "true", "false", "on", "off", "null"]
            .iter()
            .any(|word| s.eq_ignore_ascii_case(word));
    match plain {
        true => out.push_str(s),
        false => quote_into(out, s),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ser<T: serde::Serialize>(x: T) -> Value {
        Value::from(minijinja::value::Serde(x))
    }

    fn yaml(v: Value) -> String {
        to_yaml(&v, 2).unwrap().to_string()
    }

    #[test]
    fn quote_escapes_everything_that_could_break_out() {
        assert_eq!(quote("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
        assert_eq!(quote("\u{0007}\u{2028}"), r#""\u0007\u2028""#);
        assert_eq!(
            quote("x: y\n---\nkind: Secret"),
            r#""x: y\n---\nkind: Secret""#
        );
    }

    #[test]
    fn nested_values_render_as_block_yaml() {
        let v = ser(serde_json_like());
        assert_eq!(
            yaml(v),
            "  requests:\n    cpu: \"3\"\n  list:\n  - key: \"a\"\n    operator: \"Exists\"\n  - \"x\"\n  \"yes\": true\n  empty: {}"
        );
    }

    fn serde_json_like() -> indexmap::IndexMap<&'static str, Value> {
        let mut m = indexmap::IndexMap::new();
        m.insert(
            "requests",
            ser([("cpu", "3")]
                .into_iter()
                .collect::<indexmap::IndexMap<_, _>>()),
        );
        let item = [("key", "a"), ("operator", "Exists")]
            .into_iter()
            .collect::<indexmap::IndexMap<_, _>>();
        m.insert("list", Value::from(vec![ser(item), Value::from("x")]));
        m.insert("yes", Value::from(true));
        m.insert("empty", ser(indexmap::IndexMap::<String, String>::new()));
        m
    }

    #[test]
    fn block_scalars_only_when_exact() {
        let ok = yaml_block(&Value::from("a = 1\n\n[b]\nc = 2\n"), 4).unwrap();
        assert_eq!(ok.to_string(), "|\n    a = 1\n\n    [b]\n    c = 2");
        for odd in [
            "no final newline",
            " leading space\n",
            "two newlines\n\n",
            "trailing \n",
            "nul\u{0}\n",
        ] {
            assert!(
                yaml_block(&Value::from(odd), 4)
                    .unwrap()
                    .to_string()
                    .starts_with('"'),
                "{odd:?}"
            );
        }
    }
}
