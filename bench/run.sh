#!/usr/bin/env bash
# Measures buildfarm against its targets and the nearest tools a user would use instead.
# Usage: bash bench/run.sh        (installs hyperfine from Debian when it is missing)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v hyperfine >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null
fi
cargo build --release --locked -q
cargo build --release --locked -q --example fake-buildkitd
bin="$PWD/target/release/buildfarm"
fake="$PWD/target/release/examples/fake-buildkitd"
work=$(mktemp -d)
fake_pid=
# Stop the fake daemons (by the PID started here), then remove the work folder.
trap '[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"

farm() { # farm N: a spec with N pools
  echo 'name = "bk"'
  for i in $(seq 0 $(($1 - 1))); do
    printf '[[pool]]\narch = "amd64"\nname = "p%s"\nstorage = "100Gi"\nresources = { limits = { memory = "8Gi" } }\n' "$i"
  done
}
for n in 10 100 1000; do farm "$n" > "farm$n.toml"; "$bin" --spec "farm$n.toml" render --certs "certs$n" >/dev/null 2>&1; done
"$bin" render >/dev/null 2>&1            # the built-in farm, certificates issued once
"$bin" render --out deploy >/dev/null 2>&1

# CA + daemon + 10 clients, the way a shell script does it with openssl.
cat > openssl-certs.sh <<'SH'
set -e
d=$(mktemp -d); cd "$d"
openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
openssl req -x509 -new -key ca.key -subj /CN=ca -days 3650 -out ca.crt 2>/dev/null
for n in daemon c0 c1 c2 c3 c4 c5 c6 c7 c8 c9; do
  openssl ecparam -name prime256v1 -genkey -noout -out $n.key 2>/dev/null
  openssl req -new -key $n.key -subj /CN=$n -out $n.csr 2>/dev/null
  openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 -out $n.crt 2>/dev/null
done
rm -rf "$d"
SH
clients=$(for i in 0 1 2 3 4 5 6 7 8 9; do printf '[[tls.client]]\nname = "c%s"\n' "$i"; done)
printf '%s\n[[pool]]\narch = "amd64"\n' "$clients" > certs.toml

hyperfine -N --warmup 10 --export-markdown render.md \
  -n "buildfarm render (default farm)" "$bin render" \
  -n "kubectl kustomize (same objects)" "kubectl kustomize deploy"
hyperfine -N --warmup 2 --export-markdown scale.md \
  -n "10 pools" "$bin --spec farm10.toml render --certs certs10" \
  -n "100 pools" "$bin --spec farm100.toml render --certs certs100" \
  -n "1000 pools" "$bin --spec farm1000.toml render --certs certs1000"
# lint exits 1 on the farm's findings: its time is what counts here.
hyperfine -N -i --warmup 3 --export-markdown lint.md \
  -n "lint, 1000 pools" "$bin --spec farm1000.toml lint --certs certs1000"
hyperfine --warmup 3 --export-markdown certs.md \
  --prepare 'rm -rf fresh' -n "buildfarm certs generate (CA + daemon + 10 clients)" "$bin --spec certs.toml certs generate --certs fresh" \
  -n "openssl script (same certificates)" "bash openssl-certs.sh"
# status: 100 fake daemons (one process, 100 ports) against 1, all asked at once over mTLS.
mkdir status && (cd status && printf '[[tls.client]]\nname = "ci"\n[[pool]]\narch = "amd64"\nreplicas = 100\nstorage = "100Gi"\n' > farm.toml && "$bin" certs generate >/dev/null 2>&1)
"$fake" status/certs 100 > status/ports &
fake_pid=$!
for _ in $(seq 50); do [ "$(wc -l < status/ports)" -eq 100 ] && break; sleep 0.1; done
addrs=$(sed 's|^|--addr tcp://127.0.0.1:|' status/ports | tr '\n' ' ')
one=$(head -1 status/ports)
hyperfine -N --warmup 3 --export-markdown status.md \
  -n "status, 1 daemon" "$bin --spec status/farm.toml status --certs status/certs/client/ci --format json --addr tcp://127.0.0.1:$one" \
  -n "status, 100 daemons" "$bin --spec status/farm.toml status --certs status/certs/client/ci --format json $addrs"

rss=$( { /usr/bin/time -v "$bin" render >/dev/null; } 2>&1 | sed -n 's/.*Maximum resident set size (kbytes): //p')
rss1000=$( { /usr/bin/time -v "$bin" --spec farm1000.toml render --certs certs1000 >/dev/null; } 2>&1 | sed -n 's/.*Maximum resident set size (kbytes): //p')

echo
cat render.md scale.md lint.md certs.md status.md
echo
echo "peak RSS: default farm ${rss} KiB, 1000 pools ${rss1000} KiB"
