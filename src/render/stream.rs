//! What rendering produces: one `Object` per Kubernetes object, and the YAML stream of them.

use super::kind::Kind;

/// One rendered Kubernetes object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub kind: Kind,
    pub name: String,
    pub namespace: Option<String>,
    pub yaml: String,
}

/// The objects as one YAML stream: `---` between documents, one final newline.
pub fn stream(objects: &[Object]) -> String {
    let mut out = String::with_capacity(objects.iter().map(|o| o.yaml.len() + 4).sum());
    out.extend(stream_parts(objects));
    out
}

/// The pieces of `stream`, in order, for writing it without a copy.
pub(crate) fn stream_parts(objects: &[Object]) -> impl Iterator<Item = &str> {
    objects.iter().enumerate().flat_map(|(i, o)| {
        let separator = if i > 0 { "---\n" } else { "" };
        [separator, o.yaml.as_str()]
    })
}
