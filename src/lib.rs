//! buildfarm: one farm.toml → a BuildKit build farm on Kubernetes.
//!
//! Data flows one way: `cli` → `spec` (+ `profile`) → `certs` → `render`.

pub mod certs;
pub mod cli;
pub mod client;
pub mod error;
pub mod init;
pub mod lint;
pub mod profile;
pub mod render;
pub mod spec;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use cli::{CertsCommand, Cli, ClientCommand, Command, LintArgs, RenderArgs, ShowFormat};
use spec::{Farm, Origin};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    error::set_verbosity(cli.quiet, cli.verbose);
    match cli.command {
        Command::Render(args) => render_command(cli.spec.as_deref(), &args),
        Command::Init(args) => {
            let path = cli.spec.unwrap_or_else(|| "farm.toml".into());
            let mode = profile::Mode::parse(&args.mode).expect("clap only accepts known modes");
            init::write(&path, mode, &args.arch, args.force)?;
            error::note(format!(
                "wrote `{}`; next: buildfarm lint && buildfarm render",
                path.display()
            ));
            Ok(ExitCode::SUCCESS)
        }
        Command::Certs(command) => certs_command(cli.spec.as_deref(), command),
        Command::Lint(args) => lint_command(cli.spec.as_deref(), &args),
        Command::Client(command) => client_command(cli.spec.as_deref(), command),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command, "buildfarm", &mut out);
            write_stdout(&out)
        }
        Command::Schema => write_stdout(spec::schema().as_bytes()),
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
                .render(&mut out)
                .context("failed to render the man page")?;
            write_stdout(&out)
        }
    }
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .context("failed to write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

fn client_command(spec_path: Option<&Path>, command: ClientCommand) -> anyhow::Result<ExitCode> {
    let farm = load(spec_path, None)?;
    let identity = |client: &Option<String>, certs: Option<&Path>| {
        client::Identity::new(&farm, client.as_deref(), certs)
    };
    let out = match command {
        ClientCommand::Buildx(a) => {
            let id = identity(&a.identity.client, a.identity.certs.as_deref())?;
            client::buildx(&farm, &a.name, &id, a.via)
        }
        ClientCommand::Buildctl(a) => {
            let id = identity(&a.identity.client, a.identity.certs.as_deref())?;
            client::buildctl(
                &farm,
                client::pool(&farm, a.pool.as_deref())?,
                &id,
                a.key.as_deref(),
            )
        }
        ClientCommand::Gitlab(a) => client::gitlab(&farm, &identity(&a.client, None)?.name, a.tool),
        ClientCommand::Github(a) => client::github(&farm, &identity(&a.client, None)?.name),
        ClientCommand::Endpoint(a) => client::endpoints(
            &farm,
            client::pool(&farm, a.pool.as_deref())?,
            &a.key,
            a.all,
        ),
        ClientCommand::Sidecar(a) => client::sidecar(&farm, a.format, &a.target),
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .context("failed to write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

fn lint_command(spec_path: Option<&Path>, args: &LintArgs) -> anyhow::Result<ExitCode> {
    let (source, base) = read_spec(spec_path)?;
    let findings = lint::lint(&source, &base, args.certs.as_deref());
    let text = lint::format::render(&findings, args.format);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("failed to write to stdout")?;
    let failing = |d: &error::Diagnostic| {
        d.severity == error::Severity::Error
            || (args.deny_warnings && d.severity == error::Severity::Warning)
    };
    Ok(if findings.iter().any(failing) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn certs_command(spec_path: Option<&Path>, command: CertsCommand) -> anyhow::Result<ExitCode> {
    let dir = match &command {
        CertsCommand::Generate(a) => &a.certs,
        CertsCommand::Show(a) => &a.certs.certs,
        CertsCommand::Renew(a) => &a.certs.certs,
        CertsCommand::RotateCa(a) => &a.certs.certs,
    };
    let farm = load(spec_path, dir.as_deref())?;
    let mut out = String::new();
    match command {
        CertsCommand::Generate(_) => {
            certs::managed(&farm)?;
            certs::ensure(&farm)?;
            out.push_str(&format!(
                "certificates are ready in `{}`\n",
                farm.tls.dir.display()
            ));
        }
        CertsCommand::Show(args) => {
            let entries = certs::show(&farm)?;
            out = match args.format {
                ShowFormat::Json => {
                    serde_json::to_string_pretty(&entries).expect("entries serialize") + "\n"
                }
                ShowFormat::Human => show_human(&entries),
            };
        }
        CertsCommand::Renew(args) => {
            let renewed = certs::renew(&farm, args.within)?;
            out = match renewed.is_empty() {
                true => format!("nothing expires within {} days\n", args.within),
                false => format!(
                    "renewed: {}\napply the rendered Secrets so the daemons restart with them\n",
                    renewed.join(", ")
                ),
            };
        }
        CertsCommand::RotateCa(args) if args.finish => {
            certs::finish_rotation(&farm)?;
            out.push_str("rotation finished: the daemon certificate is issued by the new CA and the old CA is no longer trusted\n");
        }
        CertsCommand::RotateCa(_) => {
            certs::rotate_ca(&farm)?;
            out.push_str(
                "new CA created; old and new CA are both trusted until `buildfarm certs rotate-ca --finish`.\n\
                 1. apply the rendered Secrets (the daemons restart and trust both CAs)\n\
                 2. give every client its new files from the client folders\n\
                 3. run `buildfarm certs rotate-ca --finish` and apply again\n",
            );
        }
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .context("failed to write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

fn show_human(entries: &[certs::Entry]) -> String {
    let now = certs::now();
    let mut out = String::new();
    for e in entries {
        let i = &e.info;
        out.push_str(&format!("{} ({})\n", e.role, e.path));
        out.push_str(&format!(
            "  subject      {}\n  issuer       {}\n",
            i.subject, i.issuer
        ));
        if !i.sans.is_empty() {
            out.push_str(&format!("  SANs         {}\n", i.sans.join(", ")));
        }
        out.push_str(&format!(
            "  valid        {} to {}\n",
            certs::date(i.not_before),
            certs::date(i.not_after)
        ));
        let left = i.days_left(now);
        let state = if left < 0 {
            " (EXPIRED)"
        } else if left < 30 {
            " (renew soon)"
        } else {
            ""
        };
        out.push_str(&format!("  days left    {left}{state}\n"));
        out.push_str(&format!(
            "  key          {}\n  sha256       {}\n\n",
            i.key_type, i.fingerprint
        ));
    }
    out.pop();
    out
}

fn render_command(spec_path: Option<&Path>, args: &RenderArgs) -> anyhow::Result<ExitCode> {
    let farm = load(spec_path, args.certs.as_deref())?;
    let options = render::Options {
        secrets: !args.no_secrets,
    };
    if let Some(dir) = &args.check {
        return check_command(&farm, options, dir);
    }
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

fn check_command(farm: &Farm, options: render::Options, dir: &Path) -> anyhow::Result<ExitCode> {
    let material = certs::load(farm)?;
    let objects = render::render(farm, material.as_ref(), options)?;
    let drifts = render::check::compare(dir, &objects)?;
    let mut stdout = std::io::stdout().lock();
    for d in &drifts {
        stdout
            .write_all(d.diff.as_bytes())
            .context("failed to write to stdout")?;
    }
    stdout.flush().context("failed to write to stdout")?;
    if drifts.is_empty() {
        error::note(format!("`{}` matches the spec", dir.display()));
        return Ok(ExitCode::SUCCESS);
    }
    let files: Vec<&str> = drifts.iter().map(|d| d.file.as_str()).collect();
    eprintln!(
        "error: `{}` differs from the spec in {} file{}: {}\n  = hint: run `buildfarm render --out {}` and commit the result",
        dir.display(),
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        files.join(", "),
        dir.display()
    );
    Ok(ExitCode::from(1))
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
    let (source, base) = read_spec(spec_path)?;
    Ok(spec::parse(&source, &base, certs_dir)?)
}

/// The spec text and the folder its relative paths start from.
fn read_spec(spec_path: Option<&Path>) -> anyhow::Result<(error::Source, std::path::PathBuf)> {
    let default = Path::new("farm.toml");
    let origin = match spec_path {
        Some(path) => Origin::File(path),
        None if default.exists() => Origin::File(default),
        None => {
            error::note(
                "no farm.toml here, using the built-in farm (rootless, amd64 + arm64); \
                 see examples/ for specs to start from",
            );
            Origin::BuiltIn
        }
    };
    spec::read(origin)
}
