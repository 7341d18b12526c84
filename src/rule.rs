//! Every rule a finding can carry: its stable name (what `lint --format json`, GitHub and GitLab
//! annotations and CI scripts see), its default severity, and a one-line summary. The README's
//! rule table lists them all, and each has a case in `tests/bad` or a reason it cannot (both
//! held by tests).

macro_rules! rules {
    ($($variant:ident = $name:literal, $severity:ident, $summary:literal;)*) => {
        /// A rule; `name()` is its stable, kebab-case name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Rule {
            $($variant),*
        }

        impl Rule {
            pub const ALL: &[Rule] = &[$(Rule::$variant),*];

            pub fn name(self) -> &'static str {
                match self {
                    $(Rule::$variant => $name),*
                }
            }

            /// The severity its findings have unless a caller says otherwise.
            pub fn severity(self) -> Severity {
                match self {
                    $(Rule::$variant => Severity::$severity),*
                }
            }

            pub fn summary(self) -> &'static str {
                match self {
                    $(Rule::$variant => $summary),*
                }
            }
        }
    };
}

rules! {
    // What the parser refuses: the file and its shape.
    InvalidSpec = "invalid-spec", Error, "the spec as a whole cannot be read";
    SpecUnreadable = "spec-unreadable", Error, "the spec file cannot be read (missing, a folder, no permission)";
    SpecTooLarge = "spec-too-large", Error, "the spec is larger than 4 MiB";
    InvalidUtf8 = "invalid-utf8", Error, "the spec is not UTF-8";
    TomlSyntax = "toml-syntax", Error, "not valid TOML";
    UnknownKey = "unknown-key", Error, "a key farm.toml (or the Kubernetes field it holds) does not have";
    InvalidType = "invalid-type", Error, "a value of the wrong type";
    MissingKey = "missing-key", Error, "a key that must be there is not";
    DuplicateKey = "duplicate-key", Error, "two keys set the same thing";
    InvalidValue = "invalid-value", Error, "a value the key does not accept";
    UnknownValue = "unknown-value", Error, "a value outside the key's closed set";
    OutOfRange = "out-of-range", Error, "a number outside the key's range";
    InvalidDuration = "invalid-duration", Error, "not a duration like `48h`";
    InvalidSize = "invalid-size", Error, "not a size like `50GB`, `80%` or a quantity like `250Gi`";
    InvalidQuantity = "invalid-quantity", Error, "not a Kubernetes quantity Kubernetes can hold";
    InvalidName = "invalid-name", Error, "not a valid Kubernetes name, label key or label value";
    NameTooLong = "name-too-long", Error, "an object name over Kubernetes' limit";
    ReservedKey = "reserved-key", Error, "a label or annotation buildfarm sets itself";
    InvalidToleration = "invalid-toleration", Error, "a toleration Kubernetes refuses";
    InvalidPeer = "invalid-peer", Error, "a `[network]` entry that is not one peer";
    PortConflict = "port-conflict", Error, "two ports on one number";
    Unsupported = "unsupported", Error, "a setting the chosen mode cannot have";
    // The farm's objects and names.
    NoPools = "no-pools", Error, "a farm without `[[pool]]`";
    DuplicatePool = "duplicate-pool", Error, "two pools of one name";
    DuplicateClient = "duplicate-client", Error, "two TLS clients of one name";
    DuplicateObject = "duplicate-object", Error, "two rendered objects of one kind, namespace and name";
    NamespaceReserved = "namespace-reserved", Error, "a farm in `default` or a `kube-*` namespace";
    // Versions.
    KubernetesTooOld = "kubernetes-too-old", Error, "a target Kubernetes the mode or buildfarm cannot serve";
    BuildkitVersionUnknown = "buildkit-version-unknown", Error, "an image whose BuildKit release cannot be told";
    BuildkitVersionMismatch = "buildkit-version-mismatch", Error, "`buildkit_version` disagrees with the image tag";
    BuildkitVersionTooOld = "buildkit-version-too-old", Error, "a setting the image's BuildKit does not read";
    // `[buildkitd]` and `extra_args`.
    BuildkitdOwnedKey = "buildkitd-owned-key", Error, "`[buildkitd]` replacing what buildfarm writes";
    BuildkitdOwnedFlag = "buildkitd-owned-flag", Error, "`extra_args` setting a flag buildfarm sets";
    BuildkitdUnknownKey = "buildkitd-unknown-key", Warning, "a `[buildkitd]` key the image's BuildKit does not know";
    BuildkitdDeprecatedKey = "buildkitd-deprecated-key", Warning, "a `[buildkitd]` key the image's BuildKit deprecates";
    // GC.
    GcCapAboveVolume = "gc-cap-above-volume", Error, "`gc.max_used` at or above a pool's volume";
    GcCapNearVolume = "gc-cap-near-volume", Warning, "`gc.max_used` above 90% of a pool's volume";
    GcFloorAboveCap = "gc-floor-above-cap", Error, "`gc.reserved` above `gc.max_used`";
    GcFloorAboveVolume = "gc-floor-above-volume", Error, "`gc.reserved` at or above a pool's volume";
    GcFloorWithoutCap = "gc-floor-without-cap", Warning, "a GC floor without a cap";
    GcWithoutSizes = "gc-without-sizes", Warning, "`[gc]` with no size";
    // The image and the cluster.
    ImageUnpinned = "image-unpinned", Warning, "an image tag that moves (`latest`, `master`)";
    ImageDigest = "image-digest", Note, "a tag-pinned image: pin the digest for production";
    ImageModeMismatch = "image-mode-mismatch", Error, "a rootless image in a root mode, or the reverse";
    ImageVulnerable = "image-vulnerable", Warning, "the image's BuildKit misses published security fixes";
    ImageOutdated = "image-outdated", Note, "a newer patch of the image's BuildKit exists";
    KubernetesEol = "kubernetes-eol", Note, "the target Kubernetes is past its end of life";
    KubernetesFieldUnsupported = "kubernetes-field-unsupported", Warning, "a field the target Kubernetes lacks";
    UsernsAvailable = "userns-available", Note, "the target runs user namespaces: `mode = \"userns\"` is there";
    // Pools.
    StorageNetworkFs = "storage-network-fs", Warning, "a storage class on a network file system";
    MemoryLimitMissing = "memory-limit-missing", Warning, "a pool without a memory limit";
    ReplicasZero = "replicas-zero", Warning, "a pool without daemons (an error for the clients)";
    SingleReplica = "single-replica", Note, "a pool of one daemon";
    SlowRollout = "slow-rollout", Note, "a pool of 10 or more daemons, rolled out one at a time";
    DeprecatedNodeLabel = "deprecated-node-label", Warning, "a deprecated node label";
    ExtraVolumeHostPath = "extra-volume-host-path", Warning, "an extra volume that mounts a node path";
    // Security and network.
    PrivilegedMode = "privileged-mode", Note, "what `mode = \"privileged\"` costs";
    RootlessNoProcessSandbox = "rootless-no-process-sandbox", Note, "what rootless without a process sandbox costs";
    NamespacePodSecurity = "namespace-pod-security", Note, "the Pod Security level a namespace buildfarm does not create needs";
    NetworkPolicyOff = "network-policy-off", Note, "no NetworkPolicy";
    NetworkUnreachable = "network-unreachable", Warning, "a NetworkPolicy that admits no client";
    AutoscaleNoMetrics = "autoscale-no-metrics", Error, "a pool scaling on build metrics no daemon serves";
    AutoscaleCpuRequest = "autoscale-cpu-request", Warning, "a pool scaling on CPU with buildfarm's default CPU request";
    TablesStale = "tables-stale", Note, "this buildfarm's release tables are more than 90 days old";
    AutoscaleZero = "autoscale-zero", Error, "a pool that scales to zero on build metrics, which never wakes";
    TrustSharedPool = "trust-shared-pool", Error, "a pool untrusted builds share with a client that is not untrusted";
    TrustUntrustedOpen = "trust-untrusted-open", Warning, "an untrusted pool with a default loosened, or an untrusted client on a pool not marked untrusted";
    TrustUntrustedUnsandboxed = "trust-untrusted-unsandboxed", Error, "an untrusted pool without a process sandbox (rootless, no runtime_class)";
    ExposeOpen = "expose-open", Warning, "load balancers without `source_ranges`";
    ExposePerPod = "expose-per-pod", Note, "how many load balancers `per_pod` makes";
    ExposeUncovered = "expose-uncovered", Warning, "external names a certificate buildfarm does not issue must cover";
    CertManagerRestart = "cert-manager-restart", Note, "renewed cert-manager certificates need a daemon restart";
    // Certificates.
    CertMissingFile = "cert-missing-file", Error, "half of a certificate pair, or no set to check against";
    CertInvalid = "cert-invalid", Error, "a certificate or key that does not parse";
    CertKeyMismatch = "cert-key-mismatch", Error, "a key that does not belong to its certificate";
    CertNotCa = "cert-not-ca", Error, "a CA certificate that is no CA";
    CertUntrusted = "cert-untrusted", Error, "a certificate the farm's CA did not sign";
    CertWrongUsage = "cert-wrong-usage", Error, "a certificate without the usage its role needs";
    CertExpired = "cert-expired", Error, "an expired certificate";
    CertExpiring = "cert-expiring", Warning, "a certificate expiring within 30 days";
    CertSanMissing = "cert-san-missing", Warning, "a daemon certificate that does not cover the spec";
    CertUnreadable = "cert-unreadable", Error, "a certificate file that cannot be read";
    CertInterrupted = "cert-interrupted", Error, "a certificate write that was interrupted";
    KeyPermissions = "key-permissions", Warning, "a private key others may read";
    // Client commands.
    UnknownClient = "unknown-client", Error, "`--client` names no `[[tls.client]]`";
    UnknownPool = "unknown-pool", Error, "`--pool`, or a client's `pools`, names no pool";
    // The live farm (`status`).
    StatusUnreachable = "status-unreachable", Error, "a daemon that does not answer";
    StatusTls = "status-tls", Error, "a daemon whose TLS handshake fails, and which side refused";
    StatusVersion = "status-version", Warning, "a daemon running another BuildKit than the spec's";
    StatusPlatform = "status-platform", Error, "a daemon that does not build for its pool's architecture";
    StatusGc = "status-gc", Warning, "a daemon whose GC policy is not the one rendered";
    StatusGcBehind = "status-gc-behind", Warning, "a cache above its GC cap: GC is not keeping up";
    StatusDiskFull = "status-disk-full", Error, "a cache that has nearly filled its volume";
    StatusCertExpiring = "status-cert-expiring", Warning, "a daemon certificate expiring within 30 days";
    StatusCacheHits = "status-cache-hits", Note, "a daemon whose recent builds rarely hit the cache";
    StatusSpread = "status-spread", Note, "builds spread unevenly over a pool's daemons";
    StatusTrust = "status-trust", Error, "a daemon that admits a client outside its pool's trust domain, or refuses one inside";
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq<&str> for Rule {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

impl serde::Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// How bad a finding is: errors fail `lint` (and stop `render`), warnings fail
/// `lint --deny-warnings`, notes only inform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rule;

    #[test]
    fn names_are_unique_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for rule in Rule::ALL {
            let name = rule.name();
            assert!(seen.insert(name), "{name} twice");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            );
            assert!(!rule.summary().is_empty());
        }
    }
}
