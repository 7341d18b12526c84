//! Sizes, read the way the program that consumes them reads them.
//!
//! - `storage` is a Kubernetes quantity: `500Gi` is binary, `500G` is 5·10¹¹ bytes.
//! - GC sizes end up in buildkitd.toml, so they follow BuildKit (go-units `RAMInBytes`): every
//!   suffix is binary (`50GB` = `50GiB` = `50Gi` = 50·2³⁰ bytes), a bare number is bytes, and
//!   `80%` is a share of the cache volume (BuildKit v0.12+).

use std::fmt;

const KI: u64 = 1 << 10;

/// A GC size as BuildKit reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskSpace {
    Bytes(u64),
    /// 1..=100 percent of the disk that holds BuildKit's state.
    Percent(u8),
}

impl DiskSpace {
    /// Bytes on a volume of `volume` bytes (a percentage needs the volume).
    pub fn bytes_of(self, volume: Option<u64>) -> Option<u64> {
        match self {
            DiskSpace::Bytes(b) => Some(b),
            DiskSpace::Percent(p) => volume.map(|v| v / 100 * u64::from(p)),
        }
    }
}

impl fmt::Display for DiskSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskSpace::Bytes(b) => f.write_str(&human_bytes(*b)),
            DiskSpace::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Parses a BuildKit size: `"50GB"`, `"50GiB"`, `"50Gi"`, `"1.5G"`, `"512"`, `"80%"`.
pub(crate) fn parse_disk_space(text: &str) -> Result<DiskSpace, String> {
    let t = text.trim();
    if let Some(pct) = t.strip_suffix('%') {
        return match pct.trim().parse::<u8>() {
            Ok(p) if (1..=100).contains(&p) => Ok(DiskSpace::Percent(p)),
            _ => Err(format!("`{text}` is not a percentage from 1% to 100%")),
        };
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.strip_prefix(' ').unwrap_or(unit);
    let lower = unit.to_ascii_lowercase();
    let mut chars = lower.chars();
    let power = match chars.clone().next() {
        Some('k') => 1,
        Some('m') => 2,
        Some('g') => 3,
        Some('t') => 4,
        Some('p') => 5,
        _ => 0,
    };
    if power > 0 {
        chars.next();
    }
    let rest: String = chars.collect();
    let unit_ok =
        matches!(rest.as_str(), "" | "b" | "i" | "ib") && !(power == 0 && rest.starts_with('i'));
    if number.is_empty() || !unit_ok {
        return Err(format!(
            "`{text}` is not a size: write a number with an optional unit, like `50GB`, `50GiB`, `512MB` or `80%`"
        ));
    }
    scaled(number, KI.pow(power))
        .map(DiskSpace::Bytes)
        .ok_or_else(|| format!("`{text}` is not a size that fits in 64 bits"))
}

/// Parses a Kubernetes quantity used for volume sizes: `500Gi`, `500G`, `1.5Ti`, `1000000`.
pub(crate) fn parse_quantity(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor: u64 = match unit {
        "" => 1,
        "k" => 1000,
        "M" => 1000u64.pow(2),
        "G" => 1000u64.pow(3),
        "T" => 1000u64.pow(4),
        "P" => 1000u64.pow(5),
        "E" => 1000u64.pow(6),
        "Ki" => KI,
        "Mi" => KI.pow(2),
        "Gi" => KI.pow(3),
        "Ti" => KI.pow(4),
        "Pi" => KI.pow(5),
        "Ei" => KI.pow(6),
        _ => {
            let hint = if unit.ends_with('B') || unit.ends_with('b') {
                " (Kubernetes writes `Gi` or `G`, not `GB`)"
            } else {
                ""
            };
            return Err(format!(
                "`{text}` is not a Kubernetes quantity{hint}: write e.g. `500Gi` (binary) or `500G` (decimal)"
            ));
        }
    };
    if number.is_empty() || number.starts_with('.') {
        return Err(format!(
            "`{text}` is not a Kubernetes quantity: write e.g. `500Gi` (binary) or `500G` (decimal)"
        ));
    }
    scaled(number, factor).ok_or_else(|| format!("`{text}` is too large"))
}

/// `number × factor` for a decimal `number` like `1.5`, truncated to whole bytes.
fn scaled(number: &str, factor: u64) -> Option<u64> {
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() || frac.contains('.') || frac.len() > 18 {
        return None;
    }
    let whole = int.parse::<u64>().ok()?.checked_mul(factor)?;
    if frac.is_empty() {
        return Some(whole);
    }
    let frac_value: u128 = frac.parse().ok()?;
    let digits = u32::try_from(frac.len()).ok()?; // at most 18, checked above
    let part = frac_value * u128::from(factor) / 10u128.pow(digits);
    whole.checked_add(u64::try_from(part).ok()?)
}

/// `268435456000` → `250 GiB`; exact when it can be, else two decimals.
pub(crate) fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    // The largest unit that fits: 1024^exp ≤ b.
    let (exp, unit) = (0u32..)
        .zip(UNITS)
        .take_while(|&(exp, _)| exp == 0 || b >= KI.pow(exp))
        .last()
        .expect("bytes is always a unit");
    let div = KI.pow(exp);
    if b.is_multiple_of(div) {
        format!("{} {unit}", b / div)
    } else {
        // Lossy only beyond 2^53 bytes (8 PiB), shown to two decimals anyway.
        format!("{:.2} {unit}", b as f64 / div as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn buildkit_reads_every_suffix_as_binary() {
        for s in ["50GB", "50GiB", "50Gi", "50G", "50gb", "50 GB"] {
            assert_eq!(parse_disk_space(s), Ok(DiskSpace::Bytes(50 * GIB)), "{s}");
        }
        assert_eq!(parse_disk_space("512"), Ok(DiskSpace::Bytes(512)));
        assert_eq!(
            parse_disk_space("1.5G"),
            Ok(DiskSpace::Bytes(GIB + GIB / 2))
        );
        assert_eq!(parse_disk_space("80%"), Ok(DiskSpace::Percent(80)));
    }

    #[test]
    fn bad_sizes_are_refused() {
        for s in [
            "10 XB",
            "",
            "GB",
            "50 G B",
            "0%",
            "101%",
            "-5GB",
            "1.2.3G",
            "5i",
            "99999999999999999999",
        ] {
            assert!(parse_disk_space(s).is_err(), "{s} should be refused");
        }
    }

    #[test]
    fn kubernetes_quantities_distinguish_decimal_and_binary() {
        assert_eq!(parse_quantity("500Gi"), Ok(500 * GIB));
        assert_eq!(parse_quantity("500G"), Ok(500_000_000_000));
        assert_eq!(parse_quantity("1.5Ti"), Ok(1536 * GIB));
        assert!(parse_quantity("500GB").unwrap_err().contains("not `GB`"));
        assert!(parse_quantity("Gi").is_err());
        assert!(parse_quantity("20000000Ei").is_err());
    }

    #[test]
    fn percentages_resolve_against_the_volume() {
        assert_eq!(
            DiskSpace::Percent(80).bytes_of(Some(100 * GIB)),
            Some(80 * GIB)
        );
        assert_eq!(DiskSpace::Percent(80).bytes_of(None), None);
    }

    #[test]
    fn human_bytes_is_exact_where_possible() {
        assert_eq!(human_bytes(250 * GIB), "250 GiB");
        assert_eq!(human_bytes(1536 * GIB), "1.50 TiB");
        assert_eq!(human_bytes(100), "100 B");
    }
}
