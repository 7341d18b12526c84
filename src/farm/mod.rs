//! The farm spec: `farm.toml` → `RawFarm` (raw.rs) → checks (validate/) → `Farm`.
//! `Farm` is complete (defaults applied) and consistent; everything downstream trusts it.
//! Object, DNS and endpoint names are built in `names.rs` and nowhere else.
//!
//! This file only declares the rooms and opens the door: reading (`read.rs`), parsing
//! (`parse.rs`), the model (`model.rs`), findings placed at their key (`findings.rs`).

pub(crate) mod defaults;
mod findings;
mod model;
pub(crate) mod names;
mod parse;
pub(crate) mod raw;
mod read;
pub mod releases;
mod schema;
pub(crate) mod size;
pub(crate) mod spans;
pub(crate) mod syntax;
mod validate;
pub(crate) mod version;

pub use model::*;
pub use parse::parse;
#[cfg(test)]
pub(crate) use parse::parse_str;
pub(crate) use read::read;
pub use read::{Origin, load};
pub use schema::schema;
