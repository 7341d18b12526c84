//! The JSON Schema of farm.toml (`buildfarm schema`).

use super::raw;

/// The JSON Schema of farm.toml, derived from `RawFarm` (its `///` docs are the descriptions).
pub fn schema() -> String {
    let mut schema = schemars::schema_for!(raw::RawFarm);
    schema.insert("title".into(), "buildfarm farm.toml".into());
    serde_json::to_string_pretty(&schema).expect("a schema serializes") + "\n"
}
