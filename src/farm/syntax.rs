//! Kubernetes' rules for names, label keys and values, quantities, and Go-style durations.
//! Each check returns `Err(reason)` phrased to follow "`x` is not valid: …".

/// Namespaces a farm never runs in, nor renders or relabels: they hold everything else.
pub(crate) const RESERVED_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// DNS-1123 label: lowercase alphanumerics and `-`, at most 63, alphanumeric at both ends.
pub(crate) fn dns_label(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("it is empty".into());
    }
    if s.len() > 63 {
        return Err(format!(
            "it is {} characters long, the limit is 63",
            s.len()
        ));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("only lowercase letters, digits and `-` are allowed".into());
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err("it must start and end with a letter or digit".into());
    }
    Ok(())
}

/// DNS-1123 subdomain: dot-separated labels, at most 253 characters.
pub(crate) fn dns_subdomain(s: &str) -> Result<(), String> {
    if s.len() > 253 {
        return Err(format!(
            "it is {} characters long, the limit is 253",
            s.len()
        ));
    }
    s.split('.').try_for_each(dns_label)
}

/// A hostname for a certificate SAN: a DNS name, optionally with a leading `*.`.
pub(crate) fn san_dns_name(s: &str) -> Result<(), String> {
    let rest = s.strip_prefix("*.").unwrap_or(s);
    dns_subdomain(&rest.to_ascii_lowercase())
}

/// A label or annotation key: `[prefix/]name`, name at most 63 characters.
pub(crate) fn qualified_name(s: &str) -> Result<(), String> {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix {
        dns_subdomain(p).map_err(|e| format!("its prefix `{p}` is not a DNS subdomain: {e}"))?;
    }
    if name.is_empty() || name.len() > 63 {
        return Err("the name part must be 1 to 63 characters".into());
    }
    label_chars(name)
}

/// A label value: empty, or at most 63 characters of alphanumerics, `-`, `_`, `.`.
pub(crate) fn label_value(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Ok(());
    }
    if s.len() > 63 {
        return Err(format!(
            "it is {} characters long, the limit is 63",
            s.len()
        ));
    }
    label_chars(s)
}

fn label_chars(s: &str) -> Result<(), String> {
    let ok_inner = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    let ends = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    if ok_inner && ends(s.bytes().next()) && ends(s.bytes().last()) {
        Ok(())
    } else {
        Err("only letters, digits, `-`, `_` and `.` are allowed, with a letter or digit at both ends".into())
    }
}

/// A Kubernetes resource quantity such as `500m`, `2`, `1.5`, `8Gi`, `1e3`.
pub(crate) fn quantity(s: &str) -> Result<(), String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let number_ok = !number.is_empty()
        && number.matches('.').count() <= 1
        && number.bytes().any(|b| b.is_ascii_digit());
    let suffix_ok = matches!(
        suffix,
        "" | "n"
            | "u"
            | "m"
            | "k"
            | "M"
            | "G"
            | "T"
            | "P"
            | "E"
            | "Ki"
            | "Mi"
            | "Gi"
            | "Ti"
            | "Pi"
            | "Ei"
    ) || suffix.strip_prefix(['e', 'E']).is_some_and(|exp| {
        let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    });
    if !(number_ok && suffix_ok) {
        return Err("write a Kubernetes quantity such as `500m`, `2`, `8Gi` or `512M`".into());
    }
    // The API server keeps quantities as 64-bit integers of their unit: anything larger is
    // refused there, far from this line. (CPU counts thousandths: see `pool::resources`.)
    if quantity_magnitude(number, suffix) > i64::MAX as f64 {
        return Err(format!("`{s}` is larger than Kubernetes can hold"));
    }
    Ok(())
}

/// A quantity's value in its unit (bytes, cores), as a float: enough to tell what overflows.
pub(crate) fn quantity_value(s: &str) -> f64 {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    quantity_magnitude(number, suffix)
}

fn quantity_magnitude(number: &str, suffix: &str) -> f64 {
    let magnitude = number.parse::<f64>().unwrap_or(f64::INFINITY)
        * match suffix {
            "Ki" => 2f64.powi(10),
            "Mi" => 2f64.powi(20),
            "Gi" => 2f64.powi(30),
            "Ti" => 2f64.powi(40),
            "Pi" => 2f64.powi(50),
            "Ei" => 2f64.powi(60),
            "k" => 1e3,
            "M" => 1e6,
            "G" => 1e9,
            "T" => 1e12,
            "P" => 1e15,
            "E" => 1e18,
            "" | "n" | "u" | "m" => 1.0,
            exp => 10f64.powi(exp[1..].parse::<i32>().unwrap_or(i32::MAX)),
        };
    if magnitude.is_finite() {
        magnitude
    } else {
        f64::INFINITY
    }
}

/// A Go-style duration (`48h`, `1h30m`, `90s`; `d` for days is accepted too) in whole seconds.
pub(crate) fn duration_seconds(s: &str) -> Result<u64, String> {
    let bad = || format!("`{s}` is not a duration: write e.g. `48h`, `720h`, `30m` or `1h30m`");
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let unit = rest[digits..].chars().next().ok_or_else(bad)?;
        let secs = match unit {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(secs)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        rest = &rest[digits + 1..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        assert!(dns_label("buildkitd").is_ok());
        assert!(dns_label("a-1").is_ok());
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64), "ünï"] {
            assert!(dns_label(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn qualified_names() {
        assert!(qualified_name("cluster-autoscaler.kubernetes.io/safe-to-evict").is_ok());
        assert!(qualified_name("buildkit").is_ok());
        assert!(qualified_name("node-role.kubernetes.io/control-plane").is_ok());
        assert!(qualified_name("bad key").is_err());
        assert!(qualified_name("/x").is_err());
        assert!(qualified_name("UPPER.example/x").is_err());
    }

    #[test]
    fn label_values() {
        assert!(label_value("").is_ok());
        assert!(label_value("exclusive").is_ok());
        assert!(label_value("x y").is_err());
        assert!(label_value("-x").is_err());
    }

    #[test]
    fn quantities() {
        for ok in ["500m", "2", "1.5", "8Gi", "512M", "1e3", "0.5"] {
            assert!(quantity(ok).is_ok(), "{ok}");
        }
        for bad in ["", "8GB", "fast", "1..2", "-1", "8 Gi"] {
            assert!(quantity(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(duration_seconds("48h"), Ok(172_800));
        assert_eq!(duration_seconds("1h30m"), Ok(5_400));
        assert_eq!(duration_seconds("30d"), Ok(2_592_000));
        for bad in ["", "h", "48", "48x", "1.5h", "-1h"] {
            assert!(duration_seconds(bad).is_err(), "{bad}");
        }
    }
}

/// An image reference as container runtimes parse it (the grammar of distribution/reference,
/// https://github.com/distribution/reference/blob/main/reference.go):
/// `[domain[:port]/]path[:tag][@algorithm:hex]`, path components lowercase alphanumerics joined
/// by `.`, `_`, `__` or dashes, a tag of at most 128 word characters, dots and dashes, and a
/// name of at most 255 characters.
pub(crate) fn image_reference(s: &str) -> Result<(), String> {
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    if let Some(d) = digest {
        image_digest(d)?;
    }
    // A tag follows the last `:` after the last `/` (an earlier `:` is a registry port).
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[slash..].find(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
        None => (rest, None),
    };
    if name.is_empty() {
        return Err("it has no repository name".into());
    }
    if name.len() > 255 {
        return Err(format!(
            "the repository name is {} characters long, the limit is 255",
            name.len()
        ));
    }
    if let Some(tag) = tag {
        let first_ok = tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        let rest_ok = tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if tag.is_empty() || tag.len() > 128 || !first_ok || !rest_ok {
            return Err(format!(
                "`{tag}` is not a valid tag (up to 128 letters, digits, `_`, `.`, `-`; not starting with `.` or `-`)"
            ));
        }
    }
    let mut components: Vec<&str> = name.split('/').collect();
    let first = components[0];
    let is_domain = components.len() > 1
        && (first.contains(['.', ':'])
            || first == "localhost"
            || first.chars().any(|c| c.is_ascii_uppercase()));
    if is_domain {
        image_domain(first)?;
        components.remove(0);
    }
    for c in components {
        path_component(c)?;
    }
    Ok(())
}

fn image_domain(d: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "`{d}` is not a valid registry host (host or host:port)"
        ))
    };
    // `[IPv6]`, or a host name / IPv4 address; then an optional `:port`.
    let (host_ok, port) = match d.strip_prefix('[').and_then(|v6| v6.split_once(']')) {
        Some((addr, rest)) => (addr.parse::<std::net::Ipv6Addr>().is_ok(), rest),
        None => {
            let (host, rest) = d.find(':').map_or((d, ""), |i| d.split_at(i));
            let ok = !host.is_empty()
                && host.split('.').all(|part| {
                    !part.is_empty()
                        && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                        && !part.starts_with('-')
                        && !part.ends_with('-')
                });
            (ok, rest)
        }
    };
    let port_ok = match port.strip_prefix(':') {
        Some(p) => !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()),
        None => port.is_empty(),
    };
    if host_ok && port_ok { Ok(()) } else { bad() }
}

/// Lowercase alphanumerics joined by one `.`, one or two `_`, or any number of `-`.
fn path_component(c: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "`{c}` is not a valid repository path component (lowercase letters and digits, joined by `.`, `_`, `__` or `-`)"
        ))
    };
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return bad();
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.chars().all(|ch| ch == '-');
        if !ok {
            return bad();
        }
    }
    Ok(())
}

fn image_digest(d: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "`{d}` is not a valid digest (algorithm:hex, e.g. sha256: and 64 hex digits)"
        ))
    };
    let Some((algorithm, hex)) = d.split_once(':') else {
        return bad();
    };
    let algorithm_ok = algorithm.split(['+', '.', '-', '_']).all(|part| {
        part.starts_with(|c: char| c.is_ascii_alphabetic())
            && part.chars().all(|c| c.is_ascii_alphanumeric())
    });
    let hex_ok = hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit());
    let sha256_ok = algorithm != "sha256" || hex.len() == 64;
    if algorithm_ok && hex_ok && sha256_ok {
        Ok(())
    } else {
        bad()
    }
}

#[cfg(test)]
mod image_tests {
    use super::image_reference;

    #[test]
    fn real_references_parse() {
        let sha = "a".repeat(64);
        for ok in [
            "moby/buildkit:v0.35.1-rootless",
            "moby/buildkit",
            "docker.io/moby/buildkit:master",
            "registry.example.com:5000/ci/build_kit__x/moby-buildkit:v0.16.0",
            "localhost/buildkit:dev",
            "[2001:db8::1]:5000/moby/buildkit:v1",
            &format!("moby/buildkit@sha256:{sha}"),
            &format!("moby/buildkit:v0.16.0@sha256:{sha}"),
        ] {
            assert_eq!(image_reference(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn what_runtimes_refuse_is_refused() {
        for bad in [
            "",
            "moby/Buildkit",
            "moby/buildkit:",
            "moby/buildkit:-x",
            "moby//buildkit",
            "moby/buildkit:v1\u{0}",
            "\"evil\":{}",
            "moby/build kit",
            "moby/buildkit@sha256:abcd",
            "moby/buildkit@md5",
            "registry:port/x",
            "moby/.buildkit",
            "moby/buildkit---",
        ] {
            assert!(image_reference(bad).is_err(), "{bad:?}");
        }
        assert!(image_reference(&format!("moby/{}", "a".repeat(300))).is_err());
        assert!(image_reference(&format!("moby/buildkit:{}", "a".repeat(129))).is_err());
    }
}
