//! The commands: each reads what it needs, calls the stages, and writes its product to stdout
//! (notes and errors go to stderr, so `render | kubectl apply -f -` is never polluted).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{
    CertsCommand, Cli, ClientCommand, Command, InitArgs, LintArgs, RenderArgs, ShowFormat,
};
use crate::diagnostic::{Diagnostic, Severity, Source};
use crate::farm::{self, Farm, Origin};
use crate::{certs, client, lint, render, report};

/// The product goes to stdout, whole, or the command fails (a closed pipe is an I/O error).
fn print(bytes: &[u8]) -> anyhow::Result<()> {
    print_parts([bytes])
}

/// Writes `parts` one after the other, through one buffer (a big stream is never copied whole).
fn print_parts<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> anyhow::Result<()> {
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    parts
        .into_iter()
        .try_for_each(|part| stdout.write_all(part))
        .and_then(|()| stdout.flush())
        .context("failed to write to stdout")
}

pub(crate) fn init(spec_path: Option<&Path>, args: &InitArgs) -> anyhow::Result<ExitCode> {
    let path = spec_path.unwrap_or(Path::new("farm.toml"));
    crate::init::write(path, args.mode, &args.arch, args.force)?;
    report::note(format!(
        "wrote `{}`; next: buildfarm lint && buildfarm render",
        path.display()
    ));
    Ok(ExitCode::SUCCESS)
}

/// Completions, man page, schema: generated text on stdout.
pub(crate) fn generated(command: &Command) -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    match command {
        Command::Completions { shell } => clap_complete::generate(
            *shell,
            &mut <Cli as clap::CommandFactory>::command(),
            "buildfarm",
            &mut out,
        ),
        Command::Man => clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
            .render(&mut out)
            .context("failed to render the man page")?,
        _ => out.extend_from_slice(crate::farm::schema().as_bytes()),
    }
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// `buildfarm versions`: the pinned releases and the release tables' date.
pub(crate) fn versions(args: &crate::cli::VersionsArgs) -> anyhow::Result<ExitCode> {
    let buildkit = crate::farm::releases::buildkit();
    let kube = crate::farm::releases::kubernetes();
    let pinned = buildkit.newest();
    let oldest = kube.releases[0].minor;
    let stale = crate::farm::releases::tables_age_if_stale(&crate::farm::releases::today());
    let text = match args.format {
        crate::cli::ShowFormat::Human => {
            format!(
                "buildfarm {}\n\
             BuildKit:   pins {}{}; knows {} published advisories (table checked {})\n\
             Kubernetes: targets {} by default, the oldest release supported upstream on {}; knows {} to {}\n",
                env!("CARGO_PKG_VERSION"),
                pinned.latest,
                pinned
                    .released
                    .map(|d| format!(" (released {d})"))
                    .unwrap_or_default(),
                buildkit.advisories.len(),
                buildkit.updated,
                kube.default_target(),
                kube.updated,
                oldest,
                kube.newest(),
            ) + &stale
                .map(|age| format!("note: {}\n", crate::farm::releases::stale_sentence(age)))
                .unwrap_or_default()
        }
        crate::cli::ShowFormat::Json => {
            let doc = serde_json::json!({
                "buildfarm": env!("CARGO_PKG_VERSION"),
                "buildkit": {
                    "pinned": pinned.latest.to_string(),
                    "released": pinned.released,
                    "advisories": buildkit.advisories.len(),
                    "updated": buildkit.updated,
                },
                "kubernetes": {
                    "default_target": kube.default_target().to_string(),
                    "oldest": oldest.to_string(),
                    "newest": kube.newest().to_string(),
                    "updated": kube.updated,
                },
                "stale_days": stale,
            });
            serde_json::to_string_pretty(&doc).expect("JSON values serialize") + "\n"
        }
    };
    print(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn client_command(
    spec_path: Option<&Path>,
    command: ClientCommand,
) -> anyhow::Result<ExitCode> {
    let farm = load(spec_path, None)?;
    print(client_text(&farm, command)?.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// What `buildfarm client ...` prints for `farm`.
pub fn client_text(farm: &Farm, command: ClientCommand) -> anyhow::Result<String> {
    let identity = |client: &Option<String>, certs: Option<&Path>| {
        let id = client::Identity::new(farm, client.as_deref(), certs)?;
        // The printed paths are for the machine that runs the commands: say what a relative
        // `--certs` became, in case that is another machine.
        if let Some(given) = certs.filter(|p| p.is_relative()) {
            report::note(format!(
                "`--certs {}` is relative: the commands use `{}`; pass an absolute path for another machine",
                given.display(),
                id.dir.display()
            ));
        }
        anyhow::Ok(id)
    };
    // Commands that point at every pool a client may use need each to have daemons (`--pool`
    // checks one).
    let serving = |farm: &Farm| client::serving(farm, &farm.pools);
    let out = match command {
        ClientCommand::Buildx(a) => {
            let id = identity(&a.identity.client, a.identity.certs.as_deref())?;
            let farm = &client::seen_by(farm, &id.name);
            serving(farm)?;
            client::buildx(farm, &a.name, &id, a.via.into(), a.key.as_deref())?
        }
        ClientCommand::Buildctl(a) => {
            let id = identity(&a.identity.client, a.identity.certs.as_deref())?;
            client::buildctl(
                farm,
                client::pool_for(farm, &id.name, a.pool.as_deref())?,
                &id,
                a.key.as_deref(),
                a.via,
            )?
        }
        ClientCommand::Gitlab(a) => {
            let pin = pin_var(&a.key_var, a.no_pin)?;
            let mut jobs = Vec::new();
            for name in job_clients(farm, a.client.as_deref())? {
                let farm = &client::seen_by(farm, &name);
                serving(farm)?;
                jobs.push(client::gitlab(
                    farm,
                    &name,
                    a.tool,
                    a.via,
                    pin,
                    a.image.as_deref(),
                )?);
            }
            jobs.join("\n")
        }
        ClientCommand::Github(a) => {
            let pin = pin_var(&a.key_var, a.no_pin)?;
            let name = identity(&a.client, None)?.name;
            let farm = &client::seen_by(farm, &name);
            serving(farm)?;
            client::github(farm, &name, a.via, pin)?
        }
        ClientCommand::Endpoint(a) => client::endpoints(
            farm,
            client::pool(farm, a.pool.as_deref())?,
            &a.key,
            a.all,
            a.via,
        )?,
        ClientCommand::Sidecar(a) => {
            client::sidecar(farm, a.format, &a.target, a.image.as_deref())?
        }
    };
    Ok(out)
}

/// The clients a CI job is written for: `--client`, else the first client; with trust domains
/// and no `--client`, the first trusted and the first untrusted one (a job each, chosen by the CI
/// context).
fn job_clients(farm: &Farm, client: Option<&str>) -> anyhow::Result<Vec<String>> {
    let first = client::Identity::new(farm, client, None)?.name;
    if client.is_some() || !farm.tls.domains() {
        return Ok(vec![first]);
    }
    let trusted = farm.tls.clients.iter().find(|c| !c.untrusted);
    let untrusted = farm.tls.clients.iter().find(|c| c.untrusted);
    Ok(match (trusted, untrusted) {
        (Some(t), Some(u)) => vec![t.name.clone(), u.name.clone()],
        _ => vec![first],
    })
}

/// The variable a CI snippet pins by (`None` with `--no-pin`): a shell variable name, as it is
/// spliced into the job's script.
fn pin_var(var: &str, no_pin: bool) -> anyhow::Result<Option<&str>> {
    let mut chars = var.chars();
    let name = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !name {
        anyhow::bail!("`--key-var {var}` is not a variable name");
    }
    Ok((!no_pin).then_some(var))
}

/// `buildfarm status`: the live farm, with the client certificate `client buildctl` would use.
pub(crate) fn status_command(
    spec_path: Option<&Path>,
    args: crate::cli::StatusArgs,
) -> anyhow::Result<ExitCode> {
    let farm = load(spec_path, None)?;
    let id = client::Identity::new(
        &farm,
        args.identity.client.as_deref(),
        args.identity.certs.as_deref(),
    )?;
    let options = crate::status::Options {
        pool: args.pool,
        via: args.via.into(),
        addrs: args.addrs,
        servername: args.servername,
        timeout: args.timeout,
        format: args.format,
        progress: report::progress(),
    };
    let (text, code) = crate::status::status(&farm, &id, &options)?;
    print(text.as_bytes())?;
    Ok(code)
}

pub(crate) fn lint_command(spec_path: Option<&Path>, args: &LintArgs) -> anyhow::Result<ExitCode> {
    let (source, base) = match read_spec(spec_path) {
        Ok(read) => read,
        Err(err) => return refused_whole(err, spec_path, args),
    };
    let findings = lint::lint(&source, &base, args.certs.as_deref());
    let text = lint::format::render(&findings, args.format);
    print(text.as_bytes())?;
    let failing = |d: &Diagnostic| {
        d.severity == Severity::Error || (args.deny_warnings && d.severity == Severity::Warning)
    };
    Ok(if findings.iter().any(failing) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A spec refused before lint could look inside (too large, not UTF-8, unreadable): still a
/// report in the format asked for, so a CI step that parses it always gets one. Exit 1 for a
/// refused spec, 2 for one that could not be read.
fn refused_whole(
    err: anyhow::Error,
    spec_path: Option<&Path>,
    args: &LintArgs,
) -> anyhow::Result<ExitCode> {
    let (findings, code) = match err.downcast::<crate::diagnostic::Invalid>() {
        Ok(invalid) => (invalid.0, 1),
        Err(err) if args.format == lint::format::Format::Human => return Err(err),
        Err(err) => {
            let causes: Vec<String> = err.chain().map(ToString::to_string).collect();
            let name = spec_path.unwrap_or(Path::new("farm.toml")).display();
            let d = Source::new(name.to_string(), String::new())
                .error(None, causes.join(": "))
                .rule(crate::rule::Rule::SpecUnreadable)
                .hint("check the path given to --spec, or run where farm.toml is");
            (vec![d], 2)
        }
    };
    print(lint::format::render(&findings, args.format).as_bytes())?;
    Ok(ExitCode::from(code))
}

pub(crate) fn certs_command(
    spec_path: Option<&Path>,
    command: CertsCommand,
) -> anyhow::Result<ExitCode> {
    let dir = match &command {
        CertsCommand::Generate(a) => &a.certs,
        CertsCommand::Show(a) => &a.certs.certs,
        CertsCommand::Renew(a) => &a.certs.certs,
        CertsCommand::RotateCa(a) => &a.certs.certs,
    };
    let farm = load(spec_path, dir.as_deref())?;
    print(certs_text(&farm, command)?.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// What `buildfarm certs ...` does to `farm`'s certificates, and what it prints.
pub fn certs_text(farm: &Farm, command: CertsCommand) -> anyhow::Result<String> {
    let mut out = String::new();
    match command {
        CertsCommand::Generate(_) => {
            certs::managed(farm)?;
            let mut said = Vec::new();
            certs::ensure(farm, &mut said)?;
            report::say(&said);
            out.push_str(&format!(
                "certificates are ready in `{}`\n",
                farm.tls.dir.display()
            ));
        }
        CertsCommand::Show(args) => {
            let entries = certs::show(farm)?;
            out = match args.format {
                ShowFormat::Json => {
                    serde_json::to_string_pretty(&entries).expect("entries serialize") + "\n"
                }
                ShowFormat::Human => show_human(&entries),
            };
        }
        CertsCommand::Renew(args) => {
            let mut said = Vec::new();
            let renewed = certs::renew(farm, args.within, &mut said)?;
            report::say(&said);
            out = match renewed.is_empty() {
                true => format!("nothing expires within {} days\n", args.within),
                false => format!(
                    "renewed: {}\napply the rendered Secrets so the daemons restart with them\n",
                    renewed.join(", ")
                ),
            };
        }
        CertsCommand::RotateCa(args) if args.finish => {
            let mut said = Vec::new();
            certs::finish_rotation(farm, &mut said)?;
            report::say(&said);
            out.push_str("rotation finished: the daemon certificate is issued by the new CA and the old CA is no longer trusted\n");
        }
        CertsCommand::RotateCa(_) => {
            let mut said = Vec::new();
            certs::rotate_ca(farm, &mut said)?;
            report::say(&said);
            out.push_str(
                "new CA created; old and new CA are both trusted until `buildfarm certs rotate-ca --finish`.\n\
                 1. apply the rendered Secrets (the daemons restart and trust both CAs)\n\
                 2. give every client its new files from the client folders\n\
                 3. run `buildfarm certs rotate-ca --finish` and apply again\n",
            );
        }
    }
    Ok(out)
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

pub(crate) fn render_command(
    spec_path: Option<&Path>,
    args: &RenderArgs,
) -> anyhow::Result<ExitCode> {
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
        None => print_parts(render::stream_parts(&objects).map(str::as_bytes))?,
    }
    Ok(ExitCode::SUCCESS)
}

fn check_command(farm: &Farm, options: render::Options, dir: &Path) -> anyhow::Result<ExitCode> {
    crate::lint::refuse_errors(crate::lint::check(farm))?;
    let material = certs::load(farm)?;
    let objects = render::render(farm, material.as_ref(), options)?;
    let drifts = render::check::compare(dir, &objects)?;
    let diffs: String = drifts.iter().map(|d| d.diff.as_str()).collect();
    print(diffs.as_bytes())?;
    if drifts.is_empty() {
        report::note(format!("`{}` matches the spec", dir.display()));
        return Ok(ExitCode::SUCCESS);
    }
    let files: Vec<&str> = drifts.iter().map(|d| d.file.as_str()).collect();
    report::problem(
        format!(
            "`{}` differs from the spec in {} file{}: {}",
            dir.display(),
            files.len(),
            if files.len() == 1 { "" } else { "s" },
            files.join(", ")
        ),
        format!(
            "run `buildfarm render --out {}` and commit the result",
            dir.display()
        ),
    );
    Ok(ExitCode::from(1))
}

/// The spec text and the folder its relative paths start from.
pub(crate) fn read_spec(spec_path: Option<&Path>) -> anyhow::Result<(Source, std::path::PathBuf)> {
    let default = Path::new("farm.toml");
    let origin = match spec_path {
        Some(path) => Origin::File(path),
        None if default.exists() => Origin::File(default),
        None => {
            report::note(
                "no farm.toml here, using the built-in farm (rootless, amd64 + arm64); \
                 see examples/ for specs to start from",
            );
            Origin::BuiltIn
        }
    };
    farm::read(origin)
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    report::set_verbosity(cli.quiet, cli.verbose);
    crate::farm::releases::check_today().map_err(anyhow::Error::msg)?;
    let spec = cli.spec.as_deref();
    match cli.command {
        Command::Init(args) => init(spec, &args),
        Command::Render(args) => render_command(spec, &args),
        Command::Lint(args) => lint_command(spec, &args),
        Command::Certs(command) => certs_command(spec, command),
        Command::Client(command) => client_command(spec, command),
        Command::Versions(args) => versions(&args),
        Command::Status(args) => status_command(spec, args),
        other @ (Command::Schema | Command::Completions { .. } | Command::Man) => generated(&other),
    }
}

/// The whole pipeline after the spec: certificates (issued when missing), then objects.
/// What `lint` calls an error, `render` refuses: one rule set, two commands (certificate
/// errors too: `ensure` refuses expired, mismatched or untrusted material).
pub fn render_farm(farm: &Farm, options: render::Options) -> anyhow::Result<Vec<render::Object>> {
    lint::refuse_errors(lint::check(farm))?;
    let mut said = Vec::new();
    let material = certs::ensure(farm, &mut said)?;
    report::say(&said);
    render::render(farm, material.as_ref(), options)
}

/// Renders spec text (as if read from `farm.toml`) with certificates in `certs_dir`.
pub fn render_str(spec: &str, certs_dir: &Path) -> anyhow::Result<String> {
    let source = Source::new("farm.toml", spec);
    let farm = farm::parse(&source, Path::new(""), Some(certs_dir))?;
    Ok(render::stream(&render_farm(
        &farm,
        render::Options { secrets: true },
    )?))
}

/// The farm from `--spec`, else `./farm.toml`, else the built-in farm (with a note on stderr).
pub(crate) fn load(spec_path: Option<&Path>, certs_dir: Option<&Path>) -> anyhow::Result<Farm> {
    let (source, base) = read_spec(spec_path)?;
    Ok(farm::parse(&source, &base, certs_dir)?)
}
