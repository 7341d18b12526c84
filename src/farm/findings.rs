//! Findings about a farm, placed at the key that causes them: every rule that judges a `Farm`
//! (checks and lint) locates its finding through `Farm::finding`.

use super::model::Farm;
use super::spans;
use crate::diagnostic::Diagnostic;
use crate::rule::Rule;

impl Farm {
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
    let root = SCHEMA.get_or_init(|| {
        serde_json::from_str(&super::schema::schema()).expect("the schema is JSON")
    });
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
