"""Runs rendered pods under a real container runtime (runc), the way kubelet + containerd would.

Usage: python3 pod_check.py --standin BIN [--expect-fail TEXT] FILE...

Each FILE is a YAML stream: `buildfarm render` output (every StatefulSet's pod template is run,
with the stream's ConfigMaps and Secrets as its volumes) or a Pod (the client sidecar). For each
`buildkitd` container this:

1. lays out an OCI bundle as containerd's CRI plugin would for that container: the image's user,
   environment and entrypoint; runAsUser/runAsGroup, fsGroup and the image's groups; containerd's
   default capabilities with the container's `drop`/`add` applied (every capability when
   privileged); readOnlyRootFilesystem; containerd's masked and read-only paths unless
   privileged; allowPrivilegeEscalation → noNewPrivileges; emptyDir, PVC, ConfigMap and Secret
   volumes with kubelet's ownership (fsGroup: group-owned, group-writable, setgid folders) and
   its `..data` layout; `hostUsers: false` → a user namespace of 65536 ids; resource limits;
2. starts it with `runc run -d`;
3. checks: it is still running after its startup probe passes (probe commands run with
   `runc exec` as the container's own user, capabilities and environment, within the probe's
   timeoutSeconds); readiness and liveness pass; the preStop hook keeps waiting while a client
   holds the build port open and returns within 15 s once it leaves, and within 15 s when idle;
   SIGTERM ends the container within 10 s.

The image is a stand-in root filesystem laid out like the upstream moby/buildkit images
(Dockerfile stages `rootless` and `buildkit-linux`), from Debian's packages: busybox-static for
the shell and tools, rootlesskit, newuidmap/newgidmap from uidmap (given file capabilities
`cap_setuid,cap_setgid=ep`, mode 0755, as Alpine's shadow-uidmap ships them), runc as
`/usr/bin/buildkit-runc`, and the stand-in daemon (`.ci/standin/buildkitd.rs`) as `buildkitd`
and `buildctl`. Shared libraries come from this machine.

Where this differs from a real kubelet + containerd, see README "Proven in CI".

With --expect-fail TEXT, every container must fail and TEXT must be in what the check says:
with --drop-mount PATH (remove that mount from every container first), CI shows that the check
catches the fault it exists for (the default farm without its /tmp emptyDir, as rendered before
the fix, exits at start).
"""
import argparse
import base64
import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

import yaml

RUNC = shutil.which("runc") or "/usr/sbin/runc"
# containerd's default capability set (pkg/oci/spec.go, defaultUnixCaps).
DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]
ALL_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
    "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
]
# containerd's masked and read-only paths for unprivileged containers (pkg/oci/spec.go).
MASKED = [
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
    "/sys/devices/virtual/powercap", "/proc/scsi",
]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
# A pod in its own user namespace gets 65536 ids at a multiple of 65536 (kubelet's allocator).
USERNS_BASE = 65536 * 16

# The upstream images' configs (moby/buildkit Dockerfile, stages `rootless` and `buildkit-linux`).
IMAGES = {
    "rootless": {
        "user": (1000, 1000),
        "env": {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/home/user", "USER": "user", "XDG_RUNTIME_DIR": "/run/user/1000",
            "TMPDIR": "/home/user/.local/tmp",
            "BUILDKIT_HOST": "unix:///run/user/1000/buildkit/buildkitd.sock",
        },
        "entrypoint": ["rootlesskit", "buildkitd"],
    },
    "privileged": {
        "user": (0, 0),
        "env": {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "BUILDKIT_SETUP_CGROUPV2_ROOT": "1",
        },
        "entrypoint": ["buildkitd"],
    },
}


def log(msg):
    print(msg, flush=True)


def run(*cmd, **kw):
    return subprocess.run(list(cmd), check=True, **kw)


def copy_with_libs(binary, rootfs, dest):
    """Copies `binary` to rootfs/dest and every shared library it loads to the same path."""
    target = rootfs + dest
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy2(binary, target)
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        lib = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
        if lib.startswith("/"):
            real = os.path.realpath(lib)
            for path in {lib, real}:
                os.makedirs(rootfs + os.path.dirname(path), exist_ok=True)
                if not os.path.exists(rootfs + path):
                    shutil.copy2(real, rootfs + path)


def build_rootfs(flavor, standin, into):
    """The stand-in image for `flavor`, laid out like moby/buildkit's."""
    rootfs = os.path.join(into, f"image-{flavor}")
    for d in ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "proc", "sys", "dev", "run",
              "var/lib", "root"]:
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
    shutil.copy2("/bin/busybox", rootfs + "/bin/busybox")
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True).stdout
    for applet in applets.split():
        link = os.path.join(rootfs, "bin", applet)
        if not os.path.exists(link):
            os.symlink("busybox", link)
    copy_with_libs(standin, rootfs, "/usr/bin/buildkitd")
    os.symlink("buildkitd", rootfs + "/usr/bin/buildctl")
    copy_with_libs(RUNC, rootfs, "/usr/bin/buildkit-runc")
    passwd = "root:x:0:0:root:/root:/bin/sh\n"
    group = "root:x:0:root\n"
    if flavor == "rootless":
        copy_with_libs(shutil.which("rootlesskit"), rootfs, "/usr/bin/rootlesskit")
        for tool in ["newuidmap", "newgidmap"]:
            copy_with_libs(shutil.which(tool), rootfs, f"/usr/bin/{tool}")
            path = f"{rootfs}/usr/bin/{tool}"
            os.chmod(path, 0o755)
            run("setcap", "cap_setuid,cap_setgid=ep", path)
        passwd += "user:x:1000:1000:Linux User,,,:/home/user:/bin/sh\n"
        group += "user:x:1000:\n"
        with open(rootfs + "/etc/subuid", "w") as f:
            f.write("user:100000:65536\n")
        shutil.copy2(rootfs + "/etc/subuid", rootfs + "/etc/subgid")
        for d in ["run/user/1000", "home/user/.local/tmp", "home/user/.local/share/buildkit"]:
            os.makedirs(os.path.join(rootfs, d), exist_ok=True)
        for d in [rootfs + "/run/user/1000", rootfs + "/home/user"]:
            for top, dirs, files in os.walk(d):
                for name in [top] + [os.path.join(top, n) for n in dirs + files]:
                    os.lchown(name, 1000, -1)
    else:
        os.makedirs(rootfs + "/var/lib/buildkit", exist_ok=True)
    with open(rootfs + "/etc/passwd", "w") as f:
        f.write(passwd)
    with open(rootfs + "/etc/group", "w") as f:
        f.write(group)
    return rootfs


def flavor_of(image):
    return "rootless" if "rootless" in image.split("/")[-1] else "privileged"


def image_groups(rootfs, uid):
    """The groups /etc/group gives the image's user (containerd adds them)."""
    names = {}
    with open(rootfs + "/etc/passwd") as f:
        for line in f:
            p = line.strip().split(":")
            names[int(p[2])] = p[0]
    groups = []
    with open(rootfs + "/etc/group") as f:
        for line in f:
            p = line.strip().split(":")
            if names.get(uid) in p[3].split(","):
                groups.append(int(p[2]))
    return groups


def shift_tree(path, by):
    """Every file's owner moved up by `by`: what an idmapped mount shows a user-namespaced pod."""
    names = [path] + [os.path.join(top, n) for top, dirs, files in os.walk(path) for n in dirs + files]
    for name in names:
        st = os.lstat(name)
        os.lchown(name, st.st_uid + by, st.st_gid + by)
        if not os.path.islink(name):
            os.chmod(name, st.st_mode & 0o7777)  # chown clears setuid/setgid bits; keep them


def set_ownership(path, fs_group, read_only):
    """kubelet's SetVolumeOwnership: group fsGroup, group read (and write, and setgid folders,
    unless read-only)."""
    if fs_group is None:
        return
    for top, dirs, files in os.walk(path):
        for name in [top] + [os.path.join(top, n) for n in dirs + files]:
            if os.path.islink(name):
                continue
            os.chown(name, -1, fs_group)
            mode = os.stat(name).st_mode & 0o7777
            if read_only:
                mode |= 0o440
            else:
                mode |= 0o660
            if os.path.isdir(name):
                mode |= 0o110 if read_only else 0o110 | 0o2000  # setgid folders when writable
            os.chmod(name, mode)


def atomic_writer(path, files, default_mode):
    """kubelet's AtomicWriter layout: files in a timestamped folder behind `..data`."""
    stamp = "..2026_01_01_00_00_00.000000001"
    os.makedirs(os.path.join(path, stamp))
    os.symlink(stamp, os.path.join(path, "..data"))
    for name, (content, mode) in files.items():
        full = os.path.join(path, stamp, name)
        with open(full, "wb") as f:
            f.write(content)
        os.chmod(full, default_mode if mode is None else mode)
        os.symlink(os.path.join("..data", name), os.path.join(path, name))
    os.chmod(os.path.join(path, stamp), 0o755)


def volume_dir(vol, objects, namespace, where, fs_group):
    """Lays out one pod volume on the host as kubelet would; returns (path, always read-only)."""
    path = os.path.join(where, vol["name"])
    if "emptyDir" in vol:
        os.makedirs(path)
        os.chmod(path, 0o777)
        set_ownership(path, fs_group, False)
        return path, False
    if "persistentVolumeClaim" in vol or vol.get("_pvc"):
        os.makedirs(path)  # a fresh filesystem's root: root:root 0755
        os.chmod(path, 0o755)
        set_ownership(path, fs_group, False)
        return path, False
    for kind, key, name_key in [("configMap", "ConfigMap", "name"), ("secret", "Secret", "secretName")]:
        if kind not in vol:
            continue
        src = vol[kind]
        obj = objects.get((key, namespace, src[name_key]))
        data = {}
        if obj is not None:
            for k, v in (obj.get("data") or {}).items():
                data[k] = v.encode() if key == "ConfigMap" else base64.b64decode(v)
            for k, v in (obj.get("stringData") or {}).items():
                data[k] = v.encode()
        else:
            # Made by someone else (cert-manager, the user): a stand-in of the same keys.
            keys = [i["key"] for i in src.get("items", [])] or ["ca.crt", "tls.crt", "tls.key"]
            data = {k: b"stand-in content: this object is not rendered by buildfarm\n" for k in keys}
        items = src.get("items")
        files = {}
        if items:
            for i in items:
                files[i["path"]] = (data[i["key"]], i.get("mode"))
        else:
            files = {k: (v, None) for k, v in data.items()}
        os.makedirs(path)
        atomic_writer(path, files, src.get("defaultMode", 0o644))
        set_ownership(path, fs_group, True)
        return path, True
    if "hostPath" in vol:
        os.makedirs(path)
        return path, False
    raise SystemExit(f"pod check: volume {vol['name']}: a source this check does not lay out: {vol}")


def host_capabilities():
    """The capabilities this machine's runtime holds: a privileged container gets these
    (containerd asks the kernel for the current set)."""
    with open("/proc/self/status") as f:
        bits = next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))
    return [name for i, name in enumerate(ALL_CAPS) if bits >> i & 1]


def capabilities(sc):
    if sc.get("privileged"):
        return host_capabilities()
    caps = list(DEFAULT_CAPS)
    spec = sc.get("capabilities") or {}
    drop = ["CAP_" + c for c in spec.get("drop", [])]
    if "CAP_ALL" in drop:
        caps = []
    caps = [c for c in caps if c not in drop]
    for c in spec.get("add", []):
        if "CAP_" + c not in caps:
            caps.append("CAP_" + c)
    return caps


class Pod:
    """One buildkitd container of one pod template, as a runc container."""

    def __init__(self, label, pod_spec, container, objects, namespace, work, images):
        self.label = label
        self.spec = pod_spec
        self.c = container
        self.id = "podcheck-" + "".join(ch if ch.isalnum() else "-" for ch in label)[:60]
        self.dir = os.path.join(work, self.id)
        self.state = os.path.join(work, "runc-state")
        os.makedirs(self.dir)
        self.log_path = os.path.join(self.dir, "container.log")
        image = IMAGES[flavor_of(container["image"])]
        psc = pod_spec.get("securityContext") or {}
        sc = container.get("securityContext") or {}
        self.userns = pod_spec.get("hostUsers") is False
        shift = USERNS_BASE if self.userns else 0
        rootfs = os.path.join(self.dir, "rootfs")
        run("cp", "-a", images[flavor_of(container["image"])], rootfs)
        uid = sc.get("runAsUser", psc.get("runAsUser", image["user"][0]))
        gid = sc.get("runAsGroup", psc.get("runAsGroup", image["user"][1]))
        fs_group = psc.get("fsGroup")
        groups = image_groups(rootfs, uid) + ([fs_group] if fs_group is not None else [])
        groups += psc.get("supplementalGroups", [])
        if sc.get("runAsNonRoot") and uid == 0:
            raise SystemExit(f"{label}: runAsNonRoot with user 0: kubelet refuses to start it")
        # Volumes, then the kubelet-managed files.
        vols = {}
        for vol in pod_spec.get("volumes", []):
            vols[vol["name"]] = volume_dir(vol, objects, namespace, os.path.join(self.dir, "volumes"), fs_group)
        for claim in pod_spec.get("_claims", []):
            vols[claim] = volume_dir({"name": claim, "_pvc": True}, objects, namespace, os.path.join(self.dir, "volumes"), fs_group)
        etc = os.path.join(self.dir, "etc")
        os.makedirs(etc)
        with open(os.path.join(etc, "hosts"), "w") as f:
            f.write("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
        with open(os.path.join(etc, "hostname"), "w") as f:
            f.write("buildkitd-0\n")
        with open(os.path.join(etc, "resolv.conf"), "w") as f:
            f.write("nameserver 127.0.0.1\n")
        with open(os.path.join(etc, "termination-log"), "w") as f:
            pass
        if self.userns:
            shift_tree(rootfs, shift)
            for path, _ in vols.values():
                shift_tree(path, shift)
            shift_tree(etc, shift)
        privileged = bool(sc.get("privileged"))
        env = dict(image["env"])
        env["HOSTNAME"] = "buildkitd-0"
        for e in container.get("env", []):
            env[e["name"]] = e.get("value", "")
        args = (container.get("command") or image["entrypoint"]) + container.get("args", [])
        caps = capabilities(sc)
        self.process = {
            "terminal": False,
            "user": {"uid": uid, "gid": gid, "additionalGids": sorted(set(groups))},
            "args": args,
            "env": [f"{k}={v}" for k, v in env.items()],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": sc.get("allowPrivilegeEscalation") is False,
        }
        ro = "ro" if not privileged else "rw"
        mounts = [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", ro]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", ro]},
        ]
        for m in container.get("volumeMounts", []):
            path, always_ro = vols[m["name"]]
            opts = ["rbind", "rprivate"]
            if always_ro or m.get("readOnly"):
                opts.append("ro")
            mounts.append({"destination": m["mountPath"], "type": "bind", "source": path, "options": opts})
        for name, dest in [("hosts", "/etc/hosts"), ("hostname", "/etc/hostname"),
                           ("resolv.conf", "/etc/resolv.conf"), ("termination-log", "/dev/termination-log")]:
            mounts.append({"destination": dest, "type": "bind", "source": os.path.join(etc, name), "options": ["rbind", "rprivate"]})
        namespaces = [{"type": t} for t in ["pid", "ipc", "uts", "mount", "network"]]
        linux = {
            "namespaces": namespaces,
            "cgroupsPath": f"/buildfarm-podcheck/{self.id}",
            "resources": resources(container.get("resources") or {}),
        }
        if not privileged:
            linux["maskedPaths"] = MASKED
            linux["readonlyPaths"] = READONLY
        if self.userns:
            namespaces.append({"type": "user"})
            linux["uidMappings"] = [{"containerID": 0, "hostID": shift, "size": 65536}]
            linux["gidMappings"] = [{"containerID": 0, "hostID": shift, "size": 65536}]
        config = {
            "ociVersion": "1.0.2",
            "process": self.process,
            "root": {"path": rootfs, "readonly": bool(sc.get("readOnlyRootFilesystem"))},
            "hostname": "buildkitd-0",
            "mounts": mounts,
            "linux": linux,
        }
        with open(os.path.join(self.dir, "config.json"), "w") as f:
            json.dump(config, f, indent=1)

    def runc(self, *args, **kw):
        return subprocess.run([RUNC, "--root", self.state, *args], capture_output=True, text=True, **kw)

    def status(self):
        out = self.runc("state", self.id)
        return json.loads(out.stdout)["status"] if out.returncode == 0 else "absent"

    def container_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def start(self):
        with open(self.log_path, "w") as logf:
            started = subprocess.run([RUNC, "--root", self.state, "run", "-d", "--bundle", self.dir, self.id],
                                     stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        if started.returncode != 0:
            self.fail("runc could not start the container")

    def exec_args(self, command):
        proc = dict(self.process, args=command)
        path = os.path.join(self.dir, f"exec-{time.monotonic_ns()}.json")
        with open(path, "w") as f:
            json.dump(proc, f)
        return [RUNC, "--root", self.state, "exec", "--process", path, self.id]

    def exec(self, command, timeout):
        try:
            return subprocess.run(self.exec_args(command), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def fail(self, what):
        raise AssertionError(f"{self.label}: {what}\n--- container log ---\n{self.container_log()}")

    def probe(self, kind):
        p = self.c.get(kind)
        if not p:
            return None
        return p["exec"]["command"], p.get("timeoutSeconds", 1), p.get("periodSeconds", 10), p.get("failureThreshold", 3)

    def check(self):
        self.start()
        startup = self.probe("startupProbe") or self.probe("readinessProbe")
        command, timeout, period, threshold = startup
        deadline = time.monotonic() + min(period * threshold, 60)
        while True:
            if self.status() != "running":
                self.fail("the container stopped before its startup probe passed")
            out = self.exec(command, timeout)
            if out is not None and out.returncode == 0:
                break
            if time.monotonic() > deadline:
                why = "timed out" if out is None else (out.stderr or out.stdout).strip()
                self.fail(f"startup probe never passed: {why}")
            time.sleep(1)
        for kind in ["readinessProbe", "livenessProbe"]:
            p = self.probe(kind)
            if p:
                out = self.exec(p[0], p[1])
                if out is None or out.returncode != 0:
                    self.fail(f"{kind} failed: {'timed out' if out is None else (out.stderr or out.stdout).strip()}")
        if self.status() != "running":
            self.fail("not running after its probes")
        pre_stop = ((self.c.get("lifecycle") or {}).get("preStop") or {}).get("exec", {}).get("command")
        port = next((p["containerPort"] for p in self.c.get("ports", []) if p.get("name") == "buildkitd"), None)
        if pre_stop and port:
            self.check_drain(pre_stop, port)
        self.runc("kill", self.id, "TERM")
        deadline = time.monotonic() + 10
        while self.status() == "running":
            if time.monotonic() > deadline:
                self.runc("kill", self.id, "KILL")
                self.fail("SIGTERM did not end it within 10 s")
            time.sleep(0.2)
        self.runc("delete", "--force", self.id)
        return self.container_log()

    def check_drain(self, pre_stop, port):
        # A client holding the build port open, as a running build does.
        holder = subprocess.Popen(self.exec_args(["nc", "127.0.0.1", str(port)]),
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1)
            if holder.poll() is not None:
                self.fail(f"no client could connect to the build port {port}")
            hook = subprocess.Popen(self.exec_args(pre_stop), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(15)
            if hook.poll() is not None:
                self.fail("preStop returned while a client held the build port open")
        finally:
            holder.send_signal(signal.SIGTERM)  # runc exec forwards it to the client
            holder.wait(timeout=10)
        try:
            hook.wait(timeout=15)
        except subprocess.TimeoutExpired:
            hook.kill()
            self.fail("preStop did not return within 15 s of the last client leaving")
        if hook.returncode != 0:
            self.fail(f"preStop failed: {hook.stderr.read().decode(errors='replace')}")
        started = time.monotonic()
        out = self.exec(pre_stop, 15)
        if out is None or out.returncode != 0:
            self.fail("preStop did not return within 15 s on an idle daemon")
        self.drain_idle_seconds = time.monotonic() - started


def resources(spec):
    out = {}
    limits = spec.get("limits") or {}
    if "memory" in limits:
        out["memory"] = {"limit": quantity(limits["memory"])}
    if "cpu" in limits:
        out["cpu"] = {"quota": int(quantity(limits["cpu"]) * 100000), "period": 100000}
    return out


def quantity(q):
    q = str(q)
    for suffix, mult in [("m", 1 / 1000), ("Ki", 2**10), ("Mi", 2**20), ("Gi", 2**30), ("Ti", 2**40), ("k", 10**3), ("M", 10**6), ("G", 10**9), ("T", 10**12)]:
        if q.endswith(suffix):
            value = float(q[: -len(suffix)]) * mult
            return value if suffix == "m" else int(value)  # millicores stay fractional
    return float(q) if "." in q else int(q)


def pods_in(path):
    """(label, pod spec, container, objects, namespace) for each buildkitd container in a file."""
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    objects = {(d["kind"], d.get("metadata", {}).get("namespace"), d["metadata"]["name"]): d for d in docs}
    name = os.path.splitext(os.path.basename(path))[0]
    for d in docs:
        ns = d.get("metadata", {}).get("namespace")
        if d["kind"] == "StatefulSet":
            spec = dict(d["spec"]["template"]["spec"])
            spec["_claims"] = [t["metadata"]["name"] for t in d["spec"].get("volumeClaimTemplates", [])]
            label = f"{name}/{d['metadata']['name']}"
        elif d["kind"] == "Pod":
            spec = d["spec"]
            label = f"{name}/pod"
        else:
            continue
        for c in spec.get("initContainers", []) + spec.get("containers", []):
            if c["name"] == "buildkitd":
                yield label, spec, c, objects, ns


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--standin", required=True)
    ap.add_argument("--expect-fail")
    ap.add_argument("--drop-mount")
    ap.add_argument("files", nargs="+")
    opts = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pod-check-")
    os.chmod(work, 0o755)  # a user-namespaced pod's root must reach its bundle
    pods = []
    try:
        images = {f: build_rootfs(f, opts.standin, work) for f in IMAGES}
        for path in opts.files:
            for label, spec, c, objects, ns in pods_in(path):
                if opts.drop_mount:
                    c["volumeMounts"] = [m for m in c["volumeMounts"] if m["mountPath"] != opts.drop_mount]
                pods.append(Pod(label, spec, c, objects, ns, work, images))
        if not pods:
            raise SystemExit("pod check: no buildkitd container in " + " ".join(opts.files))
        failed = 0
        # The pods mostly wait (probes, drains): all at once.
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(len(pods), 32)) as pool:
            futures = {pool.submit(p.check): p for p in pods}
            for fut in concurrent.futures.as_completed(futures):
                p = futures[fut]
                err = fut.exception()
                if opts.expect_fail:
                    text = str(err) if err else ""
                    if err is None or opts.expect_fail not in text:
                        failed += 1
                        log(f"FAIL {p.label}: expected a failure saying {opts.expect_fail!r}, got: {text or 'it started'}")
                    else:
                        log(f"ok   {p.label}: refused as expected ({opts.expect_fail})")
                elif err is not None:
                    failed += 1
                    log(f"FAIL {''.join(traceback.format_exception_only(err)).strip()}")
                else:
                    drain = getattr(p, "drain_idle_seconds", None)
                    said = ("no preStop" if drain is None else
                            f"preStop waits for a client and returns {drain:.0f} s after idle")
                    log(f"ok   {p.label}: started, probes pass, {said}, SIGTERM ends it")
        log(f"pod check: {len(pods) - failed} passed, {failed} failed")
        sys.exit(1 if failed else 0)
    finally:
        for p in pods:
            p.runc("delete", "--force", p.id)
        if not os.environ.get("POD_CHECK_KEEP"):
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
