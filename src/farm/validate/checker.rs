//! The `Checker` every validation step writes to: the spec's spans, every problem found (not
//! just the first), and the typed readers (`text`, `int`, sizes, closed sets) that report at the
//! value's own place.

use indexmap::IndexMap;
use std::ops::{Range, RangeInclusive};

use crate::farm::raw::Spanned;

use super::super::spans::Spans;
use super::super::syntax;
use crate::closed::ClosedSet;
use crate::diagnostic::{Diagnostic, Source};
use crate::rule::Rule;
use crate::suggest::{did_you_mean, one_of};

pub(crate) struct Checker<'a> {
    pub(super) src: &'a Source,
    pub(super) errors: Vec<Diagnostic>,
    /// Where every written key is, by path (`image`, `gc.max_used`, `pool.0.storage`).
    pub(super) spans: Spans,
}

impl Checker<'_> {
    pub(super) fn error(
        &mut self,
        rule: Rule,
        span: Range<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let mut d = self.src.error(Some(span), message).rule(rule);
        d.hint = hint;
        self.errors.push(d);
    }

    /// A string key: the default when absent; `check` returns a reason when the value is bad.
    pub(super) fn text(
        &mut self,
        value: Option<Spanned<String>>,
        key: &str,
        default: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> String {
        match value {
            None => default.to_string(),
            Some(v) => {
                if let Err(why) = check(v.get_ref()) {
                    let message = format!("`{key}` = `{}` is not valid: {why}", v.get_ref());
                    self.error(Rule::InvalidValue, v.span(), message, None);
                }
                v.into_inner()
            }
        }
    }

    /// An integer key in `range`, as the type the farm keeps it in (the range makes the
    /// conversion exact).
    pub(super) fn int<T>(
        &mut self,
        value: Option<Spanned<i64>>,
        key: &str,
        range: RangeInclusive<T>,
        default: T,
    ) -> T
    where
        T: Copy + Into<i64> + TryFrom<i64> + std::fmt::Display,
    {
        let bounds = (*range.start()).into()..=(*range.end()).into();
        match value {
            None => default,
            Some(v) if bounds.contains(v.get_ref()) => T::try_from(*v.get_ref()).unwrap_or(default),
            Some(v) => {
                let message = format!(
                    "`{key}` must be from {} to {}, found {}",
                    range.start(),
                    range.end(),
                    v.get_ref()
                );
                self.error(Rule::OutOfRange, v.span(), message, None);
                default
            }
        }
    }

    /// One of a closed set of values, with a did-you-mean for a near miss.
    pub(super) fn choice<T: ClosedSet>(
        &mut self,
        value: Option<Spanned<String>>,
        what: &str,
        default: T,
    ) -> T {
        let Some(v) = value else {
            return default;
        };
        if let Some(known) = T::parse(v.get_ref()) {
            return known;
        }
        let mut hint = format!("expected {}", one_of(T::NAMES));
        if let Some(best) = did_you_mean(v.get_ref(), T::NAMES.iter().copied()) {
            hint.push_str(&format!("; did you mean `{best}`?"));
        }
        self.error(
            Rule::UnknownValue,
            v.span(),
            format!("unknown {what} `{}`", v.get_ref()),
            Some(hint),
        );
        default
    }

    /// A map of label/annotation keys to strings; `reserved` keys are set by buildfarm itself.
    pub(super) fn string_map(
        &mut self,
        map: Option<IndexMap<String, Spanned<String>>>,
        key: &str,
        check_value: impl Fn(&str) -> Result<(), String>,
        reserved: &[&str],
    ) -> IndexMap<String, String> {
        let mut out = IndexMap::new();
        for (k, v) in map.unwrap_or_default() {
            if reserved.contains(&k.as_str()) {
                self.error(
                    Rule::ReservedKey,
                    v.span(),
                    format!("`{key}` cannot set `{k}`: buildfarm sets it"),
                    None,
                );
            } else if let Err(why) = syntax::qualified_name(&k) {
                self.error(
                    Rule::InvalidName,
                    v.span(),
                    format!("`{key}` key `{k}` is not valid: {why}"),
                    None,
                );
            } else if let Err(why) = check_value(v.get_ref()) {
                self.error(
                    Rule::InvalidValue,
                    v.span(),
                    format!("`{key}` value `{}` is not valid: {why}", v.get_ref()),
                    None,
                );
            }
            out.insert(k, v.into_inner());
        }
        out
    }

    pub(super) fn seconds(&mut self, value: Option<Spanned<i64>>, key: &str, default: u32) -> u32 {
        self.int(value, key, 1..=86_400 * 7, default)
    }

    pub(super) fn duration(
        &mut self,
        value: Option<Spanned<String>>,
        key: &str,
        default: u64,
    ) -> u64 {
        match value {
            None => default,
            Some(v) => syntax::duration_seconds(v.get_ref()).unwrap_or_else(|why| {
                self.error(
                    Rule::InvalidDuration,
                    v.span(),
                    format!("`{key}`: {why}"),
                    None,
                );
                default
            }),
        }
    }
}

pub(super) fn non_empty(s: &str) -> Result<(), String> {
    if s.is_empty() {
        Err("it is empty".into())
    } else {
        Ok(())
    }
}
