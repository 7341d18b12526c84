//! BuildKit's Control API on the wire: the messages `status` sends and reads, written by hand
//! with only the fields it uses (prost skips the others), so no `protoc` is needed to build.
//!
//! Field numbers are BuildKit's own, from
//! - https://github.com/moby/buildkit/blob/master/api/services/control/control.proto
//!   (package `moby.buildkit.v1`: service `Control`, `InfoResponse`, `ListWorkersResponse`,
//!   `DiskUsageResponse`, `UsageRecord`, `BuildHistoryRequest`, `BuildHistoryEvent`,
//!   `BuildHistoryRecord`);
//! - https://github.com/moby/buildkit/blob/master/api/types/worker.proto (`WorkerRecord`,
//!   `GCPolicy` with `reservedSpace` = 3, `maxUsedSpace` = 5, `minFreeSpace` = 6 from v0.17;
//!   field 3 was `keepBytes` before, the same cap);
//! - https://github.com/moby/buildkit/blob/master/solver/pb/ops.proto (`Platform`);
//! - google/protobuf/timestamp.proto and google/rpc/status.proto.
//!
//! The fake daemon of the tests encodes its replies with these same types: what it checks is
//! that buildfarm reads BuildKit's numbers, so the numbers here are the facts to get right.

/// `rpc Info(InfoRequest) returns (InfoResponse)`, and the others, by gRPC path.
pub const INFO: &str = "/moby.buildkit.v1.Control/Info";
pub const LIST_WORKERS: &str = "/moby.buildkit.v1.Control/ListWorkers";
pub const DISK_USAGE: &str = "/moby.buildkit.v1.Control/DiskUsage";
/// `rpc ListenBuildHistory(BuildHistoryRequest) returns (stream BuildHistoryEvent)`.
pub const LISTEN_BUILD_HISTORY: &str = "/moby.buildkit.v1.Control/ListenBuildHistory";

#[derive(Clone, PartialEq, prost::Message)]
pub struct InfoRequest {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct InfoResponse {
    #[prost(message, optional, tag = "1")]
    pub buildkit_version: Option<BuildkitVersion>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BuildkitVersion {
    #[prost(string, tag = "1")]
    pub package: String,
    #[prost(string, tag = "2")]
    pub version: String,
    #[prost(string, tag = "3")]
    pub revision: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListWorkersRequest {
    #[prost(string, repeated, tag = "1")]
    pub filter: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListWorkersResponse {
    #[prost(message, repeated, tag = "1")]
    pub record: Vec<WorkerRecord>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkerRecord {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(map = "string, string", tag = "2")]
    pub labels: std::collections::HashMap<String, String>,
    #[prost(message, repeated, tag = "3")]
    pub platforms: Vec<Platform>,
    #[prost(message, repeated, tag = "4")]
    pub gc_policy: Vec<GcPolicy>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Platform {
    #[prost(string, tag = "1")]
    pub architecture: String,
    #[prost(string, tag = "2")]
    pub os: String,
    #[prost(string, tag = "3")]
    pub variant: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GcPolicy {
    #[prost(bool, tag = "1")]
    pub all: bool,
    /// Nanoseconds (Go's `time.Duration`, as BuildKit's control.go sends it).
    #[prost(int64, tag = "2")]
    pub keep_duration: i64,
    /// `reservedSpace` (v0.17+), `keepBytes` before.
    #[prost(int64, tag = "3")]
    pub reserved_space: i64,
    #[prost(string, repeated, tag = "4")]
    pub filters: Vec<String>,
    #[prost(int64, tag = "5")]
    pub max_used_space: i64,
    #[prost(int64, tag = "6")]
    pub min_free_space: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DiskUsageRequest {
    #[prost(string, repeated, tag = "1")]
    pub filter: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DiskUsageResponse {
    #[prost(message, repeated, tag = "1")]
    pub record: Vec<UsageRecord>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct UsageRecord {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(bool, tag = "2")]
    pub mutable: bool,
    #[prost(bool, tag = "3")]
    pub in_use: bool,
    #[prost(int64, tag = "4")]
    pub size: i64,
    #[prost(bool, tag = "11")]
    pub shared: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BuildHistoryRequest {
    #[prost(bool, tag = "1")]
    pub active_only: bool,
    #[prost(string, tag = "2")]
    pub r#ref: String,
    /// Send the recorded builds, then end the stream instead of waiting for new ones.
    #[prost(bool, tag = "3")]
    pub early_exit: bool,
}

/// `BuildHistoryEventType`: STARTED = 0, COMPLETE = 1, DELETED = 2.
pub const EVENT_COMPLETE: i32 = 1;

#[derive(Clone, PartialEq, prost::Message)]
pub struct BuildHistoryEvent {
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(message, optional, tag = "2")]
    pub record: Option<BuildHistoryRecord>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BuildHistoryRecord {
    #[prost(string, tag = "1")]
    pub r#ref: String,
    #[prost(message, optional, tag = "5")]
    pub error: Option<RpcStatus>,
    #[prost(message, optional, tag = "6")]
    pub created_at: Option<Timestamp>,
    #[prost(message, optional, tag = "7")]
    pub completed_at: Option<Timestamp>,
    #[prost(int32, tag = "15")]
    pub num_cached_steps: i32,
    #[prost(int32, tag = "16")]
    pub num_total_steps: i32,
    #[prost(int32, tag = "17")]
    pub num_completed_steps: i32,
}

/// google.protobuf.Timestamp.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// google.rpc.Status.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// The bytes BuildKit would send, built field by field from the .proto numbers (tag =
    /// number << 3 | wire type), decode into the fields we read.
    #[test]
    fn field_numbers_match_the_protos() {
        // BuildHistoryRecord: Ref (1, "r"), numCachedSteps (15) = 3, numTotalSteps (16) = 7,
        // CompletedAt (7) { seconds (1) = 100 }.
        let bytes = [
            0x0a, 1, b'r', // 1: string
            0x78, 3, // 15: varint
            0x80, 0x01, 7, // 16: varint (tag 128 as a varint)
            0x3a, 2, 0x08, 100, // 7: message { 1: 100 }
        ];
        let r = BuildHistoryRecord::decode(&bytes[..]).unwrap();
        assert_eq!(r.r#ref, "r");
        assert_eq!((r.num_cached_steps, r.num_total_steps), (3, 7));
        assert_eq!(r.completed_at.unwrap().seconds, 100);
        // GCPolicy: maxUsedSpace (5) = 9, minFreeSpace (6) = 2, all (1) = true.
        let p = GcPolicy::decode(&[0x28, 9, 0x30, 2, 0x08, 1][..]).unwrap();
        assert_eq!((p.max_used_space, p.min_free_space, p.all), (9, 2, true));
        // BuildHistoryRequest: EarlyExit is field 3.
        let req = BuildHistoryRequest {
            early_exit: true,
            ..Default::default()
        };
        assert_eq!(req.encode_to_vec(), [0x18, 1]);
        // UsageRecord: Size (4), Shared (11).
        let u = UsageRecord::decode(&[0x20, 5, 0x58, 1][..]).unwrap();
        assert_eq!((u.size, u.shared), (5, true));
    }
}
