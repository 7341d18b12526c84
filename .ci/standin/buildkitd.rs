//! A stand-in for `buildkitd` and `buildctl` in CI's pod check (`.ci/pod_check.py`). No
//! package registry ships BuildKit, so this does to the pod what buildkitd does to it on start,
//! and nothing more: it is never a build daemon.
//!
//! As `buildkitd [--config FILE] [--root DIR] [--addr ADDR]...`, like buildkitd it:
//! - reads its config (`root`, `[grpc] address`, `[grpc.tls]` files: unreadable is fatal);
//! - takes its state folder (`--root`, else the config's, else buildkitd's default: the
//!   user's `~/.local/share/buildkit` under rootlesskit, `/var/lib/buildkit` otherwise) and
//!   locks `buildkitd.lock` in it;
//! - makes its temporary folder under `$TMPDIR` (Go's `os.MkdirTemp`);
//! - runs one container with `buildkit-runc` from where it stands (inside rootlesskit's user
//!   namespace when rootless), as its OCI worker runs a build step, and fails if that fails;
//! - listens on its unix socket (default `$XDG_RUNTIME_DIR/buildkit/buildkitd.sock` under
//!   rootlesskit, `/run/buildkit/buildkitd.sock` otherwise) and on its TCP port;
//! - ends on SIGTERM or SIGINT, removing its socket.
//!
//! As `buildctl --addr unix://SOCKET debug workers` it asks the daemon over that socket and
//! exits 0 only when the daemon answers with its workers, as the probes need.

use std::env;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

type Result<T> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let argv0 = env::args().next().unwrap_or_default();
    let name = Path::new(&argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("buildkitd")
        .to_string();
    let args: Vec<String> = env::args().skip(1).collect();
    let result = if name == "buildctl" {
        buildctl(&args)
    } else {
        buildkitd(&args)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{name} (stand-in): error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The value after `flag` each time it appears.
fn flag_values<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
    args.windows(2)
        .filter(|w| w[0] == flag)
        .map(|w| w[1].as_str())
        .collect()
}

fn buildctl(args: &[String]) -> Result<()> {
    let addr = flag_values(args, "--addr")
        .pop()
        .map(str::to_string)
        .or_else(|| env::var("BUILDKIT_HOST").ok())
        .ok_or("no --addr and no BUILDKIT_HOST")?;
    let path = addr
        .strip_prefix("unix://")
        .ok_or_else(|| format!("{addr}: the stand-in speaks only unix://"))?;
    let command: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--") && *a != addr)
        .collect();
    let mut stream = UnixStream::connect(path).map_err(|e| format!("connect {path}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    writeln!(stream, "{}", command.join(" ")).map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("read {path}: {e}"))?;
    print!("{answer}");
    if answer.starts_with("ID") {
        Ok(())
    } else {
        Err(format!("the daemon answered {answer:?}"))
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: i32) {
    STOP.store(true, Ordering::SeqCst);
}

unsafe extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
}

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

fn buildkitd(args: &[String]) -> Result<()> {
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);
    }
    let rootless = env::var_os("ROOTLESSKIT_STATE_DIR").is_some();
    let config = match flag_values(args, "--config").pop() {
        Some(path) => {
            let text = fs::read_to_string(path).map_err(|e| format!("config {path}: {e}"))?;
            text.parse::<toml::Table>()
                .map_err(|e| format!("config {path}: {e}"))?
        }
        None => toml::Table::new(),
    };
    let root = flag_values(args, "--root")
        .pop()
        .map(PathBuf::from)
        .or_else(|| {
            config
                .get("root")
                .and_then(|v| v.as_str())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| default_root(rootless));
    let mut addrs: Vec<String> = flag_values(args, "--addr")
        .into_iter()
        .map(str::to_string)
        .collect();
    let grpc = config.get("grpc").and_then(|g| g.as_table());
    if addrs.is_empty() {
        addrs = grpc
            .and_then(|g| g.get("address"))
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
    }
    if addrs.is_empty() {
        addrs.push(default_socket(rootless));
    }
    if let Some(tls) = grpc.and_then(|g| g.get("tls")).and_then(|t| t.as_table()) {
        for key in ["cert", "key", "ca"] {
            if let Some(path) = tls.get(key).and_then(|v| v.as_str()) {
                fs::read(path).map_err(|e| format!("tls {key} {path}: {e}"))?;
            }
        }
    }

    // os.MkdirAll(root, 0700): an existing folder (the cache volume) keeps its mode.
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&root)
        .map_err(|e| format!("state {}: {e}", root.display()))?;
    let lock_path = root.join("buildkitd.lock");
    let lock = File::create(&lock_path).map_err(|e| format!("{}: {e}", lock_path.display()))?;
    lock.try_lock()
        .map_err(|e| format!("{}: another daemon holds it: {e}", lock_path.display()))?;

    let tmp_root = env::var_os("TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    let tmp = tmp_root.join(format!("buildkit-standin-{}", std::process::id()));
    fs::create_dir(&tmp).map_err(|e| format!("temporary folder {}: {e}", tmp.display()))?;

    run_step(
        &root,
        args.iter().any(|a| a == "--oci-worker-no-process-sandbox"),
    )?;

    let mut sockets = Vec::new();
    for addr in &addrs {
        if let Some(path) = addr.strip_prefix("unix://") {
            let path = PathBuf::from(path);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            let _ = fs::remove_file(&path);
            let listener =
                UnixListener::bind(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            thread::spawn(move || serve_unix(listener));
            sockets.push(path);
        } else if let Some(hostport) = addr.strip_prefix("tcp://") {
            let listener = TcpListener::bind(hostport).map_err(|e| format!("{hostport}: {e}"))?;
            thread::spawn(move || serve_tcp(listener));
        } else {
            return Err(format!("{addr}: unknown address scheme"));
        }
    }
    eprintln!(
        "buildkitd (stand-in): running, root {}, listening on {}, temporary files in {}{}",
        root.display(),
        addrs.join(" "),
        tmp.display(),
        if rootless { ", under rootlesskit" } else { "" },
    );
    while !STOP.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(100));
    }
    for path in sockets {
        let _ = fs::remove_file(path);
    }
    let _ = fs::remove_dir_all(&tmp);
    eprintln!("buildkitd (stand-in): stopped by a signal");
    Ok(())
}

fn home() -> PathBuf {
    env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
}

fn default_root(rootless: bool) -> PathBuf {
    if !rootless {
        return PathBuf::from("/var/lib/buildkit");
    }
    env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".local/share"))
        .join("buildkit")
}

fn default_socket(rootless: bool) -> String {
    match env::var("XDG_RUNTIME_DIR") {
        Ok(dir) if rootless => format!("unix://{dir}/buildkit/buildkitd.sock"),
        _ => "unix:///run/buildkit/buildkitd.sock".to_string(),
    }
}

/// One build step: a container whose root is a copy of this image's busybox, run by
/// `buildkit-runc` in a bundle under the state folder, as the OCI worker does. Without a
/// process sandbox it shares the daemon's PID namespace and binds its /proc, as buildkitd's
/// `--oci-worker-no-process-sandbox` does; otherwise it gets its own and mounts a fresh one.
fn run_step(root: &Path, no_process_sandbox: bool) -> Result<()> {
    let bundle = root.join("standin-step");
    let _ = fs::remove_dir_all(&bundle);
    let rootfs = bundle.join("rootfs");
    for dir in ["bin", "proc", "dev", "tmp"] {
        fs::create_dir_all(rootfs.join(dir)).map_err(|e| format!("step bundle: {e}"))?;
    }
    fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
        .map_err(|e| format!("step bundle: /bin/busybox: {e}"))?;
    let (pid_ns, proc_mount) = if no_process_sandbox {
        (
            "",
            r#"{"destination": "/proc", "type": "bind", "source": "/proc", "options": ["rbind"]}"#,
        )
    } else {
        (
            r#"{"type": "pid"},"#,
            r#"{"destination": "/proc", "type": "proc", "source": "proc"}"#,
        )
    };
    let config = format!(
        r#"{{
  "ociVersion": "1.0.2",
  "process": {{"user": {{"uid": 0, "gid": 0}}, "cwd": "/", "args": ["/bin/busybox", "sh", "-c", "echo step > /tmp/out && /bin/busybox cat /tmp/out"],
               "env": ["PATH=/bin"], "noNewPrivileges": true}},
  "root": {{"path": "rootfs"}},
  "hostname": "step",
  "mounts": [{proc_mount},
             {{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]}},
             {{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}}],
  "linux": {{"namespaces": [{pid_ns} {{"type": "mount"}}, {{"type": "ipc"}}, {{"type": "uts"}}]}}
}}"#
    );
    fs::write(bundle.join("config.json"), config).map_err(|e| format!("step bundle: {e}"))?;
    let state = root.join("standin-runc");
    let out = Command::new("buildkit-runc")
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(format!("standin-step-{}", std::process::id()))
        .output()
        .map_err(|e| format!("buildkit-runc: {e}"))?;
    let said = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || said.trim() != "step" {
        return Err(format!(
            "the build step failed ({}): {}{}",
            out.status,
            said.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let _ = fs::remove_dir_all(&bundle);
    Ok(())
}

/// Answers `debug workers` with one worker, as the probes' buildctl expects.
fn serve_unix(listener: UnixListener) {
    for stream in listener.incoming().flatten() {
        let mut reader = BufReader::new(&stream);
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            continue;
        }
        let answer = if line.trim() == "debug workers" {
            "ID\t\t\t\tPLATFORMS\nstandin\t\t\t\tlinux/amd64\n".to_string()
        } else {
            format!("unknown command {:?}\n", line.trim())
        };
        let _ = (&stream).write_all(answer.as_bytes());
    }
}

/// Holds each connection open until its client closes it, as a build session does.
fn serve_tcp(listener: TcpListener) {
    for stream in listener.incoming().flatten() {
        thread::spawn(move || {
            let mut sink = [0u8; 4096];
            let mut stream = stream;
            while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
        });
    }
}
