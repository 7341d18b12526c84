//! The farm spec: `farm.toml` → `RawFarm` (raw.rs) → checks (validate/) → `Farm`.
//! `Farm` is complete (defaults applied) and consistent; everything downstream trusts it.
//! Object, DNS and endpoint names are built in `names.rs` and nowhere else.
//!
//! This file only declares the rooms and opens the door: reading (`read.rs`), parsing
//! (`parse.rs`), the model (`model.rs`), findings placed at their key (`findings.rs`).

pub mod defaults;
mod findings;
mod model;
pub mod names;
mod parse;
pub mod raw;
mod read;
pub mod releases;
mod schema;
pub mod size;
pub mod spans;
pub mod syntax;
mod validate;
pub mod version;

pub use model::*;
pub use parse::parse;
pub use read::{MAX_SPEC_BYTES, Origin, load, read};
pub use schema::schema;
