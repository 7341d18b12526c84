//! The farm's PKI: a CA, one daemon certificate (serverAuth) and one client certificate per
//! `[[tls.client]]` (clientAuth), ECDSA P-256, issued with rcgen into `tls.dir`:
//!
//! ```text
//! ca.crt ca.key   daemon/{ca.crt,tls.crt,tls.key}   client/<name>/{ca.crt,tls.crt,tls.key}
//! ```
//!
//! Existing material is reused so rendering is idempotent. buildkitd trusts every client
//! certificate its CA signed, so the CA is the trust boundary and is never replaced implicitly.

pub mod files;
mod issue;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::error::{Diagnostic, Invalid};
use crate::spec::{Farm, TlsMode};
use files::{CERT_MODE, KEY_MODE};

/// What the daemons mount: the CA and the daemon's certificate and key, in PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    pub ca_crt: String,
    pub tls_crt: String,
    pub tls_key: String,
}

/// File names inside the cert folder.
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Self {
        Layout {
            root: root.to_path_buf(),
        }
    }
    pub fn ca_crt(&self) -> PathBuf {
        self.root.join("ca.crt")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.root.join("ca.key")
    }
    pub fn daemon(&self) -> PathBuf {
        self.root.join("daemon")
    }
    pub fn client(&self, name: &str) -> PathBuf {
        self.root.join("client").join(name)
    }
}

/// Every name the daemon certificate must cover: each pool's Service in all its DNS forms, its
/// pods under the headless Service, loopback (for `kubectl port-forward`) and `extra_sans`.
pub fn daemon_sans(farm: &Farm) -> Vec<String> {
    let ns = &farm.namespace;
    let domain = &farm.cluster_domain;
    let mut sans = Vec::new();
    for pool in &farm.pools {
        let svc = farm.pool_object(pool);
        sans.push(svc.clone());
        sans.push(format!("{svc}.{ns}"));
        sans.push(format!("{svc}.{ns}.svc"));
        sans.push(format!("{svc}.{ns}.svc.{domain}"));
        let headless = farm.headless_service(pool);
        sans.push(format!("*.{headless}.{ns}.svc"));
        sans.push(format!("*.{headless}.{ns}.svc.{domain}"));
    }
    sans.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
    for extra in &farm.tls.extra_sans {
        if !sans.contains(extra) {
            sans.push(extra.clone());
        }
    }
    sans
}

/// Loads the farm's certificates, issuing whatever is missing. `None` in external TLS mode.
pub fn ensure(farm: &Farm) -> anyhow::Result<Option<Material>> {
    if farm.tls.mode == TlsMode::External {
        return Ok(None);
    }
    let layout = Layout::new(&farm.tls.dir);
    let ca = load_or_create_ca(farm, &layout)?;
    let daemon_dir = layout.daemon();
    let daemon = match read_pair(&daemon_dir)? {
        Some((tls_crt, tls_key)) => Material {
            ca_crt: ca.cert_pem.clone(),
            tls_crt,
            tls_key,
        },
        None => {
            let (tls_crt, tls_key) = issue::daemon(&ca, &daemon_sans(farm), farm.tls.server_days)?;
            write_leaf(&daemon_dir, &ca.cert_pem, &tls_crt, &tls_key)?;
            Material {
                ca_crt: ca.cert_pem.clone(),
                tls_crt,
                tls_key,
            }
        }
    };
    for client in &farm.tls.clients {
        let dir = layout.client(&client.name);
        if read_pair(&dir)?.is_none() {
            let (crt, key) = issue::client(&ca, &client.name, farm.tls.client_days)?;
            write_leaf(&dir, &ca.cert_pem, &crt, &key)?;
        }
    }
    Ok(Some(daemon))
}

fn load_or_create_ca(farm: &Farm, layout: &Layout) -> anyhow::Result<issue::Ca> {
    let crt = files::read_optional(&layout.ca_crt())?;
    let key = files::read_optional(&layout.ca_key())?;
    match (crt, key) {
        (Some(crt), Some(key)) => issue::Ca::load(&crt, &key).map_err(|e| {
            anyhow::Error::new(Invalid::from(Diagnostic::bare(format!(
                "cannot use the CA in `{}`: {e}",
                layout.root.display()
            ))
            .hint("restore ca.crt and ca.key from a backup; buildfarm never replaces a CA on its own")))
        }),
        (None, None) => {
            if layout.daemon().join("tls.crt").exists() {
                let message = format!(
                    "`{}` holds a daemon certificate but no CA",
                    layout.root.display()
                );
                let hint = "restore ca.crt and ca.key, or move the folder away to start a new PKI";
                return Err(Invalid::from(Diagnostic::bare(message).hint(hint)).into());
            }
            files::create_dir(&layout.root)?;
            let ca = issue::Ca::create(&farm.name, farm.tls.ca_days)?;
            files::write_atomic(&layout.ca_key(), ca.key_pem.as_bytes(), KEY_MODE)?;
            files::write_atomic(&layout.ca_crt(), ca.cert_pem.as_bytes(), CERT_MODE)?;
            eprintln!("note: created a new CA in `{}`", layout.root.display());
            Ok(ca)
        }
        (crt, _) => {
            let (present, missing) = match crt {
                Some(_) => ("ca.crt", "ca.key"),
                None => ("ca.key", "ca.crt"),
            };
            let message = format!(
                "`{}` has {present} but not {missing}",
                layout.root.display()
            );
            let hint = format!("restore {missing}; buildfarm never replaces a CA on its own");
            Err(Invalid::from(Diagnostic::bare(message).hint(hint)).into())
        }
    }
}

/// The `tls.crt`/`tls.key` pair in `dir`, if both are there.
fn read_pair(dir: &Path) -> anyhow::Result<Option<(String, String)>> {
    let crt = files::read_optional(&dir.join("tls.crt"))?;
    let key = files::read_optional(&dir.join("tls.key"))?;
    Ok(crt.zip(key))
}

fn write_leaf(dir: &Path, ca: &str, crt: &str, key: &str) -> anyhow::Result<()> {
    files::create_dir(dir)?;
    files::write_atomic(&dir.join("tls.key"), key.as_bytes(), KEY_MODE)?;
    files::write_atomic(&dir.join("tls.crt"), crt.as_bytes(), CERT_MODE)?;
    files::write_atomic(&dir.join("ca.crt"), ca.as_bytes(), CERT_MODE)
        .with_context(|| format!("failed to finish `{}`", dir.display()))
}
