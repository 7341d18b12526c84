//! `render --check DIR`: does a folder written by `render --out` still match the spec? The
//! GitOps CI guard. Secrets compare by the certificates they hold (and whether the key belongs
//! to them), not by the bytes of keys.

use std::fs;
use std::path::Path;

use anyhow::Context;
use base64::Engine as _;

use super::out::files_for;
use super::stream::Object;
use crate::certs::inspect;

/// One file that differs: its name and a unified diff (or a sentence, for Secrets).
pub(crate) struct Drift {
    pub file: String,
    pub diff: String,
}

pub(crate) fn compare(dir: &Path, objects: &[Object]) -> anyhow::Result<Vec<Drift>> {
    let expected = files_for(objects);
    let mut drifts = Vec::new();
    for (name, want, _) in &expected {
        let path = dir.join(name);
        let have = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                drifts.push(Drift {
                    file: name.clone(),
                    diff: unified(name, "", want),
                });
                continue;
            }
            Err(e) => {
                return Err(e).with_context(|| format!("failed to read `{}`", path.display()));
            }
        };
        if have == *want {
            continue;
        }
        let diff = match (secret_identity(&have), secret_identity(want)) {
            (Some(a), Some(b)) if a == b => continue,
            (Some(_), Some(_)) => {
                format!("{name}: the Secret holds other certificates than the certificate folder\n")
            }
            _ => unified(name, &have, want),
        };
        drifts.push(Drift {
            file: name.clone(),
            diff,
        });
    }
    let entries =
        fs::read_dir(dir).with_context(|| format!("failed to read `{}`", dir.display()))?;
    let mut extra: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !expected.iter().any(|(name, _, _)| name == n))
        .collect();
    extra.sort();
    for name in extra {
        let have = fs::read_to_string(dir.join(&name)).unwrap_or_default();
        drifts.push(Drift {
            diff: unified(&name, &have, ""),
            file: name,
        });
    }
    Ok(drifts)
}

fn unified(name: &str, have: &str, want: &str) -> String {
    similar::TextDiff::from_lines(have, want)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

/// A Secret with its certificate data replaced by fingerprints: (everything but `data`,
/// fingerprints of ca.crt and tls.crt, whether tls.key belongs to tls.crt).
fn secret_identity(yaml: &str) -> Option<(String, Vec<String>, bool)> {
    let mut doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).ok()?;
    if doc.get("kind")?.as_str()? != "Secret" {
        return None;
    }
    let data = doc.as_mapping_mut()?.remove("data")?;
    let field = |key: &str| {
        let b64 = data.get(key)?.as_str()?;
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).ok()?).ok()
    };
    let fingerprints = |pem: &str| -> Option<Vec<String>> {
        inspect::pem_certs(pem)
            .ok()?
            .into_iter()
            .map(|der| inspect::info(der).ok().map(|i| i.fingerprint))
            .collect()
    };
    let mut prints = fingerprints(&field("ca.crt")?)?;
    let crt = field("tls.crt")?;
    prints.extend(fingerprints(&crt)?);
    let der = inspect::pem_certs(&crt).ok()?.swap_remove(0);
    let key_fits = inspect::key_matches(&der, &field("tls.key")?).unwrap_or(false);
    Some((serde_yaml_ng::to_string(&doc).ok()?, prints, key_fits))
}
