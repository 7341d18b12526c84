//! CI snippets: a GitLab job template (File variables, as in seed 000), a GitHub Actions step
//! (setup-buildx-action's remote driver) and the isolated sidecar of seed 001. Values from the
//! spec go through the same quoting as the manifests.

use crate::farm::{Farm, Pool};
use crate::reach::{JobVia, Via, endpoint as endpoint_of, pod_suffix, pool_hosts, port};
use crate::yaml::quote;

/// Which client a GitLab job uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Tool {
    Buildctl,
    Buildx,
}

/// Which jobs a GitLab job is for, with trust domains: the trusted client's runs only on
/// protected branches and tags (and reads protected variables, which GitLab hands to no other
/// job); the untrusted client's runs everywhere else (merge requests, forks, other branches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    /// No trust domains: one job, everywhere.
    Any,
    Protected,
    Unprotected,
}

impl Context {
    fn of(farm: &Farm, client: &str) -> Context {
        let untrusted = farm
            .tls
            .clients
            .iter()
            .any(|c| c.name == client && c.untrusted);
        match (farm.tls.domains(), untrusted) {
            (false, _) => Context::Any,
            (true, false) => Context::Protected,
            (true, true) => Context::Unprotected,
        }
    }

    fn job(self) -> &'static str {
        match self {
            Context::Unprotected => "build-image-untrusted",
            _ => "build-image",
        }
    }

    /// The job's `rules:`, right after `stage:`.
    fn rules(self) -> &'static str {
        match self {
            Context::Any => "",
            Context::Protected => "  rules:\n    - if: '$CI_COMMIT_REF_PROTECTED == \"true\"'\n",
            Context::Unprotected => "  rules:\n    - if: '$CI_COMMIT_REF_PROTECTED != \"true\"'\n",
        }
    }
}

/// A GitLab job's File variables, each with the certificate file it holds. An untrusted client's
/// have names of their own, so both jobs' variables live in one project.
struct FileVars([(String, &'static str); 3]);

impl FileVars {
    fn of(context: Context) -> FileVars {
        let prefix = match context {
            Context::Unprotected => "BUILDKIT_UNTRUSTED",
            _ => "BUILDKIT",
        };
        FileVars([
            (format!("{prefix}_CA_CERT"), "ca.crt"),
            (format!("{prefix}_CLIENT_CERT"), "tls.crt"),
            (format!("{prefix}_CLIENT_KEY"), "tls.key"),
        ])
    }

    /// buildctl's TLS flags.
    fn flags(&self) -> String {
        let [ca, cert, key] = &self.0;
        format!(
            "--tlscacert \"${}\" --tlscert \"${}\" --tlskey \"${}\"",
            ca.0, cert.0, key.0
        )
    }

    /// The remote driver's TLS options.
    fn driver_opts(&self) -> String {
        let [ca, cert, key] = &self.0;
        format!("cacert=${},cert=${},key=${}", ca.0, cert.0, key.0)
    }
}

/// A `.gitlab-ci.yml` job building on the farm, plus the File variables it needs; the runner
/// reaches the pools `via` their Services (a runner in the cluster) or their external names.
pub(crate) fn gitlab(
    farm: &Farm,
    client: &str,
    tool: Tool,
    via: JobVia,
    pin: Option<&str>,
    image: Option<&str>,
) -> anyhow::Result<String> {
    let via = Via::from(via);
    let hosts = pool_hosts(farm, via)?;
    let context = Context::of(farm, client);
    let vars = FileVars::of(context);
    let mut out = format!(
        "# Create these File-type CI/CD variables (Settings > CI/CD > Variables, type \"File\")\n\
         # from certs/client/{client}/ ; GitLab hands the job a path to each file. Protected ones\n\
         # reach only protected branches and tags: elsewhere the job stops at once, naming them.\n"
    );
    let width = vars.0.iter().map(|(v, _)| v.len()).max().unwrap_or(0) + 1;
    for (var, file) in &vars.0 {
        out.push_str(&format!("#   {var:<width$} {file}\n"));
    }
    let pools: Vec<String> = farm.pools.iter().map(|p| format!("`{}`", p.name)).collect();
    out.push_str(&match context {
        Context::Any => String::new(),
        Context::Protected => format!(
            "# Trust domains: mark them Protected. This job runs only on protected branches and tags,\n\
             # the only jobs GitLab hands protected variables to; `{client}` opens {}.\n",
            pools.join(", ")
        ),
        Context::Unprotected => format!(
            "# Trust domains: do not protect them. This job runs for merge requests (forks too) and\n\
             # unprotected branches; `{client}` is untrusted and opens only {}.\n",
            pools.join(", ")
        ),
    });
    out.push_str(match via {
        Via::External => {
            "# The runner reaches the farm through its load balancers: its addresses must be in\n\
                          # `[expose] source_ranges`.\n"
        }
        _ => "# The runner must reach the farm's Services (a runner in the same cluster).\n",
    });
    match tool {
        Tool::Buildctl => {
            let image = image.unwrap_or(&farm.image);
            let job = Job {
                client,
                context,
                vars: &vars,
            };
            gitlab_buildctl(farm, &job, image, &hosts[0], via, pin, &mut out)
        }
        Tool::Buildx => {
            let job = Job {
                client,
                context,
                vars: &vars,
            };
            gitlab_buildx(farm, &job, &hosts, via, pin, &mut out)
        }
    }
    Ok(out)
}

/// Whose job it is: the client, the CI context it runs in, its File variables.
struct Job<'a> {
    client: &'a str,
    context: Context,
    vars: &'a FileVars,
}

impl Job<'_> {
    /// `<job>:`, `stage:` and the rules.
    fn head(&self) -> String {
        format!(
            "{}:\n  stage: build\n{}",
            self.context.job(),
            self.context.rules()
        )
    }
}

/// The job-time pick of each pool's pod (`endpoint::shell_functions`), for a job that pins
/// `key` (a shell word) and probes pods with `answers`.
struct Picker<'a> {
    farm: &'a Farm,
    via: Via,
    key: String,
    answers: String,
}

impl Picker<'_> {
    /// The shell functions, one script line each.
    fn functions(&self) -> [String; 4] {
        super::endpoint::shell_functions(&self.answers)
    }

    /// The shell word that names `pool`'s daemon for this job: a pick among its pods, or (with
    /// no per-daemon names this way) the pool's own name.
    fn pick(&self, pool: &Pool, pool_host: &str) -> Option<String> {
        let suffix = pod_suffix(self.farm, pool, self.via)?;
        Some(super::endpoint::shell_pick_call(
            &self.key,
            &self.farm.pool_object(pool),
            pool.ordinals(),
            &suffix,
            port(self.farm, pool, self.via),
            pool_host,
        ))
    }
}

/// The buildctl job: one pool (the first), pinned to the project's warm pod unless `pin` is
/// None, in `image` (the farm's own by default: both of BuildKit's images ship buildctl; the
/// rootless one runs it as its user 1000).
fn gitlab_buildctl(
    farm: &Farm,
    job: &Job,
    image: &str,
    first_host: &str,
    via: Via,
    pin: Option<&str>,
    out: &mut String,
) {
    let first = &farm.pools[0];
    let line = |out: &mut String, text: &str| out.push_str(&format!("    - {}\n", quote(text)));
    // The image's entrypoint is buildkitd (or rootlesskit): clear it.
    out.push_str(&format!(
        "{}  image:\n    name: {}\n    entrypoint: [\"\"]\n  variables:\n    BUILDKIT_HOST: {}\n  script:\n",
        job.head(),
        quote(image),
        quote(&endpoint_of(farm, first, via, first_host))
    ));
    // Inputs first: a missing File variable would make buildctl talk plaintext and fail with
    // a misleading `error reading server preface: EOF`.
    gitlab_inputs_check(job, out);
    // buildctl has no login: it sends the registry credentials of the docker config, into
    // which this merges the job's (keeping logins a before_script made).
    line(out, LOGIN_FUNCTION);
    line(out, "buildfarm_login");
    let tls = &job.vars.flags();
    let mut server_name = first_host.to_string();
    // Locality: the project builds on the pod that keeps its cache warm, chosen at job
    // time (with fallback) by the rendezvous hash `client endpoint` documents.
    let picker = pin.map(|var| Picker {
        farm,
        via,
        key: format!("\"${var}\""),
        answers: super::endpoint::buildctl_answers(tls),
    });
    let mut functions = false;
    if let Some(picker) = picker
        && let Some(pick) = picker.pick(first, first_host)
    {
        for f in picker.functions() {
            line(out, &f);
        }
        functions = true;
        line(out, &format!("BUILDKIT_POD=\"$({pick})\""));
        let port = port(farm, first, via);
        line(
            out,
            &format!("export BUILDKIT_HOST=\"tcp://$BUILDKIT_POD:{port}\""),
        );
        server_name = "\"$BUILDKIT_POD\"".to_string();
    }
    if !functions {
        line(out, &super::endpoint::hint_function());
        line(
            out,
            "echo \"buildfarm: building on ${BUILDKIT_HOST#tcp://} (service)\" >&2",
        );
    }
    line(out, BUILD_FUNCTION);
    let command = format!(
        "buildfarm_build buildctl {tls} --tlsservername {server_name} build --frontend dockerfile.v0 --local context=. --local dockerfile=. \
         --output \"type=image,name=$CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA,push=true\""
    );
    line(out, &command);
}

/// The job's first lines: each File variable of the client certificate set and readable, else
/// the job stops, naming each missing one.
fn gitlab_inputs_check(job: &Job, out: &mut String) {
    let client = job.client;
    let needs: Vec<String> = job
        .vars
        .0
        .iter()
        .map(|(var, file)| {
            format!("buildfarm_need {var} certs/client/{client}/{file} || missing=1")
        })
        .collect();
    let check = format!(
        "missing=; {}; [ -z \"$missing\" ] || exit 1",
        needs.join("; ")
    );
    for text in [need_function(), check] {
        out.push_str(&format!("    - {}\n", quote(&text)));
    }
}

/// `buildfarm_need VAR FILE`: the File variable VAR is set and readable, else a line naming it,
/// where to set it, and why a protected variable may be out of this job's sight.
fn need_function() -> String {
    "buildfarm_need() { eval \"f=\\${$1:-}\"; \
     if [ -z \"$f\" ]; then echo \"buildfarm: \\$$1 is not set: add it as a File variable (Settings > CI/CD > Variables, type File) holding $2\" >&2; \
     if [ \"${CI_COMMIT_REF_PROTECTED:-}\" != true ]; then echo \"buildfarm: this job runs on ${CI_COMMIT_REF_NAME:-a ref} (not protected): protected variables reach only protected branches and tags\" >&2; fi; return 1; fi; \
     if [ ! -r \"$f\" ]; then echo \"buildfarm: \\$$1 does not name a readable file: make it a File variable, not a Variable\" >&2; return 1; fi; }"
        .to_string()
}

/// `buildfarm_login`: the job's registry credentials merged into the docker config buildctl
/// reads (`$DOCKER_CONFIG`, else `~/.docker`), written 0600; other registries' logins stay. The
/// password is never echoed (GitLab prints script lines unexpanded).
const LOGIN_FUNCTION: &str = "buildfarm_login() { dir=\"${DOCKER_CONFIG:-$HOME/.docker}\"; mkdir -p \"$dir\"; \
     auth=$(printf '%s:%s' \"$CI_REGISTRY_USER\" \"$CI_REGISTRY_PASSWORD\" | base64 | tr -d '\\n'); \
     entry=\"\\\"$CI_REGISTRY\\\":{\\\"auth\\\":\\\"$auth\\\"}\"; \
     if [ -s \"$dir/config.json\" ]; then tr -d '\\n' < \"$dir/config.json\" | sed -e \"s|\\\"auths\\\"[[:space:]]*:[[:space:]]*{|&$entry,|\" -e 't done' \
     -e \"s|^[[:space:]]*{|{\\\"auths\\\":{$entry},|\" -e ':done' -e 's|,[[:space:]]*}|}|g' > \"$dir/config.json.new\"; \
     else printf '{\"auths\":{%s}}' \"$entry\" > \"$dir/config.json.new\"; fi; \
     chmod 600 \"$dir/config.json.new\" && mv \"$dir/config.json.new\" \"$dir/config.json\"; }";

/// `buildfarm_build COMMAND...`: runs the build, its output in the log as it comes; when it
/// fails, the certificate hint if the error is one. Safe under `set -e`, as runners use it.
const BUILD_FUNCTION: &str = "buildfarm_build() { log=$(mktemp); { \"$@\" 2>&1 && echo 0 > \"$log.rc\" || echo $? > \"$log.rc\"; } | tee \"$log\"; \
     rc=$(cat \"$log.rc\"); [ \"$rc\" -eq 0 ] || buildfarm_hint \"$(cat \"$log\")\" \"${BUILDKIT_HOST#tcp://}\"; \
     rm -f \"$log\" \"$log.rc\"; return \"$rc\"; }";

/// The buildx job: one node per pool, each pinned to the project's warm pod unless `pin` is
/// None, bootstrapped before the build.
fn gitlab_buildx(
    farm: &Farm,
    job: &Job,
    hosts: &[String],
    via: Via,
    pin: Option<&str>,
    out: &mut String,
) {
    out.push_str(&format!(
        "{}  image: \"docker:cli\"\n  script:\n",
        job.head()
    ));
    gitlab_inputs_check(job, out);
    let opts = job.vars.driver_opts();
    let login = r#"echo "$CI_REGISTRY_PASSWORD" | docker login --username "$CI_REGISTRY_USER" --password-stdin "$CI_REGISTRY""#;
    out.push_str(&format!("    - {}\n", quote(login)));
    let picker = pin.map(|var| Picker {
        farm,
        via,
        key: format!("\"${var}\""),
        answers: super::endpoint::buildx_answers(&opts),
    });
    let hosts = pinned_hosts(farm, hosts, picker.as_ref(), |line| {
        out.push_str(&format!("    - {}\n", quote(&line)));
    });
    for (i, (pool, host)) in farm.pools.iter().zip(&hosts).enumerate() {
        let role = if i == 0 { "--use" } else { "--append" };
        let command = format!(
            "docker buildx create --name farm {role} --node {} --platform {} --driver remote \
             --driver-opt \"{opts},servername={host}\" {}",
            pool.name,
            pool.arch.platform(),
            endpoint_of(farm, pool, via, host)
        );
        out.push_str(&format!("    - {}\n", quote(&command)));
    }
    // Fail at setup: `buildx create` never contacts the daemons (see `client::buildx`).
    let bootstrap = "docker buildx inspect --bootstrap farm";
    out.push_str(&format!("    - {}\n", quote(bootstrap)));
    let platforms: Vec<String> = farm.pools.iter().map(|p| p.arch.platform()).collect();
    let build = format!(
        "docker buildx build --platform {} --push -t \"$CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA\" .",
        platforms.join(",")
    );
    out.push_str(&format!("    - {}\n", quote(&build)));
}

/// Each pool's host for a buildx job: with a `picker`, the script lines that pick each pool's
/// pod go to `line` (the functions once, then `BUILDKIT_POD_<i>=...` per pool with per-daemon
/// names) and the host is that variable; otherwise the pool's own name.
fn pinned_hosts(
    farm: &Farm,
    hosts: &[String],
    picker: Option<&Picker>,
    mut line: impl FnMut(String),
) -> Vec<String> {
    let Some(picker) = picker else {
        return hosts.to_vec();
    };
    let picks: Vec<Option<String>> = farm
        .pools
        .iter()
        .zip(hosts)
        .map(|(pool, host)| picker.pick(pool, host))
        .collect();
    if picks.iter().any(Option::is_some) {
        picker.functions().into_iter().for_each(&mut line);
    }
    picks
        .into_iter()
        .zip(hosts)
        .enumerate()
        .map(|(i, (pick, host))| match pick {
            Some(pick) => {
                line(format!("BUILDKIT_POD_{i}=\"$({pick})\""));
                format!("$BUILDKIT_POD_{i}")
            }
            None => host.clone(),
        })
        .collect()
}

/// The current major of docker/setup-buildx-action (v4.0.0 came out in 2026-03; v4.4.1 is the
/// newest seen): https://github.com/docker/setup-buildx-action/releases. v4.0.0 removed the
/// `config`, `config-inline` and `install` inputs: the snippets never emit them (a test holds
/// it).
const SETUP_BUILDX_ACTION: &str = "v4";

/// The client certificate's files in a GitHub job: the secrets, written out by the pick step.
const GITHUB_TLS_OPTS: &str = "cacert=$BUILDFARM_TLS_DIR/ca.crt,cert=$BUILDFARM_TLS_DIR/tls.crt,key=$BUILDFARM_TLS_DIR/tls.key";

/// GitHub Actions steps: setup-buildx-action with the remote driver, one node per pool,
/// reached `via` the pools' Services (a runner in the cluster) or their external names; with
/// `pin` (the env variable holding the key, `None`: no pinning), a step before it picks each
/// pool's warm pod.
pub(crate) fn github(
    farm: &Farm,
    client: &str,
    via: JobVia,
    pin: Option<&str>,
) -> anyhow::Result<String> {
    let via = Via::from(via);
    let hosts = pool_hosts(farm, via)?;
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
    let context = Context::of(farm, client);
    let secrets = FileVars::of(context);
    let [ca, cert, key] = &secrets.0;
    let mut out = format!(
        "# Add {} secrets {}, {} and {} with the\n\
         # contents of certs/client/{client}/ca.crt, tls.crt and tls.key.\n{reach}",
        match context {
            Context::Protected => "environment",
            _ => "repository",
        },
        ca.0,
        cert.0,
        key.0
    );
    out.push_str(&github_trust(farm, client, context));
    let picker = pin.map(|var| Picker {
        farm,
        via,
        key: format!("\"${var}\""),
        answers: super::endpoint::buildx_answers(GITHUB_TLS_OPTS),
    });
    let mut script = Vec::new();
    let hosts = pinned_hosts(farm, &hosts, picker.as_ref(), |line| script.push(line));
    // The picks leave the step as its outputs: `steps.buildfarm.outputs.pod<i>`.
    let hosts: Vec<String> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| match h.strip_prefix('$') {
            Some(var) => {
                script.push(format!("echo \"pod{i}=${var}\" >> \"$GITHUB_OUTPUT\""));
                format!("${{{{ steps.buildfarm.outputs.pod{i} }}}}")
            }
            None => h.clone(),
        })
        .collect();
    github_pick_step(&mut out, client, &secrets, pin, &script);
    github_setup_step(farm, via, &hosts, &secrets, &mut out);
    Ok(out)
}

/// With trust domains, where the client's secrets live and the job lines that keep them from
/// untrusted code: the trusted client's behind an environment with protection rules, never for
/// a pull request; the untrusted client's for pull requests from the repository's own branches
/// (GitHub gives forks' pull requests no secrets and no variables).
fn github_trust(farm: &Farm, client: &str, context: Context) -> String {
    let pools: Vec<String> = farm.pools.iter().map(|p| format!("`{}`", p.name)).collect();
    let pools = pools.join(", ");
    match context {
        Context::Any => String::new(),
        Context::Protected => format!(
            "# Trust domains: `{client}` opens {pools}. Keep its secrets in an environment with protection\n\
             # rules (Settings > Environments > buildfarm-{client}: required reviewers, or deployment\n\
             # branches and tags), not in the repository, and run these steps in a job that names it\n\
             # and never runs for a pull request:\n\
             #   if: github.event_name != 'pull_request'\n\
             #   environment: buildfarm-{client}\n"
        ),
        Context::Unprotected => format!(
            "# Trust domains: `{client}` is untrusted and opens only {pools}. GitHub gives pull requests\n\
             # from forks no secrets and no variables: these steps serve pull requests from the\n\
             # repository's own branches:\n\
             #   if: github.event_name == 'pull_request' && !github.event.pull_request.head.repo.fork\n\
             # A fork's pull request can use the farm only through a certificate stored where it can\n\
             # read it (committed to the repository: anyone may then build on {pools}, and nowhere\n\
             # else); otherwise build it without the farm.\n"
        ),
    }
}

/// The step that checks the client certificate's secrets (a job without them would fail later
/// with a misleading TLS error) and, with a `script`, picks each pool's warm pod: the
/// certificate written to files for the probe builders, then the script.
fn github_pick_step(
    out: &mut String,
    client: &str,
    secrets: &FileVars,
    pin: Option<&str>,
    script: &[String],
) {
    let name = match script.is_empty() {
        true => "Check the BuildKit farm's secrets",
        false => "Pick the project's warm BuildKit pods",
    };
    out.push_str(&format!(
        "- name: {name}\n  id: buildfarm\n  shell: sh\n  env:\n"
    ));
    if pin == Some(GITHUB_KEY_VAR) && !script.is_empty() {
        // Through the environment, never spliced into the script: a repository name is data.
        out.push_str(&format!(
            "    {GITHUB_KEY_VAR}: ${{{{ github.repository }}}}\n"
        ));
    }
    let tls = ["CA", "CERT", "KEY"].iter().zip(&secrets.0);
    for (var, (secret, _)) in tls.clone() {
        out.push_str(&format!(
            "    BUILDFARM_TLS_{var}: ${{{{ secrets.{secret} }}}}\n"
        ));
    }
    out.push_str("  run: |\n");
    out.push_str("    missing=\n");
    for (var, (secret, file)) in tls {
        out.push_str(&format!(
            "    [ -n \"$BUILDFARM_TLS_{var}\" ] || {{ echo \"::error::secret {secret} is empty: add it (Settings > Secrets and variables > Actions) with certs/client/{client}/{file}; workflows of pull requests from forks get no secrets\"; missing=1; }}\n"
        ));
    }
    out.push_str("    [ -z \"$missing\" ] || exit 1\n");
    if script.is_empty() {
        return;
    }
    let setup = [
        "BUILDFARM_TLS_DIR=\"$RUNNER_TEMP/buildfarm-tls\"",
        "mkdir -p \"$BUILDFARM_TLS_DIR\" && chmod 700 \"$BUILDFARM_TLS_DIR\"",
        "printf '%s\\n' \"$BUILDFARM_TLS_CA\" > \"$BUILDFARM_TLS_DIR/ca.crt\"",
        "printf '%s\\n' \"$BUILDFARM_TLS_CERT\" > \"$BUILDFARM_TLS_DIR/tls.crt\"",
        "(umask 077 && printf '%s\\n' \"$BUILDFARM_TLS_KEY\" > \"$BUILDFARM_TLS_DIR/tls.key\")",
    ];
    for line in setup
        .iter()
        .map(|s| s.to_string())
        .chain(script.iter().cloned())
    {
        out.push_str(&format!("    {line}\n"));
    }
    out.push_str("    rm -rf \"$BUILDFARM_TLS_DIR\"\n");
}

/// The env variable `client github` pins by unless `--key-var` names another: set from
/// `${{ github.repository }}`.
pub(crate) const GITHUB_KEY_VAR: &str = "BUILDFARM_KEY";

/// The setup-buildx-action step: the first pool's node, the others appended.
fn github_setup_step(
    farm: &Farm,
    via: Via,
    hosts: &[String],
    secrets: &FileVars,
    out: &mut String,
) {
    let first = &farm.pools[0];
    let host = &hosts[0];
    out.push_str(&format!(
        "- name: Use the BuildKit farm\n  uses: docker/setup-buildx-action@{SETUP_BUILDX_ACTION}\n  with:\n"
    ));
    out.push_str(&format!(
        "    driver: remote\n    endpoint: {}\n    platforms: {}\n    driver-opts: {}\n",
        quote(&endpoint_of(farm, first, via, host)),
        quote(&first.arch.platform()),
        quote(&format!("servername={host}"))
    ));
    if farm.pools.len() > 1 {
        out.push_str("    append: |\n");
        for (pool, host) in farm.pools[1..].iter().zip(&hosts[1..]) {
            out.push_str(&format!(
                "      - name: {}\n        endpoint: {}\n        platforms: {}\n        driver-opts:\n          - {}\n",
                quote(&pool.name),
                quote(&endpoint_of(farm, pool, via, host)),
                quote(&pool.arch.platform()),
                quote(&format!("servername={host}"))
            ));
        }
    }
    out.push_str("  env:\n");
    for i in 0..farm.pools.len() {
        for (var, (secret, _)) in ["CACERT", "CERT", "KEY"].iter().zip(&secrets.0) {
            out.push_str(&format!(
                "    BUILDER_NODE_{i}_AUTH_TLS_{var}: ${{{{ secrets.{secret} }}}}\n"
            ));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SidecarFormat {
    /// `containers:` and `volumes:` to paste into a runner pod spec.
    Yaml,
    /// A strategic-merge patch for kustomize, targeting `--target KIND/NAME`.
    Patch,
    /// A `[[runners.kubernetes.pod_spec]]` for GitLab Runner's Kubernetes executor, which runs
    /// each job in a pod of its own (the sidecar joins that pod, beside the `build` container).
    Gitlab,
    /// Values for Actions Runner Controller's gha-runner-scale-set chart: the runner pod
    /// `template` (jobs run in the `runner` container).
    Arc,
}

/// GitLab Runner's pod spec patches: introduced in Runner 15.10, beta since Runner 16.8
/// (https://gitlab.com/gitlab-org/gitlab/-/issues/556286), behind a feature flag. The
/// job's main container is `build`: https://docs.gitlab.com/runner/executors/kubernetes/
const GITLAB_POD_SPEC: &str =
    "https://docs.gitlab.com/runner/executors/kubernetes/#overwrite-generated-pod-specifications";

/// The runner container of the gha-runner-scale-set chart's default `template` (a `template`
/// in the values replaces it, so it is repeated): charts/gha-runner-scale-set/values.yaml in
/// https://github.com/actions/actions-runner-controller
const ARC_RUNNER: &str = "- name: runner\n  image: ghcr.io/actions/actions-runner:latest\n  command: [\"/home/runner/run.sh\"]\n";

/// The isolated variant: a rootless buildkitd beside the job, reached over a shared unix socket
/// (`render::sidecar`), as a pod-spec fragment, a strategic-merge patch, a GitLab Runner pod
/// spec patch or Actions Runner Controller values.
pub(crate) fn sidecar(
    farm: &Farm,
    format: SidecarFormat,
    target: &str,
    image: Option<&str>,
) -> anyhow::Result<String> {
    use crate::render::sidecar as side;
    let body = side::render(farm, image)?;
    let (dir, socket) = (side::SOCKET_DIR, side::socket());
    let usage = format!(
        "# In the job container, mount `buildkit-socket` at {dir} and build with:\n\
         #   buildctl --addr {socket} build --frontend dockerfile.v0 --local context=. --local dockerfile=.\n"
    );
    // The job's container, given the socket (and BUILDKIT_HOST, so plain `buildctl` finds it).
    let with_job = |job: &str| {
        let job = format!(
            "{job}  env:\n  - name: BUILDKIT_HOST\n    value: {}\n  volumeMounts:\n  - name: buildkit-socket\n    mountPath: {}\n",
            quote(&socket),
            quote(dir)
        );
        let (containers, volumes) = body
            .split_once("\nvolumes:\n")
            .expect("the sidecar template ends with its volumes");
        let header = if side::native(farm) {
            "containers:\n"
        } else {
            ""
        };
        format!("{containers}\n{header}{job}volumes:\n{volumes}")
    };
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
        SidecarFormat::Gitlab => {
            let patch = with_job("- name: build\n");
            format!(
                "# GitLab Runner's Kubernetes executor runs each job in a pod of its own: this patch adds a\n\
                 # rootless buildkitd to it, beside the job's `build` container, which gets BUILDKIT_HOST.\n\
                 # Add it under your runner's `[runners.kubernetes]` in config.toml, and turn on the\n\
                 # FF_USE_ADVANCED_POD_SPEC_CONFIGURATION feature flag (`[runners.feature_flags]`):\n\
                 # {GITLAB_POD_SPEC}\n\
                 [[runners.kubernetes.pod_spec]]\nname = \"buildkitd-sidecar\"\npatch_type = \"strategic\"\npatch = '''\n{patch}'''\n"
            )
        }
        SidecarFormat::Arc => {
            let spec = with_job(ARC_RUNNER);
            let indented: String = spec.lines().map(|l| format!("    {l}\n")).collect();
            format!(
                "# gha-runner-scale-set values: the runner pod, with a rootless buildkitd beside the `runner`\n\
                 # container (jobs without `container:` run there; it gets BUILDKIT_HOST). For\n\
                 # `containerMode.type: kubernetes`, where jobs run in pods of their own, put the same\n\
                 # initContainers and volumes into the job pod template of the container hooks instead.\n\
                 template:\n  spec:\n{indented}"
            )
        }
    })
}
