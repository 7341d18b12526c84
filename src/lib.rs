//! buildfarm: one farm.toml → a BuildKit build farm on Kubernetes.
//!
//! Data flows one way: `cli` → `spec` (+ `profile`) → `certs` → `render`.

pub mod certs;
pub mod cli;
pub mod error;
pub mod profile;
pub mod render;
pub mod spec;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use cli::{Cli, Command, RenderArgs};
use spec::{Farm, Origin};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Render(args) => render_command(cli.spec.as_deref(), &args),
    }
}

fn render_command(spec_path: Option<&Path>, args: &RenderArgs) -> anyhow::Result<ExitCode> {
    let farm = load(spec_path, args.certs.as_deref())?;
    let options = render::Options {
        secrets: !args.no_secrets,
    };
    let objects = render_farm(&farm, options)?;
    match &args.out {
        Some(dir) => render::out::write_dir(dir, &objects)?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(render::stream(&objects).as_bytes())
                .and_then(|()| stdout.flush())
                .context("failed to write to stdout")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The whole pipeline after the spec: certificates (issued when missing), then objects.
pub fn render_farm(farm: &Farm, options: render::Options) -> anyhow::Result<Vec<render::Object>> {
    let material = certs::ensure(farm)?;
    render::render(farm, material.as_ref(), options)
}

/// Renders spec text (as if read from `farm.toml`) with certificates in `certs_dir`.
pub fn render_str(spec: &str, certs_dir: &Path) -> anyhow::Result<String> {
    let source = error::Source::new("farm.toml", spec);
    let farm = spec::parse(&source, Path::new(""), Some(certs_dir))?;
    Ok(render::stream(&render_farm(
        &farm,
        render::Options { secrets: true },
    )?))
}

/// The farm from `--spec`, else `./farm.toml`, else the built-in farm (with a note on stderr).
pub fn load(spec_path: Option<&Path>, certs_dir: Option<&Path>) -> anyhow::Result<Farm> {
    let default = Path::new("farm.toml");
    match spec_path {
        Some(path) => spec::load(Origin::File(path), certs_dir),
        None if default.exists() => spec::load(Origin::File(default), certs_dir),
        None => {
            eprintln!(
                "note: no farm.toml here, using the built-in farm (rootless, amd64 + arm64); \
                 see examples/ for specs to start from"
            );
            spec::load(Origin::BuiltIn, certs_dir)
        }
    }
}
