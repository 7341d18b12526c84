//! The one integration test binary.

mod certs;
mod cli;
mod common;
mod errors;
mod lint;
mod render;
mod tls;
