fn main() -> std::process::ExitCode {
    let cli = <buildfarm::Cli as clap::Parser>::parse();
    buildfarm::run(cli).unwrap_or_else(|err| buildfarm::report(&err))
}
