//! Keys in the `[buildkitd]` passthrough table. buildkitd silently ignores keys it does not
//! know, so a typo there is a setting that quietly does nothing: flag it, with a did-you-mean.
//! Which keys exist, and from which release, is `data/buildkit.toml`'s to say. buildkitd
//! matches keys without regard to case, so these checks do too.

use crate::diagnostic::Diagnostic;
use crate::farm::Farm;
use crate::farm::releases::{self, Key};
use crate::rule::Rule;
use crate::suggest::did_you_mean;

/// Every leaf of `table` as its list of keys; an array of tables adds a `[]` to its key.
fn leaves(table: &toml::Table, prefix: &[String], out: &mut Vec<Vec<String>>) {
    for (key, value) in table {
        let mut path = prefix.to_vec();
        path.push(key.clone());
        match value {
            toml::Value::Table(t) => leaves(t, &path, out),
            toml::Value::Array(items)
                if !items.is_empty() && items.iter().all(toml::Value::is_table) =>
            {
                if let Some(last) = path.last_mut() {
                    last.push_str("[]");
                }
                for item in items.iter().filter_map(toml::Value::as_table) {
                    leaves(item, &path, out);
                }
            }
            _ => out.push(path),
        }
    }
}

/// Whether a table path (`worker/*/labels/*`) covers a key path, ignoring case.
fn matches(pattern: &str, path: &[String]) -> bool {
    let parts: Vec<&str> = pattern.split('/').collect();
    let fits = |(p, k): (&&str, &String)| *p == "*" || p.eq_ignore_ascii_case(k);
    if parts.last() == Some(&"*") && path.len() >= parts.len() {
        return parts.iter().zip(path).all(fits);
    }
    parts.len() == path.len() && parts.iter().zip(path).all(fits)
}

pub(super) fn check(farm: &Farm) -> Vec<Diagnostic> {
    let table = releases::buildkit();
    let mut paths = Vec::new();
    leaves(&farm.buildkitd, &[], &mut paths);
    let mut out = Vec::new();
    for path in paths {
        let shown = path.join(".");
        // At the key's own line; the path as written starts below `[buildkitd]`.
        let written: Vec<String> = std::iter::once("buildkitd".to_string())
            .chain(path.iter().map(|p| p.trim_end_matches("[]").to_string()))
            .collect();
        let finding =
            |rule, message: String| farm.finding_at_key(rule, &written, "buildkitd", message);
        let Some(key) = table.keys.iter().find(|k| matches(k.path, &path)) else {
            let hint = match did_you_mean(
                path.last().map_or("", String::as_str),
                siblings(table.keys.iter(), &path),
            ) {
                Some(best) => {
                    format!("did you mean `{best}`? buildkitd ignores keys it does not know")
                }
                None => {
                    "buildkitd ignores keys it does not know: check the buildkitd.toml reference"
                        .into()
                }
            };
            let message = format!(
                "`buildkitd.{shown}` is not a buildkitd.toml key BuildKit {} knows",
                farm.buildkit
            );
            out.push(finding(Rule::BuildkitdUnknownKey, message).hint(hint));
            continue;
        };
        if let (Some(since), Some(instead)) = (key.deprecated, &key.instead)
            && farm.buildkit >= since
        {
            let message = format!("`buildkitd.{shown}` is deprecated since BuildKit {since}");
            let d = finding(Rule::BuildkitdDeprecatedKey, message);
            out.push(d.hint(format!("use {instead}")));
        }
        if let Some(needs) = key.introduced.filter(|v| farm.buildkit < *v) {
            let message = format!(
                "`buildkitd.{shown}` needs BuildKit {needs}, the image runs {}",
                farm.buildkit
            );
            let d = finding(Rule::BuildkitdUnknownKey, message);
            out.push(d.hint("buildkitd ignores keys it does not know: use a newer image"));
        }
    }
    out
}

/// The last segment of every table key that sits beside `path` (same parent).
fn siblings<'a>(keys: impl Iterator<Item = &'a Key>, path: &[String]) -> Vec<&'a str> {
    let parent = &path[..path.len() - 1];
    keys.filter_map(|k| {
        k.path
            .rsplit_once('/')
            .filter(|(pp, _)| matches(pp, parent))
            .map(|(_, leaf)| leaf)
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_patterns() {
        let p = |s: &str| s.split('/').map(String::from).collect::<Vec<_>>();
        assert!(matches(
            "registry/*/mirrors",
            &p("registry/docker.io/mirrors")
        ));
        assert!(matches(
            "registry/*/mirrors",
            &p("registry/registry:5000/mirrors")
        ));
        assert!(matches(
            "worker/*/cniPoolSize",
            &p("worker/oci/cniPoolSize")
        ));
        assert!(matches("worker/*/labels/*", &p("worker/oci/labels/team")));
        assert!(matches(
            "frontend/dockerfile.v0/enabled",
            &p("frontend/dockerfile.v0/enabled")
        ));
        // buildkitd reads keys without regard to case.
        assert!(matches(
            "worker/*/cniPoolSize",
            &p("worker/oci/cniPoolsize")
        ));
        assert!(matches("grpc/tls/ca", &p("GRPC/TLS/CA")));
        assert!(!matches("worker/*/cniPoolSize", &p("worker/oci/cniPool")));
        assert!(!matches(
            "registry/*/mirrors",
            &p("registry/docker.io/mirror")
        ));
    }
}
