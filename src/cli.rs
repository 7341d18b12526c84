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
        buildfarm render --out deploy/ --no-secrets    # for GitOps repos that hold no keys\n\n\
        Exit codes: 0 ok, 1 invalid input (nothing written), 2 usage or I/O error."
)]
pub struct Cli {
    /// Farm spec to read [default: farm.toml, or the built-in farm when there is none].
    #[arg(long, global = true, value_name = "PATH")]
    pub spec: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write the farm's manifests to stdout, or one file per object with --out.
    ///
    /// Certificates missing from the spec's `tls.dir` (default `certs/` beside farm.toml) are
    /// generated first; existing ones are reused, so rendering twice gives the same bytes.
    Render(RenderArgs),
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Write one file per object (NN-kind-name.yaml) and a kustomization.yaml into DIR,
    /// replacing what an earlier `render --out` wrote there.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Leave Secrets out (for GitOps repos that must not hold private keys).
    #[arg(long)]
    pub no_secrets: bool,
    /// Certificate folder, instead of the spec's `tls.dir`.
    #[arg(long, value_name = "DIR")]
    pub certs: Option<PathBuf>,
}
