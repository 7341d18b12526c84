//! The farm's PKI: a CA, one daemon certificate (serverAuth) and one client certificate per
//! `[[tls.client]]` (clientAuth), issued with rcgen into `tls.dir`:
//!
//! ```text
//! ca.crt ca.key   [ca-previous.crt ca-previous.key]   daemon/{ca.crt,tls.crt,tls.key}
//! client/<name>/{ca.crt,tls.crt,tls.key}
//! ```
//!
//! buildkitd trusts every client certificate its CA signed, so the CA is the trust boundary and
//! is only ever replaced by `certs rotate-ca`, which keeps the old one trusted (a two-CA
//! `ca.crt` bundle everywhere) until `--finish`. Every operation holds the folder's lock.

pub(crate) mod inspect;
mod issue;
pub(crate) mod store;

use std::path::Path;

use anyhow::bail;

use crate::diagnostic::{Diagnostic, Invalid, Said};
use crate::farm::{Client, Farm, TlsMode, names};
use crate::files::{self, Batch, CERT_MODE, KEY_MODE};
use crate::rule::Rule;
use inspect::CertInfo;
use store::Authorities;
pub(crate) use store::Purpose;
pub(crate) use store::{Layout, date, now};

/// The farm's leaf certificates, daemon first, then each client: where each lives, what it is
/// for, and how to name it to a person.
pub(crate) fn leaves<'a>(
    farm: &'a Farm,
    layout: &Layout,
) -> Vec<(std::path::PathBuf, Purpose, Option<&'a Client>)> {
    std::iter::once((layout.daemon(), Purpose::Server, None))
        .chain(
            farm.tls
                .clients
                .iter()
                .map(|c| (layout.client(&c.name), Purpose::Client, Some(c))),
        )
        .collect()
}

/// A certificate and its key, in PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub crt: String,
    pub key: String,
}

/// What the objects carry: the trusted CA bundle, the daemon pair and each client's pair; with
/// trust domains, each client's own CA (a pool's daemons trust those of its clients).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    pub ca_bundle: String,
    pub daemon: Pair,
    pub clients: Vec<(String, Pair)>,
    pub client_cas: Vec<(String, String)>,
}

/// Who signs each leaf: the farm's CA the daemon's (and, without trust domains, every
/// client's); with trust domains each client's own CA signs its certificate.
pub(crate) struct Issuers {
    pub farm: Authorities,
    pub own: Vec<(String, Authorities)>,
}

impl Issuers {
    /// The CA a leaf must chain to (`client` is `None` for the daemon).
    pub(crate) fn of(&self, client: Option<&Client>) -> &Authorities {
        client
            .and_then(|c| self.own.iter().find(|(n, _)| *n == c.name))
            .map_or(&self.farm, |(_, cas)| cas)
    }

    /// With trust domains, each client's CA certificate, by client name.
    fn client_cas(&self) -> Vec<(String, String)> {
        self.own
            .iter()
            .map(|(n, cas)| (n.clone(), cas.active.cert_pem.clone()))
            .collect()
    }
}

/// With trust domains, the farm's CA and each client's own: loaded, or created into `batch`
/// when missing (without a batch a missing one is left out, and the farm's CA stands in).
pub(crate) fn issuers(
    farm: &Farm,
    layout: &Layout,
    cas: Authorities,
    mut batch: Option<&mut Batch>,
) -> anyhow::Result<Issuers> {
    let mut own = Vec::new();
    if farm.tls.domains() {
        for c in &farm.tls.clients {
            let found = store::load_client_ca(layout, &c.name)?;
            let cas = match (found, batch.as_deref_mut()) {
                (Some(cas), _) => cas,
                (None, Some(batch)) => {
                    let ca = issue::Ca::create(
                        &format!("{}-{}", farm.name, c.name),
                        farm.tls.ca_days,
                        farm.tls.key,
                    )?;
                    let dir = layout.client_ca(&c.name);
                    batch.create_dir(&dir);
                    batch.put(&dir.join("ca.key"), ca.key_pem.as_bytes(), KEY_MODE);
                    batch.put(&dir.join("ca.crt"), ca.cert_pem.as_bytes(), CERT_MODE);
                    Authorities {
                        active: ca,
                        previous: None,
                        who: store::client_ca_name(&c.name),
                    }
                }
                (None, None) => continue,
            };
            own.push((c.name.clone(), cas));
        }
    }
    Ok(Issuers { farm: cas, own })
}

impl From<store::Leaf> for Pair {
    fn from(leaf: store::Leaf) -> Pair {
        Pair {
            crt: leaf.crt,
            key: leaf.key,
        }
    }
}

impl Material {
    /// From the leaves' pairs in `leaves()` order: the daemon's (`None`), then each client's.
    fn of(ca_bundle: String, pairs: Vec<(Option<&Client>, Pair)>, issuers: &Issuers) -> Material {
        let mut pairs = pairs.into_iter();
        let daemon = match pairs.next() {
            Some((None, pair)) => pair,
            _ => unreachable!("leaves() lists the daemon first"),
        };
        let clients = pairs
            .filter_map(|(client, pair)| Some((client?.name.clone(), pair)))
            .collect();
        Material {
            ca_bundle,
            daemon,
            clients,
            client_cas: issuers.client_cas(),
        }
    }
}

/// Every name the daemon certificate must cover: each pool's Service in all its DNS forms, its
/// pods under the headless Service, its external name (`[expose] domain`), loopback (for
/// `kubectl port-forward`) and `extra_sans`.
pub fn daemon_sans(farm: &Farm) -> Vec<String> {
    let ns = &farm.namespace;
    let domain = &farm.cluster_domain;
    let mut sans = Vec::new();
    for pool in &farm.pools {
        sans.extend(names::service_dns_names(
            &farm.pool_object(pool),
            ns,
            domain,
        ));
        sans.extend(names::pod_dns_wildcards(
            &farm.headless_service(pool),
            ns,
            domain,
        ));
        sans.extend(farm.external_host(pool));
        sans.extend((0..pool.ordinals()).filter_map(|i| farm.pod_external_host(pool, i)));
    }
    sans.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
    for extra in &farm.tls.extra_sans {
        if !sans.contains(extra) {
            sans.push(extra.clone());
        }
    }
    sans
}

/// SANs the daemon certificate lacks (compared case-insensitively, IPs canonically).
pub(crate) fn missing_sans(farm: &Farm, have: &[String]) -> Vec<String> {
    let norm = |s: &str| {
        s.parse::<std::net::IpAddr>()
            .map_or_else(|_| s.to_ascii_lowercase(), |ip| ip.to_string())
    };
    let have: std::collections::HashSet<String> = have.iter().map(|s| norm(s)).collect();
    daemon_sans(farm)
        .into_iter()
        .filter(|s| !have.contains(&norm(s)))
        .collect()
}

/// The certificate folder, when buildfarm manages the farm's certificates (generated mode).
pub(crate) fn managed(farm: &Farm) -> anyhow::Result<Layout> {
    if farm.tls.mode != TlsMode::Generated {
        let mode = if farm.tls.mode == TlsMode::CertManager {
            "cert-manager"
        } else {
            "external"
        };
        let message =
            format!("certificates are not buildfarm's to manage with `tls.mode = \"{mode}\"`");
        let hint = "the `certs` commands work on `tls.mode = \"generated\"` farms";
        return Err(Invalid::from(Diagnostic::bare(message).hint(hint)).into());
    }
    Ok(Layout::new(&farm.tls.dir))
}

/// Loads the farm's certificates, issuing what is missing and reissuing a daemon certificate
/// whose SANs no longer cover the spec. `None` unless `tls.mode = "generated"`.
///
/// Most runs only read: the folder's lock is taken (and the folder written) only when
/// something must be issued, so a complete folder may be read-only.
pub fn ensure(farm: &Farm, said: &mut Vec<Said>) -> anyhow::Result<Option<Material>> {
    if farm.tls.mode != TlsMode::Generated {
        return Ok(None);
    }
    let layout = Layout::new(&farm.tls.dir);
    let unlocked = match files::has_journal(&layout.root) {
        true => None, // a killed run to finish first, under the lock
        false => Some(plan(farm, &layout)),
    };
    if let Some(Ok(plan)) = &unlocked
        && plan.batch.is_empty()
    {
        said.push(Said::Detail(format!(
            "using the certificates in `{}`",
            layout.root.display()
        )));
        let Some(Ok(plan)) = unlocked else {
            unreachable!("matched above")
        };
        return Ok(Some(plan.material));
    }
    let _lock = match (layout.lock(said), unlocked) {
        (Ok(lock), _) => lock,
        // Cannot lock (a read-only folder): the unlocked look's own error says more.
        (Err(_), Some(Err(why))) => return Err(why),
        (Err(e), _) => return Err(e.context("the certificates need writing")),
    };
    let Plan {
        material,
        batch,
        notes,
        created,
    } = plan(farm, &layout)?;
    batch.commit()?;
    if created {
        said.push(Said::Note(format!(
            "created a new CA in `{}`",
            layout.root.display()
        )));
    }
    said.extend(notes.into_iter().map(Said::Note));
    Ok(Some(material))
}

/// What `ensure` finds and what it must write.
struct Plan {
    material: Material,
    batch: Batch,
    /// Said once the files are written, not before.
    notes: Vec<String>,
    created: bool,
}

fn plan(farm: &Farm, layout: &Layout) -> anyhow::Result<Plan> {
    let mut batch = Batch::journaled(&layout.root);
    let mut notes = Vec::new();
    let (cas, created) = match store::load_authorities(layout)? {
        Some(cas) => (cas, false),
        None => (create_ca(farm, layout, &mut batch)?, true),
    };
    let issuers = issuers(farm, layout, cas, Some(&mut batch))?;
    let mut pairs = Vec::new();
    for (dir, purpose, client) in leaves(farm, layout) {
        if let Some(c) = client
            && moved_domain(farm, layout, &issuers, c, &dir)
        {
            notes.push(format!(
                "reissued client `{}`'s certificate: it is now signed by {}",
                c.name,
                issuers.of(client).who
            ));
            pairs.push((
                client,
                issue_leaf(farm, layout, &issuers, client, &mut batch)?,
            ));
            continue;
        }
        let found = store::load_leaf(&dir, issuers.of(client), purpose, false)?;
        // A daemon certificate must cover every name the farm has now.
        let missing = match (&found, client) {
            (Some(leaf), None) => missing_sans(farm, &leaf.info.sans),
            _ => Vec::new(),
        };
        let pair = match found {
            Some(leaf) if missing.is_empty() => Pair::from(leaf),
            Some(_) => {
                let names: Vec<String> = missing.iter().map(|s| format!("`{s}`")).collect();
                notes.push(format!(
                    "reissued the daemon certificate: it did not cover {}",
                    names.join(", ")
                ));
                issue_leaf(farm, layout, &issuers, client, &mut batch)?
            }
            None => issue_leaf(farm, layout, &issuers, client, &mut batch)?,
        };
        pairs.push((client, pair));
    }
    let ca_bundle = issuers.farm.bundle();
    write_bundle(farm, layout, &ca_bundle, &mut batch)?;
    Ok(Plan {
        material: Material::of(ca_bundle, pairs, &issuers),
        batch,
        notes,
        created,
    })
}

/// The farm's certificates as they are on disk, without issuing or writing anything (for
/// `render --check`). `None` unless `tls.mode = "generated"`; an error when something is missing.
pub(crate) fn load(farm: &Farm) -> anyhow::Result<Option<Material>> {
    if farm.tls.mode != TlsMode::Generated {
        return Ok(None);
    }
    let layout = Layout::new(&farm.tls.dir);
    let missing = || {
        let message = format!(
            "no complete set of certificates in `{}`",
            layout.root.display()
        );
        let hint = "the check compares with the certificates rendering would use: restore the folder, or run `buildfarm certs generate`";
        anyhow::Error::new(Invalid::from(
            Diagnostic::bare(message)
                .hint(hint)
                .rule(Rule::CertMissingFile),
        ))
    };
    if files::has_journal(&layout.root) {
        return Err(missing());
    }
    let cas = store::load_authorities(&layout)?.ok_or_else(missing)?;
    let issuers = issuers(farm, &layout, cas, None)?;
    if farm.tls.domains() && issuers.own.len() < farm.tls.clients.len() {
        return Err(missing());
    }
    let mut pairs = Vec::new();
    for (dir, purpose, client) in leaves(farm, &layout) {
        let leaf =
            store::load_leaf(&dir, issuers.of(client), purpose, false)?.ok_or_else(missing)?;
        pairs.push((client, Pair::from(leaf)));
    }
    Ok(Some(Material::of(issuers.farm.bundle(), pairs, &issuers)))
}

fn create_ca(farm: &Farm, layout: &Layout, batch: &mut Batch) -> anyhow::Result<Authorities> {
    if layout.any_leaf() {
        let message = format!("`{}` holds certificates but no CA", layout.root.display());
        let hint = "restore ca.crt and ca.key, or move the folder away to start a new PKI";
        return Err(Invalid::from(Diagnostic::bare(message).hint(hint)).into());
    }
    let ca = issue::Ca::create(&farm.name, farm.tls.ca_days, farm.tls.key)?;
    batch.put(&layout.ca_key(), ca.key_pem.as_bytes(), KEY_MODE);
    batch.put(&layout.ca_crt(), ca.cert_pem.as_bytes(), CERT_MODE);
    Ok(Authorities {
        active: ca,
        previous: None,
        who: store::FARM_CA.into(),
    })
}

/// Issues the daemon's certificate (`client` is `None`) or a client's, into its folder.
fn issue_leaf(
    farm: &Farm,
    layout: &Layout,
    issuers: &Issuers,
    client: Option<&Client>,
    batch: &mut Batch,
) -> anyhow::Result<Pair> {
    let (days, alg) = (farm.tls.client_days, farm.tls.key);
    let cas = &issuers.farm;
    let ((crt, key), dir) = match client {
        None => {
            let sans = daemon_sans(farm);
            let issued = issue::daemon(cas.daemon_issuer(), &sans, farm.tls.server_days, alg)?;
            (issued, layout.daemon())
        }
        Some(c) => {
            let signer = &issuers.of(client).active;
            let issued = issue::client(signer, &c.name, days, alg)?;
            (issued, layout.client(&c.name))
        }
    };
    // Everyone verifies the daemons against the farm's CA.
    write_leaf(&dir, &cas.bundle(), &crt, &key, batch);
    Ok(Pair { crt, key })
}

fn write_leaf(dir: &Path, ca: &str, crt: &str, key: &str, batch: &mut Batch) {
    batch.create_dir(dir);
    batch.put(&dir.join("tls.key"), key.as_bytes(), KEY_MODE);
    batch.put(&dir.join("tls.crt"), crt.as_bytes(), CERT_MODE);
    batch.put(&dir.join("ca.crt"), ca.as_bytes(), CERT_MODE);
}

/// Whether client `c`'s certificate was signed by the CA that signed it before trust domains
/// were switched on (the farm's) or off (its own): then it is reissued, as any other mismatch
/// is an error.
fn moved_domain(farm: &Farm, layout: &Layout, issuers: &Issuers, c: &Client, dir: &Path) -> bool {
    // Without trust domains, only a client whose own CA is still on disk can have moved.
    let own_before = match farm.tls.domains() || !layout.client_ca(&c.name).exists() {
        true => None,
        false => store::load_client_ca(layout, &c.name).ok().flatten(),
    };
    let before = match farm.tls.domains() {
        true => &issuers.farm,
        false => match &own_before {
            Some(own) => own,
            None => return false,
        },
    };
    let Some(der) = store::leaf_der(dir) else {
        return false;
    };
    !store::signed_by_one(&der, issuers.of(Some(c))) && store::signed_by_one(&der, before)
}

/// Keeps every folder's `ca.crt` equal to the trusted bundle (it changes during a rotation).
fn write_bundle(
    farm: &Farm,
    layout: &Layout,
    bundle: &str,
    batch: &mut Batch,
) -> anyhow::Result<()> {
    let dirs = std::iter::once(layout.daemon())
        .chain(farm.tls.clients.iter().map(|c| layout.client(&c.name)));
    for dir in dirs {
        let path = dir.join("ca.crt");
        if files::read_optional(&path)?.as_deref() != Some(bundle) {
            batch.put(&path, bundle.as_bytes(), CERT_MODE);
        }
    }
    Ok(())
}

/// The farm's CAs, which must exist already (the `certs` operations other than `generate`).
fn existing_authorities(layout: &Layout) -> anyhow::Result<Authorities> {
    match store::load_authorities(layout)? {
        Some(cas) => Ok(cas),
        None => bail!(
            "no CA in `{}`: run `buildfarm certs generate` first",
            layout.root.display()
        ),
    }
}

/// `certs renew`: reissues the daemon and client certificates that expire within `days`
/// (expired ones included), keeping the CA. Returns what was renewed.
pub fn renew(farm: &Farm, days: u32, said: &mut Vec<Said>) -> anyhow::Result<Vec<String>> {
    let layout = managed(farm)?;
    let _lock = layout.lock(said)?;
    let cas = existing_authorities(&layout)?;
    let horizon = now() + i64::from(days) * 86_400;
    let due =
        |leaf: &Option<store::Leaf>| leaf.as_ref().is_none_or(|l| l.info.not_after <= horizon);
    let mut renewed = Vec::new();
    let mut batch = Batch::journaled(&layout.root);
    let issuers = issuers(farm, &layout, cas, Some(&mut batch))?;
    for (dir, purpose, client) in leaves(farm, &layout) {
        if due(&store::load_leaf(&dir, issuers.of(client), purpose, true)?) {
            issue_leaf(farm, &layout, &issuers, client, &mut batch)?;
            renewed.push(client.map_or("daemon".to_string(), |c| format!("client/{}", c.name)));
        }
    }
    batch.commit()?;
    Ok(renewed)
}

/// `certs rotate-ca`: a new CA signs new client certificates; the old CA stays trusted (and
/// keeps the daemon's certificate) until `finish_rotation`, so no client is locked out.
pub fn rotate_ca(farm: &Farm, said: &mut Vec<Said>) -> anyhow::Result<()> {
    let layout = managed(farm)?;
    let _lock = layout.lock(said)?;
    let cas = existing_authorities(&layout)?;
    if cas.previous.is_some() {
        let hint = "run `buildfarm certs rotate-ca --finish` once every client has the new ca.crt";
        return Err(Invalid::from(
            Diagnostic::bare("a CA rotation is already in progress").hint(hint),
        )
        .into());
    }
    let old = cas.active;
    let new = issue::Ca::create(&farm.name, farm.tls.ca_days, farm.tls.key)?;
    let mut batch = Batch::journaled(&layout.root);
    batch.put(&layout.previous_key(), old.key_pem.as_bytes(), KEY_MODE);
    batch.put(&layout.previous_crt(), old.cert_pem.as_bytes(), CERT_MODE);
    batch.put(&layout.ca_key(), new.key_pem.as_bytes(), KEY_MODE);
    batch.put(&layout.ca_crt(), new.cert_pem.as_bytes(), CERT_MODE);
    let cas = Authorities {
        active: new,
        previous: Some(old),
        who: store::FARM_CA.into(),
    };
    // With trust domains each client keeps the certificate its own CA signed.
    let issuers = issuers(farm, &layout, cas, Some(&mut batch))?;
    for client in farm.tls.clients.iter().filter(|_| !farm.tls.domains()) {
        issue_leaf(farm, &layout, &issuers, Some(client), &mut batch)?;
    }
    write_bundle(farm, &layout, &issuers.farm.bundle(), &mut batch)?;
    batch.commit()
}

/// `certs rotate-ca --finish`: the daemon moves to the new CA and the old one is dropped.
pub fn finish_rotation(farm: &Farm, said: &mut Vec<Said>) -> anyhow::Result<()> {
    let layout = managed(farm)?;
    let _lock = layout.lock(said)?;
    let Some(cas) = store::load_authorities(&layout)?.filter(|c| c.previous.is_some()) else {
        let hint = "start one with `buildfarm certs rotate-ca`";
        return Err(
            Invalid::from(Diagnostic::bare("no CA rotation is in progress").hint(hint)).into(),
        );
    };
    let issuers = Issuers {
        farm: Authorities {
            active: cas.active,
            previous: None,
            who: store::FARM_CA.into(),
        },
        own: Vec::new(),
    };
    let mut batch = Batch::journaled(&layout.root);
    issue_leaf(farm, &layout, &issuers, None, &mut batch)?;
    write_bundle(farm, &layout, &issuers.farm.bundle(), &mut batch)?;
    batch.commit()?;
    for path in [layout.previous_key(), layout.previous_crt()] {
        std::fs::remove_file(&path)
            .map_err(|e| anyhow::anyhow!("failed to remove `{}`: {e}", path.display()))?;
    }
    Ok(())
}

/// One certificate of the farm, for `certs show`.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Entry {
    pub role: String,
    pub path: String,
    #[serde(flatten)]
    pub info: CertInfo,
}

/// `certs show`: every certificate in the folder, validated as `render` would.
pub(crate) fn show(farm: &Farm) -> anyhow::Result<Vec<Entry>> {
    let layout = managed(farm)?;
    let cas = existing_authorities(&layout)?;
    let entry = |role: String, path: std::path::PathBuf, pem: &str| -> anyhow::Result<Entry> {
        let info =
            inspect::read(pem).map_err(|why| anyhow::anyhow!("`{}`: {why}", path.display()))?;
        Ok(Entry {
            role,
            path: path.display().to_string(),
            info,
        })
    };
    let mut out = vec![entry("ca".into(), layout.ca_crt(), &cas.active.cert_pem)?];
    if let Some(p) = &cas.previous {
        out.push(entry(
            "ca (retiring)".into(),
            layout.previous_crt(),
            &p.cert_pem,
        )?);
    }
    let issuers = issuers(farm, &layout, cas, None)?;
    for (name, own) in &issuers.own {
        let path = layout.client_ca(name).join("ca.crt");
        out.push(entry(
            format!("client-ca {name}"),
            path,
            &own.active.cert_pem,
        )?);
    }
    for (dir, purpose, client) in leaves(farm, &layout) {
        if let Some(leaf) = store::load_leaf(&dir, issuers.of(client), purpose, true)? {
            let role = client.map_or("daemon".to_string(), |c| format!("client {}", c.name));
            out.push(entry(role, dir.join("tls.crt"), &leaf.crt)?);
        }
    }
    Ok(out)
}

/// Days before expiry from which `lint` warns.
pub(crate) const EXPIRY_WARNING_DAYS: i64 = 30;
