//! Each template's context as a typed struct (`#[derive(Serialize)]`), built from the `Farm`:
//! the bigger objects in a room of their own, the ones that are mostly identity in `basic`.

pub(super) mod autoscale;
pub(super) mod basic;
pub(super) mod cert_manager;
pub(super) mod expose;
pub(super) mod network;
pub(crate) mod sidecar;
pub(super) mod statefulset;
