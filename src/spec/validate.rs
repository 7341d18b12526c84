//! `RawFarm` → `Farm`: applies defaults (built-in < profile < farm.toml < flags) and checks
//! everything, collecting every problem with its location instead of stopping at the first.

use std::ops::{Range, RangeInclusive};
use std::path::Path;

use indexmap::IndexMap;
use toml::Spanned;

use super::raw::{RawFarm, RawPool, RawResources, RawToleration};
use super::size::{DiskSpace, parse_disk_space, parse_quantity};
use super::version::{KubeVersion, Version, buildkit, buildkit_version_of, kube};
use super::{Client, Farm, Gc, History, Pool, Probes, Storage, Tls, TlsMode, Toleration, Volume};
use super::{defaults, names};
use crate::error::{Diagnostic, Invalid, Source, did_you_mean, one_of};
use crate::profile::{Mode, Profile};

pub const ARCHES: [&str; 7] = [
    "amd64", "arm64", "arm", "ppc64le", "s390x", "riscv64", "386",
];

/// A StatefulSet's pods carry `controller-revision-hash: <statefulset>-<hash>`, a label value
/// (≤ 63 characters) with a hash of up to 10 characters: so a StatefulSet name is at most 52.
const MAX_STATEFULSET_NAME: usize = 52;

/// Volumes and mounts every daemon has; extra volumes must not collide with them.
const BUILT_IN_VOLUMES: [&str; 3] = ["state", "config", "certs"];
use super::defaults::CERTS_DIR as CERTS_MOUNT;

/// buildkitd.toml keys the spec owns, and what to write instead.
const OWNED_KEYS: [(&str, &str); 12] = [
    ("root", "the state folder is fixed by the profile"),
    ("debug", "set `debug` at the top of farm.toml"),
    (
        "grpc.address",
        "set `port`; the local socket comes from the profile",
    ),
    ("grpc.tls", "use `[tls]`"),
    ("grpc.debugAddress", "set `metrics_port`"),
    ("history", "use `[history]`"),
    ("worker.oci.gc", "use `[gc]`"),
    ("worker.oci.gcpolicy", "use `[gc]`"),
    ("worker.oci.gckeepstorage", "use `[gc]`"),
    ("worker.oci.reservedSpace", "use `[gc]`"),
    ("worker.oci.maxUsedSpace", "use `[gc]`"),
    ("worker.oci.minFreeSpace", "use `[gc]`"),
];

struct Checker<'a> {
    src: &'a Source,
    errors: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn error(&mut self, span: Range<usize>, message: impl Into<String>, hint: Option<String>) {
        let mut d = self.src.error(Some(span), message);
        d.hint = hint;
        self.errors.push(d);
    }

    /// A string key: the default when absent; `check` returns a reason when the value is bad.
    fn text(
        &mut self,
        value: Option<Spanned<String>>,
        key: &str,
        default: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> String {
        match value {
            None => default.to_string(),
            Some(v) => {
                if let Err(why) = check(v.get_ref()) {
                    let message = format!("`{key}` = `{}` is not valid: {why}", v.get_ref());
                    self.error(v.span(), message, None);
                }
                v.into_inner()
            }
        }
    }

    fn int(
        &mut self,
        value: Option<Spanned<i64>>,
        key: &str,
        range: RangeInclusive<i64>,
        default: i64,
    ) -> i64 {
        match value {
            None => default,
            Some(v) if range.contains(v.get_ref()) => *v.get_ref(),
            Some(v) => {
                let message = format!(
                    "`{key}` must be from {} to {}, found {}",
                    range.start(),
                    range.end(),
                    v.get_ref()
                );
                self.error(v.span(), message, None);
                default
            }
        }
    }

    fn seconds(&mut self, value: Option<Spanned<i64>>, key: &str, default: u32) -> u32 {
        self.int(value, key, 1..=86_400 * 7, i64::from(default)) as u32
    }

    fn duration(&mut self, value: Option<Spanned<String>>, key: &str, default: u64) -> u64 {
        match value {
            None => default,
            Some(v) => names::duration_seconds(v.get_ref()).unwrap_or_else(|why| {
                self.error(v.span(), format!("`{key}`: {why}"), None);
                default
            }),
        }
    }
}

pub fn check(
    raw: RawFarm,
    src: &Source,
    base: &Path,
    certs_dir: Option<&Path>,
) -> Result<Farm, Invalid> {
    let mut c = Checker {
        src,
        errors: Vec::new(),
    };

    let name = c.text(raw.name, "name", defaults::NAME, |s| {
        names::dns_label(s)?;
        match s.starts_with(|ch: char| ch.is_ascii_lowercase()) {
            true => Ok(()),
            false => Err("it must start with a letter (Service names are DNS-1035 labels)".into()),
        }
    });
    let namespace = c.text(
        raw.namespace,
        "namespace",
        defaults::NAMESPACE,
        names::dns_label,
    );
    let mode_span = raw.mode.as_ref().map_or(0..0, Spanned::span);
    let mode = match raw.mode {
        None => Mode::Rootless,
        Some(m) => Mode::parse(m.get_ref()).unwrap_or_else(|| {
            let mut hint = format!("expected {}", one_of(&Mode::NAMES));
            if let Some(best) = did_you_mean(m.get_ref(), Mode::NAMES) {
                hint.push_str(&format!("; did you mean `{best}`?"));
            }
            c.error(
                m.span(),
                format!("unknown mode `{}`", m.get_ref()),
                Some(hint),
            );
            Mode::Rootless
        }),
    };
    let profile = Profile::load(mode);
    let image_span = raw.image.as_ref().map(Spanned::span);
    let image = c.text(raw.image, "image", &profile.image, |s| {
        match s.is_empty() || s.contains(char::is_whitespace) {
            true => Err("an image reference has no spaces and is not empty".into()),
            false => Ok(()),
        }
    });
    let buildkit = buildkit_version(&mut c, &image, image_span, raw.buildkit_version);
    let kubernetes = kubernetes_version(&mut c, raw.kubernetes, &profile, mode, mode_span);

    let port = c.int(raw.port, "port", 1..=65_535, i64::from(defaults::PORT)) as u16;
    let metrics_port = raw.metrics_port.map(|p| {
        let span = p.span();
        let value = c.int(Some(p), "metrics_port", 1..=65_535, 6060) as u16;
        if value == port {
            c.error(
                span,
                format!("`metrics_port` {value} is also the buildkitd `port`"),
                None,
            );
        }
        value
    });
    let cluster_domain = c.text(
        raw.cluster_domain,
        "cluster_domain",
        defaults::CLUSTER_DOMAIN,
        names::dns_subdomain,
    );
    let extra_args = raw
        .extra_args
        .unwrap_or_default()
        .into_iter()
        .map(|a| c.text(Some(a), "extra_args", "", non_empty))
        .collect();
    let drain_seconds = c.seconds(raw.drain_seconds, "drain_seconds", defaults::DRAIN_SECONDS);

    let p = raw.probes.map(Spanned::into_inner).unwrap_or_default();
    let probes = Probes {
        timeout_seconds: c.seconds(
            p.timeout_seconds,
            "probes.timeout_seconds",
            defaults::PROBE_TIMEOUT_SECONDS,
        ),
        readiness_period_seconds: c.seconds(
            p.readiness_period_seconds,
            "probes.readiness_period_seconds",
            defaults::READINESS_PERIOD_SECONDS,
        ),
        liveness_period_seconds: c.seconds(
            p.liveness_period_seconds,
            "probes.liveness_period_seconds",
            defaults::LIVENESS_PERIOD_SECONDS,
        ),
        liveness_failure_threshold: c.int(
            p.liveness_failure_threshold,
            "probes.liveness_failure_threshold",
            1..=100,
            i64::from(defaults::LIVENESS_FAILURE_THRESHOLD),
        ) as u32,
        startup_seconds: c.seconds(
            p.startup_seconds,
            "probes.startup_seconds",
            defaults::STARTUP_SECONDS,
        ),
    };

    let tls = tls(&mut c, raw.tls, &name, base, certs_dir);
    let gc = raw.gc.map(|g| gc(&mut c, g, buildkit));
    let history = history(&mut c, raw.history, buildkit);
    let buildkitd = raw
        .buildkitd
        .map(|t| passthrough(&mut c, t))
        .unwrap_or_default();
    let extra_volumes = raw
        .extra_volume
        .unwrap_or_default()
        .into_iter()
        .map(|v| volume(&mut c, v, &profile))
        .collect();
    let pools = pools(&mut c, raw.pool, &name);

    if c.errors.is_empty() {
        Ok(Farm {
            name,
            namespace,
            create_namespace: raw.create_namespace.unwrap_or(true),
            mode,
            profile,
            image,
            buildkit,
            kubernetes,
            port,
            cluster_domain,
            debug: raw.debug.unwrap_or(false),
            metrics_port,
            extra_args,
            drain_seconds,
            probes,
            tls,
            gc,
            history,
            buildkitd,
            extra_volumes,
            pools,
        })
    } else {
        Err(Invalid(c.errors))
    }
}

fn non_empty(s: &str) -> Result<(), String> {
    if s.is_empty() {
        Err("it is empty".into())
    } else {
        Ok(())
    }
}

fn buildkit_version(
    c: &mut Checker,
    image: &str,
    image_span: Option<Range<usize>>,
    explicit: Option<Spanned<String>>,
) -> Version {
    let from_tag = buildkit_version_of(image);
    match explicit {
        Some(v) => match Version::parse(v.get_ref()) {
            None => {
                let message = format!("`buildkit_version` = `{}` is not a version", v.get_ref());
                c.error(v.span(), message, Some("write a release like `0.17.1`".into()));
                Version::new(0, 0, 0)
            }
            Some(ver) => {
                if let Some(tag) = from_tag.filter(|t| *t != ver) {
                    let message = format!("`buildkit_version` {ver} disagrees with the image tag, which says {tag}");
                    c.error(v.span(), message, Some("remove `buildkit_version`: the tag already tells".into()));
                }
                ver
            }
        },
        None => from_tag.unwrap_or_else(|| {
            let message = format!("cannot tell which BuildKit release `{image}` runs");
            let hint = "buildkitd.toml keys depend on it: pin a release tag such as `moby/buildkit:v0.32.2`, or set `buildkit_version = \"0.32.2\"`";
            c.error(image_span.unwrap_or(0..0), message, Some(hint.into()));
            Version::new(0, 0, 0)
        }),
    }
}

fn kubernetes_version(
    c: &mut Checker,
    value: Option<Spanned<String>>,
    profile: &Profile,
    mode: Mode,
    mode_span: Range<usize>,
) -> KubeVersion {
    let span = value.as_ref().map(Spanned::span);
    let text = value.map_or(defaults::KUBERNETES.to_string(), Spanned::into_inner);
    let Some(version) = KubeVersion::parse(&text) else {
        let message = format!("`kubernetes` = `{text}` is not a Kubernetes version");
        c.error(
            span.unwrap_or(0..0),
            message,
            Some("write the oldest cluster version, like `1.30`".into()),
        );
        return KubeVersion::parse(defaults::KUBERNETES).expect("the default parses");
    };
    if version < kube::OLDEST {
        let message = format!(
            "Kubernetes {version} is older than the oldest supported release, {}",
            kube::OLDEST
        );
        c.error(span.clone().unwrap_or(0..0), message, None);
    }
    let needed = KubeVersion::parse(&profile.min_kubernetes).expect("profiles are tested to parse");
    if version < needed {
        let message = format!(
            "mode `{}` needs Kubernetes {needed} or newer, the farm targets {version}",
            mode.as_str()
        );
        let hint = match mode {
            Mode::Userns => {
                "user namespaces (`hostUsers: false`) are on by default from 1.33: raise `kubernetes`, or use `mode = \"rootless\"`"
            }
            _ => "raise `kubernetes`",
        };
        c.error(span.unwrap_or(mode_span), message, Some(hint.into()));
    }
    version
}

fn tls(
    c: &mut Checker,
    raw: Option<Spanned<super::raw::RawTls>>,
    name: &str,
    base: &Path,
    certs_dir: Option<&Path>,
) -> Tls {
    let t = raw.map(Spanned::into_inner).unwrap_or_default();
    let mode = match t.mode {
        None => TlsMode::Generated,
        Some(m) => match m.get_ref().as_str() {
            "generated" => TlsMode::Generated,
            "external" => TlsMode::External,
            other => {
                let known = ["generated", "external"];
                let mut hint = format!("expected {}", one_of(&known));
                if let Some(best) = did_you_mean(other, known) {
                    hint.push_str(&format!("; did you mean `{best}`?"));
                }
                c.error(m.span(), format!("unknown TLS mode `{other}`"), Some(hint));
                TlsMode::Generated
            }
        },
    };
    let dir = t
        .dir
        .map_or(defaults::TLS_DIR.to_string(), Spanned::into_inner);
    let dir = certs_dir.map_or_else(|| base.join(&dir), Path::to_path_buf);
    let secret = match (mode, t.secret) {
        (TlsMode::External, None) => {
            let hint = "name the kubernetes.io/tls Secret (keys ca.crt, tls.crt, tls.key): `secret = \"buildkitd-tls\"`";
            c.error(
                0..0,
                "`tls.mode = \"external\"` needs `tls.secret`",
                Some(hint.into()),
            );
            String::new()
        }
        (_, secret) => c.text(
            secret,
            "tls.secret",
            &format!("{name}-daemon-tls"),
            names::dns_subdomain,
        ),
    };
    let days = |c: &mut Checker, v, key, default: u32| {
        c.int(v, key, 1..=36_500, i64::from(default)) as u32
    };
    let server_days = days(c, t.server_days, "tls.server_days", defaults::SERVER_DAYS);
    let client_days = days(c, t.client_days, "tls.client_days", defaults::CLIENT_DAYS);
    let ca_days = days(c, t.ca_days, "tls.ca_days", defaults::CA_DAYS);
    let extra_sans = t
        .extra_sans
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            c.text(Some(s), "tls.extra_sans", "", |s| {
                match s.parse::<std::net::IpAddr>() {
                    Ok(_) => Ok(()),
                    Err(_) => names::san_dns_name(s),
                }
            })
        })
        .collect();
    let mut clients: Vec<Client> = Vec::new();
    for raw_client in t.client.unwrap_or_default() {
        let span = raw_client.span();
        let rc = raw_client.into_inner();
        let Some(client_name) = rc.name else {
            c.error(
                span,
                "a `[[tls.client]]` has no `name`",
                Some("add `name = \"gitlab-runner\"`".into()),
            );
            continue;
        };
        let name_span = client_name.span();
        let client_name = c.text(Some(client_name), "tls.client.name", "", names::dns_label);
        let namespace = rc
            .namespace
            .map(|n| c.text(Some(n), "tls.client.namespace", "", names::dns_label));
        if clients.iter().any(|x| x.name == client_name) {
            c.error(
                name_span,
                format!("two clients are named `{client_name}`"),
                Some("client names must be unique".into()),
            );
        }
        clients.push(Client {
            name: client_name,
            namespace,
        });
    }
    if clients.is_empty() {
        clients.push(Client {
            name: defaults::CLIENT.into(),
            namespace: None,
        });
    }
    Tls {
        mode,
        dir,
        secret,
        server_days,
        client_days,
        ca_days,
        extra_sans,
        clients,
    }
}

fn gc(c: &mut Checker, raw: Spanned<super::raw::RawGc>, buildkit: Version) -> Gc {
    let g = raw.into_inner();
    let size = |c: &mut Checker,
                v: Option<Spanned<toml::Value>>,
                key: &str|
     -> Option<(DiskSpace, Range<usize>)> {
        let v = v?;
        let parsed = match v.get_ref() {
            toml::Value::Integer(n) if *n >= 0 => Ok(DiskSpace::Bytes(*n as u64)),
            toml::Value::String(s) => parse_disk_space(s),
            other => Err(format!(
                "found {} {other}; write a size like \"50GB\", \"80%\" or a number of bytes",
                other.type_str()
            )),
        };
        match parsed {
            Ok(DiskSpace::Percent(_)) if buildkit < buildkit::SIZE_STRINGS => {
                let message = format!(
                    "`gc.{key}` as a percentage needs BuildKit {} or newer, the image runs {buildkit}",
                    buildkit::SIZE_STRINGS
                );
                c.error(
                    v.span(),
                    message,
                    Some("write a size such as \"200GB\"".into()),
                );
                None
            }
            Ok(d) => Some((d, v.span())),
            Err(why) => {
                c.error(v.span(), format!("`gc.{key}`: {why}"), None);
                None
            }
        }
    };
    let reserved = size(c, g.reserved, "reserved");
    let max_used = size(c, g.max_used, "max_used");
    let min_free = size(c, g.min_free, "min_free");
    if buildkit < buildkit::NEW_GC_KEYS {
        for (key, value) in [("reserved", &reserved), ("min_free", &min_free)] {
            if let Some((_, span)) = value {
                let message = format!(
                    "`gc.{key}` needs BuildKit {} or newer, the image runs {buildkit}",
                    buildkit::NEW_GC_KEYS
                );
                let hint = "before v0.17 a GC policy has one size, its cap: set only `gc.max_used` (written as `keepBytes`)";
                c.error(span.clone(), message, Some(hint.into()));
            }
        }
    }
    if let (Some((r, span)), Some((m, _))) = (&reserved, &max_used) {
        let bigger = match (r, m) {
            (DiskSpace::Bytes(a), DiskSpace::Bytes(b)) => a > b,
            (DiskSpace::Percent(a), DiskSpace::Percent(b)) => a > b,
            _ => false,
        };
        if bigger {
            let message = format!("`gc.reserved` ({r}) is larger than `gc.max_used` ({m})");
            c.error(
                span.clone(),
                message,
                Some("the floor must not exceed the cap".into()),
            );
        }
    }
    let keep_duration = g
        .keep_duration
        .map(|d| c.duration(Some(d), "gc.keep_duration", 0));
    Gc {
        reserved: reserved.map(|r| r.0),
        max_used: max_used.map(|m| m.0),
        min_free: min_free.map(|m| m.0),
        keep_duration,
    }
}

fn history(
    c: &mut Checker,
    raw: Option<Spanned<super::raw::RawHistory>>,
    buildkit: Version,
) -> Option<History> {
    if buildkit < buildkit::HISTORY {
        if let Some(h) = raw {
            let message = format!(
                "`[history]` needs BuildKit {} or newer, the image runs {buildkit}",
                buildkit::HISTORY
            );
            c.error(
                h.span(),
                message,
                Some("remove `[history]` or use a newer image".into()),
            );
        }
        return None;
    }
    let h = raw.map(Spanned::into_inner).unwrap_or_default();
    Some(History {
        max_age_seconds: c.duration(
            h.max_age,
            "history.max_age",
            defaults::HISTORY_MAX_AGE_SECONDS,
        ),
        max_entries: c.int(
            h.max_entries,
            "history.max_entries",
            1..=100_000,
            i64::from(defaults::HISTORY_MAX_ENTRIES),
        ) as u32,
    })
}

fn passthrough(c: &mut Checker, table: Spanned<toml::Table>) -> toml::Table {
    for (path, instead) in OWNED_KEYS {
        let mut node: Option<&toml::Value> = None;
        let mut current = Some(table.get_ref());
        for part in path.split('.') {
            node = current.and_then(|t| t.get(part));
            current = node.and_then(toml::Value::as_table);
        }
        if node.is_some() {
            let message = format!("`buildkitd.{path}` is managed by buildfarm");
            c.error(table.span(), message, Some(instead.into()));
        }
    }
    table.into_inner()
}

fn volume(c: &mut Checker, raw: Spanned<super::raw::RawVolume>, profile: &Profile) -> Volume {
    let span = raw.span();
    let v = raw.into_inner();
    if v.name.is_none() || v.mount_path.is_none() || v.source.is_none() {
        let hint = "write `{ name = \"registry-ca\", mount_path = \"/etc/ssl/registry\", source = { secret = { secretName = \"registry-ca\" } } }`";
        c.error(
            span.clone(),
            "an `[[extra_volume]]` needs `name`, `mount_path` and `source`",
            Some(hint.into()),
        );
    }
    let name = c.text(v.name, "extra_volume.name", "", |s| {
        names::dns_label(s)?;
        match BUILT_IN_VOLUMES.contains(&s) {
            true => Err(format!(
                "{} are the daemon's own volumes",
                one_of(&BUILT_IN_VOLUMES)
            )),
            false => Ok(()),
        }
    });
    let taken = [
        profile.state_dir.as_str(),
        profile.config_dir.as_str(),
        CERTS_MOUNT,
    ];
    let mount_path = c.text(v.mount_path, "extra_volume.mount_path", "", |s| {
        match (s.starts_with('/'), taken.contains(&s.trim_end_matches('/'))) {
            (false, _) => Err("it must be an absolute path".into()),
            (true, true) => Err("the daemon's state, config and certs are mounted there".into()),
            _ => Ok(()),
        }
    });
    let source = v.source.map(|s| {
        if s.get_ref().len() != 1 {
            let message = "`extra_volume.source` must hold exactly one volume type";
            c.error(
                s.span(),
                message,
                Some("e.g. `{ configMap = { name = \"x\" } }`".into()),
            );
        }
        s.into_inner()
    });
    Volume {
        name,
        mount_path,
        read_only: v.read_only.unwrap_or(true),
        source: source.unwrap_or_default(),
    }
}

fn pools(
    c: &mut Checker,
    raw: Option<Spanned<Vec<Spanned<RawPool>>>>,
    farm_name: &str,
) -> Vec<Pool> {
    let hint = "add one per CPU architecture:\n\n[[pool]]\narch = \"amd64\"\nreplicas = 2\nstorage = \"100Gi\"";
    let list = match raw {
        None => {
            c.error(0..0, "the farm has no `[[pool]]`", Some(hint.into()));
            return Vec::new();
        }
        Some(l) if l.get_ref().is_empty() => {
            c.error(l.span(), "the farm has no `[[pool]]`", Some(hint.into()));
            return Vec::new();
        }
        Some(l) => l.into_inner(),
    };
    let mut pools: Vec<Pool> = Vec::new();
    for raw_pool in list {
        let span = raw_pool.span();
        if let Some(pool) = pool(c, raw_pool.into_inner(), span, farm_name, &pools) {
            pools.push(pool);
        }
    }
    pools
}

fn pool(
    c: &mut Checker,
    p: RawPool,
    span: Range<usize>,
    farm_name: &str,
    earlier: &[Pool],
) -> Option<Pool> {
    let Some(arch) = p.arch else {
        c.error(
            span,
            "a `[[pool]]` has no `arch`",
            Some(format!(
                "add `arch = \"amd64\"`; known: {}",
                one_of(&ARCHES)
            )),
        );
        return None;
    };
    let arch_span = arch.span();
    let arch = arch.into_inner();
    if !ARCHES.contains(&arch.as_str()) {
        let hint = match arch.as_str() {
            "x86_64" | "x86-64" | "x64" => "Kubernetes calls x86_64 `amd64`".to_string(),
            "aarch64" | "arm64v8" => "Kubernetes calls aarch64 `arm64`".to_string(),
            other => match did_you_mean(other, ARCHES) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("known: {}", one_of(&ARCHES)),
            },
        };
        c.error(
            arch_span.clone(),
            format!("unknown arch `{arch}`"),
            Some(hint),
        );
    }
    let name_span = p.name.as_ref().map_or(arch_span, Spanned::span);
    let name = c.text(p.name, "pool.name", &arch, names::dns_label);
    if earlier.iter().any(|e| e.name == name) {
        let hint = "give each pool a distinct `name` (two pools of one arch need one)";
        c.error(
            name_span.clone(),
            format!("two pools are named `{name}`"),
            Some(hint.into()),
        );
    }
    let object = format!("{farm_name}-{name}");
    if object.len() > MAX_STATEFULSET_NAME {
        let message = format!(
            "StatefulSet name `{object}` is {} characters, the limit is {MAX_STATEFULSET_NAME}",
            object.len()
        );
        let hint = "its pods' controller-revision-hash label must fit in 63 characters: shorten `name` or the pool name";
        c.error(name_span, message, Some(hint.into()));
    }
    let replicas = c.int(
        p.replicas,
        "pool.replicas",
        0..=1000,
        i64::from(defaults::REPLICAS),
    ) as u32;
    let storage = p.storage.and_then(|s| match parse_quantity(s.get_ref()) {
        Ok(0) => {
            c.error(
                s.span(),
                "`pool.storage` must be larger than 0",
                Some("omit `storage` for an ephemeral cache".into()),
            );
            None
        }
        Ok(bytes) => Some(Storage {
            quantity: s.into_inner(),
            bytes,
        }),
        Err(why) => {
            c.error(s.span(), format!("`pool.storage`: {why}"), None);
            None
        }
    });
    let storage_class = p
        .storage_class
        .map(|s| c.text(Some(s), "pool.storage_class", "", names::dns_subdomain));
    let node_selector = string_map(
        c,
        p.node_selector,
        "pool.node_selector",
        names::label_value,
        &["kubernetes.io/arch"],
    );
    let tolerations = p
        .tolerations
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| toleration(c, t))
        .collect();
    let (requests, limits) = resources(c, p.resources);
    let pod_annotations = string_map(
        c,
        p.pod_annotations,
        "pool.pod_annotations",
        |_| Ok(()),
        &["checksum/config"],
    );
    let affinity = p.affinity.map(|a| {
        let known = ["nodeAffinity", "podAffinity", "podAntiAffinity"];
        for key in a.get_ref().keys().filter(|k| !known.contains(&k.as_str())) {
            c.error(
                a.span(),
                format!("unknown affinity `{key}`"),
                Some(format!("expected {}", one_of(&known))),
            );
        }
        a.into_inner()
    });
    let priority_class_name = p.priority_class_name.map(|s| {
        c.text(
            Some(s),
            "pool.priority_class_name",
            "",
            names::dns_subdomain,
        )
    });
    let pod_management_policy = c.text(
        p.pod_management_policy,
        "pool.pod_management_policy",
        defaults::POD_MANAGEMENT_POLICY,
        |s| match s {
            "Parallel" | "OrderedReady" => Ok(()),
            _ => Err("expected `Parallel` or `OrderedReady`".into()),
        },
    );
    Some(Pool {
        name,
        arch,
        replicas,
        storage,
        storage_class,
        node_selector,
        tolerations,
        requests,
        limits,
        pod_annotations,
        affinity,
        priority_class_name,
        pod_management_policy,
    })
}

/// A map of label/annotation keys to strings; `reserved` keys are set by buildfarm itself.
fn string_map(
    c: &mut Checker,
    map: Option<IndexMap<String, Spanned<String>>>,
    key: &str,
    check_value: impl Fn(&str) -> Result<(), String>,
    reserved: &[&str],
) -> IndexMap<String, String> {
    let mut out = IndexMap::new();
    for (k, v) in map.unwrap_or_default() {
        if reserved.contains(&k.as_str()) {
            c.error(
                v.span(),
                format!("`{key}` cannot set `{k}`: buildfarm sets it"),
                None,
            );
        } else if let Err(why) = names::qualified_name(&k) {
            c.error(
                v.span(),
                format!("`{key}` key `{k}` is not valid: {why}"),
                None,
            );
        } else if let Err(why) = check_value(v.get_ref()) {
            c.error(
                v.span(),
                format!("`{key}` value `{}` is not valid: {why}", v.get_ref()),
                None,
            );
        }
        out.insert(k, v.into_inner());
    }
    out
}

fn toleration(c: &mut Checker, raw: Spanned<RawToleration>) -> Option<Toleration> {
    let span = raw.span();
    let t = raw.into_inner();
    let before = c.errors.len();
    let operator = t.operator.map_or("Equal".to_string(), Spanned::into_inner);
    if operator != "Exists" && operator != "Equal" {
        c.error(
            span.clone(),
            format!("toleration operator `{operator}` is not valid"),
            Some("expected `Exists` or `Equal`".into()),
        );
    }
    let effect = t.effect.map(Spanned::into_inner);
    let effects = ["NoSchedule", "PreferNoSchedule", "NoExecute"];
    if let Some(e) = effect.as_deref().filter(|e| !effects.contains(e)) {
        let hint = did_you_mean(e, effects).map_or(format!("expected {}", one_of(&effects)), |b| {
            format!("did you mean `{b}`?")
        });
        c.error(
            span.clone(),
            format!("toleration effect `{e}` is not valid"),
            Some(hint),
        );
    }
    let key = t.key.map(Spanned::into_inner);
    let value = t.value.map(Spanned::into_inner);
    if key.is_none() && operator != "Exists" {
        c.error(
            span.clone(),
            "a toleration without `key` must use `operator = \"Exists\"`",
            None,
        );
    }
    if value.is_some() && operator == "Exists" {
        c.error(
            span.clone(),
            "a toleration with `operator = \"Exists\"` takes no `value`",
            None,
        );
    }
    let toleration_seconds = t.toleration_seconds.map(|s| *s.get_ref());
    if toleration_seconds.is_some() && effect.as_deref() != Some("NoExecute") {
        c.error(
            span,
            "`toleration_seconds` only applies to `effect = \"NoExecute\"`",
            None,
        );
    }
    (c.errors.len() == before).then_some(Toleration {
        key,
        operator,
        value,
        effect,
        toleration_seconds,
    })
}

fn resources(
    c: &mut Checker,
    raw: Option<Spanned<RawResources>>,
) -> (IndexMap<String, String>, IndexMap<String, String>) {
    let r = raw.map(Spanned::into_inner).unwrap_or_default();
    let mut side = |map: Option<IndexMap<String, Spanned<toml::Value>>>, which: &str| {
        let mut out = IndexMap::new();
        for (k, v) in map.unwrap_or_default() {
            let text = match v.get_ref() {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(f) => f.to_string(),
                other => {
                    c.error(
                        v.span(),
                        format!(
                            "`resources.{which}.{k}` must be a quantity, found {}",
                            other.type_str()
                        ),
                        None,
                    );
                    continue;
                }
            };
            let known = ["cpu", "memory", "ephemeral-storage"];
            if !known.contains(&k.as_str()) && !k.contains('/') {
                let hint = did_you_mean(&k, known).map_or(
                    format!(
                        "expected {} or an extended resource like `nvidia.com/gpu`",
                        one_of(&known)
                    ),
                    |b| format!("did you mean `{b}`?"),
                );
                c.error(v.span(), format!("unknown resource `{k}`"), Some(hint));
            } else if let Err(why) = names::quantity(&text) {
                c.error(
                    v.span(),
                    format!("`resources.{which}.{k}` = `{text}` is not valid: {why}"),
                    None,
                );
            }
            out.insert(k, text);
        }
        out
    };
    let requests = side(r.requests, "requests");
    let limits = side(r.limits, "limits");
    (requests, limits)
}
