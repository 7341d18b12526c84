//! buildkitd.toml for one pool. BuildKit ignores keys it does not know, so a key from the wrong
//! release is a silent misconfiguration: every key here is chosen by the image's version.
//!
//! Sizes are written as integer bytes and durations as integer seconds: every BuildKit release
//! reads those back exactly (`"50GB"` strings only from v0.12, and BuildKit reads them as GiB).

use toml::{Table, Value};

use crate::farm::defaults::{self, CERTS_DIR};
use crate::farm::releases::{self, GC_SPACE_KEY, LOG_LEVEL_KEY};
use crate::farm::size::{DiskSpace, human_bytes};
use crate::farm::{Farm, Storage};

/// The GC sizes a pool gets, and how they were chosen (for the file's header comment).
struct GcSizes {
    reserved: Option<DiskSpace>,
    max_used: Option<DiskSpace>,
    min_free: Option<DiskSpace>,
    origin: String,
}

/// A pool's buildkitd.toml: the farm's settings, with GC sizes derived from the pool's volume
/// (the only thing of the pool's it depends on, so pools with equal volumes share it).
pub fn buildkitd_toml(farm: &Farm, storage: Option<&Storage>) -> String {
    let table = releases::buildkit();
    let mut root = Table::new();
    if farm.debug {
        // The top-level `debug` flag is deprecated (a warning at every start) once `[log] level`
        // exists; older releases know only the flag.
        if farm.buildkit >= table.introduced(LOG_LEVEL_KEY) {
            let mut log = Table::new();
            log.insert("level".into(), Value::String("debug".into()));
            root.insert("log".into(), Value::Table(log));
        } else {
            root.insert("debug".into(), Value::Boolean(true));
        }
    }

    let mut grpc = Table::new();
    let address = vec![
        Value::String(format!("tcp://0.0.0.0:{}", farm.port)),
        Value::String(farm.profile.socket.clone()),
    ];
    grpc.insert("address".into(), Value::Array(address));
    if let Some(port) = farm.metrics_port {
        grpc.insert(
            "debugAddress".into(),
            Value::String(format!("0.0.0.0:{port}")),
        );
    }
    let mut tls = Table::new();
    tls.insert("cert".into(), Value::String(format!("{CERTS_DIR}/tls.crt")));
    tls.insert("key".into(), Value::String(format!("{CERTS_DIR}/tls.key")));
    // With a CA set, buildkitd requires and verifies client certificates; without, anyone connects.
    tls.insert("ca".into(), Value::String(format!("{CERTS_DIR}/ca.crt")));
    grpc.insert("tls".into(), Value::Table(tls));
    root.insert("grpc".into(), Value::Table(grpc));

    if let Some(h) = &farm.history {
        let mut history = Table::new();
        history.insert("maxAge".into(), int(h.max_age_seconds));
        history.insert("maxEntries".into(), Value::Integer(h.max_entries.into()));
        root.insert("history".into(), Value::Table(history));
    }

    let sizes = gc_sizes(farm, storage);
    let mut oci = Table::new();
    oci.insert("enabled".into(), Value::Boolean(true));
    oci.insert("gc".into(), Value::Boolean(true));
    let new_gc_keys = table.introduced(GC_SPACE_KEY);
    let new_keys = farm.buildkit >= new_gc_keys;
    let size_keys = |t: &mut Table| {
        if new_keys {
            put_size(t, "reservedSpace", sizes.reserved);
            put_size(t, "maxUsedSpace", sizes.max_used);
            put_size(t, "minFreeSpace", sizes.min_free);
        } else {
            put_size(t, "keepBytes", sizes.max_used);
        }
    };
    if new_keys {
        size_keys(&mut oci);
    }
    let has_sizes =
        sizes.reserved.is_some() || sizes.max_used.is_some() || sizes.min_free.is_some();
    if has_sizes {
        let keep = farm
            .gc
            .as_ref()
            .and_then(|g| g.keep_duration)
            .unwrap_or(defaults::GC_KEEP_DURATION_SECONDS);
        let transient_key = if new_keys {
            "maxUsedSpace"
        } else {
            "keepBytes"
        };
        // BuildKit's own default order: easily reproduced data first, then stale data, then
        // anything unshared, then everything (internal data too) to stay under the cap.
        let mut transient = Table::new();
        let filters = [
            "type==source.local",
            "type==exec.cachemount",
            "type==source.git.checkout",
        ];
        transient.insert(
            "filters".into(),
            Value::Array(filters.map(|f| Value::String(f.into())).to_vec()),
        );
        transient.insert("keepDuration".into(), int(keep));
        transient.insert(transient_key.into(), int(defaults::GC_TRANSIENT_BYTES));
        let mut stale = Table::new();
        stale.insert("keepDuration".into(), int(defaults::GC_STALE_SECONDS));
        size_keys(&mut stale);
        let mut unshared = Table::new();
        size_keys(&mut unshared);
        let mut all = Table::new();
        all.insert("all".into(), Value::Boolean(true));
        size_keys(&mut all);
        let policies = [transient, stale, unshared, all].map(Value::Table).to_vec();
        oci.insert("gcpolicy".into(), Value::Array(policies));
    }
    let mut worker = Table::new();
    worker.insert("oci".into(), Value::Table(oci));
    // No containerd in the pod: say so instead of letting buildkitd probe for its socket.
    let mut containerd = Table::new();
    containerd.insert("enabled".into(), Value::Boolean(false));
    worker.insert("containerd".into(), Value::Table(containerd));
    root.insert("worker".into(), Value::Table(worker));

    merge(&mut root, &farm.buildkitd);

    let mut out = format!(
        "# buildkitd.toml for BuildKit {}, generated by buildfarm: edit farm.toml, not this file.\n",
        farm.buildkit
    );
    out.push_str(&format!("# GC: {}\n", sizes.origin));
    if !new_keys && has_sizes {
        out.push_str(&format!(
            "# BuildKit before {new_gc_keys} has one size per policy (keepBytes); gckeepstorage is unused when policies are listed.\n",
        ));
    }
    out.push('\n');
    out.push_str(&toml::to_string(&root).expect("a toml::Table always serializes"));
    out
}

fn gc_sizes(farm: &Farm, storage: Option<&Storage>) -> GcSizes {
    if let Some(gc) = &farm.gc {
        let describe = |label: &str, v: Option<DiskSpace>| v.map(|v| format!("{label} {v}"));
        let parts: Vec<String> = [
            describe("cap", gc.max_used),
            describe("floor", gc.reserved),
            describe("free-space target", gc.min_free),
        ]
        .into_iter()
        .flatten()
        .collect();
        let origin = match parts.is_empty() {
            true => "[gc] in farm.toml sets no sizes; BuildKit's defaults apply.".to_string(),
            false => format!("from [gc] in farm.toml: {}.", parts.join(", ")),
        };
        return GcSizes {
            reserved: gc.reserved,
            max_used: gc.max_used,
            min_free: gc.min_free,
            origin,
        };
    }
    let Some(storage) = storage else {
        return GcSizes {
            reserved: None,
            max_used: None,
            min_free: None,
            origin: "ephemeral cache (no volume) and no [gc] in farm.toml: BuildKit's default policy applies.".into(),
        };
    };
    let share = |percent: u64| {
        // Whole MiB, so the numbers read well and stay below the exact share.
        let bytes = storage.bytes / 100 * percent;
        DiskSpace::Bytes(bytes - bytes % (1 << 20))
    };
    let (max_used, reserved, min_free) = (
        share(defaults::GC_MAX_USED_PERCENT),
        share(defaults::GC_RESERVED_PERCENT),
        share(defaults::GC_MIN_FREE_PERCENT),
    );
    let origin = format!(
        "derived from the {} volume ({}), set [gc] in farm.toml to choose:\n\
         #   cap {}% = {max_used}, floor {}% = {reserved}, free-space target {}% = {min_free}.",
        storage.quantity,
        human_bytes(storage.bytes),
        defaults::GC_MAX_USED_PERCENT,
        defaults::GC_RESERVED_PERCENT,
        defaults::GC_MIN_FREE_PERCENT,
    );
    GcSizes {
        reserved: Some(reserved),
        max_used: Some(max_used),
        min_free: Some(min_free),
        origin,
    }
}

fn put_size(t: &mut Table, key: &str, size: Option<DiskSpace>) {
    match size {
        Some(DiskSpace::Bytes(b)) => t.insert(key.into(), int(b)),
        Some(DiskSpace::Percent(p)) => t.insert(key.into(), Value::String(format!("{p}%"))),
        None => None,
    };
}

fn int(n: u64) -> Value {
    Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Deep-merges `over` into `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut Table, over: &Table) {
    for (key, value) in over {
        match (base.get_mut(key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}
