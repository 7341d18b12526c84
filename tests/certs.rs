//! The certificate lifecycle through the binary and the library: drift, renewal, validation
//! of what is on disk, concurrency, and cert-manager mode.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use crate::common::{Test, kind, named, parse_stream, render_str, stderr, str_of};

fn farm_dir(spec: &str) -> Test {
    Test::new().spec(spec)
}

fn show(t: &mut Test) -> serde_json::Value {
    let out = t.output_of(&["certs", "show", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn entry<'a>(entries: &'a serde_json::Value, role: &str) -> &'a serde_json::Value {
    entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["role"] == role)
        .unwrap_or_else(|| panic!("no {role}"))
}

const ONE_POOL: &str = "[[tls.client]]\nname = \"ci\"\n[[pool]]\narch = \"amd64\"\n";

#[test]
fn show_reports_every_certificate_as_json() {
    let mut t = farm_dir(ONE_POOL);
    t = t.run(&["certs", "generate"]).status(0);
    let entries = show(&mut t);
    let roles: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["ca", "daemon", "client ci"]);
    let daemon = entry(&entries, "daemon");
    assert_eq!(daemon["path"], "certs/daemon/tls.crt");
    assert_eq!(daemon["server_auth"], true);
    assert_eq!(daemon["client_auth"], false);
    assert_eq!(daemon["key_type"], "ECDSA P-256");
    assert!(
        daemon["sans"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "buildkitd-amd64.buildkit.svc")
    );
    assert_eq!(daemon["fingerprint"].as_str().unwrap().len(), 32 * 3 - 1);
    let ca = entry(&entries, "ca");
    assert_eq!(ca["is_ca"], true);
    let days = (ca["not_after"].as_i64().unwrap() - ca["not_before"].as_i64().unwrap()) / 86_400;
    assert_eq!(days, 3650, "10 years, plus the hour of clock-skew slack");
    assert_eq!(entry(&entries, "client ci")["client_auth"], true);
}

#[test]
fn a_new_pool_reissues_the_daemon_certificate_but_no_client_certificate() {
    let mut t = farm_dir(ONE_POOL);
    t = t.run(&["render"]).status(0);
    let before = show(&mut t);
    fs::write(
        t.path("farm.toml"),
        format!("{ONE_POOL}[[pool]]\narch = \"arm64\"\n"),
    )
    .unwrap();
    let out = t.output_of(&["render"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).starts_with(
            "note: reissued the daemon certificate: it did not cover `buildkitd-arm64`"
        ),
        "{}",
        stderr(&out)
    );
    let after = show(&mut t);
    assert_ne!(
        entry(&before, "daemon")["fingerprint"],
        entry(&after, "daemon")["fingerprint"]
    );
    assert!(
        entry(&after, "daemon")["sans"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "*.buildkitd-arm64-headless.buildkit.svc")
    );
    assert_eq!(
        entry(&before, "client ci")["fingerprint"],
        entry(&after, "client ci")["fingerprint"]
    );
    assert_eq!(
        entry(&before, "ca")["fingerprint"],
        entry(&after, "ca")["fingerprint"]
    );
    // Covered now: the next render keeps it.
    let again = t.output_of(&["render"]);
    assert!(stderr(&again).is_empty(), "{}", stderr(&again));
}

#[test]
fn renew_reissues_only_what_expires_soon() {
    let mut t = farm_dir(&format!("[tls]\nclient_days = 10\n{ONE_POOL}"));
    t = t.run(&["certs", "generate"]).status(0);
    let before = show(&mut t);
    t = t.run(&["certs", "renew", "--within", "30"]).status(0);
    assert!(t.stdout().starts_with("renewed: client/ci\n"));
    let after = show(&mut t);
    assert_ne!(
        entry(&before, "client ci")["fingerprint"],
        entry(&after, "client ci")["fingerprint"]
    );
    assert_eq!(
        entry(&before, "daemon")["fingerprint"],
        entry(&after, "daemon")["fingerprint"]
    );
    assert_eq!(
        entry(&before, "ca")["fingerprint"],
        entry(&after, "ca")["fingerprint"]
    );
    let out = t.output_of(&["certs", "renew", "--within", "5"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "nothing expires within 5 days\n"
    );
}

#[test]
fn rotate_ca_through_the_cli() {
    let mut t = farm_dir(ONE_POOL);
    t = t.run(&["certs", "generate"]).status(0);
    let first = show(&mut t);
    t = t.run(&["certs", "rotate-ca"]).status(0);
    let during = show(&mut t);
    assert_eq!(
        entry(&during, "ca (retiring)")["fingerprint"],
        entry(&first, "ca")["fingerprint"]
    );
    assert_eq!(
        entry(&during, "daemon")["issuer"],
        entry(&first, "ca")["subject"],
        "daemon keeps the old CA's certificate"
    );
    assert_eq!(
        entry(&during, "client ci")["issuer"],
        entry(&during, "ca")["subject"],
        "clients move to the new CA"
    );
    let again = t.output_of(&["certs", "rotate-ca"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).starts_with("error: a CA rotation is already in progress\n"));
    t = t.run(&["certs", "rotate-ca", "--finish"]).status(0);
    let done = show(&mut t);
    assert_eq!(done.as_array().unwrap().len(), 3);
    assert_eq!(
        entry(&done, "daemon")["issuer"],
        entry(&done, "ca")["subject"]
    );
    let again = t.output_of(&["certs", "rotate-ca", "--finish"]);
    assert!(stderr(&again).starts_with("error: no CA rotation is in progress\n"));
}

#[test]
fn a_key_that_belongs_to_another_certificate_is_refused() {
    let mut t = farm_dir(ONE_POOL);
    t = t.run(&["certs", "generate"]).status(0);
    let certs = t.path("certs");
    fs::copy(
        certs.join("client/ci/tls.key"),
        certs.join("daemon/tls.key"),
    )
    .unwrap();
    t = t.run(&["render"]).status(1);
    assert!(
        t.stderr().starts_with(
            "error: `certs/daemon/tls.key` does not belong to `certs/daemon/tls.crt`\n"
        ),
        "{}",
        t.stderr()
    );
    assert!(t.stdout().is_empty());
}

#[test]
fn a_ca_that_is_not_a_ca_is_refused() {
    let mut t = farm_dir(ONE_POOL);
    t = t.run(&["certs", "generate"]).status(0);
    let certs = t.path("certs");
    fs::copy(certs.join("daemon/tls.crt"), certs.join("ca.crt")).unwrap();
    fs::copy(certs.join("daemon/tls.key"), certs.join("ca.key")).unwrap();
    t = t.run(&["render"]).status(1);
    assert!(
        t.stderr().starts_with(
            "error: `certs/ca.crt` is not a CA certificate (no basicConstraints CA:TRUE)\n"
        ),
        "{}",
        t.stderr()
    );
}

#[test]
fn a_leaf_from_another_ca_and_a_wrong_usage_are_refused() {
    let ours = farm_dir(ONE_POOL).run(&["certs", "generate"]).status(0);
    let theirs = farm_dir(ONE_POOL).run(&["certs", "generate"]).status(0);
    for f in ["tls.crt", "tls.key"] {
        fs::copy(
            theirs.path("certs/client/ci").join(f),
            ours.path("certs/client/ci").join(f),
        )
        .unwrap();
    }
    let ours = ours.run(&["render"]).status(1);
    assert!(
        ours.stderr().starts_with(
            "error: `certs/client/ci/tls.crt` was not issued by the farm's CA (`ca.crt`)\n"
        ),
        "{}",
        ours.stderr()
    );

    let mut t = farm_dir(ONE_POOL);
    t = t.run(&["certs", "generate"]).status(0);
    for f in ["tls.crt", "tls.key"] {
        fs::copy(
            t.path("certs/client/ci").join(f),
            t.path("certs/daemon").join(f),
        )
        .unwrap();
    }
    let out = t.output_of(&["render"]);
    assert!(
        stderr(&out).starts_with("error: `certs/daemon/tls.crt` is not valid for serverAuth\n"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unreadable_cert_folder_is_an_io_error() {
    if permissions_do_not_bind() {
        // root reads anything: make the folder a file instead, which fails for everyone.
        let mut t = farm_dir(ONE_POOL);
        fs::write(t.path("certs"), "not a folder").unwrap();
        t = t.run(&["render"]).status(2);
        // Found on the first read (the folder is only created, and locked, to write).
        assert!(
            t.stderr()
                .starts_with("error: failed to read `certs/ca.crt`\ncaused by: Not a directory"),
            "{}",
            t.stderr()
        );
        return;
    }
    let mut t = farm_dir(ONE_POOL);
    fs::create_dir(t.path("certs")).unwrap();
    fs::set_permissions(t.path("certs"), fs::Permissions::from_mode(0o000)).unwrap();
    let out = t.output_of(&["render"]);
    fs::set_permissions(t.path("certs"), fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_failed_generate_writes_no_certificate() {
    let mut t = farm_dir(ONE_POOL);
    let out = t.output_of(&["certs", "generate"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let before = walk(&t.path("certs"));
    let daemon_crt = fs::read(t.path("certs/daemon/tls.crt")).unwrap();
    // A new pool (the daemon certificate must be reissued) and a new client whose folder
    // cannot be created (a dangling link is in the way), which is only found out when writing.
    let spec = format!("{ONE_POOL}[[tls.client]]\nname = \"ci2\"\n[[pool]]\narch = \"arm64\"\n");
    t = t.spec(&spec);
    std::os::unix::fs::symlink("/nonexistent", t.path("certs/client/ci2")).unwrap();
    t = t.run(&["certs", "generate"]).status(2);
    assert_eq!(
        t.stderr(),
        "error: failed to create `certs/client/ci2`\ncaused by: File exists (os error 17)\n",
        "no note about a certificate that was not written"
    );
    fs::remove_file(t.path("certs/client/ci2")).unwrap();
    assert_eq!(
        walk(&t.path("certs")),
        before,
        "no file added, none left behind"
    );
    assert_eq!(
        fs::read(t.path("certs/daemon/tls.crt")).unwrap(),
        daemon_crt,
        "the reissued daemon certificate did not land"
    );
}

/// Every file under `dir`, as paths from its parent, sorted.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let root = dir.parent().unwrap();
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.strip_prefix(root).unwrap().display().to_string());
        }
    }
    out.sort();
    out
}

/// Whether file permissions bind us (they do not for root, which CI may be).
fn permissions_do_not_bind() -> bool {
    let probe = tempfile::tempdir().unwrap();
    let f = probe.path().join("probe");
    fs::write(&f, "x").unwrap();
    fs::set_permissions(&f, fs::Permissions::from_mode(0o000)).unwrap();
    fs::read(&f).is_ok()
}

#[test]
fn concurrent_generates_yield_one_consistent_set() {
    let mut t = farm_dir(ONE_POOL);
    let children: Vec<_> = (0..4)
        .map(|_| {
            t.command(&["certs", "generate"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    assert!(outputs.iter().all(|o| o.status.success()));
    let created = outputs
        .iter()
        .filter(|o| stderr(o).contains("created a new CA"))
        .count();
    assert_eq!(created, 1, "exactly one process created the CA");
    // Everything chains to the one CA on disk: render's checks would refuse anything else.
    t = t.run(&["render"]).status(0);
    let entries = show(&mut t);
    let ca = entry(&entries, "ca")["subject"].clone();
    assert!(
        entries
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["issuer"] == ca)
    );
}

#[test]
fn certs_commands_refuse_modes_buildfarm_does_not_manage() {
    let mut t = farm_dir("[tls]\nmode = \"cert-manager\"\n[[pool]]\narch = \"amd64\"\n");
    t = t.run(&["certs", "generate"]).status(1);
    assert!(t.stderr().starts_with(
        "error: certificates are not buildfarm's to manage with `tls.mode = \"cert-manager\"`\n"
    ));
    assert!(!t.path("certs").exists());
}

#[test]
fn cert_manager_mode_issues_the_same_secret_with_the_same_names() {
    let spec = "[tls]\nmode = \"cert-manager\"\nextra_sans = [\"bk.example.com\", \"10.1.2.3\"]\n[[tls.client]]\nname = \"ci\"\nnamespace = \"gitlab\"\n[[pool]]\narch = \"amd64\"\n";
    let (yaml, certs) = render_str(spec);
    assert!(
        fs::read_dir(certs.path()).unwrap().next().is_none(),
        "nothing issued locally"
    );
    let objects = parse_stream(&yaml);
    assert!(kind(&objects, "Secret").is_empty());
    for o in kind(&objects, "Issuer")
        .into_iter()
        .chain(kind(&objects, "Certificate"))
    {
        assert_eq!(o["apiVersion"].as_str(), Some("cert-manager.io/v1"));
    }
    let selfsigned = named(&objects, "Issuer", "buildkitd-selfsigned");
    assert!(selfsigned["spec"]["selfSigned"].is_mapping());
    let ca_issuer = named(&objects, "Issuer", "buildkitd-ca");
    let ca = named(&objects, "Certificate", "buildkitd-ca");
    assert_eq!(ca["spec"]["isCA"].as_bool(), Some(true));
    assert_eq!(
        ca["spec"]["issuerRef"]["name"].as_str(),
        Some("buildkitd-selfsigned")
    );
    assert_eq!(
        ca_issuer["spec"]["ca"]["secretName"],
        ca["spec"]["secretName"]
    );

    // The daemon Certificate writes the Secret the pods mount, with generated mode's SANs.
    let sts = kind(&objects, "StatefulSet")[0];
    let volumes = sts["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .unwrap();
    let mounted = volumes
        .iter()
        .find(|v| v["name"].as_str() == Some("certs"))
        .unwrap()["secret"]["secretName"]
        .clone();
    let daemon = kind(&objects, "Certificate")
        .into_iter()
        .find(|c| c["spec"]["secretName"] == mounted)
        .expect("a Certificate writes the mounted Secret");
    assert_eq!(
        daemon["spec"]["issuerRef"]["name"].as_str(),
        Some("buildkitd-ca")
    );
    let usages: Vec<&str> = daemon["spec"]["usages"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    assert!(usages.contains(&"server auth") && !usages.contains(&"client auth"));
    let source = buildfarm::Source::new("farm.toml", spec);
    let farm = buildfarm::parse(&source, Path::new(""), None).unwrap();
    let expected = buildfarm::daemon_sans(&farm);
    let dns: Vec<String> = daemon["spec"]["dnsNames"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| str_of(v).to_string())
        .collect();
    let ips: Vec<String> = daemon["spec"]["ipAddresses"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| str_of(v).to_string())
        .collect();
    let mut got: Vec<String> = dns.into_iter().chain(ips).collect();
    let mut want = expected.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert!(
        expected.contains(&"bk.example.com".to_string())
            && expected.contains(&"10.1.2.3".to_string())
    );

    let client = named(&objects, "Certificate", "buildkitd-client-ci");
    let usages: Vec<&str> = client["spec"]["usages"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    assert!(usages.contains(&"client auth") && !usages.contains(&"server auth"));
    assert_eq!(client["spec"]["commonName"].as_str(), Some("ci"));
}

#[test]
fn pods_do_not_change_between_tls_modes() {
    let pool = "[[pool]]\narch = \"amd64\"\n";
    let pod = |spec: &str| {
        let (yaml, _certs) = render_str(spec);
        let objects = parse_stream(&yaml);
        let mut sts = kind(&objects, "StatefulSet")[0].clone();
        // Only the checksum differs: generated mode hashes the certificates too.
        sts["spec"]["template"]["metadata"]["annotations"]["checksum/config"] =
            serde_yaml_ng::Value::Null;
        sts
    };
    assert_eq!(
        pod(pool),
        pod(&format!("[tls]\nmode = \"cert-manager\"\n{pool}"))
    );
    assert_eq!(
        pod(pool),
        pod(&format!(
            "[tls]\nmode = \"external\"\nsecret = \"buildkitd-daemon-tls\"\n{pool}"
        ))
    );
}

/// Whether `dir/tls.crt` names the CA certificate in `ca` as its issuer (every CA's name is
/// its own: it carries a random tag; the handshake tests in tls.rs check the signatures).
fn signed_by(dir: &Path, ca: &Path) -> bool {
    let read = |p: &Path| buildfarm::read_cert(&fs::read_to_string(p).unwrap()).unwrap();
    read(&dir.join("tls.crt")).issuer == read(ca).subject
}

/// Trust domains switched on: each client gets its own CA and a certificate from it (said on
/// stderr); `certs show` lists the client CAs; `renew` reissues from them; switched off, the
/// clients go back to the farm's CA. The daemon certificate stays the farm CA's throughout.
#[test]
fn trust_domains_switch_client_certificates_between_cas() {
    use crate::common::Test;
    let open = "name = \"bk\"\n[[tls.client]]\nname = \"rel\"\n[[tls.client]]\nname = \"fork\"\n[[pool]]\narch = \"amd64\"\nname = \"rel\"\n[[pool]]\narch = \"amd64\"\nname = \"fork\"\n";
    let split = open
        .replace(
            "name = \"rel\"\n[[tls.client]]",
            "name = \"rel\"\npools = [\"rel\"]\n[[tls.client]]",
        )
        .replace(
            "name = \"fork\"\n[[pool]]",
            "name = \"fork\"\npools = [\"fork\"]\nuntrusted = true\n[[pool]]",
        );
    let t = Test::new().spec(open).run(&["certs", "generate"]).status(0);
    let certs = t.path("certs");
    let farm_ca = certs.join("ca.crt");
    assert!(signed_by(&certs.join("client/rel"), &farm_ca));
    let t = t
        .spec(&split)
        .run(&["certs", "generate"])
        .status(0)
        .stderr_has("reissued client `rel`'s certificate: it is now signed by client `rel`'s CA")
        .stderr_has("reissued client `fork`'s certificate");
    for name in ["rel", "fork"] {
        let own = certs.join("client-ca").join(name).join("ca.crt");
        let client = certs.join("client").join(name);
        assert!(signed_by(&client, &own), "{name}");
        assert!(!signed_by(&client, &farm_ca), "{name}");
        // What the client verifies daemons with is still the farm's CA.
        assert_eq!(
            fs::read(client.join("ca.crt")).unwrap(),
            fs::read(&farm_ca).unwrap()
        );
    }
    assert!(signed_by(&certs.join("daemon"), &farm_ca));
    let rel_ca = certs.join("client-ca/rel/ca.crt");
    assert!(!signed_by(&certs.join("client/fork"), &rel_ca));
    let t = t.run(&["certs", "show", "--format", "json"]).status(0);
    let shown: serde_json::Value = serde_json::from_str(&t.stdout()).unwrap();
    entry(&shown, "client-ca rel");
    entry(&shown, "client-ca fork");
    let t = t.run(&["certs", "renew", "--within", "100000"]).status(0);
    assert!(signed_by(
        &certs.join("client/fork"),
        &certs.join("client-ca/fork/ca.crt")
    ));
    // A second look changes nothing.
    let t = t
        .run(&["certs", "generate"])
        .status(0)
        .stderr_lacks("reissued");
    // Switched off: back to the farm's CA.
    let t = t
        .spec(open)
        .run(&["certs", "generate"])
        .status(0)
        .stderr_has("it is now signed by the farm's CA");
    assert!(signed_by(&t.path("certs/client/rel"), &farm_ca));
    assert!(signed_by(&t.path("certs/client/fork"), &farm_ca));
}
