//! Keys in the `[buildkitd]` passthrough table. buildkitd silently ignores keys it does not
//! know, so a typo there is a setting that quietly does nothing: flag it, with a did-you-mean.

use crate::error::{Diagnostic, Severity, did_you_mean};
use crate::spec::Farm;
use crate::spec::version::{Version, buildkit};

/// buildkitd.toml keys as `/`-separated paths (`*` matches any one key, `[]` marks an array of
/// tables; a trailing `*` takes the rest),
/// from BuildKit's config structs (cmd/buildkitd/config).
const KNOWN: &[&str] = &[
    "debug",
    "trace",
    "root",
    "insecure-entitlements",
    "provenanceEnvDir",
    "log/format",
    "grpc/address",
    "grpc/debugAddress",
    "grpc/uid",
    "grpc/gid",
    "grpc/securityDescriptor",
    "grpc/tls/cert",
    "grpc/tls/key",
    "grpc/tls/ca",
    "otel/socketPath",
    "cdi/disabled",
    "cdi/specDirs",
    "cdi/autoAllowed",
    "dns/nameservers",
    "dns/options",
    "dns/searchDomains",
    "history/maxAge",
    "history/maxEntries",
    "system/platformsCacheMaxAge",
    "frontend/dockerfile.v0/enabled",
    "frontend/gateway.v0/enabled",
    "frontend/gateway.v0/allowedRepositories",
    "registry/*/mirrors",
    "registry/*/http",
    "registry/*/insecure",
    "registry/*/ca",
    "registry/*/keypair[]/key",
    "registry/*/keypair[]/cert",
    "registry/*/tlsconfigdir",
    "registry/*/capabilities",
    // Both workers share the GC and network options.
    "worker/*/enabled",
    "worker/*/labels/*",
    "worker/*/platforms",
    "worker/*/snapshotter",
    "worker/*/rootless",
    "worker/*/gc",
    "worker/*/gckeepstorage",
    "worker/*/reservedSpace",
    "worker/*/maxUsedSpace",
    "worker/*/minFreeSpace",
    "worker/*/gcpolicy[]/all",
    "worker/*/gcpolicy[]/filters",
    "worker/*/gcpolicy[]/keepDuration",
    "worker/*/gcpolicy[]/keepBytes",
    "worker/*/gcpolicy[]/reservedSpace",
    "worker/*/gcpolicy[]/maxUsedSpace",
    "worker/*/gcpolicy[]/minFreeSpace",
    "worker/*/networkMode",
    "worker/*/cniConfigPath",
    "worker/*/cniBinaryPath",
    "worker/*/cniPoolSize",
    "worker/*/bridgeName",
    "worker/*/bridgeSubnet",
    "worker/*/apparmor-profile",
    "worker/*/selinux",
    "worker/*/max-parallelism",
    "worker/*/defaultCgroupParent",
    "worker/oci/noProcessSandbox",
    "worker/oci/userRemapUnsupported",
    "worker/oci/binary",
    "worker/oci/proxySnapshotterPath",
    "worker/oci/isolateCgroups",
    "worker/oci/stargzSnapshotter/*",
    "worker/containerd/address",
    "worker/containerd/namespace",
    "worker/containerd/runtime/name",
    "worker/containerd/runtime/path",
    "worker/containerd/runtime/options/*",
];

/// Keys the newer GC replaced (v0.17), with what to write instead.
const DEPRECATED: &[(&str, &str)] = &[
    ("gckeepstorage", "reservedSpace (or maxUsedSpace for a cap)"),
    (
        "keepBytes",
        "maxUsedSpace (a cap) or reservedSpace (a floor)",
    ),
];

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

fn matches(pattern: &str, path: &[String]) -> bool {
    let parts: Vec<&str> = pattern.split('/').collect();
    let fits = |(p, k): (&&str, &String)| *p == "*" || p == k;
    if parts.last() == Some(&"*") && path.len() >= parts.len() {
        return parts.iter().zip(path).all(fits);
    }
    parts.len() == path.len() && parts.iter().zip(path).all(fits)
}

pub fn check(farm: &Farm) -> Vec<Diagnostic> {
    let mut paths = Vec::new();
    leaves(&farm.buildkitd, &[], &mut paths);
    let mut out = Vec::new();
    for path in paths {
        let shown = path.join(".");
        let leaf = path.last().map_or("", String::as_str);
        if !KNOWN.iter().any(|p| matches(p, &path)) {
            let parent = &path[..path.len() - 1];
            let siblings: Vec<&str> = KNOWN
                .iter()
                .filter_map(|p| {
                    p.rsplit_once('/')
                        .filter(|(pp, _)| matches(pp, parent))
                        .map(|(_, leaf)| leaf)
                })
                .collect();
            let hint = match did_you_mean(leaf, siblings) {
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
            out.push(
                farm.finding(
                    Severity::Warning,
                    "buildkitd-unknown-key",
                    "buildkitd",
                    message,
                )
                .hint(hint),
            );
            continue;
        }
        if let Some((_, instead)) = DEPRECATED.iter().find(|(old, _)| *old == leaf)
            && farm.buildkit >= buildkit::NEW_GC_KEYS
        {
            let message = format!(
                "`buildkitd.{shown}` is deprecated in BuildKit {}",
                farm.buildkit
            );
            let d = farm.finding(
                Severity::Warning,
                "buildkitd-deprecated-key",
                "buildkitd",
                message,
            );
            out.push(d.hint(format!("use {instead}")));
        }
        let needs = version_of(leaf);
        if farm.buildkit < needs {
            let message = format!(
                "`buildkitd.{shown}` needs BuildKit {needs}, the image runs {}",
                farm.buildkit
            );
            let d = farm.finding(
                Severity::Warning,
                "buildkitd-unknown-key",
                "buildkitd",
                message,
            );
            out.push(d.hint("buildkitd ignores keys it does not know: use a newer image"));
        }
    }
    out
}

/// The release that introduced a key, where the renderer knows it.
fn version_of(leaf: &str) -> Version {
    match leaf {
        "reservedSpace" | "maxUsedSpace" | "minFreeSpace" => buildkit::NEW_GC_KEYS,
        "maxAge" | "maxEntries" => buildkit::HISTORY,
        _ => Version::new(0, 0, 0),
    }
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
        assert!(!matches(
            "worker/*/cniPoolSize",
            &p("worker/oci/cniPoolsize")
        ));
        assert!(!matches(
            "registry/*/mirrors",
            &p("registry/docker.io/mirror")
        ));
    }
}
