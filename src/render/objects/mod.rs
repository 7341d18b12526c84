//! One context builder per kind of object that needs more than a few lines to build.

pub mod cert_manager;
pub mod network;
pub mod statefulset;
