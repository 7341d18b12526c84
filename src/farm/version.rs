//! Versions: the BuildKit release an image runs (it decides which buildkitd.toml keys exist)
//! and the Kubernetes version a farm targets (it decides which pod fields exist).

use std::fmt;

/// A BuildKit release, e.g. v0.17.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// `0.17`, `v0.17.0`, `0.13.2-rc1`: at least major and minor; a suffix after `-` is ignored.
    pub fn parse(text: &str) -> Option<Version> {
        let t = text.strip_prefix('v').unwrap_or(text);
        let core = t.split(['-', '+']).next()?;
        let mut parts = core.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = match parts.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Version {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The image reference split into the parts that matter here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRef<'a> {
    /// The tag, if the reference has one (`v0.32.2-rootless`).
    pub tag: Option<&'a str>,
    /// Pinned by digest (`@sha256:…`).
    pub digest: bool,
}

pub(crate) fn image_ref(image: &str) -> ImageRef<'_> {
    let (name, digest) = match image.split_once('@') {
        Some((name, _)) => (name, true),
        None => (image, false),
    };
    let last_segment_start = name.rfind('/').map_or(0, |i| i + 1);
    let tag = name[last_segment_start..]
        .split_once(':')
        .map(|(_, tag)| tag);
    ImageRef { tag, digest }
}

/// The BuildKit version an image tag names, if it names one.
pub(crate) fn buildkit_version_of(image: &str) -> Option<Version> {
    image_ref(image).tag.and_then(Version::parse)
}

/// A Kubernetes minor version, e.g. 1.30.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubeVersion {
    pub major: u32,
    pub minor: u32,
}

impl KubeVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        KubeVersion { major, minor }
    }

    /// `1.30` or `v1.30` (a patch level is accepted and ignored).
    pub fn parse(text: &str) -> Option<KubeVersion> {
        let v = Version::parse(text)?;
        Some(KubeVersion::new(v.major, v.minor))
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_come_from_release_tags_only() {
        assert_eq!(
            buildkit_version_of("moby/buildkit:v0.32.2-rootless"),
            Some(Version::new(0, 32, 2))
        );
        assert_eq!(
            buildkit_version_of("moby/buildkit:v0.13.2"),
            Some(Version::new(0, 13, 2))
        );
        assert_eq!(
            buildkit_version_of("registry:5000/moby/buildkit:0.17"),
            Some(Version::new(0, 17, 0))
        );
        assert_eq!(buildkit_version_of("registry:5000/moby/buildkit"), None);
        assert_eq!(buildkit_version_of("moby/buildkit:master-rootless"), None);
        assert_eq!(buildkit_version_of("moby/buildkit:latest"), None);
        assert_eq!(buildkit_version_of("moby/buildkit@sha256:abcd"), None);
        assert_eq!(
            buildkit_version_of("moby/buildkit:v0.16.0@sha256:abcd"),
            Some(Version::new(0, 16, 0))
        );
    }

    #[test]
    fn release_candidates_order_with_their_release() {
        assert!(Version::new(0, 16, 9) < Version::parse("v0.17.0-rc1").unwrap());
        assert!(Version::parse("v0.17.0-rc1").unwrap() >= Version::new(0, 17, 0));
    }

    #[test]
    fn kube_versions_order() {
        assert!(KubeVersion::parse("1.29").unwrap() < KubeVersion::new(1, 30));
        assert_eq!(KubeVersion::parse("v1.33.2"), Some(KubeVersion::new(1, 33)));
        assert_eq!(KubeVersion::parse("1"), None);
    }
}
