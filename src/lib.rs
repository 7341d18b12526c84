//! buildfarm: one farm.toml → a BuildKit build farm on Kubernetes.
//!
//! Data flows one way: `cli` → `farm` (+ `profile`, `farm::releases`) → `certs` →
//! `render`/`client`; `lint` only reads. `commands` runs them, one function per subcommand.

pub mod certs;
pub mod cli;
pub mod client;
pub mod closed;
pub mod commands;
pub mod diagnostic;
pub mod farm;
pub mod files;
pub mod init;
pub mod lint;
pub mod profile;
pub mod reach;
pub mod render;
pub mod report;
pub mod rule;
pub mod status;
pub mod suggest;
pub mod yaml;
