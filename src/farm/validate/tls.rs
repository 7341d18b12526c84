//! `[tls]` and its clients.

use std::path::Path;

use crate::farm::raw::Spanned;

use super::checker::Checker;
use crate::farm::defaults;
use crate::farm::model::{Client, KeyAlgorithm, Tls, TlsMode};
use crate::farm::names;
use crate::farm::raw::RawTls;
use crate::farm::syntax;
use crate::rule::Rule;

pub(super) fn tls(
    c: &mut Checker,
    raw: Option<Spanned<RawTls>>,
    name: &str,
    base: &Path,
    certs_dir: Option<&Path>,
) -> (Tls, Vec<PoolRef>) {
    let t = raw.map(Spanned::into_inner).unwrap_or_default();
    let mode = c.choice(t.mode, "TLS mode", TlsMode::Generated);
    let key = c.choice(t.key, "key algorithm", KeyAlgorithm::EcdsaP256);
    let dir = t
        .dir
        .map_or(defaults::TLS_DIR.to_string(), Spanned::into_inner);
    let dir = certs_dir.map_or_else(|| base.join(&dir), Path::to_path_buf);
    let secret = match (mode, t.secret) {
        (TlsMode::External, None) => {
            let hint = "name the kubernetes.io/tls Secret (keys ca.crt, tls.crt, tls.key): `secret = \"buildkitd-tls\"`";
            c.error(
                Rule::MissingKey,
                0..0,
                "`tls.mode = \"external\"` needs `tls.secret`",
                Some(hint.into()),
            );
            String::new()
        }
        (_, secret) => c.text(
            secret,
            "tls.secret",
            &names::daemon_secret(name),
            syntax::dns_subdomain,
        ),
    };
    let days = |c: &mut Checker, v, key, default: u32| c.int(v, key, 1..=36_500, default);
    let server_days = days(c, t.server_days, "tls.server_days", defaults::SERVER_DAYS);
    let client_days = days(c, t.client_days, "tls.client_days", defaults::CLIENT_DAYS);
    let ca_days = days(c, t.ca_days, "tls.ca_days", defaults::CA_DAYS);
    let extra_sans = t
        .extra_sans
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            c.text(Some(s), "tls.extra_sans", "", |s| {
                match s.parse::<std::net::IpAddr>() {
                    Ok(_) => Ok(()),
                    Err(_) => syntax::san_dns_name(s),
                }
            })
        })
        .collect();
    let mut refs = Vec::new();
    let clients = clients(c, t.client, &mut refs);
    let tls = Tls {
        mode,
        dir,
        secret,
        server_days,
        client_days,
        ca_days,
        key,
        extra_sans,
        clients,
    };
    (tls, refs)
}

/// A pool a client's `pools` names, where it is written: checked once the pools are known.
pub(super) struct PoolRef {
    pub(super) client: usize,
    pub(super) pool: String,
    pub(super) span: std::ops::Range<usize>,
}

/// The `[[tls.client]]` entries (unique names, optional namespaces); `default` when none.
fn clients(
    c: &mut Checker,
    raw: Option<Vec<Spanned<crate::farm::raw::RawClient>>>,
    refs: &mut Vec<PoolRef>,
) -> Vec<Client> {
    let mut clients: Vec<Client> = Vec::new();
    for raw_client in raw.unwrap_or_default() {
        let span = raw_client.span();
        let rc = raw_client.into_inner();
        let Some(client_name) = rc.name else {
            c.error(
                Rule::MissingKey,
                span,
                "a `[[tls.client]]` has no `name`",
                Some("add `name = \"gitlab-runner\"`".into()),
            );
            continue;
        };
        let name_span = client_name.span();
        let client_name = c.text(Some(client_name), "tls.client.name", "", syntax::dns_label);
        let namespace = rc
            .namespace
            .map(|n| c.text(Some(n), "tls.client.namespace", "", syntax::dns_label));
        if clients.iter().any(|x| x.name == client_name) {
            c.error(
                Rule::DuplicateClient,
                name_span,
                format!("two clients are named `{client_name}`"),
                Some("client names must be unique".into()),
            );
        }
        let pools = rc.pools.map(|list| {
            let mut names: Vec<String> = Vec::new();
            for p in list {
                refs.push(PoolRef {
                    client: clients.len(),
                    span: p.span(),
                    pool: p.get_ref().clone(),
                });
                if !names.contains(p.get_ref()) {
                    names.push(p.into_inner());
                }
            }
            names
        });
        clients.push(Client {
            name: client_name,
            namespace,
            pools,
            untrusted: rc.untrusted.is_some_and(Spanned::into_inner),
        });
    }
    if clients.is_empty() {
        clients.push(Client {
            name: defaults::CLIENT.into(),
            namespace: None,
            pools: None,
            untrusted: false,
        });
    }
    clients
}
