//! The self-check: the rendered stream is parsed back (serde_yaml_ng) before anyone sees it.
//! Each document is walked, not kept: it must parse, repeat no key in any mapping, and be the
//! kind and name of the object it was rendered for. Building a `Value` tree only to drop it
//! was most of the cost of rendering a big farm.

use std::borrow::Cow;
use std::fmt;

use anyhow::{Context as _, bail};
use serde::Deserializer as _;
use serde::de::{self, Deserialize, MapAccess, SeqAccess, Visitor};

use super::stream::{Object, stream};

/// Parses `objects` back as one stream: exactly one document per object, each the kind and
/// name it claims. A failure here is a buildfarm bug, never the user's input.
pub fn check(objects: &[Object]) -> anyhow::Result<()> {
    let text = stream(objects);
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

    #[test]
    fn a_tagged_node_is_refused() {
        let doc = "kind: !custom Service\nmetadata: {name: a}\n";
        let err = error(&[object(Kind::Service, "a", doc)]);
        assert!(err.contains("does not parse back"), "{err}");
    }
}
