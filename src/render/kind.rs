//! The one kind table: which kinds of object buildfarm renders, in apply order, each with its
//! embedded template; and the templates that are not objects of their own.

/// The one kind table: each kind with its template (`templates/<file>.yaml.j2`, embedded),
/// in the order objects are applied (what a kind needs comes before it).
macro_rules! kinds {
    ($($kind:ident: $file:literal),* $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        pub enum Kind {
            $($kind),*
        }

        impl Kind {
            pub const ALL: &[Kind] = &[$(Kind::$kind),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$kind => stringify!($kind)),*
                }
            }

            pub(super) fn template(self) -> &'static str {
                match self {
                    $(Kind::$kind => concat!($file, ".yaml.j2")),*
                }
            }

            pub(super) fn source(self) -> &'static str {
                match self {
                    $(Kind::$kind => include_str!(concat!("../../templates/", $file, ".yaml.j2"))),*
                }
            }
        }
    };
}

kinds! {
    Namespace: "namespace",
    ServiceAccount: "serviceaccount",
    ConfigMap: "configmap",
    Secret: "secret",
    Issuer: "issuer",
    Certificate: "certificate",
    Service: "service",
    TLSRoute: "tlsroute",
    StatefulSet: "statefulset",
    PodDisruptionBudget: "poddisruptionbudget",
    HorizontalPodAutoscaler: "horizontalpodautoscaler",
    ScaledObject: "scaledobject",
    NetworkPolicy: "networkpolicy",
    ServiceMonitor: "servicemonitor",
    PodMonitor: "podmonitor",
}

/// Templates that are not an object of their own: shared blocks (`{% import %}`ed) and the
/// pod-spec fragment of `client sidecar`.
pub(super) const PARTIALS: &[(&str, &str)] = &[
    (
        "security_context.j2",
        include_str!("../../templates/security_context.j2"),
    ),
    ("sidecar.j2", include_str!("../../templates/sidecar.j2")),
    (
        "scaling_behavior.j2",
        include_str!("../../templates/scaling_behavior.j2"),
    ),
];

#[cfg(test)]
mod tests {
    use super::Kind;

    #[test]
    fn every_template_file_is_a_kind_or_a_partial_and_every_kind_has_its_file() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut kinds: Vec<String> = Kind::ALL.iter().map(|k| k.template().to_string()).collect();
        kinds.extend(super::PARTIALS.iter().map(|(name, _)| name.to_string()));
        kinds.sort();
        assert_eq!(files, kinds);
        assert!(
            Kind::ALL.windows(2).all(|w| w[0] < w[1]),
            "ALL is in apply order"
        );
    }
}
