//! `client sidecar`: a rootless buildkitd beside a CI job, reached over a socket shared in the
//! pod. Its container is locked down like the farm's (the same securityContext block); it has
//! no TLS (the socket never leaves the pod) and no shared cache (it dies with the pod).

use serde::Serialize;

use super::statefulset::{Security, security};
use crate::farm::{Farm, releases};
use crate::profile::{Mode, Profile};

/// Where the sidecar's socket is shared with the job container.
pub(crate) const SOCKET_DIR: &str = "/run/buildkit-shared";

/// `templates/sidecar.j2`.
#[derive(Serialize)]
struct Sidecar<'a> {
    /// A native sidecar (`initContainers`, `restartPolicy: Always`).
    native: bool,
    image: &'a str,
    args: [&'a str; 3],
    security: Security<'a>,
    probe_command: [&'a str; 5],
    /// Every volume, each an emptyDir mounted once.
    volumes: Vec<Mount<'a>>,
}

#[derive(Serialize)]
struct Mount<'a> {
    name: String,
    path: &'a str,
    /// Who writes there, rendered as a comment beside the mount.
    why: Option<&'a str>,
}

/// The socket the job reaches the sidecar at.
pub(crate) fn socket() -> String {
    format!("unix://{SOCKET_DIR}/buildkitd.sock")
}

/// Whether the target Kubernetes runs native sidecars (an init container with `restartPolicy:
/// Always`), so the sidecar sits under `initContainers:`.
pub(crate) fn native(farm: &Farm) -> bool {
    farm.kubernetes >= releases::kubernetes().since("sidecar-containers")
}

/// The sidecar's `containers:` (or `initContainers:`) and `volumes:`, for a pod spec.
/// The sidecar runs `image`, else the farm's own (its `-rootless` tag for a privileged farm).
pub(crate) fn render(farm: &Farm, image: Option<&str>) -> anyhow::Result<String> {
    let profile = Profile::load(Mode::Rootless);
    let rootless = rootless_form(&farm.image);
    let image = match (image, farm.mode) {
        (Some(image), _) => image,
        (None, Mode::Rootless) => farm.image.as_str(),
        (None, _) => rootless.as_deref().unwrap_or(&profile.image),
    };
    let kube = releases::kubernetes();
    let apparmor_field = farm.kubernetes >= kube.since("apparmor-field");
    let socket = socket();
    let mut volumes = vec![
        mount("buildkit-socket", SOCKET_DIR, None),
        mount("buildkit-state", &profile.state_dir, None),
    ];
    // Over a read-only root, the folders the daemon writes; prefixed, as they join the job's
    // own volumes.
    if farm.read_only_root {
        let writable = profile.writable.iter();
        volumes.extend(
            writable.map(|w| mount(&format!("buildkit-{}", w.name), &w.path, Some(&w.why))),
        );
    }
    let ctx = Sidecar {
        native: native(farm),
        image,
        args: ["--addr", &socket, "--oci-worker-no-process-sandbox"],
        security: security(farm, &profile, apparmor_field),
        probe_command: ["buildctl", "--addr", &socket, "debug", "workers"],
        volumes,
    };
    let env = crate::render::env::environment();
    let yaml = env
        .get_template("sidecar.j2")?
        .render(minijinja::Value::from(minijinja::value::Serde(ctx)))?;
    Ok(yaml)
}

fn mount<'a>(name: &str, path: &'a str, why: Option<&'a str>) -> Mount<'a> {
    Mount {
        name: name.to_string(),
        path,
        why,
    }
}

/// The rootless variant of a non-rootless BuildKit image, from the same registry and
/// repository: the tag gains `-rootless` (upstream's naming), and a digest is dropped, as it
/// names the other variant. `None` without a tag to derive from.
pub(crate) fn rootless_form(image: &str) -> Option<String> {
    let name = image.split_once('@').map_or(image, |(name, _)| name);
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = name[slash..].split_once(':')?;
    if tag.ends_with("-rootless") {
        return Some(name.to_string());
    }
    Some(format!("{}{repo}:{tag}-rootless", &name[..slash]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn rootless_form_keeps_registry_and_repository() {
        for (image, want) in [
            (
                "moby/buildkit:v0.35.1",
                Some("moby/buildkit:v0.35.1-rootless"),
            ),
            (
                "registry.internal:5000/mirror/moby/buildkit:v0.32.2@sha256:abcd",
                Some("registry.internal:5000/mirror/moby/buildkit:v0.32.2-rootless"),
            ),
            (
                "moby/buildkit:v0.35.1-rootless",
                Some("moby/buildkit:v0.35.1-rootless"),
            ),
            ("registry.internal:5000/buildkit@sha256:abcd", None),
        ] {
            assert_eq!(super::rootless_form(image).as_deref(), want, "{image}");
        }
    }
}
