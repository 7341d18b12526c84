//! CI snippets: a GitLab job template (File variables, as in seed 000), a GitHub Actions step
//! (setup-buildx-action's remote driver) and the isolated sidecar of seed 001. Values from the
//! spec go through the same quoting as the manifests.

use super::{Via, platform};
use crate::farm::Farm;
use crate::yaml::quote;

/// Which client a GitLab job uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Tool {
    Buildctl,
    Buildx,
}

const GITLAB_VARS: [(&str, &str); 3] = [
    ("BUILDKIT_CA_CERT", "ca.crt"),
    ("BUILDKIT_CLIENT_CERT", "tls.crt"),
    ("BUILDKIT_CLIENT_KEY", "tls.key"),
];

/// A `.gitlab-ci.yml` job building on the farm, plus the File variables it needs; the runner
/// reaches the pools `via` their Services (a runner in the cluster) or their external names.
pub fn gitlab(
    farm: &Farm,
    client: &str,
    tool: Tool,
    via: Via,
    pin: Option<&str>,
) -> anyhow::Result<String> {
    if via == Via::PortForward {
        anyhow::bail!(
            "a GitLab job cannot port-forward: use `--via service` (a runner in the cluster) or `--via external`"
        );
    }
    let hosts = super::pool_hosts(farm, via)?;
    let mut out = format!(
        "# Create these File-type CI/CD variables (Settings > CI/CD > Variables, type \"File\",\n\
         # protected) from certs/client/{client}/ ; GitLab hands the job a path to each file:\n"
    );
    for (var, file) in GITLAB_VARS {
        out.push_str(&format!("#   {var:<21} {file}\n"));
    }
    out.push_str(match via {
        Via::External => {
            "# The runner reaches the farm through its load balancers: its addresses must be in\n\
                          # `[expose] source_ranges`.\n"
        }
        _ => "# The runner must reach the farm's Services (a runner in the same cluster).\n",
    });
    match tool {
        Tool::Buildctl => gitlab_buildctl(farm, &hosts[0], via, pin, &mut out),
        Tool::Buildx => gitlab_buildx(farm, &hosts, via, &mut out),
    }
    Ok(out)
}

/// The buildctl job: one pool (the first), pinned to the project's warm pod unless `pin` is None.
fn gitlab_buildctl(farm: &Farm, first_host: &str, via: Via, pin: Option<&str>, out: &mut String) {
    // The non-rootless image ships buildctl; its entrypoint is buildkitd, so clear it.
    let image = crate::profile::Profile::load(crate::profile::Mode::Privileged).image;
    out.push_str(&format!(
        "build-image:\n  stage: build\n  image:\n    name: {}\n    entrypoint: [\"\"]\n  variables:\n    BUILDKIT_HOST: {}\n  script:\n",
        quote(&image),
        quote(&super::endpoint_of(farm, &farm.pools[0], via, first_host))
    ));
    // buildctl has no login: it sends the registry credentials of ~/.docker/config.json.
    out.push_str("    - 'mkdir -p \"$HOME/.docker\"'\n");
    let login = r#"printf '{"auths":{"%s":{"auth":"%s"}}}' "$CI_REGISTRY" "$(printf '%s:%s' "$CI_REGISTRY_USER" "$CI_REGISTRY_PASSWORD" | base64 | tr -d '\n')" > "$HOME/.docker/config.json""#;
    out.push_str(&format!("    - {}\n", quote(login)));
    let tls = "--tlscacert \"$BUILDKIT_CA_CERT\" --tlscert \"$BUILDKIT_CLIENT_CERT\" --tlskey \"$BUILDKIT_CLIENT_KEY\"";
    let mut server_name = first_host.to_string();
    // Locality: the project builds on the pod that keeps its cache warm, chosen at job
    // time (with fallback) by the rendezvous hash `client endpoint` documents.
    let first = &farm.pools[0];
    let sts = farm.pool_object(first);
    // Pod `$i` by its name in the cluster, or outside it (per-pod load balancers).
    let pod_host = match via {
        Via::Service => Some(format!(
            "{sts}-$i.{}.{}.svc",
            farm.headless_service(first),
            farm.namespace
        )),
        _ => first
            .expose
            .as_ref()
            .filter(|e| e.per_pod)
            .and_then(|e| e.domain.as_ref())
            .map(|domain| format!("{sts}-$i.{domain}")),
    };
    if let (Some(var), Some(pod_host)) = (pin, pod_host) {
        let lines = super::endpoint::shell_pick(
            &sts,
            first.replicas,
            &pod_host,
            first_host,
            super::port(farm, first, via),
            tls,
        );
        for line in lines {
            out.push_str(&format!("    - {}\n", quote(&line)));
        }
        let pick = format!("BUILDKIT_POD=\"$(buildfarm_pick \"${var}\")\"");
        out.push_str(&format!("    - {}\n", quote(&pick)));
        let port = super::port(farm, first, via);
        let host = format!("export BUILDKIT_HOST=\"tcp://$BUILDKIT_POD:{port}\"");
        out.push_str(&format!("    - {}\n", quote(&host)));
        server_name = "\"$BUILDKIT_POD\"".to_string();
    }
    let command = format!(
        "buildctl {tls} --tlsservername {server_name} build --frontend dockerfile.v0 --local context=. --local dockerfile=. \
         --output \"type=image,name=$CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA,push=true\""
    );
    out.push_str(&format!("    - {}\n", quote(&command)));
}

/// The buildx job: one node per pool, bootstrapped before the build.
fn gitlab_buildx(farm: &Farm, hosts: &[String], via: Via, out: &mut String) {
    out.push_str("build-image:\n  stage: build\n  image: \"docker:cli\"\n  script:\n");
    let login = r#"echo "$CI_REGISTRY_PASSWORD" | docker login --username "$CI_REGISTRY_USER" --password-stdin "$CI_REGISTRY""#;
    out.push_str(&format!("    - {}\n", quote(login)));
    for (i, (pool, host)) in farm.pools.iter().zip(hosts).enumerate() {
        let role = if i == 0 { "--use" } else { "--append" };
        let command = format!(
            "docker buildx create --name farm {role} --node {} --platform {} --driver remote \
             --driver-opt \"cacert=$BUILDKIT_CA_CERT,cert=$BUILDKIT_CLIENT_CERT,key=$BUILDKIT_CLIENT_KEY,servername={host}\" \
             {}",
            pool.name,
            platform(pool.arch),
            super::endpoint_of(farm, pool, via, host)
        );
        out.push_str(&format!("    - {}\n", quote(&command)));
    }
    // Fail at setup: `buildx create` never contacts the daemons (see `client::buildx`).
    let bootstrap = "docker buildx inspect --bootstrap farm";
    out.push_str(&format!("    - {}\n", quote(bootstrap)));
    let platforms: Vec<String> = farm.pools.iter().map(|p| platform(p.arch)).collect();
    let build = format!(
        "docker buildx build --platform {} --push -t \"$CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA\" .",
        platforms.join(",")
    );
    out.push_str(&format!("    - {}\n", quote(&build)));
}

/// The current major of docker/setup-buildx-action (v4.0.0 came out in 2026-03; v4.3.0 is the
/// newest seen, 2026-08): https://github.com/docker/setup-buildx-action/releases
const SETUP_BUILDX_ACTION: &str = "v4";

/// A GitHub Actions step: setup-buildx-action with the remote driver, one node per pool,
/// reached `via` the pools' Services (a runner in the cluster) or their external names.
pub fn github(farm: &Farm, client: &str, via: Via) -> anyhow::Result<String> {
    if via == Via::PortForward {
        anyhow::bail!(
            "a GitHub Actions runner cannot port-forward: use `--via service` (a runner in the cluster) or `--via external`"
        );
    }
    let hosts = super::pool_hosts(farm, via)?;
    let reach = match via {
        Via::External => {
            "# The runner reaches the farm through its load balancers: its addresses must be in\n\
             # `[expose] source_ranges` (GitHub-hosted runners: the `actions` ranges of\n\
             # https://api.github.com/meta, or larger runners with static IP addresses).\n"
        }
        _ => {
            "# The runner must reach the farm's Services (a self-hosted runner in the same cluster).\n"
        }
    };
    let mut out = format!(
        "# Add repository secrets BUILDKIT_CA_CERT, BUILDKIT_CLIENT_CERT and BUILDKIT_CLIENT_KEY with the\n\
         # contents of certs/client/{client}/ca.crt, tls.crt and tls.key.\n{reach}"
    );
    let first = &farm.pools[0];
    let host = &hosts[0];
    out.push_str(&format!(
        "- name: Use the BuildKit farm\n  uses: docker/setup-buildx-action@{SETUP_BUILDX_ACTION}\n  with:\n"
    ));
    out.push_str(&format!(
        "    driver: remote\n    endpoint: {}\n    platforms: {}\n    driver-opts: {}\n",
        quote(&super::endpoint_of(farm, first, via, host)),
        quote(&platform(first.arch)),
        quote(&format!("servername={host}"))
    ));
    if farm.pools.len() > 1 {
        out.push_str("    append: |\n");
        for (pool, host) in farm.pools[1..].iter().zip(&hosts[1..]) {
            out.push_str(&format!(
                "      - name: {}\n        endpoint: {}\n        platforms: {}\n        driver-opts:\n          - {}\n",
                quote(&pool.name),
                quote(&super::endpoint_of(farm, pool, via, host)),
                quote(&platform(pool.arch)),
                quote(&format!("servername={host}"))
            ));
        }
    }
    out.push_str("  env:\n");
    for i in 0..farm.pools.len() {
        for (var, secret) in [
            ("CACERT", "BUILDKIT_CA_CERT"),
            ("CERT", "BUILDKIT_CLIENT_CERT"),
            ("KEY", "BUILDKIT_CLIENT_KEY"),
        ] {
            out.push_str(&format!(
                "    BUILDER_NODE_{i}_AUTH_TLS_{var}: ${{{{ secrets.{secret} }}}}\n"
            ));
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SidecarFormat {
    /// `containers:` and `volumes:` to paste into a runner pod spec.
    Yaml,
    /// A strategic-merge patch for kustomize, targeting `--target KIND/NAME`.
    Patch,
}

/// The isolated variant: a rootless buildkitd beside the job, reached over a shared unix socket
/// (`render::sidecar`), as a pod-spec fragment or a strategic-merge patch.
pub fn sidecar(farm: &Farm, format: SidecarFormat, target: &str) -> anyhow::Result<String> {
    let body = crate::render::sidecar::render(farm)?;
    let (dir, socket) = (
        crate::render::sidecar::SOCKET_DIR,
        crate::render::sidecar::socket(),
    );
    let usage = format!(
        "# In the job container, mount `buildkit-socket` at {dir} and build with:\n\
         #   buildctl --addr {socket} build --frontend dockerfile.v0 --local context=. --local dockerfile=.\n"
    );
    Ok(match format {
        SidecarFormat::Yaml => {
            format!("# A rootless buildkitd sidecar for a runner pod spec.\n{usage}{body}")
        }
        SidecarFormat::Patch => {
            let (kind, name) = target.split_once('/').unwrap_or(("Deployment", target));
            let indented: String = body.lines().map(|l| format!("      {l}\n")).collect();
            format!(
                "# Strategic-merge patch adding a rootless buildkitd sidecar (kustomize `patches:`).\n{usage}\
                 apiVersion: apps/v1\nkind: {}\nmetadata:\n  name: {}\nspec:\n  template:\n    spec:\n{indented}",
                quote(kind),
                quote(name)
            )
        }
    })
}
