//! Where everything written in a farm.toml is: every key path → the span of its key and of its
//! value. Built once, from the document the spec is parsed from, so validation and lint point
//! at any key that was written without parsing the text again.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// One step of a path into farm.toml: a key, or an index into an array (of tables).
#[derive(Clone, Debug)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Key paths as dotted text: `image`, `gc.max_used`, `pool.0.storage`, `tls.client.1.name`.
#[derive(Debug, Clone, Default)]
pub struct Spans {
    at: HashMap<String, Written>,
}

#[derive(Debug, Clone)]
struct Written {
    /// The key (for an array element: the element).
    key: Range<usize>,
    value: Range<usize>,
}

impl Spans {
    pub fn of(doc: &DeTable<'_>) -> Spans {
        let mut spans = Spans::default();
        spans.table(doc, &mut String::new());
        spans
    }

    /// Adds every entry of `table`, whose own path is `path` (a buffer, restored on return).
    fn table(&mut self, table: &DeTable<'_>, path: &mut String) {
        for (key, value) in table.iter() {
            let len = path.len();
            if len > 0 {
                path.push('.');
            }
            path.push_str(key.get_ref());
            self.add(path, key.span(), value);
            path.truncate(len);
        }
    }

    fn add(&mut self, path: &mut String, key: Range<usize>, value: &toml::Spanned<DeValue<'_>>) {
        match value.get_ref() {
            DeValue::Table(t) => self.table(t, path),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    write!(path, ".{i}").expect("writing to a String cannot fail");
                    self.add(path, item.span(), item);
                    path.truncate(len);
                }
            }
            _ => {}
        }
        let value = value.span();
        self.at.insert(path.clone(), Written { key, value });
    }

    /// Where the value at `path` is written, if it is.
    pub fn value(&self, path: &str) -> Option<Range<usize>> {
        self.at.get(path).map(|w| w.value.clone())
    }

    /// Where the key at `path` is written (for an array element: the element), if it is.
    pub fn key(&self, path: &[Seg]) -> Option<Range<usize>> {
        let dotted: Vec<String> = path
            .iter()
            .map(|seg| match seg {
                Seg::Key(k) => k.clone(),
                Seg::Index(i) => i.to_string(),
            })
            .collect();
        self.at.get(&dotted.join(".")).map(|w| w.key.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "image = \"x\"\n[gc]\nmax_used = \"10GB\"\n\n[[pool]]\narch = \"amd64\"\n[pool.node_selector]\n\"kubernetes.io/os\" = \"linux\"\n";

    fn text_at(span: Range<usize>) -> &'static str {
        &TEXT[span]
    }

    #[test]
    fn every_written_key_and_value_is_found() {
        let doc = DeTable::parse(TEXT).unwrap();
        let spans = Spans::of(doc.get_ref());
        assert_eq!(text_at(spans.value("image").unwrap()), "\"x\"");
        assert_eq!(text_at(spans.value("gc.max_used").unwrap()), "\"10GB\"");
        let key = |p: &[&str]| {
            let segs: Vec<Seg> = p.iter().map(|s| Seg::Key(s.to_string())).collect();
            spans.key(&segs).map(text_at)
        };
        assert_eq!(key(&["gc", "max_used"]), Some("max_used"));
        let arch = [
            Seg::Key("pool".into()),
            Seg::Index(0),
            Seg::Key("arch".into()),
        ];
        assert_eq!(spans.key(&arch).map(text_at), Some("arch"));
        let os = spans
            .value("pool.0.node_selector.kubernetes.io/os")
            .unwrap();
        assert_eq!(text_at(os), "\"linux\"");
        assert!(spans.value("pool.0").is_some());
        assert_eq!(spans.value("gc.min_free"), None, "not written");
        assert_eq!(key(&["history"]), None);
    }
}
