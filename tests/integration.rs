//! The one integration test binary.

mod cli;
mod common;
mod errors;
mod render;
mod tls;
