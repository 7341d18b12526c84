//! The release tables from `data/buildkit.toml` and `data/kubernetes.toml`: the only place
//! that knows which BuildKit and Kubernetes release brought, deprecated or fixed what. build.rs
//! turns them into the statics below at build time, so reading them costs nothing at start-up;
//! the tests below hold them to their own rules.

use super::version::{KubeVersion, Version};

/// The keys the renderer and validator ask the BuildKit table about.
pub const HISTORY_KEY: &str = "history/maxAge";
/// `reservedSpace`/`maxUsedSpace`/`minFreeSpace`: BuildKit's second GC (keepBytes before).
pub const GC_SPACE_KEY: &str = "worker/*/reservedSpace";
/// `[log] level`, which replaced the top-level `debug` flag.
pub const LOG_LEVEL_KEY: &str = "log/level";

include!(concat!(env!("OUT_DIR"), "/releases.rs"));

/// What buildfarm knows about BuildKit releases.
#[derive(Debug)]
pub struct BuildkitTable {
    /// When the table was last checked (`YYYY-MM-DD`).
    pub updated: &'static str,
    pub releases: &'static [BuildkitRelease],
    pub advisories: &'static [Advisory],
    pub keys: &'static [Key],
    features: &'static [BuildkitFeature],
}

/// The newest patch of one minor.
#[derive(Debug)]
pub struct BuildkitRelease {
    pub latest: Version,
    pub released: Option<&'static str>,
    pub source: &'static str,
}

/// A published security advisory and the first fixed release of each minor that got one.
#[derive(Debug)]
pub struct Advisory {
    pub id: &'static str,
    pub fixed: &'static [Version],
    pub impact: &'static str,
    pub source: &'static str,
}

/// A buildkitd.toml key (`/`-separated path, `*` for any one key, `[]` for an array of tables).
#[derive(Debug)]
pub struct Key {
    pub path: &'static str,
    pub introduced: Option<Version>,
    pub deprecated: Option<Version>,
    pub instead: Option<&'static str>,
    pub source: Option<&'static str>,
}

/// A behaviour that is no buildkitd.toml key but still depends on the release.
#[derive(Debug)]
pub struct BuildkitFeature {
    pub name: &'static str,
    pub introduced: Version,
    pub about: &'static str,
    pub source: &'static str,
}

impl BuildkitTable {
    /// The key at exactly this table path.
    pub fn key(&self, path: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.path == path)
    }

    /// The first release that reads a key the renderer writes.
    pub fn introduced(&self, path: &str) -> Version {
        self.key(path)
            .unwrap_or_else(|| panic!("data/buildkit.toml lists `{path}`; covered by tests"))
            .introduced
            .unwrap_or(Version::new(0, 0, 0))
    }

    /// The first release with a behaviour that is not a key (`size-strings`, ...).
    pub fn feature(&self, name: &str) -> Version {
        self.features
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("data/buildkit.toml has feature `{name}`; covered by tests"))
            .introduced
    }

    /// The newest release: the one the profiles pin.
    pub fn newest(&self) -> &BuildkitRelease {
        self.releases
            .iter()
            .max_by_key(|r| r.latest)
            .expect("data/buildkit.toml lists releases; covered by tests")
    }

    /// The newest known patch of `version`'s minor.
    pub fn latest_patch(&self, version: Version) -> Option<&BuildkitRelease> {
        self.releases.iter().find(|r| same_minor(r.latest, version))
    }

    /// The advisories `version` is exposed to (see the rule at `[[advisory]]` in the table).
    pub fn advisories_of(&self, version: Version) -> Vec<&Advisory> {
        self.advisories
            .iter()
            .filter(|a| a.affects(version))
            .collect()
    }
}

impl Advisory {
    /// Vulnerable when the release's minor has a fix it predates, or has none while a newer
    /// minor has one.
    pub fn affects(&self, version: Version) -> bool {
        match self.fixed.iter().find(|f| same_minor(**f, version)) {
            Some(fix) => version < *fix,
            None => self.fixed.iter().any(|f| *f > version),
        }
    }

    /// The first fixed release for `version`: in its own minor, else the oldest newer one.
    pub fn fix_for(&self, version: Version) -> Option<Version> {
        self.fixed
            .iter()
            .find(|f| same_minor(**f, version))
            .or_else(|| self.fixed.iter().filter(|f| **f > version).min())
            .copied()
    }
}

fn same_minor(a: Version, b: Version) -> bool {
    (a.major, a.minor) == (b.major, b.minor)
}

/// What buildfarm knows about Kubernetes releases.
#[derive(Debug)]
pub struct KubernetesTable {
    pub updated: &'static str,
    pub releases: &'static [KubeRelease],
    pub features: &'static [KubeFeature],
}

#[derive(Debug)]
pub struct KubeRelease {
    pub minor: KubeVersion,
    pub released: &'static str,
    /// End of life (`YYYY-MM-DD`): no more patches after it.
    pub eol: &'static str,
    pub source: &'static str,
}

#[derive(Debug)]
pub struct KubeFeature {
    pub name: &'static str,
    pub since: KubeVersion,
    pub about: &'static str,
    /// What the nodes need for it, where that is more than the Kubernetes version.
    pub requires: Option<&'static str>,
    pub source: &'static str,
}

impl KubernetesTable {
    /// The first minor a farm can count on the feature in.
    pub fn since(&self, name: &str) -> KubeVersion {
        self.feature(name).since
    }

    pub fn feature(&self, name: &str) -> &KubeFeature {
        self.features
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| {
                panic!("data/kubernetes.toml has feature `{name}`; covered by tests")
            })
    }

    pub fn release(&self, minor: KubeVersion) -> Option<&KubeRelease> {
        self.releases.iter().find(|r| r.minor == minor)
    }

    /// The oldest minor still supported upstream on `day` (`YYYY-MM-DD`).
    pub fn oldest_supported(&self, day: &str) -> KubeVersion {
        self.releases
            .iter()
            .filter(|r| r.eol >= day)
            .map(|r| r.minor)
            .min()
            .unwrap_or_else(|| self.newest())
    }

    /// The default target: the oldest minor supported on the table's own date, so the same
    /// build always renders the same bytes.
    pub fn default_target(&self) -> KubeVersion {
        self.oldest_supported(self.updated)
    }

    pub fn newest(&self) -> KubeVersion {
        self.releases
            .iter()
            .map(|r| r.minor)
            .max()
            .expect("data/kubernetes.toml lists releases; covered by tests")
    }
}

pub fn buildkit() -> &'static BuildkitTable {
    &BUILDKIT
}

pub fn kubernetes() -> &'static KubernetesTable {
    &KUBERNETES
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_date(s: &str) -> bool {
        let b = s.as_bytes();
        b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && s.chars()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
    }

    #[test]
    fn buildkit_table_is_well_formed_and_sourced() {
        let t = buildkit();
        assert!(is_date(t.updated));
        let mut minors = std::collections::HashSet::new();
        for r in t.releases {
            assert!(
                minors.insert((r.latest.major, r.latest.minor)),
                "{} twice",
                r.latest
            );
            assert!(r.released.is_none_or(is_date), "{}", r.latest);
            assert!(r.source.starts_with("https://"), "{}", r.latest);
        }
        for a in t.advisories {
            assert!(a.id.starts_with("GHSA-") && a.id.len() == 19, "{}", a.id);
            assert!(!a.fixed.is_empty() && !a.impact.is_empty(), "{}", a.id);
            assert!(a.source.starts_with("https://"), "{}", a.id);
        }
        for k in t.keys {
            let dated = k.introduced.is_some() || k.deprecated.is_some();
            assert_eq!(
                dated,
                k.source.is_some(),
                "`{}`: a version needs its source",
                k.path
            );
            assert_eq!(k.deprecated.is_some(), k.instead.is_some(), "`{}`", k.path);
        }
    }

    #[test]
    fn every_key_and_feature_the_code_asks_for_is_listed() {
        let t = buildkit();
        for path in [HISTORY_KEY, GC_SPACE_KEY, LOG_LEVEL_KEY] {
            assert!(t.key(path).is_some(), "{path}");
        }
        for name in [
            "size-strings",
            "tlsdir-names",
            "history-disable",
            "build-metrics",
        ] {
            t.feature(name);
        }
        let k = kubernetes();
        for name in [
            "apparmor-field",
            "sidecar-containers",
            "affinity-match-label-keys",
            "user-namespaces",
            "user-namespaces-ga",
            "image-volumes",
            "pvc-retention-policy",
        ] {
            assert!(k.feature(name).source.starts_with("https://"), "{name}");
        }
    }

    #[test]
    fn advisories_follow_the_per_minor_rule() {
        let t = buildkit();
        let ids = |v: &str| -> Vec<&str> {
            let v = Version::parse(v).unwrap();
            t.advisories_of(v).iter().map(|a| a.id).collect()
        };
        // Fixed in v0.34.2: older minors without a fix of their own are exposed...
        assert!(ids("v0.32.2").contains(&"GHSA-w26x-xg27-7qjc"));
        assert!(ids("v0.34.1").contains(&"GHSA-w26x-xg27-7qjc"));
        // ...the fixed patch and newer minors are not.
        assert!(!ids("v0.34.2").contains(&"GHSA-w26x-xg27-7qjc"));
        assert!(ids("v0.35.1").is_empty(), "{:?}", ids("v0.35.1"));
        let a = t
            .advisories
            .iter()
            .find(|a| a.id == "GHSA-w26x-xg27-7qjc")
            .unwrap();
        assert_eq!(
            a.fix_for(Version::new(0, 32, 2)),
            Some(Version::new(0, 34, 2))
        );
        assert_eq!(
            a.fix_for(Version::new(0, 34, 0)),
            Some(Version::new(0, 34, 2))
        );
    }

    #[test]
    fn the_pinned_release_is_the_newest_in_the_table() {
        let newest = buildkit().newest().latest;
        for &mode in crate::profile::Mode::ALL {
            let image = crate::profile::Profile::load(mode).image;
            assert_eq!(
                crate::farm::version::buildkit_version_of(&image),
                Some(newest),
                "{image}"
            );
        }
    }

    #[test]
    fn kubernetes_table_is_ordered_and_dated() {
        let t = kubernetes();
        assert!(is_date(t.updated));
        for pair in t.releases.windows(2) {
            assert!(pair[0].minor < pair[1].minor);
            assert!(pair[0].released < pair[1].released);
        }
        for r in t.releases {
            assert!(
                is_date(r.released) && is_date(r.eol) && r.released < r.eol,
                "{}",
                r.minor
            );
        }
    }

    #[test]
    fn default_target_is_the_oldest_supported_minor() {
        let t = kubernetes();
        assert_eq!(t.oldest_supported("2026-10-27"), KubeVersion::new(1, 34));
        assert_eq!(t.oldest_supported("2026-10-28"), KubeVersion::new(1, 35));
        assert_eq!(t.oldest_supported("2030-01-01"), t.newest());
        assert_eq!(t.default_target(), KubeVersion::new(1, 35));
    }
}
