"""Asks every rendered PromQL query of a real Prometheus, in both histogram ingestion modes.

Usage: python3 prometheus_check.py FIXTURES_DIR [--idle-seconds N] [--negative QUERY] STREAM.yaml...

For each KEDA ScaledObject in the rendered streams, its Prometheus trigger's `query` is asked,
through Prometheus's HTTP API, of two real Prometheus servers (Debian's `prometheus`, started
here on 127.0.0.1): one with default (classic) histogram ingestion, one with
`--enable-feature=native-histograms`, which asks for and scrapes the protobuf exposition. Both
scrape one stand-in exporter that serves BuildKit's own exposition, captured from a real
buildkitd (FIXTURES_DIR: `v0.32.2-after-22-builds.txt` and `.pb`), under the target labels a
Prometheus operator's pod monitor gives (`namespace`, `pod` = the pool's first daemon), with
the build counters growing while "builds run":

- idle at start: the query gives 0 (not "no data") in both modes;
- under load (a 6-second build finishing every 2 s: 3 builds in flight): above zero in both
  modes, and the two modes agree within 25 %;
- idle again (after the query's 5-minute window has passed over the load, `--idle-seconds`):
  back to 0 in both modes.

With --negative QUERY, that query must give 0 under load in the classic mode: the check is
shown to catch a query that only native histograms answer (the one rendered before the fix).
"""
import argparse
import http.server
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import yaml

LOAD_SECONDS = 40
BUILD_SECONDS = 6.0
BUILD_EVERY = 2.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- protobuf, as far as the exposition's MetricFamily needs it ----------------------------

def read_varint(b, i):
    shift = result = 0
    while True:
        c = b[i]
        i += 1
        result |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return result, i


def varint(n):
    out = bytearray()
    while True:
        c = n & 0x7F
        n >>= 7
        if n:
            out.append(c | 0x80)
        else:
            out.append(c)
            return bytes(out)


def fields(b):
    """A message's fields as (number, wire type, raw value), in order."""
    i, out = 0, []
    while i < len(b):
        key, i = read_varint(b, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, i = read_varint(b, i)
        elif wire == 1:
            value, i = b[i:i + 8], i + 8
        elif wire == 2:
            n, i = read_varint(b, i)
            value, i = b[i:i + n], i + n
        elif wire == 5:
            value, i = b[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        out.append((num, wire, value))
    return out


def encode(fs):
    out = bytearray()
    for num, wire, value in fs:
        out += varint(num << 3 | wire)
        if wire == 0:
            out += varint(value)
        elif wire == 2:
            out += varint(len(value)) + value
        else:
            out += value
    return bytes(out)


def zigzag(n):
    return (n << 1) ^ (n >> 63)


def unzigzag(n):
    return (n >> 1) ^ -(n & 1)


def double(x):
    return struct.pack("<d", x)


def undouble(b):
    return struct.unpack("<d", b)[0]


def delimited(messages):
    return b"".join(varint(len(m)) + m for m in messages)


def undelimited(data):
    i, out = 0, []
    while i < len(data):
        n, i = read_varint(data, i)
        out.append(data[i:i + n])
        i += n
    return out


# MetricFamily: 1 name, 4 metric. Metric: 3 counter (1 value), 7 histogram. Histogram: 1
# sample_count, 2 sample_sum, 13 positive_delta (sint64), 16 exemplar. (prometheus/client_model
# io/prometheus/client/metrics.proto)

def grown_histogram(h, builds, seconds):
    out, first_delta = [], True
    deltas = [i for i, f in enumerate(fields(h)) if f[0] == 13]
    for idx, (num, wire, value) in enumerate(fields(h)):
        if num == 1:
            value += builds
        elif num == 2:
            value = double(undouble(value) + seconds)
        elif num == 13 and deltas:
            # The new builds land in the first populated bucket: its delta grows, the next one
            # shrinks by as much, so every other bucket keeps its count.
            if idx == deltas[0]:
                value = zigzag(unzigzag(value) + builds)
            elif len(deltas) > 1 and idx == deltas[1]:
                value = zigzag(unzigzag(value) - builds)
        elif num == 16:
            continue  # exemplars of the captured builds: leave them out
        out.append((num, wire, value))
    return encode(out)


def grown_protobuf(data, builds, seconds):
    families = []
    for fam in undelimited(data):
        fs = fields(fam)
        name = next(v for n, w, v in fs if n == 1)
        new = []
        for num, wire, value in fs:
            if num == 4 and name in (b"buildkit_build_duration_seconds", b"buildkit_builds_total"):
                metric = []
                for n2, w2, v2 in fields(value):
                    if n2 == 7:
                        v2 = grown_histogram(v2, builds, seconds)
                    elif n2 == 3:
                        counter = [(n3, w3, double(undouble(v3) + builds) if n3 == 1 else v3)
                                   for n3, w3, v3 in fields(v2)]
                        v2 = encode(counter)
                    metric.append((n2, w2, v2))
                value = encode(metric)
            new.append((num, wire, value))
        families.append(encode(new))
    return delimited(families)


def grown_text(text, builds, seconds):
    out = []
    for line in text.splitlines():
        if not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            base = series.split("{")[0]
            if base in ("buildkit_build_duration_seconds_bucket", "buildkit_build_duration_seconds_count",
                        "buildkit_builds_total"):
                line = f"{series} {float(value) + builds:g}"
            elif base == "buildkit_build_duration_seconds_sum":
                line = f"{series} {float(value) + seconds!r}"
        out.append(line)
    return "\n".join(out) + "\n"


class Exporter:
    """BuildKit's captured /metrics, its build counters grown by the builds finished since."""

    def __init__(self, fixtures):
        with open(os.path.join(fixtures, "v0.32.2-after-22-builds.txt")) as f:
            self.text = f.read()
        with open(os.path.join(fixtures, "v0.32.2-after-22-builds.pb"), "rb") as f:
            self.pb = f.read()
        self.builds = 0
        self.lock = threading.Lock()
        self.loaded_until = 0.0
        self.protobuf_scrapes = self.text_scrapes = 0
        exporter = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with exporter.lock:
                    builds = exporter.builds
                if "vnd.google.protobuf" in self.headers.get("Accept", ""):
                    exporter.protobuf_scrapes += 1
                    body = grown_protobuf(exporter.pb, builds, builds * BUILD_SECONDS)
                    ctype = ("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
                             "encoding=delimited")
                else:
                    exporter.text_scrapes += 1
                    body = grown_text(exporter.text, builds, builds * BUILD_SECONDS).encode()
                    ctype = "text/plain; version=0.0.4; charset=utf-8"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        threading.Thread(target=self.builds_finish, daemon=True).start()

    def builds_finish(self):
        while True:
            time.sleep(BUILD_EVERY)
            if time.monotonic() < self.loaded_until:
                with self.lock:
                    self.builds += 1

    def load(self, seconds):
        self.loaded_until = time.monotonic() + seconds


class Prometheus:
    def __init__(self, work, name, exporter, targets, native):
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        self.name = name
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{
                "job_name": "buildkitd",
                "static_configs": [{"targets": [f"127.0.0.1:{exporter.port}"], "labels": labels}
                                   for labels in targets],
            }],
        }
        with open(os.path.join(self.dir, "prometheus.yml"), "w") as f:
            yaml.safe_dump(config, f)
        cmd = [shutil.which("prometheus") or "/usr/bin/prometheus",
               f"--config.file={self.dir}/prometheus.yml", f"--storage.tsdb.path={self.dir}/data",
               f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"]
        if native:
            cmd.append("--enable-feature=native-histograms")
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)

    def query(self, q):
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        with urllib.request.urlopen(url, timeout=10) as r:
            answer = json.load(r)
        if answer["status"] != "success":
            raise AssertionError(f"{self.name}: {q}: {answer}")
        result = answer["data"]["result"]
        if not result:
            return None
        return float(result[0]["value"][1])

    def wait_up(self, n):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.query("sum(up)") == n:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"{self.name}: never scraped {n} targets; log:\n{open(self.log.name).read()}")

    def stop(self):
        self.proc.terminate()  # a process started here, by its own handle
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def rendered_queries(paths):
    """(label, query, namespace, StatefulSet) for each ScaledObject's Prometheus trigger."""
    for path in paths:
        with open(path) as f:
            for d in yaml.safe_load_all(f):
                if not d or d["kind"] != "ScaledObject":
                    continue
                for t in d["spec"]["triggers"]:
                    if t["type"] == "prometheus":
                        yield (f"{os.path.basename(path)}/{d['metadata']['name']}", t["metadata"]["query"],
                               d["metadata"]["namespace"], d["spec"]["scaleTargetRef"]["name"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("fixtures")
    ap.add_argument("--idle-seconds", type=int, default=5 * 60 + 15)
    ap.add_argument("--negative")
    ap.add_argument("streams", nargs="+")
    opts = ap.parse_args()
    # Stopped from outside (CI failing elsewhere): stop the servers started here, then leave.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    queries = list(rendered_queries(opts.streams))
    if not queries:
        sys.exit("prometheus check: no rendered query in " + " ".join(opts.streams))
    targets = [{"namespace": ns, "pod": f"{sts}-0"} for _, _, ns, sts in queries]
    targets = [dict(t) for t in {tuple(sorted(t.items())) for t in targets}]
    work = tempfile.mkdtemp(prefix="prometheus-check-")
    exporter = Exporter(opts.fixtures)
    servers = [Prometheus(work, "classic", exporter, targets, False),
               Prometheus(work, "native", exporter, targets, True)]
    failures = []

    def expect(phase, check):
        for label, q, _, _ in queries:
            got = {p.name: p.query(q) for p in servers}
            why = check(got)
            print(f"{'ok  ' if why is None else 'FAIL'} {phase}: {label}: {got}" + (f": {why}" if why else ""), flush=True)
            if why:
                failures.append(f"{phase}: {label}: {why}")

    try:
        for p in servers:
            p.wait_up(len(targets))
        time.sleep(3)
        expect("idle", lambda got: None if all(v == 0 for v in got.values()) else "expected 0 in both modes")
        exporter.load(LOAD_SECONDS)
        time.sleep(LOAD_SECONDS)
        load_ends = time.monotonic()

        def under_load(got):
            if not all(v is not None and v > 0 for v in got.values()):
                return "expected above 0 in both modes"
            lo, hi = sorted(got.values())
            return None if hi <= lo * 1.25 else "the two modes disagree by more than 25 %"
        expect("under load", under_load)
        if opts.negative:
            got = servers[0].query(opts.negative)
            ok = got == 0
            print(f"{'ok  ' if ok else 'FAIL'} under load, classic: the native-only query gives {got}, as the check expects", flush=True)
            if not ok:
                failures.append("the native-only query was not caught in classic mode")
        if exporter.protobuf_scrapes == 0 or exporter.text_scrapes == 0:
            failures.append(f"scrapes: {exporter.text_scrapes} text, {exporter.protobuf_scrapes} protobuf: "
                            "each mode must scrape its own form")
        wait = opts.idle_seconds - (time.monotonic() - load_ends)
        print(f"prometheus check: waiting {max(wait, 0):.0f} s for the 5-minute window to pass over the load", flush=True)
        time.sleep(max(wait, 0))
        expect("idle again", lambda got: None if all(v == 0 for v in got.values()) else "expected 0 in both modes")
    finally:
        for p in servers:
            p.stop()
        exporter.server.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    print(f"prometheus check: {len(queries) * 3 - len(failures)} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
