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
    /// What a patch release changed, worth a line beside `image-outdated`.
    pub patch_notes: &'static [PatchNote],
    pub advisories: &'static [Advisory],
    pub keys: &'static [Key],
    /// The keys the oldest release in the table reads, from its source.
    pub baseline: Baseline,
    features: &'static [BuildkitFeature],
}

/// A patch release's change that is not an advisory.
#[derive(Debug)]
pub struct PatchNote {
    pub version: Version,
    pub about: &'static str,
    pub source: &'static str,
}

/// The keys of the oldest release the table covers: a key with no `introduced` is one of them.
#[derive(Debug)]
pub struct Baseline {
    pub release: Version,
    pub source: &'static str,
    pub keys: &'static [&'static str],
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

    /// The patch notes of `version`'s minor that came after it, up to `latest`.
    pub fn patch_notes_after(&self, version: Version) -> Vec<&PatchNote> {
        self.patch_notes
            .iter()
            .filter(|n| same_minor(n.version, version) && n.version > version)
            .collect()
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

/// After this many days past the tables' `updated` date, `versions` and lint say they are old.
pub const STALE_AFTER_DAYS: i64 = 90;

/// The environment variable that sets "today" (`YYYY-MM-DD`) for everything that compares
/// dates with the tables: tests use it, never the clock.
pub const TODAY_VAR: &str = "BUILDFARM_TODAY";

/// Today, `YYYY-MM-DD`: `$BUILDFARM_TODAY`, else the clock (UTC). An invalid
/// `BUILDFARM_TODAY` is refused at start-up (`check_today`), so it is valid here.
pub fn today() -> String {
    match std::env::var(TODAY_VAR) {
        Ok(day) if days(&day).is_some() => day,
        _ => time::OffsetDateTime::now_utc().date().to_string(),
    }
}

/// `Err` with what to write when `BUILDFARM_TODAY` is set and not a date.
pub fn check_today() -> Result<(), String> {
    match std::env::var(TODAY_VAR) {
        Ok(day) if days(&day).is_none() => Err(format!(
            "{TODAY_VAR}={day:?} is not a date: write YYYY-MM-DD, or unset it to use the clock"
        )),
        _ => Ok(()),
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (the civil-from-days algorithm, inverted).
pub fn days(date: &str) -> Option<i64> {
    let b = date.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| date.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let month_days = [
        31,
        28 + i64::from(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)),
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m) || d < 1 || d > month_days[usize::try_from(m - 1).ok()?] {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// The `YYYY-MM-DD` date `days` days after 1970-01-01 (the inverse of `days`).
pub fn date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day the older of the two tables was last checked.
pub fn tables_checked() -> &'static str {
    buildkit().updated.min(kubernetes().updated)
}

/// How many days the older of the two tables is past `STALE_AFTER_DAYS` on `today`, with its
/// age: `Some(age)` when stale.
pub fn tables_age_if_stale(today: &str) -> Option<i64> {
    let age = days(today)? - days(tables_checked())?;
    (age > STALE_AFTER_DAYS).then_some(age)
}

/// The sentence `versions` and lint say when the tables are stale.
pub fn stale_sentence(age: i64) -> String {
    format!(
        "this buildfarm's release knowledge is {age} days old; a newer buildfarm knows newer BuildKit and Kubernetes releases"
    )
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

    /// A key with no `introduced` must be one the oldest release reads (written down in the
    /// table's `[baseline]`, from that release's source), and every baseline key is listed.
    #[test]
    fn keys_without_introduced_are_in_the_oldest_release() {
        let t = buildkit();
        let oldest = t.releases.iter().map(|r| r.latest).min().unwrap();
        assert_eq!(
            t.baseline.release, oldest,
            "the baseline is the oldest release"
        );
        assert!(t.baseline.source.contains(&t.baseline.release.to_string()));
        for k in t.keys {
            match k.introduced {
                None => assert!(
                    t.baseline.keys.contains(&k.path),
                    "`{}` has no `introduced` and {} does not read it",
                    k.path,
                    t.baseline.release
                ),
                Some(v) => assert!(
                    v <= t.baseline.release || !t.baseline.keys.contains(&k.path),
                    "`{}`: introduced {v}, yet listed in {}",
                    k.path,
                    t.baseline.release
                ),
            }
        }
        for path in t.baseline.keys {
            assert!(
                t.key(path).is_some(),
                "baseline key `{path}` is not in the table"
            );
        }
    }

    /// Corrections from the audit against BuildKit's tags (issue: the release tables): each
    /// failed before its fix.
    #[test]
    fn audited_key_facts() {
        let t = buildkit();
        let v = |s: &str| Version::parse(s).unwrap();
        assert_eq!(t.introduced(LOG_LEVEL_KEY), v("v0.30.0"));
        assert_eq!(t.key("debug").unwrap().deprecated, Some(v("v0.30.0")));
        assert!(t.key("worker/oci/isolateCgroups").is_none());
        assert!(t.key("registry/*/capabilities").is_none());
        assert_eq!(t.introduced("proxyNetwork"), v("v0.31.0"));
        assert_eq!(t.introduced("cdi/specDirs"), v("v0.20.0"));
        assert_eq!(
            t.introduced("frontend/gateway.v0/allowedRepositories"),
            v("v0.14.0")
        );
        assert_eq!(t.introduced("worker/*/bridgeName"), v("v0.13.0"));
        assert_eq!(t.introduced("cache/gha/verify/required"), v("v0.27.0"));
        for minor in ["v0.32.2", "v0.30.0", "v0.29.0"] {
            assert_eq!(t.latest_patch(v(minor)).unwrap().latest, v(minor));
        }
        assert_eq!(
            t.latest_patch(v("v0.33.0")).unwrap().released,
            Some("2026-09-30")
        );
        for a in t.advisories {
            assert!(
                !a.impact.contains("security release"),
                "{}: a real impact",
                a.id
            );
        }
        assert_eq!(t.patch_notes_after(v("v0.34.0")).len(), 1);
        assert!(t.patch_notes_after(v("v0.34.1")).is_empty());
        assert_eq!(kubernetes().since("image-volumes"), KubeVersion::new(1, 35));
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
    fn dates_count_days() {
        assert_eq!(days("1970-01-01"), Some(0));
        assert_eq!(days("2000-03-01").unwrap() - days("2000-02-28").unwrap(), 2);
        assert_eq!(days("2027-01-01").unwrap() - days("2026-12-31").unwrap(), 1);
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "26-01-01",
            "2026-1-011",
            "tomorrow",
        ] {
            assert_eq!(days(bad), None, "{bad}");
        }
    }

    #[test]
    fn tables_are_stale_only_past_90_days() {
        let checked = days(tables_checked()).unwrap();
        assert_eq!(tables_age_if_stale(&date(checked + 90)), None);
        assert_eq!(tables_age_if_stale(&date(checked + 91)), Some(91));
        assert_eq!(tables_age_if_stale(tables_checked()), None);
    }

    #[test]
    fn date_inverts_days() {
        for day in [
            "1970-01-01",
            "2000-02-29",
            "2026-12-31",
            "2027-03-01",
            "2100-03-01",
        ] {
            assert_eq!(date(days(day).unwrap()), day);
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
