//! Profiles: everything that differs between running buildkitd rootless, privileged or
//! privileged inside a user namespace. Embedded from `profiles/*.toml`, looked up by `mode`.

use serde::Deserialize;

use crate::closed::closed_set;

closed_set! {
    /// How buildkitd runs (farm.toml `mode`, `init --mode`).
    pub enum Mode {
        Rootless = "rootless",
        Privileged = "privileged",
        Userns = "userns",
    }
}

impl Mode {
    fn source(self) -> &'static str {
        match self {
            Mode::Rootless => include_str!("../profiles/rootless.toml"),
            Mode::Privileged => include_str!("../profiles/privileged.toml"),
            Mode::Userns => include_str!("../profiles/userns.toml"),
        }
    }
}

/// How buildkitd runs in one mode.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The pinned, tested image.
    pub image: String,
    /// User and group the daemon runs as; `None` runs as the image's user (root).
    pub run_as_user: Option<u32>,
    pub run_as_group: Option<u32>,
    /// Group that owns the cache volume, so a non-root daemon can write it.
    pub fs_group: Option<u32>,
    /// BuildKit's state (the cache volume is mounted here).
    pub state_dir: String,
    /// Folder the ConfigMap is mounted at; buildkitd gets `--config <config_dir>/buildkitd.toml`.
    pub config_dir: String,
    /// The daemon's local socket, used by the probes.
    pub socket: String,
    /// Arguments every daemon of this profile needs.
    pub args: Vec<String>,
    /// `securityContext.privileged`.
    pub privileged: bool,
    /// Capabilities added back after dropping all; `None` leaves the runtime's set (a
    /// privileged container has every capability anyway).
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    /// With a read-only root filesystem: the folders the daemon writes, each an emptyDir.
    /// Empty: the root filesystem stays writable.
    #[serde(default)]
    pub writable: Vec<Writable>,
    /// seccomp and AppArmor `Unconfined` (rootless BuildKit needs both to create namespaces).
    pub unconfined: bool,
    /// `hostUsers`; false runs the pod in its own user namespace (needs the Kubernetes release
    /// that turned user namespaces on by default, from `data/kubernetes.toml`).
    pub host_users: bool,
}

/// A folder the daemon writes, mounted as an emptyDir over a read-only root filesystem.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Writable {
    pub name: String,
    pub path: String,
    /// Who writes there, rendered as a comment beside the mount.
    pub why: String,
}

impl Profile {
    pub fn load(mode: Mode) -> Profile {
        toml::from_str(mode.source()).expect("embedded profiles parse; covered by tests")
    }

    pub fn config_path(&self) -> String {
        format!("{}/buildkitd.toml", self.config_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::farm::version::buildkit_version_of;

    #[test]
    fn every_profile_parses_and_pins_a_release() {
        for &mode in Mode::ALL {
            let name = mode.as_str();
            let p = Profile::load(mode);
            assert!(
                buildkit_version_of(&p.image).is_some(),
                "{name}: {}",
                p.image
            );
            assert!(p.socket.starts_with("unix:///"), "{name}");
        }
    }

    #[test]
    fn rootless_runs_as_1000_without_privileges() {
        let p = Profile::load(Mode::Rootless);
        assert!(p.image.ends_with("-rootless"));
        assert_eq!(
            (p.run_as_user, p.run_as_group, p.fs_group),
            (Some(1000), Some(1000), Some(1000))
        );
        assert!(!p.privileged && p.unconfined && p.host_users);
        assert!(
            p.args
                .contains(&"--oci-worker-no-process-sandbox".to_string())
        );
    }

    #[test]
    fn userns_is_privileged_inside_its_own_user_namespace() {
        let p = Profile::load(Mode::Userns);
        assert!(!p.image.ends_with("-rootless"));
        assert!(p.privileged && !p.host_users);
    }
}
