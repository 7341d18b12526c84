//! The certificate folder on disk: its layout, its lock, and loading each piece with every
//! check a platform team would want before trusting it. A failed check is an error naming the
//! file, never a silent regeneration (a new CA would lock every client out).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::inspect::{self, CertInfo};
use super::issue::Ca;
use crate::diagnostic::{Diagnostic, Invalid, Said};
use crate::files::{self, KEY_MODE};
use crate::rule::Rule;

/// File names inside the cert folder.
pub(crate) struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub(crate) fn new(root: &Path) -> Self {
        Layout {
            root: root.to_path_buf(),
        }
    }
    pub(crate) fn ca_crt(&self) -> PathBuf {
        self.root.join("ca.crt")
    }
    pub(crate) fn ca_key(&self) -> PathBuf {
        self.root.join("ca.key")
    }
    /// The CA being retired while `certs rotate-ca` is in progress.
    pub(crate) fn previous_crt(&self) -> PathBuf {
        self.root.join("ca-previous.crt")
    }
    pub(crate) fn previous_key(&self) -> PathBuf {
        self.root.join("ca-previous.key")
    }
    pub(crate) fn daemon(&self) -> PathBuf {
        self.root.join("daemon")
    }
    pub(crate) fn client(&self, name: &str) -> PathBuf {
        self.root.join("client").join(name)
    }
    /// With trust domains: the CA that signs client `name`'s certificate (`ca.crt`, `ca.key`),
    /// trusted only by the daemons of the pools the client may use.
    pub(crate) fn client_ca(&self, name: &str) -> PathBuf {
        self.root.join("client-ca").join(name)
    }

    /// The folders buildfarm creates inside the root (removed by recovery when left empty).
    fn owned_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.daemon()];
        for parent in [self.root.join("client"), self.root.join("client-ca")] {
            if let Ok(entries) = std::fs::read_dir(&parent) {
                dirs.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
            }
            dirs.push(parent);
        }
        dirs
    }

    /// Whether any leaf certificate exists (then a CA key without its certificate may have
    /// signed it, and must not be replaced).
    pub(crate) fn any_leaf(&self) -> bool {
        self.owned_dirs().iter().any(|d| d.join("tls.crt").exists())
    }

    /// Brings the folder back to a whole state after a run was killed (see `files::recover`),
    /// and sets aside a CA key an interrupted first run left without its certificate, when no
    /// certificate exists that it could have signed.
    fn recover(&self, said: &mut Vec<Said>) -> anyhow::Result<()> {
        if files::recover(&self.root, &self.owned_dirs())? {
            said.push(Said::Note(format!(
                "finished what an interrupted run left in `{}`",
                self.root.display()
            )));
        }
        let lone_key = self.ca_key().exists() && !self.ca_crt().exists();
        if lone_key && !self.previous_crt().exists() && !self.any_leaf() {
            let aside = self.root.join("ca.key.orphaned");
            std::fs::rename(self.ca_key(), &aside)
                .with_context(|| format!("failed to move `{}` aside", self.ca_key().display()))?;
            said.push(Said::Note(format!(
                "`{}` had no certificate and signed nothing here (an interrupted first run): moved it to `{}`",
                self.ca_key().display(),
                aside.display()
            )));
        }
        Ok(())
    }

    /// Creates the folder, takes its lock (so two runs never interleave their writes) and
    /// recovers from a run that was killed.
    pub(crate) fn lock(&self, said: &mut Vec<Said>) -> anyhow::Result<File> {
        files::create_dir(&self.root)?;
        let path = self.root.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(KEY_MODE)
            .open(&path)
            .with_context(|| format!("failed to open `{}`", path.display()))?;
        file.lock()
            .with_context(|| format!("failed to lock `{}`", path.display()))?;
        self.recover(said)?;
        Ok(file)
    }
}

/// What a leaf certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Server,
    Client,
}

/// The farm's CAs: the one that signs, and during a rotation the one being retired.
pub(crate) struct Authorities {
    pub active: Ca,
    pub previous: Option<Ca>,
    /// The CA as a person names it: "the farm's CA (`ca.crt`)".
    pub who: String,
}

impl Authorities {
    /// What every party trusts: the active CA, plus the retiring one during a rotation.
    pub(crate) fn bundle(&self) -> String {
        let mut out = self.active.cert_pem.clone();
        if let Some(p) = &self.previous {
            out.push_str(&p.cert_pem);
        }
        out
    }

    /// During a rotation the daemon keeps a certificate of the retiring CA, so clients that
    /// only know that CA still connect; `rotate-ca --finish` moves it to the new one.
    pub(crate) fn daemon_issuer(&self) -> &Ca {
        self.previous.as_ref().unwrap_or(&self.active)
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &Ca> {
        std::iter::once(&self.active).chain(self.previous.as_ref())
    }
}

fn invalid(rule: Rule, message: String, hint: &str) -> anyhow::Error {
    Invalid::from(Diagnostic::bare(message).hint(hint).rule(rule)).into()
}

pub(crate) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub(crate) fn date(unix: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// A certificate and its key as text: both, or `None` when neither exists. One without the
/// other is refused (`hint` says what to do), never half-used or replaced.
fn read_pair(crt: &Path, key: &Path, hint: &str) -> anyhow::Result<Option<(String, String)>> {
    let (present, missing, what) = match (files::read_optional(crt)?, files::read_optional(key)?) {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => return Ok(Some((c, k))),
        (Some(_), None) => (crt, key, "key"),
        (None, Some(_)) => (key, crt, "certificate"),
    };
    let message = format!(
        "`{}` has no {what} beside it (`{}`)",
        present.display(),
        missing.display()
    );
    Err(invalid(Rule::CertMissingFile, message, hint))
}

/// Loads a CA pair, or `None` when neither file exists.
pub(crate) fn load_ca(crt: &Path, key: &Path) -> anyhow::Result<Option<Ca>> {
    let missing = "restore it from a backup; buildfarm never replaces a CA on its own";
    let Some((crt_text, key_text)) = read_pair(crt, key, missing)? else {
        return Ok(None);
    };
    let hint = "restore the CA from a backup, or move the folder away to start a new PKI (every client needs new files)";
    let info = inspect::read(&crt_text).map_err(|why| {
        invalid(
            Rule::CertInvalid,
            format!("`{}` cannot be used: {why}", crt.display()),
            hint,
        )
    })?;
    if !info.is_ca {
        return Err(invalid(
            Rule::CertNotCa,
            format!(
                "`{}` is not a CA certificate (no basicConstraints CA:TRUE)",
                crt.display()
            ),
            hint,
        ));
    }
    let ca_key = matching_key(&info.der, &key_text, crt, key, hint)?;
    if info.not_after < now() {
        let message = format!(
            "the CA `{}` expired on {}",
            crt.display(),
            date(info.not_after)
        );
        return Err(invalid(
            Rule::CertExpired,
            message,
            "run `buildfarm certs rotate-ca`; clients need the new ca.crt",
        ));
    }
    let ca = Ca::load(&crt_text, &key_text, ca_key).map_err(|why| {
        invalid(
            Rule::CertInvalid,
            format!("`{}`: {why}", crt.display()),
            hint,
        )
    })?;
    Ok(Some(ca))
}

pub(crate) fn load_authorities(layout: &Layout) -> anyhow::Result<Option<Authorities>> {
    let Some(active) = load_ca(&layout.ca_crt(), &layout.ca_key())? else {
        if layout.previous_crt().exists() {
            let message = format!(
                "`{}` exists but `{}` does not",
                layout.previous_crt().display(),
                layout.ca_crt().display()
            );
            return Err(invalid(
                Rule::CertMissingFile,
                message,
                "restore ca.crt and ca.key; a CA rotation was interrupted",
            ));
        }
        return Ok(None);
    };
    let previous = load_ca(&layout.previous_crt(), &layout.previous_key())?;
    Ok(Some(Authorities {
        active,
        previous,
        who: FARM_CA.into(),
    }))
}

pub(crate) const FARM_CA: &str = "the farm's CA (`ca.crt`)";

/// Client `name`'s own CA (trust domains), or `None` when neither file exists.
pub(crate) fn load_client_ca(layout: &Layout, name: &str) -> anyhow::Result<Option<Authorities>> {
    let dir = layout.client_ca(name);
    let ca = load_ca(&dir.join("ca.crt"), &dir.join("ca.key"))?;
    Ok(ca.map(|active| Authorities {
        active,
        previous: None,
        who: client_ca_name(name),
    }))
}

pub(crate) fn client_ca_name(name: &str) -> String {
    format!("client `{name}`'s CA (`client-ca/{name}/ca.crt`)")
}

/// The certificate in `dir` (DER), when there is one that parses.
pub(crate) fn leaf_der(dir: &Path) -> Option<Vec<u8>> {
    let crt = std::fs::read_to_string(dir.join("tls.crt")).ok()?;
    Some(inspect::read(&crt).ok()?.der)
}

/// Whether `der` was signed by one of `cas`.
pub(crate) fn signed_by_one(der: &[u8], cas: &Authorities) -> bool {
    cas.all().any(|ca| {
        inspect::pem_certs(&ca.cert_pem).is_ok_and(|ders| inspect::signed_by(der, &ders[0]))
    })
}

/// The private key in `key_text` (from `key`), parsed, when it belongs to the certificate `cert`
/// (DER, from `crt`).
fn matching_key(
    cert: &[u8],
    key_text: &str,
    crt: &Path,
    key: &Path,
    hint: &str,
) -> anyhow::Result<rcgen::KeyPair> {
    let parsed = inspect::private_key(key_text).and_then(|k| Ok((inspect::belongs(cert, &k)?, k)));
    match parsed {
        Ok((true, k)) => Ok(k),
        Ok((false, _)) => Err(invalid(
            Rule::CertKeyMismatch,
            format!("`{}` does not belong to `{}`", key.display(), crt.display()),
            hint,
        )),
        Err(why) => Err(invalid(
            Rule::CertInvalid,
            format!("`{}` cannot be used: {why}", key.display()),
            hint,
        )),
    }
}

/// A leaf certificate and its key, as found on disk.
pub struct Leaf {
    pub crt: String,
    pub key: String,
    pub info: CertInfo,
}

/// Loads `dir/tls.crt` + `dir/tls.key`, or `None` when neither exists. Checks that they parse,
/// belong together, chain to one of the farm's CAs and serve `purpose`; and, unless
/// `allow_expired` (for renewal), that the certificate is still valid.
pub(crate) fn load_leaf(
    dir: &Path,
    cas: &Authorities,
    purpose: Purpose,
    allow_expired: bool,
) -> anyhow::Result<Option<Leaf>> {
    let (crt_path, key_path) = (dir.join("tls.crt"), dir.join("tls.key"));
    let missing = "remove the folder to have a new pair issued";
    let Some((crt, key)) = read_pair(&crt_path, &key_path, missing)? else {
        return Ok(None);
    };
    let hint = "remove the folder to have a new pair issued";
    let info = inspect::read(&crt).map_err(|why| {
        invalid(
            Rule::CertInvalid,
            format!("`{}` cannot be used: {why}", crt_path.display()),
            hint,
        )
    })?;
    matching_key(&info.der, &key, &crt_path, &key_path, hint)?;
    if !signed_by_one(&info.der, cas) {
        let message = format!("`{}` was not issued by {}", crt_path.display(), cas.who);
        return Err(invalid(Rule::CertUntrusted, message, hint));
    }
    let (usable, usage) = match purpose {
        Purpose::Server => (info.server_auth, "serverAuth"),
        Purpose::Client => (info.client_auth, "clientAuth"),
    };
    if !usable {
        let message = format!("`{}` is not valid for {usage}", crt_path.display());
        return Err(invalid(Rule::CertWrongUsage, message, hint));
    }
    if !allow_expired && info.not_after < now() {
        let message = format!(
            "`{}` expired on {}",
            crt_path.display(),
            date(info.not_after)
        );
        return Err(invalid(
            Rule::CertExpired,
            message,
            "run `buildfarm certs renew`",
        ));
    }
    Ok(Some(Leaf { crt, key, info }))
}
