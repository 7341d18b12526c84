//! Rendezvous (highest-random-weight) hashing of a key, such as a project path, onto the pods of
//! a pool, so the same project always builds on the same warm cache and a replica change moves
//! only about 1/n of the keys.
//!
//! The algorithm is fixed (CI scripts in other languages can reproduce it): for each ordinal
//! `i` in `0..replicas`, score = the first 8 bytes, big-endian, of SHA-256 of the UTF-8 string
//! `"{key}/{statefulset}/{i}"`; the highest score wins, a tie goes to the lower ordinal.

/// The score of ordinal `i` for `key` on `statefulset`.
pub(crate) fn score(key: &str, statefulset: &str, i: u32) -> u64 {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{key}/{statefulset}/{i}").as_bytes(),
    );
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_ref()[..8]);
    u64::from_be_bytes(first)
}

/// Every ordinal, best first: the preferred pod, then the fallbacks in order.
pub fn preference(key: &str, statefulset: &str, replicas: u32) -> Vec<u32> {
    let mut ordinals: Vec<u32> = (0..replicas).collect();
    ordinals.sort_by(|a, b| {
        score(key, statefulset, *b)
            .cmp(&score(key, statefulset, *a))
            .then(a.cmp(b))
    });
    ordinals
}

/// The same choice at job time, in POSIX shell (dash, bash, BusyBox ash), as four functions:
///
/// - `buildfarm_pods KEY STATEFULSET REPLICAS` prints the ordinals best first (`sha256sum`'s
///   first 16 hex digits order as the u64 does);
/// - `buildfarm_answers HOST PORT` is `answers`' body: whether the daemon there takes a
///   client's TLS and answers, within a few seconds; what went wrong on its stdout;
/// - `buildfarm_hint ERROR ADDRESS` says, on stderr, when ERROR is how BuildKit refuses a
///   client certificate (under TLS 1.3 often only `broken pipe` or `EOF`);
/// - `buildfarm_pick KEY STATEFULSET REPLICAS SUFFIX PORT FALLBACK` prints the first pod
///   (`STATEFULSET-i.SUFFIX`) that answers, else `FALLBACK` (the pool's own name). On stderr,
///   for the job log: the order, each skipped pod with the first line of its error, and the
///   choice: `buildfarm: building on HOST (pinned|fallback: SKIPPED|service: ...)`.
pub(crate) fn shell_functions(answers: &str) -> [String; 4] {
    let pods = "buildfarm_pods() { i=0; while [ \"$i\" -lt \"$3\" ]; do \
         printf '%s %s\\n' \"$(printf '%s' \"$1/$2/$i\" | sha256sum | cut -c1-16)\" \"$i\"; \
         i=$((i + 1)); done | LC_ALL=C sort -k1,1r -k2,2n | cut -d' ' -f2; }"
        .to_string();
    let answers = format!("buildfarm_answers() {{ {answers}; }}");
    let pick = "buildfarm_pick() { order=$(buildfarm_pods \"$1\" \"$2\" \"$3\" | tr '\\n' ' '); \
         echo \"buildfarm: $2 pods in order for $1: $order\" >&2; skipped=; \
         for i in $order; do host=\"$2-$i.$4\"; \
         if err=$(buildfarm_answers \"$host\" \"$5\"); then \
         why=${skipped:+fallback: $skipped skipped}; echo \"buildfarm: building on $host (${why:-pinned})\" >&2; \
         echo \"$host\"; return 0; fi; \
         echo \"buildfarm: skipped $host: $(printf '%s\\n' \"${err:-no answer in time}\" | head -n 1)\" >&2; \
         buildfarm_hint \"$err\" \"$host:$5\"; skipped=\"${skipped:+$skipped, }$2-$i\"; done; \
         echo \"buildfarm: building on $6 (service: no pod answered)\" >&2; echo \"$6\"; }"
        .to_string();
    [pods, answers, hint_function(), pick]
}

/// `buildfarm_hint ERROR ADDRESS`: one line on stderr when ERROR looks like a refused client
/// certificate.
pub(crate) fn hint_function() -> String {
    "buildfarm_hint() { case \"$1\" in *'broken pipe'*|*EOF*|*'certificate required'*|*'bad certificate'*) \
     echo \"buildfarm: hint: the daemon refused this job's client certificate (wrong CA, expired, or another farm's); \
     'buildfarm status --addr $2' shows which side refused\" >&2;; esac; }"
        .to_string()
}

/// `buildfarm_answers` for a job with buildctl: `buildctl debug workers` within 5 s, with the
/// client's TLS flags `tls`; its error on stdout.
pub(crate) fn buildctl_answers(tls: &str) -> String {
    format!(
        "{{ timeout 5 buildctl --addr \"tcp://$1:$2\" {tls} --tlsservername \"$1\" debug workers >/dev/null; }} 2>&1"
    )
}

/// `buildfarm_answers` for a job with only docker: a throwaway remote builder, bootstrapped
/// within 20 s (its TLS files are `opts`' `cacert`, `cert` and `key`), then removed whatever
/// happened (under `set -e` too); the error on stdout.
pub(crate) fn buildx_answers(opts: &str) -> String {
    format!(
        "if {{ docker buildx create --name buildfarm-probe --driver remote --driver-opt \"{opts},servername=$1\" \"tcp://$1:$2\" >/dev/null \
         && timeout 20 docker buildx inspect --bootstrap buildfarm-probe >/dev/null; }} 2>&1; then ok=0; else ok=1; fi; \
         docker buildx rm buildfarm-probe >/dev/null 2>&1 || true; return $ok"
    )
}

/// The call that picks pool `statefulset`'s pod for `key` (a shell word, e.g. `"$CI_PROJECT_PATH"`).
pub(crate) fn shell_pick_call(
    key: &str,
    statefulset: &str,
    replicas: u32,
    suffix: &str,
    port: u16,
    fallback: &str,
) -> String {
    // Names are DNS names and a port: nothing in them needs quoting.
    format!("buildfarm_pick {key} {statefulset} {replicas} {suffix} {port} {fallback}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pinned by hand: `printf '%s' 'group/project/buildkitd-amd64/0' | sha256sum`, first 16 hex digits.
    #[test]
    fn scores_match_sha256sum() {
        assert_eq!(
            score("group/project", "buildkitd-amd64", 0),
            0x3888_019c_2261_d317
        );
        assert_eq!(
            score("group/project", "buildkitd-amd64", 1),
            0x020f_00b0_9090_c938
        );
        assert_eq!(
            score("group/project", "buildkitd-amd64", 2),
            0xcdeb_75e8_d1b6_c433
        );
        assert_eq!(
            score("group/project", "buildkitd-amd64", 3),
            0x8320_5adc_919a_98dd
        );
        assert_eq!(score("ci/app", "bk-big", 1), 0x088b_0259_6d2d_94d5);
    }

    #[test]
    fn preference_orders_by_score() {
        assert_eq!(preference("group/project", "buildkitd-amd64", 3), [2, 0, 1]);
        assert_eq!(
            preference("group/project", "buildkitd-amd64", 4),
            [2, 3, 0, 1]
        );
        assert!(preference("x", "s", 0).is_empty());
    }
}
