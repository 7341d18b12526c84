//! The StatefulSet of a pool: every value its template lays out (pod template, probes, drain
//! hook, volumes, security context), chosen from the farm, its profile and the target
//! Kubernetes version. The template owns the YAML shape; this owns the choices.

use indexmap::IndexMap;
use serde::Serialize;

use crate::farm::defaults::CERTS_DIR;
use crate::farm::releases;
use crate::farm::version::image_ref;
use crate::farm::{Farm, Pool, Toleration, Volume};
use crate::profile::{Profile, Writable};
use crate::render::meta::{labels, selector};

/// Mode of the mounted certificate files: 0440, readable by the daemon's group (fsGroup)
/// without being world-readable.
const CERT_FILE_MODE: u32 = 0o440;

/// `templates/statefulset.yaml.j2`'s context: a misspelled field is a compile error here and an
/// undefined variable (a render error, caught by the tests) in the template.
#[derive(Serialize)]
struct StatefulSet<'a> {
    name: String,
    namespace: &'a str,
    labels: IndexMap<&'static str, String>,
    selector: IndexMap<&'static str, String>,
    service_name: String,
    /// `None` when an autoscaler owns the size (its kind, named here): a rendered size would
    /// be set back on every apply.
    replicas: Option<u32>,
    scaled_by: Option<&'static str>,
    pod_management_policy: &'static str,
    pod_annotations: IndexMap<String, String>,
    service_account: String,
    host_users: bool,
    priority_class_name: Option<&'a str>,
    runtime_class: Option<&'a str>,
    drain_seconds: u32,
    node_selector: IndexMap<String, String>,
    tolerations: &'a [Toleration],
    affinity: Option<&'a toml::Table>,
    image: &'a str,
    /// `IfNotPresent` for a digest (it names one image already); `Always` for a tag, so a
    /// moving or re-pushed tag resolves to one image on every node and every pull checks the
    /// registry's credentials.
    pull_policy: &'static str,
    args: Vec<String>,
    port: u16,
    metrics_port: Option<u16>,
    security: Security<'a>,
    probe_command: [&'a str; 5],
    probes: Probes,
    prestop_command: [String; 3],
    requests: &'a IndexMap<String, String>,
    limits: &'a IndexMap<String, String>,
    mounts: Mounts<'a>,
    storage: Option<Storage<'a>>,
}

/// The pod's and the container's securityContext, from the profile (the container's is
/// `templates/security_context.j2`, shared with `client sidecar`).
#[derive(Serialize)]
pub(crate) struct Security<'a> {
    fs_group: Option<u32>,
    privileged: bool,
    run_as_user: Option<u32>,
    run_as_group: Option<u32>,
    capabilities: Option<&'a [String]>,
    read_only_root: bool,
    unconfined: bool,
    /// Kubernetes has the `appArmorProfile` field (else the annotation says it).
    apparmor_field: bool,
}

/// The container's mounts and the pod's volumes: state, config, certificates, the writable
/// folders over a read-only root, and the spec's extra volumes.
#[derive(Serialize)]
struct Mounts<'a> {
    state_dir: &'a str,
    /// No cache volume: the state is an emptyDir.
    ephemeral_state: bool,
    config_dir: &'a str,
    config_map: String,
    config_key: &'a str,
    certs_dir: &'static str,
    secret: &'a str,
    /// With trust domains: the ConfigMap of the CAs of the clients the pool admits.
    client_cas: Option<(&'static str, String)>,
    cert_file_mode: u32,
    /// Over a read-only root filesystem, the folders the daemon writes.
    writable: &'a [Writable],
    extra: &'a [Volume],
}

#[derive(Serialize)]
struct Probes {
    timeout_seconds: u32,
    readiness_period_seconds: u32,
    liveness_period_seconds: u32,
    liveness_failure_threshold: u32,
    startup_failure_threshold: u32,
}

#[derive(Serialize)]
struct Storage<'a> {
    quantity: &'a str,
    class: Option<&'a str>,
    /// `persistentVolumeClaimRetentionPolicy.whenScaled` (`Retain` or `Delete`), where the
    /// target Kubernetes has the field.
    when_scaled: Option<&'static str>,
}

pub(crate) fn context<'a>(
    farm: &'a Farm,
    pool: &'a Pool,
    config_key: &'a str,
    checksum: &str,
) -> impl Serialize + 'a {
    let profile = &farm.profile;
    let apparmor_field = farm.kubernetes >= releases::kubernetes().since("apparmor-field");
    let mut node_selector = IndexMap::new();
    node_selector.insert("kubernetes.io/arch".to_string(), pool.arch.to_string());
    node_selector.extend(pool.node_selector.clone());

    let mut args = vec!["--config".to_string(), profile.config_path()];
    args.extend(profile.args.iter().cloned());
    args.extend(farm.extra_args.iter().cloned());

    let p = &farm.probes;
    StatefulSet {
        name: farm.pool_object(pool),
        namespace: &farm.namespace,
        labels: labels(farm, "daemon", Some(pool)),
        selector: selector(farm, pool),
        service_name: farm.headless_service(pool),
        replicas: pool.autoscale.is_none().then_some(pool.replicas),
        scaled_by: pool.autoscale.as_ref().map(|a| match a.signal {
            crate::farm::Signal::Builds { .. } => "ScaledObject",
            crate::farm::Signal::Cpu { .. } => "HorizontalPodAutoscaler",
        }),
        pod_management_policy: pool.pod_management_policy.as_str(),
        pod_annotations: pod_annotations(farm, pool, checksum, apparmor_field),
        service_account: farm.service_account(),
        host_users: profile.host_users,
        priority_class_name: pool.priority_class_name.as_deref(),
        runtime_class: pool.runtime_class.as_deref(),
        drain_seconds: farm.drain_seconds,
        node_selector,
        tolerations: &pool.tolerations,
        affinity: pool.affinity.as_ref(),
        image: &farm.image,
        pull_policy: if image_ref(&farm.image).digest {
            "IfNotPresent"
        } else {
            "Always"
        },
        args,
        port: farm.port,
        metrics_port: farm.metrics_port,
        security: security(farm, profile, apparmor_field),
        probe_command: ["buildctl", "--addr", &profile.socket, "debug", "workers"],
        probes: Probes {
            timeout_seconds: p.timeout_seconds,
            readiness_period_seconds: p.readiness_period_seconds,
            liveness_period_seconds: p.liveness_period_seconds,
            liveness_failure_threshold: p.liveness_failure_threshold,
            startup_failure_threshold: p.startup_seconds.div_ceil(5),
        },
        prestop_command: ["/bin/sh".into(), "-c".into(), drain_script(farm.port)],
        requests: &pool.requests,
        limits: &pool.limits,
        mounts: mounts(farm, pool, config_key),
        storage: pool.storage.as_ref().map(|st| Storage {
            quantity: &st.quantity,
            class: pool.storage_class.as_deref(),
            when_scaled: (farm.kubernetes >= releases::kubernetes().since("pvc-retention-policy"))
                .then_some(match pool.volume_on_scale_down {
                    crate::farm::VolumePolicy::Retain => "Retain",
                    crate::farm::VolumePolicy::Delete => "Delete",
                }),
        }),
    }
}

/// The config checksum (a changed config rolls the pods), AppArmor's annotation where the
/// field does not exist yet, then the spec's own.
fn pod_annotations(
    farm: &Farm,
    pool: &Pool,
    checksum: &str,
    apparmor_field: bool,
) -> IndexMap<String, String> {
    let mut annotations = IndexMap::new();
    annotations.insert("checksum/config".to_string(), checksum.to_string());
    if farm.profile.unconfined && !apparmor_field {
        annotations.insert(
            "container.apparmor.security.beta.kubernetes.io/buildkitd".to_string(),
            "unconfined".to_string(),
        );
    }
    annotations.extend(pool.pod_annotations.clone());
    annotations
}

pub(crate) fn security<'a>(
    farm: &Farm,
    profile: &'a Profile,
    apparmor_field: bool,
) -> Security<'a> {
    Security {
        fs_group: profile.fs_group,
        privileged: profile.privileged,
        run_as_user: profile.run_as_user,
        run_as_group: profile.run_as_group,
        capabilities: profile.capabilities.as_deref(),
        read_only_root: farm.read_only_root,
        unconfined: profile.unconfined,
        apparmor_field,
    }
}

fn mounts<'a>(farm: &'a Farm, pool: &Pool, config_key: &'a str) -> Mounts<'a> {
    let profile = &farm.profile;
    Mounts {
        state_dir: &profile.state_dir,
        ephemeral_state: pool.storage.is_none(),
        config_dir: &profile.config_dir,
        config_map: farm.config_map(),
        config_key,
        certs_dir: CERTS_DIR,
        secret: &farm.tls.secret,
        client_cas: pool
            .trust
            .as_ref()
            .and_then(|t| t.clients.as_ref())
            .map(|_| {
                let name = crate::farm::names::pool_client_cas(&farm.name, &pool.name);
                (crate::farm::defaults::CLIENT_CAS_DIR, name)
            }),
        cert_file_mode: CERT_FILE_MODE,
        writable: if farm.read_only_root {
            &profile.writable
        } else {
            &[]
        },
        extra: &farm.extra_volumes,
    }
}

/// The preStop hook's shell script: wait until the build port is idle.
fn drain_script(port: u16) -> String {
    // Idle means no established connection (state 01) to the build port in two looks 5 s
    // apart: one look catches a client between two builds, or reconnecting, as idle. The
    // grace period (`drain_seconds`) bounds the wait.
    let port_hex = format!("{:04X}", port);
    format!(
        "idle=0; while [ \"$idle\" -lt 2 ]; do sleep 5; \
         if grep -qE '^ *[0-9]+: [0-9A-F]+:{port_hex} [0-9A-F]+:[0-9A-F]+ 01 ' /proc/net/tcp /proc/net/tcp6 2>/dev/null; \
         then idle=0; else idle=$((idle + 1)); fi; done"
    )
}
