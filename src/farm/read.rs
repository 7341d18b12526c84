//! Reading a spec: from a file (bounded, regular files only, UTF-8) or the built-in farm.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::defaults;
use super::model::Farm;
use super::parse::parse;
use crate::diagnostic::{Invalid, Source};
use crate::rule::Rule;

/// Where a spec comes from.
pub enum Origin<'a> {
    /// A farm.toml the user named or that exists in the current folder.
    File(&'a Path),
    /// No farm.toml: the embedded default farm.
    BuiltIn,
}

/// The largest spec read: a farm of a thousand pools is under 300 KiB.
pub(crate) const MAX_SPEC_BYTES: u64 = 4 << 20;

/// Reads a spec: its text, and the folder its relative paths (`tls.dir`) start from. Only a
/// regular file of at most `MAX_SPEC_BYTES` is read (a FIFO would block, `/dev/zero` never
/// ends); text that is not UTF-8 is invalid input, located at its first bad byte.
pub(crate) fn read(origin: Origin<'_>) -> anyhow::Result<(Source, PathBuf)> {
    Ok(match origin {
        Origin::File(path) => {
            let name = path.display().to_string();
            let meta =
                std::fs::metadata(path).with_context(|| format!("failed to read `{name}`"))?;
            if !meta.is_file() {
                anyhow::bail!(
                    "`{name}` is not a regular file: --spec takes a farm.toml, not a device, FIFO or folder"
                );
            }
            let mut bytes = Vec::new();
            let file =
                std::fs::File::open(path).with_context(|| format!("failed to read `{name}`"))?;
            std::io::Read::read_to_end(
                &mut std::io::Read::take(file, MAX_SPEC_BYTES + 1),
                &mut bytes,
            )
            .with_context(|| format!("failed to read `{name}`"))?;
            if bytes.len() as u64 > MAX_SPEC_BYTES {
                // The file as a whole: its name, no excerpt.
                let d = Source::new(name.as_str(), String::new())
                    .error(
                        None,
                        format!(
                            "`{name}` is larger than {} MiB, the most a farm.toml may be",
                            MAX_SPEC_BYTES >> 20
                        ),
                    )
                    .rule(Rule::SpecTooLarge)
                    .hint("a farm of a thousand pools is under 300 KiB: is this the right file?");
                return Err(Invalid::from(d).into());
            }
            let text = match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    let at = e.utf8_error().valid_up_to();
                    // Locate the bad byte in the valid text before it; show the line up to there.
                    let valid = String::from_utf8_lossy(&e.as_bytes()[..at]).into_owned();
                    let source = Source::new(name, valid);
                    let d = source
                        .error(
                            Some(at..at),
                            format!("the spec is not UTF-8: byte {at} is not valid UTF-8"),
                        )
                        .rule(Rule::InvalidUtf8)
                        .hint("save farm.toml as UTF-8");
                    return Err(Invalid::from(d).into());
                }
            };
            let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            (Source::new(name, text), base)
        }
        Origin::BuiltIn => (
            Source::new("<built-in farm>", defaults::BUILT_IN_FARM),
            PathBuf::new(),
        ),
    })
}

/// Reads and checks a spec. `certs_dir` (from `--certs`) overrides `tls.dir`.
pub fn load(origin: Origin<'_>, certs_dir: Option<&Path>) -> anyhow::Result<Farm> {
    let (source, base) = read(origin)?;
    Ok(parse(&source, &base, certs_dir)?)
}
