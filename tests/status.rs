//! `buildfarm status` against fake BuildKit daemons on 127.0.0.1 (bench/fake_buildkitd.rs):
//! BuildKit's Control API over mTLS with the certificates buildfarm issued. Every finding is
//! driven by what a daemon says, TLS is refused from each side, and the JSON document is
//! asserted field by field.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use buildfarm::wire;
use serde_json::Value;

use crate::common::stderr;

#[path = "../bench/fake_buildkitd.rs"]
mod fake;

use fake::Canned;

const GIB: i64 = 1 << 30;
const SPEC: &str = "[[tls.client]]\nname = \"ci\"\n[[pool]]\narch = \"amd64\"\nreplicas = 2\nstorage = \"100Gi\"\n";

/// A farm folder with its certificates issued.
struct Farm {
    t: std::cell::RefCell<crate::common::Test>,
}

impl Farm {
    fn new(spec: &str) -> Farm {
        Farm {
            t: crate::common::farm_with_certs(spec),
        }
    }

    /// `buildfarm ARGS` in the farm's folder.
    fn run(&self, args: &[&str]) -> std::process::Output {
        self.t.borrow_mut().output_of(args)
    }

    /// A path in the farm's folder.
    fn path(&self, name: &str) -> PathBuf {
        self.t.borrow().path(name)
    }

    fn certs(&self) -> PathBuf {
        self.path("certs")
    }

    fn status(&self, args: &[&str]) -> Output {
        self.run(&[&["status"], args].concat())
    }

    /// `status --format json` against `ports` (as the first pool's daemons): exit code, document.
    fn json(&self, ports: &[u16], extra: &[&str]) -> (i32, Value) {
        let addrs: Vec<String> = ports
            .iter()
            .map(|p| format!("tcp://127.0.0.1:{p}"))
            .collect();
        let mut args: Vec<&str> = vec!["--format", "json"];
        if !extra.contains(&"--timeout") {
            args.extend(["--timeout", "2s"]);
        }
        for a in &addrs {
            args.extend(["--addr", a.as_str()]);
        }
        args.extend(extra);
        let out = self.status(&args);
        let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{e}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                stderr(&out)
            )
        });
        (out.status.code().unwrap(), doc)
    }

    /// The GC policies the rendered buildkitd.toml of the first pool gives, as the daemon would
    /// report them (keepDuration in nanoseconds).
    fn rendered_gc(&self) -> Vec<wire::GcPolicy> {
        let farm = buildfarm::load(
            buildfarm::Origin::File(&self.path("farm.toml")),
            Some(&self.certs()),
        )
        .unwrap();
        let pool = &farm.pools[0];
        let text = buildfarm::buildkitd_toml(&farm, pool);
        let config: toml::Table = toml::from_str(&text).unwrap();
        let policies = config["worker"]["oci"]["gcpolicy"].as_array().unwrap();
        policies
            .iter()
            .map(|p| {
                let int = |k: &str| p.get(k).and_then(toml::Value::as_integer).unwrap_or(0);
                wire::GcPolicy {
                    all: p.get("all").and_then(toml::Value::as_bool).unwrap_or(false),
                    keep_duration: int("keepDuration") * 1_000_000_000,
                    reserved_space: int("reservedSpace"),
                    filters: p
                        .get("filters")
                        .and_then(|f| f.as_array())
                        .map(|f| f.iter().map(|v| v.as_str().unwrap().to_string()).collect())
                        .unwrap_or_default(),
                    max_used_space: int("maxUsedSpace"),
                    min_free_space: int("minFreeSpace"),
                }
            })
            .collect()
    }

    /// A daemon that says what a healthy one of this farm says.
    fn healthy(&self) -> Canned {
        Canned {
            gc: self.rendered_gc(),
            ..Canned::healthy("v0.35.1", "amd64", 10 * GIB, 8, 6)
        }
    }
}

/// Starts `canned` daemons on 127.0.0.1 with `certs`' daemon certificate, on a thread of their
/// own for the rest of the test process; their ports.
fn daemons(certs: &Path, canned: Vec<Canned>) -> Vec<u16> {
    daemons_with(fake::server_tls(certs), canned)
}

/// As `daemons`, with `tls` as the daemons' TLS.
fn daemons_with(tls: tonic::transport::ServerTlsConfig, canned: Vec<Canned>) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = canned
        .iter()
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let mut set = tokio::task::JoinSet::new();
            for (l, c) in listeners.into_iter().zip(canned) {
                l.set_nonblocking(true).unwrap();
                let l = tokio::net::TcpListener::from_std(l).unwrap();
                set.spawn(fake::serve(l, tls.clone(), c));
            }
            while set.join_next().await.is_some() {}
        });
    });
    ports
}

/// A daemon that takes the connection and never says a word.
fn hung() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    port
}

/// A port nobody listens on.
fn closed() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn rules(doc: &Value) -> Vec<(String, String)> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["about"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_healthy_farm_reads_field_by_field() {
    let farm = Farm::new(SPEC);
    let ports = daemons(&farm.certs(), vec![farm.healthy(), farm.healthy()]);
    let (code, doc) = farm.json(&ports, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["schema"], "buildfarm.status/v1");
    assert_eq!(doc["farm"], "buildkitd");
    assert_eq!(doc["namespace"], "buildkit");
    assert_eq!(doc["buildkit"], "v0.35.1");
    assert!(doc["checked_at"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(doc["findings"], serde_json::json!([]));
    assert_eq!(
        doc["summary"],
        serde_json::json!({"daemons": 2, "reachable": 2, "errors": 0, "warnings": 0, "notes": 0})
    );
    let pool = &doc["pools"][0];
    assert_eq!(
        (pool["name"].as_str(), pool["arch"].as_str()),
        (Some("amd64"), Some("amd64"))
    );
    assert_eq!(pool["replicas"], 2);
    let cap = farm.rendered_gc().last().unwrap().max_used_space;
    for (d, port) in pool["daemons"].as_array().unwrap().iter().zip(&ports) {
        assert_eq!(d["name"], format!("tcp://127.0.0.1:{port}"));
        assert_eq!(d["endpoint"], format!("tcp://127.0.0.1:{port}"));
        assert_eq!(d["servername"], "127.0.0.1");
        assert_eq!(d["state"], "ok");
        assert_eq!(d["buildkit_version"], "v0.35.1");
        assert_eq!(d["platforms"], serde_json::json!(["linux/amd64"]));
        let disk = &d["disk"];
        assert_eq!(disk["used_bytes"], 10 * GIB);
        assert_eq!(disk["reclaimable_bytes"], 10 * GIB);
        assert_eq!(disk["in_use_bytes"], 0);
        assert_eq!(disk["records"], 1);
        assert_eq!(disk["gc_cap_bytes"], cap);
        assert_eq!(disk["volume_bytes"], 100 * GIB);
        let builds = &d["builds"];
        assert_eq!(builds["count"], 8);
        assert_eq!(builds["failed"], 0);
        assert_eq!(
            (
                builds["cached_steps"].as_u64(),
                builds["total_steps"].as_u64()
            ),
            (Some(48), Some(80))
        );
        assert_eq!(builds["cache_hit_ratio"], 0.6);
        assert_eq!(builds["last_completed_at"], 1_800_000_030 + 7 * 60);
        assert_eq!(builds["mean_duration_seconds"], 30.0);
        assert_eq!(d["workers"], serde_json::json!(["fake-worker"]));
        // From the handshake: the daemon certificate buildfarm issued for a year.
        let days = d["cert_days_left"].as_i64().unwrap();
        assert!((360..=365).contains(&days), "{days}");
    }
}

/// Each finding from what one daemon says, against a healthy daemon of the same farm: the
/// rule it must raise and the exit code that follows.
#[test]
fn every_finding_comes_from_what_a_daemon_says() {
    let farm = Farm::new(SPEC);
    let healthy = farm.healthy();
    let cap = healthy.gc.last().unwrap().max_used_space;
    let cases: Vec<(&str, Canned, i32)> = vec![
        (
            "status-version",
            Canned {
                version: "v0.34.2".into(),
                ..healthy.clone()
            },
            0,
        ),
        (
            "status-platform",
            Canned {
                platforms: Canned::healthy("", "arm64", 0, 0, 0).platforms,
                ..healthy.clone()
            },
            1,
        ),
        (
            "status-gc",
            {
                let mut c = healthy.clone();
                c.gc[3].max_used_space /= 2;
                c
            },
            0,
        ),
        (
            "status-gc-behind",
            Canned::healthy("v0.35.1", "amd64", cap / 100 * 111, 8, 6),
            0,
        ),
        (
            "status-disk-full",
            Canned {
                usage: Canned::healthy("", "", 95 * GIB, 0, 0).usage,
                ..healthy.clone()
            },
            1,
        ),
        (
            "status-cache-hits",
            Canned {
                builds: Canned::healthy("", "", 0, 6, 1).builds,
                ..healthy.clone()
            },
            0,
        ),
    ];
    for (rule, canned, exit) in cases {
        let canned = Canned {
            gc: if rule == "status-gc-behind" {
                healthy.gc.clone()
            } else {
                canned.gc.clone()
            },
            ..canned
        };
        let ports = daemons(&farm.certs(), vec![canned]);
        let (code, doc) = farm.json(&ports, &[]);
        let found = rules(&doc);
        assert!(found.iter().any(|(r, _)| r == rule), "{rule}: {found:?}");
        assert_eq!(code, exit, "{rule}: {doc:#}");
        let d = &doc["pools"][0]["daemons"][0];
        let want = if exit == 1 {
            "error"
        } else if rule == "status-cache-hits" {
            "ok"
        } else {
            "warning"
        };
        assert_eq!(d["state"], want, "{rule}");
    }
}

#[test]
fn builds_piling_onto_one_daemon_are_noted_for_the_pool() {
    let farm = Farm::new(SPEC);
    let busy = Canned {
        builds: Canned::healthy("", "", 0, 12, 6).builds,
        ..farm.healthy()
    };
    let idle = Canned {
        builds: Canned::healthy("", "", 0, 1, 6).builds,
        ..farm.healthy()
    };
    let ports = daemons(&farm.certs(), vec![busy, idle]);
    let (code, doc) = farm.json(&ports, &[]);
    assert_eq!(code, 0);
    assert_eq!(
        rules(&doc),
        [("status-spread".to_string(), "pool amd64".to_string())]
    );
    // An even farm is not noted.
    let ports = daemons(&farm.certs(), vec![farm.healthy(), farm.healthy()]);
    assert!(rules(&farm.json(&ports, &[]).1).is_empty());
}

#[test]
fn a_certificate_about_to_expire_is_read_from_the_handshake() {
    let farm = Farm::new(&format!("[tls]\nserver_days = 10\n{SPEC}"));
    let ports = daemons(&farm.certs(), vec![farm.healthy()]);
    let (code, doc) = farm.json(&ports, &[]);
    assert_eq!(code, 0);
    // Issued for 10 days, a moment ago (the day boundary decides between the two).
    let days = doc["pools"][0]["daemons"][0]["cert_days_left"]
        .as_i64()
        .unwrap();
    assert!((9..=10).contains(&days), "{days}");
    assert_eq!(rules(&doc)[0].0, "status-cert-expiring");
}

#[test]
fn a_partial_farm_is_judged_and_a_hung_daemon_costs_one_timeout() {
    let farm = Farm::new(SPEC);
    let ok = daemons(&farm.certs(), vec![farm.healthy()])[0];
    let (stuck, gone) = (hung(), closed());
    let start = Instant::now();
    let (code, doc) = farm.json(&[ok, stuck, hung(), gone], &["--timeout", "1s"]);
    // Each daemon has its own timeout, all at once: nowhere near 3 × 1s plus a hang.
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(code, 1, "{doc:#}");
    let states: Vec<&str> = doc["pools"][0]["daemons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["ok", "unreachable", "unreachable", "unreachable"]);
    let messages: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(messages[0].ends_with("no answer within 1s"), "{messages:?}");
    assert!(messages[2].contains("cannot connect"), "{messages:?}");
    assert_eq!(doc["summary"]["reachable"], 1);
    // Nothing answers at all: exit 2.
    let (code, _) = farm.json(&[closed()], &[]);
    assert_eq!(code, 2);
}

#[test]
fn refused_tls_says_which_side_refused_and_why() {
    let farm = Farm::new(SPEC);
    let other = Farm::new(SPEC);
    let port = daemons(&farm.certs(), vec![farm.healthy()])[0];
    let message = |extra: &[&str]| {
        let (code, doc) = farm.json(&[port], extra);
        assert_eq!(code, 2, "{doc:#}");
        assert_eq!(
            doc["pools"][0]["daemons"][0]["state"], "tls-refused",
            "{doc:#}"
        );
        let f = &doc["findings"][0];
        assert_eq!(f["rule"], "status-tls");
        f["message"].as_str().unwrap().to_string()
    };
    // Another farm's client: its CA does not know this daemon.
    let foreign = other.certs().join("client/ci");
    let m = message(&["--certs", foreign.to_str().unwrap()]);
    assert!(
        m.contains("buildfarm refused the daemon's certificate")
            && m.contains("not signed by the farm's CA"),
        "{m}"
    );
    // This farm's CA, but a client certificate from elsewhere: the daemon refuses it.
    let mixed = tempfile::tempdir().unwrap();
    std::fs::copy(
        farm.certs().join("client/ci/ca.crt"),
        mixed.path().join("ca.crt"),
    )
    .unwrap();
    for f in ["tls.crt", "tls.key"] {
        std::fs::copy(foreign.join(f), mixed.path().join(f)).unwrap();
    }
    let m = message(&["--certs", mixed.path().to_str().unwrap()]);
    assert!(
        m.contains("the daemon refused buildfarm's client certificate"),
        "{m}"
    );
    // The right files, a name the certificate does not cover.
    let m = message(&["--servername", "elsewhere.example.com"]);
    assert!(
        m.contains("does not cover the name `elsewhere.example.com`"),
        "{m}"
    );
}

#[test]
fn people_get_a_table_per_pool_and_the_findings() {
    let farm = Farm::new(SPEC);
    let ports = daemons(
        &farm.certs(),
        vec![
            farm.healthy(),
            Canned {
                version: "v0.34.2".into(),
                ..farm.healthy()
            },
        ],
    );
    let addrs: Vec<String> = ports
        .iter()
        .map(|p| format!("tcp://127.0.0.1:{p}"))
        .collect();
    let out = farm.status(&["--addr", &addrs[0], "--addr", &addrs[1]]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "pool amd64 (amd64, 2 daemons)");
    let header: Vec<&str> = lines[1]
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "POD",
            "VERSION",
            "PLATFORMS",
            "USED / CAP / VOLUME",
            "BUILDS",
            "CACHE HITS",
            "CERT",
            "STATE"
        ]
    );
    assert!(
        lines[2].starts_with(&addrs[0]) && lines[2].ends_with("ok"),
        "{text}"
    );
    assert!(
        lines[3].contains("v0.34.2") && lines[3].ends_with("warning"),
        "{text}"
    );
    assert!(
        lines[2].contains("10 GiB / 75 GiB / 100 GiB") && lines[2].contains("60%"),
        "{text}"
    );
    assert!(text.contains("warning[status-version]"), "{text}");
    // No colour off a terminal, and no progress line on a captured stderr.
    assert!(!text.contains('\x1b'));
    assert!(!stderr(&out).contains("asking"), "{}", stderr(&out));
}

#[test]
fn bad_arguments_and_bad_certificates_are_refused_before_asking() {
    let farm = Farm::new(SPEC);
    for (args, code, says) in [
        (vec!["--addr", "nonsense"], 2, "is not `tcp://HOST:PORT`"),
        (vec!["--timeout", "0s"], 2, "at least `1s`"),
        (vec!["--pool", "amd46"], 1, "did you mean `amd64`"),
        (vec!["--servername", "x"], 2, "--addr"),
    ] {
        let out = farm.status(&args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    let broken = tempfile::tempdir().unwrap();
    for f in ["ca.crt", "tls.crt"] {
        std::fs::copy(
            farm.certs().join("client/ci").join(f),
            broken.path().join(f),
        )
        .unwrap();
    }
    std::fs::write(
        broken.path().join("tls.key"),
        "-----BEGIN PRIVATE KEY-----\nnot base64\n",
    )
    .unwrap();
    let out = farm.status(&[
        "--certs",
        broken.path().to_str().unwrap(),
        "--addr",
        "tcp://127.0.0.1:1",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("tls.key`: not a PEM private key"),
        "{}",
        stderr(&out)
    );
}

/// A fake `kubectl` on PATH: `port-forward` records its PID and arguments, forwards the local
/// port to the fake daemon of `$FAKE_DAEMON_PORT` (Python, as kubectl would), and says so.
const FAKE_KUBECTL: &str = r#"#!/bin/sh
echo "$$ $*" >> "$KUBECTL_LOG"
local=${5%%:*}
exec python3 -c '
import socket, sys, threading
def pump(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        b.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
print("Forwarding from 127.0.0.1:%s -> %s" % (sys.argv[1], sys.argv[2]), flush=True)
while True:
    c, _ = s.accept()
    d = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    threading.Thread(target=pump, args=(c, d), daemon=True).start()
    threading.Thread(target=pump, args=(d, c), daemon=True).start()
' "$local" "$FAKE_DAEMON_PORT"
"#;

/// `buildfarm status --via port-forward ARGS` in `farm`'s folder, with the fake `kubectl` first
/// on PATH, forwarding to the daemon on `daemon_port`; and the log of its calls.
fn with_fake_kubectl(
    farm: &Farm,
    daemon_port: u16,
    args: &[&str],
) -> (std::process::Command, PathBuf) {
    let bin = farm.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("kubectl"), FAKE_KUBECTL).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("kubectl"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = farm.path("kubectl.log");
    let mut command = farm
        .t
        .borrow()
        .command(&[&["status", "--via", "port-forward"], args].concat());
    command
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("KUBECTL_LOG", &log)
        .env("FAKE_DAEMON_PORT", daemon_port.to_string());
    (command, log)
}

#[test]
fn port_forward_starts_uses_and_stops_its_kubectl_children() {
    let farm = Farm::new(SPEC);
    let port = daemons(&farm.certs(), vec![farm.healthy()])[0];
    let (mut status, log) = with_fake_kubectl(&farm, port, &["--format", "json"]);
    let out = status.output().unwrap();
    let doc: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    // One child per pod, each asked as that pod (its DNS name is the server name).
    let calls = std::fs::read_to_string(&log).unwrap();
    let calls: Vec<Vec<&str>> = calls.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    // Started at once: the log's order is theirs; one call per pod all the same.
    let mut calls = calls;
    calls.sort_by(|a, b| a[4].cmp(b[4]));
    for (i, call) in calls.iter().enumerate() {
        assert_eq!(
            call[1..5],
            [
                "-n",
                "buildkit",
                "port-forward",
                &format!("pod/buildkitd-amd64-{i}")
            ]
        );
        assert!(call[5].ends_with(":1234"), "{call:?}");
        let d = &doc["pools"][0]["daemons"][i];
        assert_eq!(d["name"], format!("buildkitd-amd64-{i}"));
        assert_eq!(
            d["servername"],
            format!("buildkitd-amd64-{i}.buildkitd-amd64-headless.buildkit.svc")
        );
        assert_eq!(
            d["endpoint"],
            format!("tcp://127.0.0.1:{}", call[5].trim_end_matches(":1234"))
        );
        assert_eq!(d["state"], "ok", "{doc:#}");
    }
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Every child is gone once status is: stopped by its PID, and reaped.
    for call in &calls {
        let alive = std::process::Command::new("kill")
            .args(["-0", call[0]])
            .output()
            .unwrap();
        assert!(!alive.status.success(), "kubectl {} still runs", call[0]);
    }
}

#[test]
fn ctrl_c_stops_every_kubectl_child_before_status_exits() {
    let farm = Farm::new(SPEC);
    // Daemons that take the connection and never answer: status is still asking at Ctrl-C.
    let port = hung();
    let (mut status, log) = with_fake_kubectl(&farm, port, &["--timeout", "60s"]);
    let mut status = status
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Both children started and forwarding: then Ctrl-C (SIGINT) to status, by its PID.
    let start = Instant::now();
    let calls = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().count() == 2 {
            break text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "kubectl was not started twice"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(500));
    let sent = std::process::Command::new("kill")
        .args(["-INT", &status.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let exit = status.wait().unwrap();
    assert_eq!(exit.code(), Some(130));
    for call in calls.lines() {
        let pid = call.split(' ').next().unwrap();
        let alive = std::process::Command::new("kill")
            .args(["-0", pid])
            .output()
            .unwrap();
        assert!(
            !alive.status.success(),
            "kubectl {pid} still runs after Ctrl-C"
        );
    }
}

/// With trust domains `status` tries every client certificate on every daemon: a fork pool whose
/// daemon still trusts the release client's CA (a stale bundle) is an error, while the release
/// daemon, trusting only its own client, is fine; each pool is asked with a client it admits.
#[test]
fn a_daemon_that_admits_another_domains_client_is_flagged() {
    let spec = "mode = \"userns\"\n[[tls.client]]\nname = \"release\"\npools = [\"release\"]\n[[tls.client]]\nname = \"forks\"\npools = [\"forks\"]\nuntrusted = true\n[[pool]]\nname = \"release\"\narch = \"amd64\"\nreplicas = 1\nstorage = \"100Gi\"\n[[pool]]\nname = \"forks\"\narch = \"amd64\"\nreplicas = 1\nstorage = \"100Gi\"\nuntrusted = true\n";
    let farm = Farm::new(spec);
    let ca = |client: &str| {
        std::fs::read(farm.certs().join("client-ca").join(client).join("ca.crt")).unwrap()
    };
    let healthy = Canned {
        gc: farm.rendered_gc(),
        ..Canned::healthy("v0.35.1", "amd64", GIB, 0, 0)
    };
    let release = daemons_with(
        fake::server_tls_trusting(&farm.certs(), ca("release")),
        vec![healthy.clone()],
    );
    let stale = [ca("forks"), ca("release")].concat();
    let forks = daemons_with(
        fake::server_tls_trusting(&farm.certs(), stale),
        vec![healthy],
    );
    // Asked as `forks` (the first client is `release`): the release pool is asked with its own.
    let (_, doc) = farm.json(&release, &["--pool", "release", "--client", "forks"]);
    let trust = &doc["pools"][0]["daemons"][0]["trust"];
    assert_eq!(doc["pools"][0]["daemons"][0]["state"], "ok", "{doc:#}");
    assert_eq!(trust["admits"], serde_json::json!(["release"]), "{doc:#}");
    assert_eq!(trust["refuses"], serde_json::json!(["forks"]), "{doc:#}");
    assert!(
        rules(&doc).iter().all(|(r, _)| r != "status-trust"),
        "{doc:#}"
    );
    let (code, doc) = farm.json(&forks, &["--pool", "forks"]);
    assert_eq!(code, 1, "{doc:#}");
    let trust = &doc["pools"][0]["daemons"][0]["trust"];
    assert_eq!(
        trust["admits"],
        serde_json::json!(["release", "forks"]),
        "{doc:#}"
    );
    let found: Vec<&Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "status-trust")
        .collect();
    assert_eq!(found.len(), 1, "{doc:#}");
    let message = found[0]["message"].as_str().unwrap();
    assert!(
        message.contains("admits client `release`, which pool `forks` must refuse"),
        "{message}"
    );
    // People see the same on the pool's trust line.
    let out = farm.status(&[
        "--pool",
        "forks",
        "--timeout",
        "2s",
        "--addr",
        &format!("tcp://127.0.0.1:{}", forks[0]),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "trust: the spec admits forks; the daemons admitted forks, release, refused none"
        ),
        "{text}"
    );
}
