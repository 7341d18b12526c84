//! The one integration test binary.

mod certs;
mod cli;
mod client;
mod common;
mod crash;
mod errors;
mod fuzz;
mod house;
mod lint;
mod render;
mod schema;
mod status;
mod tls;
