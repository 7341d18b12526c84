//! buildfarm: one farm.toml → a BuildKit build farm on Kubernetes.
//!
//! Data flows one way: `cli` → `farm` (+ `profile`) → `certs` → `render`/`client`; `lint` only
//! reads. The commands themselves live in `commands`.

pub mod certs;
pub mod cli;
pub mod client;
mod commands;
pub use commands::{certs_text, client_text};
pub mod error;
pub mod farm;
pub mod init;
pub mod lint;
pub mod profile;
pub mod render;

use std::path::Path;
use std::process::ExitCode;

use cli::{Cli, Command};
use farm::Farm;

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    error::set_verbosity(cli.quiet, cli.verbose);
    let spec = cli.spec.as_deref();
    match cli.command {
        Command::Init(args) => commands::init(spec, &args),
        Command::Render(args) => commands::render_command(spec, &args),
        Command::Lint(args) => commands::lint_command(spec, &args),
        Command::Certs(command) => commands::certs_command(spec, command),
        Command::Client(command) => commands::client_command(spec, command),
        Command::Versions(args) => commands::versions(&args),
        generated @ (Command::Schema | Command::Completions { .. } | Command::Man) => {
            commands::generated(&generated)
        }
    }
}

/// The whole pipeline after the spec: certificates (issued when missing), then objects.
/// What `lint` calls an error, `render` refuses: one rule set, two commands (certificate
/// errors too: `ensure` refuses expired, mismatched or untrusted material).
pub fn render_farm(farm: &Farm, options: render::Options) -> anyhow::Result<Vec<render::Object>> {
    lint::refuse_errors(lint::check(farm))?;
    let material = certs::ensure(farm)?;
    render::render(farm, material.as_ref(), options)
}

/// Renders spec text (as if read from `farm.toml`) with certificates in `certs_dir`.
pub fn render_str(spec: &str, certs_dir: &Path) -> anyhow::Result<String> {
    let source = error::Source::new("farm.toml", spec);
    let farm = farm::parse(&source, Path::new(""), Some(certs_dir))?;
    Ok(render::stream(&render_farm(
        &farm,
        render::Options { secrets: true },
    )?))
}

/// The farm from `--spec`, else `./farm.toml`, else the built-in farm (with a note on stderr).
pub fn load(spec_path: Option<&Path>, certs_dir: Option<&Path>) -> anyhow::Result<Farm> {
    let (source, base) = commands::read_spec(spec_path)?;
    Ok(farm::parse(&source, &base, certs_dir)?)
}
