//! Each template's context as a typed struct (`#[derive(Serialize)]`), built from the `Farm`:
//! the bigger objects in a room of their own, the ones that are mostly identity in `basic`.

pub mod autoscale;
pub mod basic;
pub mod cert_manager;
pub mod expose;
pub mod network;
pub mod sidecar;
pub mod statefulset;
