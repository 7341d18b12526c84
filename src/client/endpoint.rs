//! Rendezvous (highest-random-weight) hashing of a key, such as a project path, onto the pods of
//! a pool, so the same project always builds on the same warm cache and a replica change moves
//! only about 1/n of the keys.
//!
//! The algorithm is fixed (CI scripts in other languages can reproduce it): for each ordinal
//! `i` in `0..replicas`, score = the first 8 bytes, big-endian, of SHA-256 of the UTF-8 string
//! `"{key}/{statefulset}/{i}"`; the highest score wins, a tie goes to the lower ordinal.

/// The score of ordinal `i` for `key` on `statefulset`.
pub fn score(key: &str, statefulset: &str, i: u32) -> u64 {
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

/// The same choice at job time, in POSIX shell (dash, bash, BusyBox ash): `buildfarm_pods KEY`
/// prints the ordinals best first (`sha256sum`'s first 16 hex digits order as the u64 does);
/// `buildfarm_pick KEY` prints the first pod that answers `buildctl debug workers` within 5 s
/// (with `tls`, the client's TLS flags), else `fallback` (the pool's own name). `pod_host` names
/// pod `$i`, e.g. `build-amd64-$i.build-amd64-headless.ci.svc`.
pub fn shell_pick(
    statefulset: &str,
    replicas: u32,
    pod_host: &str,
    fallback: &str,
    port: u16,
    tls: &str,
) -> [String; 2] {
    // Names are DNS labels: nothing in them needs quoting inside double quotes.
    let pods = format!(
        "buildfarm_pods() {{ i=0; while [ \"$i\" -lt {replicas} ]; do \
         printf '%s %s\\n' \"$(printf '%s' \"$1/{statefulset}/$i\" | sha256sum | cut -c1-16)\" \"$i\"; \
         i=$((i + 1)); done | LC_ALL=C sort -k1,1r -k2,2n | cut -d' ' -f2; }}"
    );
    let pick = format!(
        "buildfarm_pick() {{ for i in $(buildfarm_pods \"$1\"); do \
         host=\"{pod_host}\"; \
         if timeout 5 buildctl --addr \"tcp://$host:{port}\" {tls} --tlsservername \"$host\" debug workers >/dev/null 2>&1; \
         then echo \"$host\"; return 0; fi; done; echo \"{fallback}\"; }}"
    );
    [pods, pick]
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
