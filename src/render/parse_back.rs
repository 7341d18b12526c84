//! The self-check: the rendered stream is parsed back (serde_yaml_ng) before anyone sees it.
//! Each document is walked, not kept: it must parse, repeat no key in any mapping, and be the
//! kind and name of the object it was rendered for. Building a `Value` tree only to drop it
//! was most of the cost of rendering a big farm.
//!
//! A big farm renders the same template for every pool, so most documents have the *shape* of
//! one already parsed: the same lines but for the contents of double-quoted values (and of
//! comments). Such a document is not parsed again: its shape is compared with the shapes that
//! parsed (`Shapes`), each quoted value it holds is checked to be one well-formed quoted
//! scalar, and its kind and name are read from their lines. Equal shapes mean the same YAML
//! tokens in the same places, so the same structure and the same keys (quoted keys are kept
//! as written in a shape); a document with a block scalar (`|`, `>`), or anything the shape
//! scanner is not sure of, has no shape and is always parsed.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::Mutex;

use anyhow::{Context as _, bail};
use serde::Deserializer as _;
use serde::de::{self, Deserialize, MapAccess, SeqAccess, Visitor};

use super::stream::Object;

/// The shapes of documents that parsed back, shared by the threads that render.
#[derive(Default)]
pub(super) struct Shapes(Mutex<HashSet<String>>);

impl Shapes {
    fn contains(&self, shape: &str) -> bool {
        self.0.lock().is_ok_and(|s| s.contains(shape))
    }

    fn add(&self, shapes: impl IntoIterator<Item = String>) {
        if let Ok(mut s) = self.0.lock() {
            s.extend(shapes);
        }
    }
}

/// Parses `objects` back as one stream: exactly one document per object, each the kind and
/// name it claims. A failure here is a buildfarm bug, never the user's input.
#[cfg(test)]
pub(super) fn check(objects: &[Object]) -> anyhow::Result<()> {
    check_with(objects, &Shapes::default())
}

/// `check`, where a document with the shape of one in `shapes` is checked by its shape, and
/// the shapes of the documents parsed here join `shapes`.
pub(super) fn check_with(objects: &[Object], shapes: &Shapes) -> anyhow::Result<()> {
    let mut parse = Vec::new();
    let mut parsed_shapes = Vec::new();
    for o in objects {
        match shape(&o.yaml) {
            Some(s) if shapes.contains(&s) && claims(o) => {}
            s => {
                parse.push(o);
                parsed_shapes.extend(s);
            }
        }
    }
    parse_back(&parse)?;
    shapes.add(parsed_shapes);
    Ok(())
}

fn parse_back(objects: &[&Object]) -> anyhow::Result<()> {
    if objects.is_empty() {
        return Ok(()); // an empty stream would read as one empty document
    }
    let mut text = String::with_capacity(objects.iter().map(|o| o.yaml.len() + 4).sum());
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            text.push_str("---\n");
        }
        text.push_str(&o.yaml);
    }
    let mut documents = 0;
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
        let node = doc
            .deserialize_any(Walk)
            .context("internal error: the rendered YAML does not parse back")?;
        let Some(o) = objects.get(i) else {
            bail!("internal error: the rendered YAML holds more documents than objects");
        };
        let (kind, name) = (node.kind.as_deref(), node.metadata_name.as_deref());
        if kind != Some(o.kind.as_str()) || name != Some(o.name.as_str()) {
            bail!(
                "internal error: document {i} is {kind:?} {name:?}, expected {} `{}`",
                o.kind.as_str(),
                o.name
            );
        }
        documents += 1;
    }
    if documents != objects.len() {
        bail!(
            "internal error: {documents} YAML documents for {} objects",
            objects.len()
        );
    }
    Ok(())
}

/// A document's shape: every double-quoted value as `""`, every comment as `#`, the rest as
/// written. `None` for a document with a block scalar, or a quote the scanner is not sure of.
fn shape(yaml: &str) -> Option<String> {
    let mut out = Vec::with_capacity(yaml.len());
    for line in yaml.split('\n') {
        let t = line.trim_end();
        if ["|", "|-", "|+", ">", ">-", ">+"]
            .iter()
            .any(|b| t.ends_with(b))
        {
            return None;
        }
        shape_line(line.as_bytes(), &mut out)?;
        out.push(b'\n');
    }
    String::from_utf8(out).ok()
}

fn shape_line(b: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let indent = b.iter().take_while(|&&c| c == b' ').count();
    out.extend_from_slice(&b[..indent]);
    let mut i = indent;
    while i < b.len() {
        let c = b[i];
        if c == b'#' && (i == indent || b[i - 1] == b' ') {
            out.push(b'#');
            return Some(());
        }
        if c == b'"' && token_start(b, i, indent) {
            let end = quoted_end(b, i)?;
            let rest = &b[end..];
            let next = rest.iter().find(|&&c| c != b' ');
            match next {
                // A key stays as written: keys decide what repeats.
                Some(b':') => out.extend_from_slice(&b[i..end]),
                None | Some(b',' | b']' | b'}' | b'#') => out.extend_from_slice(b"\"\""),
                Some(_) => return None,
            }
            i = end;
            continue;
        }
        out.push(c);
        i += 1;
    }
    Some(())
}

/// Where YAML starts a token: the line's start, after `- `, `: `, `, `, `[` or `{`.
fn token_start(b: &[u8], i: usize, indent: usize) -> bool {
    if i == indent {
        return true;
    }
    match b[i - 1] {
        b'[' | b'{' => true,
        b' ' => i >= 2 && matches!(b[i - 2], b':' | b',' | b'-' | b'[' | b'{'),
        _ => false,
    }
}

/// The index after the closing quote of the double-quoted scalar at `start`, if it closes on
/// this line and holds only the escapes `yaml::quote` writes (`\"`, `\\`, `\n`, `\t`, `\r`,
/// `\uXXXX`) and no control character.
fn quoted_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'"' => return Some(i + 1),
            b'\\' => match b.get(i + 1)? {
                b'"' | b'\\' | b'n' | b't' | b'r' => i += 2,
                b'u' => {
                    let hex = b.get(i + 2..i + 6)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    i += 6;
                }
                _ => return None,
            },
            c if c < 0x20 || c == 0x7f => return None,
            _ => i += 1,
        }
    }
    None
}

/// Whether `o`'s lines say it is the kind and name it claims: `kind:` at the top, and `name:`
/// as the first line under `metadata:`.
fn claims(o: &Object) -> bool {
    let mut lines = o.yaml.lines();
    let mut kind = None;
    let mut name = None;
    while let Some(line) = lines.next() {
        if let Some(k) = line.strip_prefix("kind: ") {
            kind = Some(scalar(k));
        } else if line == "metadata:" {
            name = lines
                .next()
                .and_then(|l| l.strip_prefix("  name: "))
                .map(scalar);
        }
    }
    kind.flatten().as_deref() == Some(o.kind.as_str())
        && name.flatten().as_deref() == Some(o.name.as_str())
}

/// A one-line scalar's text: a quoted one decoded (`yaml::quote` writes JSON's escapes).
fn scalar(text: &str) -> Option<String> {
    let text = text.trim_end();
    match text.starts_with('"') {
        true => serde_json::from_str(text).ok(),
        false => Some(text.to_string()),
    }
}

/// What is kept of a walked node: a string scalar's text, and of a mapping the strings under
/// `kind` and `name` and the `name` inside `metadata`. Borrowed from the stream where the
/// parser allows, so walking allocates next to nothing.
#[derive(Default)]
struct Node<'de> {
    text: Option<Cow<'de, str>>,
    kind: Option<Cow<'de, str>>,
    name: Option<Cow<'de, str>>,
    metadata_name: Option<Cow<'de, str>>,
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Walk)
    }
}

struct Walk;

impl<'de> Visitor<'de> for Walk {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("plain YAML (no tags)")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Node<'de>, E> {
        Ok(Node::default())
    }
    fn visit_i64<E>(self, _: i64) -> Result<Node<'de>, E> {
        Ok(Node::default())
    }
    fn visit_u64<E>(self, _: u64) -> Result<Node<'de>, E> {
        Ok(Node::default())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Node<'de>, E> {
        Ok(Node::default())
    }
    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::default())
    }
    fn visit_none<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::default())
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Node<'de>, E> {
        Ok(Node {
            text: Some(Cow::Borrowed(v)),
            ..Node::default()
        })
    }
    fn visit_str<E>(self, v: &str) -> Result<Node<'de>, E> {
        Ok(Node {
            text: Some(Cow::Owned(v.to_owned())),
            ..Node::default()
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        while seq.next_element::<Node>()?.is_some() {}
        Ok(Node::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let mut node = Node::default();
        let mut keys: Vec<Cow<'de, str>> = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(Key(key)) = map.next_key()? {
            let value = map.next_value::<Node>()?;
            match key.as_ref() {
                "kind" => node.kind = value.text,
                "name" => node.name = value.text,
                "metadata" => node.metadata_name = value.name,
                _ => {}
            }
            keys.push(key);
        }
        keys.sort_unstable();
        if let Some(pair) = keys.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(de::Error::custom(format_args!(
                "the key `{}` appears twice in one mapping",
                pair[0]
            )));
        }
        Ok(node)
    }
}

/// A mapping key, read as text whatever it looks like (`1` and `"1"` are the same key to
/// Kubernetes, which reads JSON).
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl<'de> Visitor<'de> for Text {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::kind::Kind;

    fn object(kind: Kind, name: &str, yaml: &str) -> Object {
        Object {
            kind,
            name: name.into(),
            namespace: None,
            yaml: yaml.into(),
        }
    }

    fn error(objects: &[Object]) -> String {
        format!("{:#}", check(objects).unwrap_err())
    }

    #[test]
    fn well_formed_documents_pass() {
        let objects = [
            object(
                Kind::Namespace,
                "ns",
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns\n",
            ),
            object(
                Kind::ConfigMap,
                "x\"y",
                "kind: \"ConfigMap\"\nmetadata: {name: \"x\\\"y\", labels: {a: \"1\"}}\ndata:\n  k: |\n    name = 1\n",
            ),
        ];
        check(&objects).unwrap();
    }

    #[test]
    fn a_document_of_another_kind_or_name_is_a_bug() {
        let doc = "kind: Service\nmetadata:\n  name: a\n";
        let err = error(&[object(Kind::Service, "b", doc)]);
        assert!(err.contains(r#"document 0 is Some("Service") Some("a"), expected Service `b`"#));
        let err = error(&[object(Kind::StatefulSet, "a", doc)]);
        assert!(err.contains("expected StatefulSet `a`"), "{err}");
    }

    #[test]
    fn a_name_outside_metadata_does_not_count() {
        let doc = "kind: Service\nname: a\nmetadata:\n  labels:\n    name: a\n";
        let err = error(&[object(Kind::Service, "a", doc)]);
        assert!(err.contains("is Some(\"Service\") None"), "{err}");
    }

    #[test]
    fn a_repeated_key_at_any_depth_is_a_bug() {
        let doc =
            "kind: Service\nmetadata:\n  name: a\nspec:\n  ports:\n  - port: 1\n    port: 2\n";
        let err = error(&[object(Kind::Service, "a", doc)]);
        assert!(err.contains("does not parse back"), "{err}");
        assert!(err.contains("the key `port` appears twice"), "{err}");
    }

    #[test]
    fn broken_yaml_and_extra_documents_are_bugs() {
        let err = error(&[object(Kind::Service, "a", "kind: [Service\n")]);
        assert!(err.contains("does not parse back"), "{err}");
        let two = "kind: Service\nmetadata: {name: a}\n---\nkind: Service\nmetadata: {name: a}\n";
        let err = error(&[object(Kind::Service, "a", two)]);
        assert!(err.contains("more documents than objects"), "{err}");
        let err = error(&[object(Kind::Service, "a", "")]);
        assert!(err.contains("document 0 is None None"), "{err}");
    }

    #[test]
    fn keys_are_compared_as_text() {
        let doc = "kind: Service\nmetadata: {name: a}\ndata:\n  1: x\n  \"1\": y\n";
        let err = error(&[object(Kind::Service, "a", doc)]);
        assert!(err.contains("the key `1` appears twice"), "{err}");
        let doc = "kind: Service\nmetadata: {name: a}\ndata:\n  [a]: x\n";
        let err = error(&[object(Kind::Service, "a", doc)]);
        assert!(err.contains("does not parse back"), "{err}");
    }

    /// A document with the shape of one that parsed is checked by its shape; anything the
    /// shape cannot vouch for is parsed, and so caught.
    #[test]
    fn a_document_of_a_known_shape_is_checked_by_its_shape() {
        let doc = |name: &str, value: &str| {
            format!(
                "kind: Service\nmetadata:\n  name: \"{name}\"\n  labels:\n    # pool {name}\n    a: \"{value}\"\n"
            )
        };
        let shapes = Shapes::default();
        let first = [object(Kind::Service, "a", &doc("a", "1"))];
        check_with(&first, &shapes).unwrap();
        assert_eq!(shapes.0.lock().unwrap().len(), 1);
        // Same shape: other names, values and comments.
        assert_eq!(shape(&doc("a", "1")), shape(&doc("b-2", "x\\\"y")));
        check_with(
            &[object(Kind::Service, "b-2", &doc("b-2", "x\\\"y"))],
            &shapes,
        )
        .unwrap();
        // The wrong name is still caught (read from its line, then parsed).
        let err = check_with(&[object(Kind::Service, "c", &doc("b", "1"))], &shapes).unwrap_err();
        assert!(
            format!("{err:#}").contains("expected Service `c`"),
            "{err:#}"
        );
        // A broken quoted value has no shape, so it is parsed, and refused.
        let broken = doc("b", "1\\q");
        assert_eq!(shape(&broken), None);
        assert!(check_with(&[object(Kind::Service, "b", &broken)], &shapes).is_err());
        // Quoted keys stay in the shape: a repeated one is a new shape, parsed and refused.
        let repeated = "kind: Service\nmetadata:\n  name: \"b\"\n  labels:\n    \"a\": \"1\"\n    \"a\": \"2\"\n";
        let err = check_with(&[object(Kind::Service, "b", repeated)], &shapes).unwrap_err();
        assert!(format!("{err:#}").contains("appears twice"), "{err:#}");
        // A plain value is part of the shape.
        assert_ne!(shape("a: 1\n"), shape("a: 2\n"));
        // A quote inside a plain scalar is not a quoted value; a block scalar has no shape.
        assert_eq!(shape("a: x\"y\"\n").as_deref(), Some("a: x\"y\"\n\n"));
        assert_eq!(shape("a: |\n  \"x\"\n"), None);
    }

    /// Every pool of a farm renders its objects in one shape, so a big farm parses one pool.
    #[test]
    fn pools_share_their_shapes() {
        let spec = "name = \"bk\"\n[[pool]]\narch = \"amd64\"\nname = \"p0\"\nstorage = \"100Gi\"\n[[pool]]\narch = \"amd64\"\nname = \"p1\"\nstorage = \"100Gi\"\n";
        let source = crate::diagnostic::Source::new("farm.toml", spec);
        let farm = crate::farm::parse(&source, std::path::Path::new(""), None).unwrap();
        let objects =
            crate::render::render(&farm, None, crate::render::Options { secrets: false }).unwrap();
        for kind in [Kind::StatefulSet, Kind::Service, Kind::PodDisruptionBudget] {
            let shapes: HashSet<Option<String>> = objects
                .iter()
                .filter(|o| o.kind == kind && !o.name.ends_with("-headless"))
                .map(|o| shape(&o.yaml))
                .collect();
            assert_eq!(shapes.len(), 1, "{kind:?}");
            assert!(shapes.iter().all(Option::is_some), "{kind:?}");
        }
    }

    #[test]
    fn a_tagged_node_is_refused() {
        let doc = "kind: !custom Service\nmetadata: {name: a}\n";
        let err = error(&[object(Kind::Service, "a", doc)]);
        assert!(err.contains("does not parse back"), "{err}");
    }
}
