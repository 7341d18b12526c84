//! Command-line types (clap derive). Doc comments here are the `--help` text.

use std::path::PathBuf;

#[derive(Debug, clap::Parser)]
#[command(
    name = "buildfarm",
    version,
    about = "Render a BuildKit build farm for Kubernetes from one farm.toml",
    long_about = "Render a BuildKit build farm for Kubernetes from one farm.toml.\n\n\
        buildfarm reads a short spec of your farm (architectures, replicas, cache volumes, GC, \
        rootless or privileged, TLS clients) and writes the Namespace, ServiceAccount, ConfigMap \
        (buildkitd.toml), TLS Secret, StatefulSets, Services and PodDisruptionBudgets, plus the \
        CA, daemon and client certificates.\n\n\
        Without a farm.toml it uses a built-in rootless amd64 + arm64 farm and says so on stderr.",
    after_help = "Examples:\n  \
        buildfarm render | kubectl apply -f -\n  \
        buildfarm --spec ci/farm.toml render --out deploy/\n  \
        buildfarm render --out deploy/ --no-secrets    # for GitOps repos that hold no keys\n  \
        buildfarm certs show                           # what is issued, and until when\n  \
        buildfarm lint --format github --deny-warnings # the CI step\n  \
        buildfarm status                               # the live farm, judged against the spec\n\n\
        Exit codes: 0 ok, 1 invalid input (nothing written), 2 usage or I/O error."
)]
pub struct Cli {
    /// Farm spec to read [default: farm.toml, or the built-in farm when there is none].
    #[arg(long, global = true, value_name = "PATH")]
    pub spec: Option<PathBuf>,
    /// Print no notes on stderr (errors still are).
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more on stderr (which certificates are used, ...).
    #[arg(long, short, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write a farm.toml with every key explained (to --spec PATH, default ./farm.toml).
    Init(InitArgs),
    /// Write the farm's manifests to stdout, or one file per object with --out.
    ///
    /// Certificates missing from the spec's `tls.dir` (default `certs/` beside farm.toml) are
    /// generated first; existing ones are reused, so rendering twice gives the same bytes.
    Render(RenderArgs),
    /// Check the spec and the certificates; exits 1 when an error is found.
    ///
    /// Reports every problem with its rule, file:line:col and a hint: what the parser refuses,
    /// farm settings that will hurt (GC above the volume, unpinned image, NFS storage, no
    /// memory limit, ...) and certificates that expire, do not cover the spec or are exposed.
    Lint(LintArgs),
    /// Connect CI to the farm: buildx and buildctl commands, GitLab/GitHub snippets, pinning.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Print the JSON Schema of farm.toml, for editors (taplo, Even Better TOML) and CI.
    Schema,
    /// Print a shell completion script: `buildfarm completions bash > /etc/bash_completion.d/buildfarm`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `buildfarm man > /usr/local/share/man/man1/buildfarm.1`.
    Man,
    /// Say how fresh this build's knowledge is: the pinned BuildKit release, the Kubernetes
    /// releases it targets, and the day its release tables were last checked.
    ///
    /// Every version-dependent choice (buildkitd.toml keys, advisories, end of life, pod
    /// fields) comes from those tables; a build older than your clusters may judge them wrong.
    Versions(VersionsArgs),
    /// Issue, inspect, renew and rotate the farm's certificates (tls.mode = "generated").
    #[command(subcommand)]
    Certs(CertsCommand),
    /// See the live farm through BuildKit's own API, judged against the spec.
    ///
    /// Asks every daemon at once, over the mTLS connection CI uses (no pods/exec rights), for
    /// its BuildKit version, workers and platforms, the GC policy it runs, its cache's disk use
    /// and its recent builds; then reports, with the rules lint uses: daemons that do not
    /// answer or refuse TLS (and which side refused), another BuildKit than the spec's, a
    /// wrong architecture, a GC policy that is not the rendered one, a cache over its GC cap or
    /// filling its volume, a certificate expiring within 30 days, builds that rarely hit the
    /// cache, and builds piling onto one daemon.
    #[command(after_help = "Examples:\n  \
        buildfarm status                                # from a pod in the cluster (a CI job, a toolbox)\n  \
        buildfarm status --via port-forward             # from a laptop with kubectl access\n  \
        buildfarm status --addr tcp://203.0.113.7:1234 --servername build-amd64.ci.example.com\n  \
        buildfarm status --format json | jq '.summary'\n\n\
        Exit codes: 0 healthy, 1 an error finding, 2 no daemon could be asked (or usage).")]
    Status(StatusArgs),
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Only this pool [default: every pool].
    #[arg(long, value_name = "POOL")]
    pub pool: Option<String>,
    #[command(flatten)]
    pub identity: IdentityArgs,
    /// How to reach the daemons: each pod by its DNS name (in the cluster), each pool's
    /// Service, `kubectl port-forward` to each pod (started and stopped here), or the names of
    /// `[expose]`.
    #[arg(long, value_enum, default_value_t = crate::reach::StatusVia::Pods)]
    pub via: crate::reach::StatusVia,
    /// Ask this endpoint instead (`tcp://HOST:PORT`, repeatable), as a daemon of --pool (a
    /// load balancer, a forwarded port).
    #[arg(long = "addr", value_name = "URL")]
    pub addrs: Vec<String>,
    /// The server name to expect in the daemon certificate of --addr endpoints [default: the
    /// endpoint's host].
    #[arg(long, value_name = "NAME", requires = "addrs")]
    pub servername: Option<String>,
    /// How long each daemon may take to answer, e.g. `5s`, `1m`; all are asked at once.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_timeout)]
    pub timeout: std::time::Duration,
    /// `human`: a table per pool and the findings; `json`: one document (schema
    /// `buildfarm.status/v1`, see the README).
    #[arg(long, value_enum, default_value_t = crate::status::Format::Human)]
    pub format: crate::status::Format,
}

/// `5s`, `1m`, `1m30s`: a whole number of seconds, at least one.
fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    let seconds = match text.strip_suffix('s').and_then(|n| n.parse::<u64>().ok()) {
        Some(s) => s,
        None => crate::farm::syntax::duration_seconds(text)?,
    };
    match seconds {
        0 => Err("a timeout of 0 asks nothing: give at least `1s`".into()),
        s => Ok(std::time::Duration::from_secs(s)),
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum CertsCommand {
    /// Issue what is missing (CA, daemon, clients) and reissue a daemon certificate whose SANs
    /// no longer cover the spec; check everything that exists. `render` does the same.
    Generate(CertsArgs),
    /// Print each certificate: subject, issuer, SANs, validity, days left, SHA-256 fingerprint.
    Show(ShowArgs),
    /// Reissue daemon and client certificates that expire within --within days; keep the CA.
    Renew(RenewArgs),
    /// Start a CA rotation: a new CA, new client certificates, and a ca.crt bundle of old and
    /// new CA everywhere so existing clients keep working. `--finish` ends it once every client
    /// has the new files: the daemon moves to the new CA and the old CA is no longer trusted.
    RotateCa(RotateArgs),
}

#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    /// Certificate folder, instead of the spec's `tls.dir`.
    #[arg(long, value_name = "DIR")]
    pub certs: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub certs: CertsArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ShowFormat::Human)]
    pub format: ShowFormat,
}

#[derive(Debug, clap::Args)]
pub struct VersionsArgs {
    #[arg(long, value_enum, default_value = "human")]
    pub format: ShowFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ShowFormat {
    Human,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct RenewArgs {
    #[command(flatten)]
    pub certs: CertsArgs,
    /// Renew certificates that expire within this many days.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub within: u32,
}

#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    #[command(flatten)]
    pub certs: CertsArgs,
    /// End the rotation: drop the old CA (clients without the new files stop connecting).
    #[arg(long)]
    pub finish: bool,
}

#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// Output format: human, json, github (workflow annotations), gitlab (Code Quality report).
    #[arg(long, value_enum, default_value_t = crate::lint::format::Format::Human)]
    pub format: crate::lint::format::Format,
    /// Exit 1 on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Certificate folder, instead of the spec's `tls.dir`.
    #[arg(long, value_name = "DIR")]
    pub certs: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Write one file per object (NN-kind-name.yaml) and a kustomization.yaml into DIR,
    /// replacing what an earlier `render --out` wrote there.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Compare DIR (from `render --out`) with what the spec renders now; print a unified diff
    /// per file that differs and exit 1. Writes nothing, issues no certificates.
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    pub check: Option<PathBuf>,
    /// Leave Secrets out (for GitOps repos that must not hold private keys).
    #[arg(long)]
    pub no_secrets: bool,
    /// Certificate folder, instead of the spec's `tls.dir`.
    #[arg(long, value_name = "DIR")]
    pub certs: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct IdentityArgs {
    /// Client whose certificate to use [default: the first `[[tls.client]]`].
    #[arg(long, value_name = "NAME")]
    pub client: Option<String>,
    /// Folder holding the client's ca.crt, tls.crt and tls.key on the machine that will run the
    /// commands; a relative DIR is resolved against the current directory (give an absolute
    /// one for another machine) [default: certs/client/<NAME>/ under tls.dir].
    #[arg(long, value_name = "DIR")]
    pub certs: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Print `docker buildx create` commands: one node per pool (first --use, the rest --append),
    /// so `docker buildx build --platform linux/amd64,linux/arm64` builds each arch natively.
    Buildx(BuildxArgs),
    /// Print BUILDKIT_HOST and a buildctl function with the TLS flags, for `eval "$(...)"`.
    Buildctl(BuildctlArgs),
    /// Print a .gitlab-ci.yml job using File-type variables for the client certificate.
    Gitlab(GitlabArgs),
    /// Print a GitHub Actions step using docker/setup-buildx-action's remote driver.
    Github(GithubArgs),
    /// Pick the pod of a pool for KEY (e.g. a project path) by rendezvous hashing, so the same
    /// project always lands on the same warm cache; --all lists every pod in fallback order.
    Endpoint(EndpointArgs),
    /// Print a rootless buildkitd sidecar (socket shared through an emptyDir) for runner pods
    /// that want isolation instead of the shared farm.
    Sidecar(SidecarArgs),
}

#[derive(Debug, clap::Args)]
pub struct BuildxArgs {
    /// Builder name.
    #[arg(long, default_value = "remote")]
    pub name: String,
    /// Pin to the warm pods of KEY (e.g. the project path): each pool's pods as nodes, in
    /// rendezvous order (see `client endpoint --all`); buildx builds on the first that answers.
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    #[command(flatten)]
    pub identity: IdentityArgs,
    /// Reach the daemons through their Services (in the cluster), kubectl port-forward (a
    /// laptop) or their external names (`[expose]`).
    #[arg(long, value_enum, default_value_t = crate::reach::BuildxVia::Service)]
    pub via: crate::reach::BuildxVia,
}

#[derive(Debug, clap::Args)]
pub struct BuildctlArgs {
    /// Pool to use [default: the first].
    #[arg(long, value_name = "POOL")]
    pub pool: Option<String>,
    /// Pin to the pod rendezvous hashing picks for KEY (see `client endpoint`).
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    #[command(flatten)]
    pub identity: IdentityArgs,
    /// Reach the pool through its Service (in the cluster) or its external name (`[expose]`).
    #[arg(long, value_enum, default_value_t = crate::reach::JobVia::Service)]
    pub via: crate::reach::JobVia,
}

#[derive(Debug, clap::Args)]
pub struct GitlabArgs {
    /// Client whose certificate the job uses [default: the first `[[tls.client]]`; with trust
    /// domains and both kinds of client, two jobs: the first trusted client's for protected
    /// refs, the first untrusted client's for every other].
    #[arg(long, value_name = "NAME")]
    pub client: Option<String>,
    /// Build with buildctl (one arch) or docker buildx (every pool's arch).
    #[arg(long, value_enum, default_value_t = crate::client::Tool::Buildctl)]
    pub tool: crate::client::Tool,
    /// Reach the daemons through their Services (a runner in the cluster) or their external
    /// names (`[expose]`: GitLab.com runners, another cluster).
    #[arg(long, value_enum, default_value_t = crate::reach::JobVia::Service)]
    pub via: crate::reach::JobVia,
    /// The job variable whose value pins a project to its warm pod: the job picks, per pool,
    /// the first pod in rendezvous order that answers (see `client endpoint`).
    #[arg(long, value_name = "VAR", default_value = "CI_PROJECT_PATH")]
    pub key_var: String,
    /// Build on the pool's Service instead: every replica, and a cold cache now and then.
    #[arg(long)]
    pub no_pin: bool,
    /// Image the buildctl job runs in [default: the farm's `image`, as written: registry,
    /// tag and digest; both of BuildKit's images ship buildctl].
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct GithubArgs {
    /// Client whose certificate the workflow uses [default: the first `[[tls.client]]`].
    #[arg(long, value_name = "NAME")]
    pub client: Option<String>,
    /// Reach the daemons through their Services (a runner in the cluster) or their external
    /// names (`[expose]`: GitHub-hosted runners).
    #[arg(long, value_enum, default_value_t = crate::reach::JobVia::Service)]
    pub via: crate::reach::JobVia,
    /// The step's environment variable whose value pins a repository to its warm pods; the
    /// default, BUILDFARM_KEY, is set from `${{ github.repository }}`; another must be set in
    /// the workflow's `env`.
    #[arg(long, value_name = "VAR", default_value = crate::client::GITHUB_KEY_VAR)]
    pub key_var: String,
    /// Build on the pools' Services instead: every replica, and a cold cache now and then.
    #[arg(long)]
    pub no_pin: bool,
}

#[derive(Debug, clap::Args)]
pub struct EndpointArgs {
    /// What to pin, e.g. the project path (`group/project`).
    #[arg(long)]
    pub key: String,
    /// Pool [default: the first].
    #[arg(long, value_name = "POOL")]
    pub pool: Option<String>,
    /// Every pod, best first (for fallback).
    #[arg(long)]
    pub all: bool,
    /// The pod's name in the cluster, or outside it (`[expose] per_pod`).
    #[arg(long, value_enum, default_value_t = crate::reach::JobVia::Service)]
    pub via: crate::reach::JobVia,
}

#[derive(Debug, clap::Args)]
pub struct SidecarArgs {
    /// Output: a pod spec snippet, or a strategic-merge patch for kustomize.
    #[arg(long, value_enum, default_value_t = crate::client::SidecarFormat::Yaml)]
    pub format: crate::client::SidecarFormat,
    /// Object the patch targets, KIND/NAME.
    #[arg(long, value_name = "KIND/NAME", default_value = "Deployment/runner")]
    pub target: String,
    /// Image the sidecar runs, a rootless BuildKit image [default: the farm's `image`, or for
    /// a privileged farm its `-rootless` tag from the same registry].
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// How the daemons run.
    #[arg(long, value_enum, default_value_t = crate::profile::Mode::Rootless)]
    pub mode: crate::profile::Mode,
    /// CPU architectures, one pool each.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "amd64,arm64")]
    pub arch: Vec<crate::farm::Arch>,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
}
