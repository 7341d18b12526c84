//! The StatefulSet of a pool: pod template, probes, drain hook, volumes and security context,
//! chosen from the farm, its profile and the target Kubernetes version.

use indexmap::IndexMap;
use minijinja::value::Serde;
use minijinja::{Value, context};
use toml::Value as T;

use crate::farm::defaults::CERTS_DIR;
use crate::farm::releases;
use crate::farm::version::image_ref;
use crate::farm::{Farm, Pool};
use crate::render::meta::{labels, selector};

fn table<const N: usize>(pairs: [(&str, T); N]) -> T {
    T::Table(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn s(text: impl Into<String>) -> T {
    T::String(text.into())
}

pub fn context(farm: &Farm, pool: &Pool, config_key: &str, checksum: &str) -> Value {
    let profile = &farm.profile;
    let apparmor_field = farm.kubernetes >= releases::kubernetes().since("apparmor-field");

    let mut annotations = IndexMap::new();
    annotations.insert("checksum/config".to_string(), checksum.to_string());
    if profile.unconfined && !apparmor_field {
        annotations.insert(
            "container.apparmor.security.beta.kubernetes.io/buildkitd".to_string(),
            "unconfined".to_string(),
        );
    }
    annotations.extend(pool.pod_annotations.clone());

    let (pod_security, container_security) = security_contexts(farm, apparmor_field);

    let mut node_selector = IndexMap::new();
    node_selector.insert("kubernetes.io/arch".to_string(), pool.arch.to_string());
    node_selector.extend(pool.node_selector.clone());

    let mut args = vec!["--config".to_string(), profile.config_path()];
    args.extend(profile.args.iter().cloned());
    args.extend(farm.extra_args.iter().cloned());

    let (mounts, volumes) = volumes(farm, pool, config_key);

    let probe_command = [
        "buildctl",
        "--addr",
        profile.socket.as_str(),
        "debug",
        "workers",
    ];
    let drain = drain_script(farm.port);
    let storage = pool
        .storage
        .as_ref()
        .map(|st| context! { quantity => &st.quantity, class => &pool.storage_class });

    context! {
        name => farm.pool_object(pool),
        namespace => &farm.namespace,
        labels => Serde(labels(farm, "daemon", Some(pool))),
        selector => Serde(selector(farm, pool)),
        service_name => farm.headless_service(pool),
        replicas => pool.replicas,
        pod_management_policy => pool.pod_management_policy.as_str(),
        pod_annotations => Serde(annotations),
        service_account => farm.service_account(),
        host_users => profile.host_users,
        priority_class_name => &pool.priority_class_name,
        drain_seconds => farm.drain_seconds,
        pod_security_context => Serde(pod_security),
        node_selector => Serde(node_selector),
        tolerations => Serde(&pool.tolerations),
        affinity => pool.affinity.as_ref().map(Serde),
        image => &farm.image,
        args => Serde(args),
        port => farm.port,
        metrics_port => farm.metrics_port,
        container_security_context => Serde(container_security),
        probe_command => Serde(probe_command),
        probes => context! {
            timeout_seconds => farm.probes.timeout_seconds,
            readiness_period_seconds => farm.probes.readiness_period_seconds,
            liveness_period_seconds => farm.probes.liveness_period_seconds,
            liveness_failure_threshold => farm.probes.liveness_failure_threshold,
        },
        startup_failure_threshold => farm.probes.startup_seconds.div_ceil(5),
        prestop_command => Serde(["/bin/sh", "-c", drain.as_str()]),
        requests => Serde(&pool.requests),
        // A moving or re-pushed tag resolves to one image on every node, and every pull checks
        // the registry's credentials; a digest names one image already.
        pull_policy => if image_ref(&farm.image).digest { "IfNotPresent" } else { "Always" },
        limits => Serde(&pool.limits),
        volume_mounts => Serde(mounts),
        volumes => Serde(volumes),
        storage,
    }
}

/// The pod's and the container's securityContext, from the profile.
fn security_contexts(farm: &Farm, apparmor_field: bool) -> (toml::Table, toml::Table) {
    let profile = &farm.profile;
    let mut pod_security = toml::Table::new();
    if let Some(group) = profile.fs_group {
        pod_security.insert("fsGroup".into(), T::Integer(group.into()));
        // Only chown the cache volume when its root is not ours yet: a full walk of a warm
        // cache would delay every restart.
        pod_security.insert("fsGroupChangePolicy".into(), s("OnRootMismatch"));
    }
    let mut container_security = toml::Table::new();
    if profile.privileged {
        container_security.insert("privileged".into(), T::Boolean(true));
    }
    if let Some(uid) = profile.run_as_user {
        container_security.insert("runAsUser".into(), T::Integer(uid.into()));
        container_security.insert("runAsNonRoot".into(), T::Boolean(true));
    }
    if let Some(gid) = profile.run_as_group {
        container_security.insert("runAsGroup".into(), T::Integer(gid.into()));
    }
    if let Some(add) = &profile.capabilities {
        let list = |names: &[String]| T::Array(names.iter().map(s).collect());
        container_security.insert(
            "capabilities".into(),
            table([("drop", list(&["ALL".to_string()])), ("add", list(add))]),
        );
    }
    if farm.read_only_root {
        container_security.insert("readOnlyRootFilesystem".into(), T::Boolean(true));
    }
    if profile.unconfined {
        container_security.insert("seccompProfile".into(), table([("type", s("Unconfined"))]));
        if apparmor_field {
            container_security.insert("appArmorProfile".into(), table([("type", s("Unconfined"))]));
        }
    }

    (pod_security, container_security)
}

/// The container's mounts and the pod's volumes: state, config, certificates, the writable
/// folders over a read-only root, and the spec's extra volumes.
fn volumes(farm: &Farm, pool: &Pool, config_key: &str) -> (Vec<T>, Vec<T>) {
    let profile = &farm.profile;
    let mut mounts = vec![
        table([("name", s("state")), ("mountPath", s(&profile.state_dir))]),
        table([
            ("name", s("config")),
            ("mountPath", s(&profile.config_dir)),
            ("readOnly", T::Boolean(true)),
        ]),
        table([
            ("name", s("certs")),
            ("mountPath", s(CERTS_DIR)),
            ("readOnly", T::Boolean(true)),
        ]),
    ];
    let items = T::Array(vec![table([
        ("key", s(config_key)),
        ("path", s("buildkitd.toml")),
    ])]);
    let mut volumes = vec![
        table([
            ("name", s("config")),
            (
                "configMap",
                table([("name", s(farm.config_map())), ("items", items)]),
            ),
        ]),
        // 0440: readable by the daemon's group (fsGroup) without being world-readable.
        table([
            ("name", s("certs")),
            (
                "secret",
                table([
                    ("secretName", s(&farm.tls.secret)),
                    ("defaultMode", T::Integer(0o440)),
                ]),
            ),
        ]),
    ];
    if pool.storage.is_none() {
        volumes.insert(0, table([("name", s("state")), ("emptyDir", table([]))]));
    }
    // Over a read-only root filesystem, the folders the daemon writes.
    for w in profile.writable.iter().filter(|_| farm.read_only_root) {
        mounts.push(table([("name", s(&w.name)), ("mountPath", s(&w.path))]));
        volumes.push(table([("name", s(&w.name)), ("emptyDir", table([]))]));
    }
    for v in &farm.extra_volumes {
        mounts.push(table([
            ("name", s(&v.name)),
            ("mountPath", s(&v.mount_path)),
            ("readOnly", T::Boolean(v.read_only)),
        ]));
        let mut volume = toml::Table::new();
        volume.insert("name".into(), s(&v.name));
        volume.extend(v.source.clone());
        volumes.push(T::Table(volume));
    }

    (mounts, volumes)
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
