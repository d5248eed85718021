//! The matchers shared by route matching and retries: `RegexMatcher` (validated at load),
//! `StringMatcher`, `HeaderMatcher`, `QueryParameterMatcher` and `RuntimeFractionalPercent`.

use super::{Cx, Msg};
use crate::model::{
    HeaderMatchSpec, HeaderMatcher, QueryParameterMatcher, RuntimeFraction, StringMatchKind,
    StringMatcher,
};
use crate::schema;
use crate::tree::Node as TNode;

/// Checks that `text` is a regex Sluice can run; the error names what is wrong with it.
pub(super) fn check_regex(cx: &mut Cx<'_>, n: &TNode, path: &str, text: &str) -> Option<()> {
    if text.is_empty() {
        cx.error(n.loc, path, "a regex must not be empty");
        return None;
    }
    let Err(e) = regex::Regex::new(text) else {
        return Some(());
    };
    // The syntax error is a multi-line picture of the pattern; its last line says what is wrong.
    let full = e.to_string();
    let why = full
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or(&full)
        .to_owned();
    let message = if why.contains("feature") || why.contains("Unicode property") {
        // Built without Unicode case folding and Unicode classes (`\pL`): a valid RE2 pattern
        // that needs them is a gap in Sluice, not a mistake in the config.
        format!("regex `{text}` needs a regex feature that is not supported yet ({why})")
    } else if matches!(e, regex::Error::CompiledTooBig(_)) {
        format!("regex `{text}` is too large once compiled")
    } else {
        format!("invalid regex `{text}`: {why}")
    };
    cx.error(n.loc, path, message);
    None
}

/// `type.matcher.v3.RegexMatcher`: the pattern, compiled once here to validate it.
pub(super) fn regex_matcher(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<String> {
    let m = cx.message(n, path, &schema::REGEX_MATCHER)?;
    // `google_re2` is deprecated in Envoy and selects the only engine there is: accepted as is.
    if let Some(g) = m.get("google_re2") {
        cx.message(g, &m.path("google_re2"), &schema::GOOGLE_RE2)?;
    }
    let Some(v) = m.get("regex") else {
        cx.missing(&m, "regex");
        return None;
    };
    let rpath = m.path("regex");
    let text = cx.string(v, &rpath)?;
    check_regex(cx, v, &rpath, &text)?;
    Some(text)
}

/// `type.matcher.v3.RegexMatchAndSubstitute` as (pattern, substitution).
pub(super) fn regex_substitution(
    cx: &mut Cx<'_>,
    n: &TNode,
    path: &str,
) -> Option<(String, String)> {
    let m = cx.message(n, path, &schema::REGEX_MATCH_AND_SUBSTITUTE)?;
    let pattern = match m.get("pattern") {
        Some(v) => regex_matcher(cx, v, &m.path("pattern")),
        None => {
            cx.missing(&m, "pattern");
            None
        }
    };
    let substitution = match m.get("substitution") {
        Some(v) => {
            let spath = m.path("substitution");
            cx.string(v, &spath).and_then(|s| {
                if s.contains(['\0', '\r', '\n']) {
                    cx.error(
                        v.loc,
                        &spath,
                        "a substitution must not contain NUL, CR or LF",
                    );
                    return None;
                }
                Some(s)
            })
        }
        None => Some(String::new()),
    };
    Some((pattern?, substitution?))
}

/// A string field that Envoy requires to be non-empty (`min_len: 1`).
fn non_empty(cx: &mut Cx<'_>, m: &Msg<'_>, field: &str) -> Option<String> {
    let v = m.get(field)?;
    let p = m.path(field);
    let s = cx.string(v, &p)?;
    if s.is_empty() {
        cx.error(v.loc, &p, format!("`{field}` must not be empty"));
        return None;
    }
    Some(s)
}

/// A header name (Envoy's `HTTP_HEADER_NAME`, not strict: no NUL, CR or LF), lower-cased.
pub(super) fn header_name(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<String> {
    let s = cx.string(n, path)?;
    if s.is_empty() {
        cx.error(n.loc, path, "a header name must not be empty");
        return None;
    }
    if s.contains(['\0', '\r', '\n']) {
        cx.error(n.loc, path, "a header name must not contain NUL, CR or LF");
        return None;
    }
    Some(s.to_ascii_lowercase())
}

/// Reports the second field set of a oneof; true when at most one is set.
pub(super) fn one_of(cx: &mut Cx<'_>, m: &Msg<'_>, fields: &[&str], what: &str) -> bool {
    let set = m.set_of(fields);
    if let Some(second) = set.get(1) {
        cx.error(
            m.key_loc(second),
            &m.path(second),
            format!("{what}; `{}` is already set", set[0]),
        );
        return false;
    }
    true
}

/// `type.matcher.v3.StringMatcher`.
pub(super) fn string_matcher(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<StringMatcher> {
    let m = cx.message(n, path, &schema::STRING_MATCHER)?;
    const PATTERNS: &[&str] = &[
        "exact",
        "prefix",
        "suffix",
        "safe_regex",
        "contains",
        "custom",
    ];
    if !one_of(cx, &m, PATTERNS, "a string matcher has one pattern") {
        return None;
    }
    let ignore_case = match m.get("ignore_case") {
        Some(v) => cx.boolean(v, &m.path("ignore_case"))?,
        None => false,
    };
    let kind = match m.set_of(PATTERNS).first().copied() {
        Some("exact") => StringMatchKind::Exact(cx.string(m.get("exact")?, &m.path("exact"))?),
        Some("prefix") => StringMatchKind::Prefix(non_empty(cx, &m, "prefix")?),
        Some("suffix") => StringMatchKind::Suffix(non_empty(cx, &m, "suffix")?),
        Some("contains") => StringMatchKind::Contains(non_empty(cx, &m, "contains")?),
        Some("safe_regex") => {
            let regex = regex_matcher(cx, m.get("safe_regex")?, &m.path("safe_regex"))?;
            if ignore_case {
                cx.error(
                    m.key_loc("ignore_case"),
                    &m.path("ignore_case"),
                    "`ignore_case` has no effect for `safe_regex`, and Envoy refuses it",
                );
                return None;
            }
            StringMatchKind::SafeRegex(regex)
        }
        _ => {
            if !PATTERNS.iter().any(|p| m.written(p)) {
                cx.error(
                    m.loc,
                    path,
                    "a string matcher needs one of `exact`, `prefix`, `suffix`, `safe_regex`, `contains`",
                );
            }
            return None;
        }
    };
    Some(StringMatcher { kind, ignore_case })
}

/// `config.route.v3.HeaderMatcher`; no specifier means "present", as in Envoy.
pub(super) fn header_matcher(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<HeaderMatcher> {
    let m = cx.message(n, path, &schema::HEADER_MATCHER)?;
    let name = match m.get("name") {
        Some(v) => header_name(cx, v, &m.path("name")),
        None => {
            cx.missing(&m, "name");
            None
        }
    };
    const SPECIFIERS: &[&str] = &[
        "exact_match",
        "safe_regex_match",
        "range_match",
        "present_match",
        "prefix_match",
        "suffix_match",
        "contains_match",
        "string_match",
    ];
    if !one_of(
        cx,
        &m,
        SPECIFIERS,
        "a header matcher has one match specifier",
    ) {
        return None;
    }
    let spec = match m.set_of(SPECIFIERS).first().copied() {
        None => Some(HeaderMatchSpec::Present(true)),
        Some("exact_match") => cx
            .string(m.get("exact_match")?, &m.path("exact_match"))
            .map(HeaderMatchSpec::Exact),
        Some("safe_regex_match") => {
            regex_matcher(cx, m.get("safe_regex_match")?, &m.path("safe_regex_match"))
                .map(HeaderMatchSpec::SafeRegex)
        }
        Some("range_match") => int64_range(cx, m.get("range_match")?, &m.path("range_match")),
        Some("present_match") => cx
            .boolean(m.get("present_match")?, &m.path("present_match"))
            .map(HeaderMatchSpec::Present),
        Some("prefix_match") => non_empty(cx, &m, "prefix_match").map(HeaderMatchSpec::Prefix),
        Some("suffix_match") => non_empty(cx, &m, "suffix_match").map(HeaderMatchSpec::Suffix),
        Some("contains_match") => {
            non_empty(cx, &m, "contains_match").map(HeaderMatchSpec::Contains)
        }
        Some(_) => string_matcher(cx, m.get("string_match")?, &m.path("string_match"))
            .map(HeaderMatchSpec::String),
    };
    let invert_match = match m.get("invert_match") {
        Some(v) => cx.boolean(v, &m.path("invert_match")),
        None => Some(false),
    };
    let treat_missing_header_as_empty = match m.get("treat_missing_header_as_empty") {
        Some(v) => cx.boolean(v, &m.path("treat_missing_header_as_empty")),
        None => Some(false),
    };
    Some(HeaderMatcher {
        name: name?,
        spec: spec?,
        invert_match: invert_match?,
        treat_missing_header_as_empty: treat_missing_header_as_empty?,
    })
}

/// A list of header matchers held in `field` of `m`; `None` when any is invalid.
pub(super) fn header_matchers(
    cx: &mut Cx<'_>,
    m: &Msg<'_>,
    field: &str,
) -> Option<Vec<HeaderMatcher>> {
    let Some(list) = m.get(field) else {
        return Some(Vec::new());
    };
    let mut out = Vec::new();
    let mut ok = true;
    for (h, p) in cx.list(list, &m.path(field)) {
        match header_matcher(cx, h, &p) {
            Some(h) => out.push(h),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `type.v3.Int64Range` as a header match: `start <= value < end`.
fn int64_range(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<HeaderMatchSpec> {
    let m = cx.message(n, path, &schema::INT64_RANGE)?;
    let mut bound = |field: &str| match m.get(field) {
        Some(v) => cx
            .integer(v, &m.path(field), i64::MIN.into(), i64::MAX.into(), true)
            .and_then(|i| i64::try_from(i).ok()),
        None => Some(0),
    };
    let start = bound("start");
    let end = bound("end");
    let (start, end) = (start?, end?);
    if start >= end {
        cx.warn(
            m.loc,
            path,
            format!("the range [{start}, {end}) is empty: this matcher never matches"),
        );
    }
    Some(HeaderMatchSpec::Range { start, end })
}

/// Envoy's limit on a query parameter name.
const QUERY_PARAMETER_NAME_BYTES_MAX: usize = 1024;

/// `config.route.v3.QueryParameterMatcher`; no specifier means "present", as in Envoy.
pub(super) fn query_parameter_matcher(
    cx: &mut Cx<'_>,
    n: &TNode,
    path: &str,
) -> Option<QueryParameterMatcher> {
    let m = cx.message(n, path, &schema::QUERY_PARAMETER_MATCHER)?;
    let name = match m.get("name") {
        Some(_) => non_empty(cx, &m, "name").and_then(|s| {
            if s.len() > QUERY_PARAMETER_NAME_BYTES_MAX {
                cx.error(
                    m.key_loc("name"),
                    &m.path("name"),
                    format!(
                        "a query parameter name is at most {QUERY_PARAMETER_NAME_BYTES_MAX} bytes"
                    ),
                );
                return None;
            }
            Some(s)
        }),
        None => {
            cx.missing(&m, "name");
            None
        }
    };
    if !one_of(
        cx,
        &m,
        &["string_match", "present_match"],
        "a query parameter matcher has one match specifier",
    ) {
        return None;
    }
    let string_match = match m.get("string_match") {
        Some(v) => Some(string_matcher(cx, v, &m.path("string_match"))?),
        None => None,
    };
    if let Some(v) = m.get("present_match")
        && !cx.boolean(v, &m.path("present_match"))?
    {
        cx.warn(
            v.loc,
            &m.path("present_match"),
            "`present_match: false` still requires the parameter to be present (as in Envoy)",
        );
    }
    Some(QueryParameterMatcher {
        name: name?,
        string_match,
    })
}

/// `config.core.v3.RuntimeFractionalPercent`.
pub(super) fn runtime_fraction(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<RuntimeFraction> {
    let m = cx.message(n, path, &schema::RUNTIME_FRACTIONAL_PERCENT)?;
    let runtime_key = match m.get("runtime_key") {
        Some(v) => cx.string(v, &m.path("runtime_key")),
        None => Some(String::new()),
    };
    let Some(dv) = m.get("default_value") else {
        cx.missing(&m, "default_value");
        return None;
    };
    let (numerator, denominator) = fractional_percent(cx, dv, &m.path("default_value"))?;
    Some(RuntimeFraction {
        numerator,
        denominator,
        runtime_key: runtime_key?,
    })
}

/// `type.v3.FractionalPercent` as (numerator, denominator).
pub(super) fn fractional_percent(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<(u32, u32)> {
    let m = cx.message(n, path, &schema::FRACTIONAL_PERCENT)?;
    let numerator = match m.get("numerator") {
        Some(v) => cx.u32_in(v, &m.path("numerator"), 0, u32::MAX),
        None => Some(0),
    };
    let denominator = match m.get("denominator") {
        Some(v) => match cx.enumeration(
            v,
            &m.path("denominator"),
            &[("HUNDRED", 0), ("TEN_THOUSAND", 1), ("MILLION", 2)],
        )? {
            "TEN_THOUSAND" => 10_000,
            "MILLION" => 1_000_000,
            _ => 100,
        },
        None => 100,
    };
    let numerator = numerator?;
    if numerator > denominator {
        cx.warn(
            m.key_loc("numerator"),
            &m.path("numerator"),
            format!("{numerator} is more than the denominator {denominator}: taken as 100%"),
        );
    }
    Some((numerator, denominator))
}
