fn main() -> std::process::ExitCode {
    let cli = <buildfarm::cli::Cli as clap::Parser>::parse();
    buildfarm::commands::run(cli).unwrap_or_else(|err| buildfarm::report::report(&err))
}
