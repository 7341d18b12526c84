//! buildfarm: one farm.toml → a BuildKit build farm on Kubernetes.
//!
//! Data flows one way: `cli` → `farm` (+ `profile`, `farm::releases`) → `certs` →
//! `render`/`client`; `lint` only reads. `commands` runs them, one function per subcommand.
//!
//! Every room is private. What lies outside `src/` (`main.rs`, `tests/`, `bench/`) goes
//! through the door below and nothing else; `unreachable_pub` keeps the rest `pub(crate)`.

#![warn(unreachable_pub)]

mod certs;
mod cli;
mod client;
mod closed;
mod commands;
mod diagnostic;
mod farm;
mod files;
mod init;
mod lint;
mod profile;
mod reach;
mod render;
mod report;
mod rule;
mod status;
mod suggest;
mod yaml;

// The door. The binary: parse the command line, run it, report.
pub use cli::{Cli, Command};
pub use commands::run;
pub use report::report;

// A spec and what is said about it.
pub use diagnostic::{Diagnostic, Severity, Source};
pub use farm::names::pool_objects;
pub use farm::releases;
pub use farm::{Arch, Farm, Origin, load, parse, schema};
pub use init::farm_toml;
pub use profile::Mode;
pub use rule::Rule;

// Each verb's product, as text or objects, without a process.
pub use commands::{certs_text, client_text, render_farm, render_str};
pub use lint::certs::audit as audit_certs;
pub use lint::format::{Format, render as format_findings};
pub use lint::{lint, lint_on};
pub use render::{Kind, Options as RenderOptions, buildkitd_toml, stream};

// Certificates.
pub use certs::inspect::read as read_cert;
pub use certs::{
    daemon_sans, ensure as ensure_certs, finish_rotation, renew as renew_certs, rotate_ca,
};

// The daemon side: rendezvous order, and BuildKit's Control messages (the fake daemon speaks them).
pub use client::endpoint::preference;
pub use status::wire;
