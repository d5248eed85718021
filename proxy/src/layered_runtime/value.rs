//! One runtime value: the text as given, plus the typed readings Envoy derives from it once, when
//! the layer is built, so that a lookup on the request path never parses.
//!
//! Envoy reads every admin and disk value as a YAML document (yaml-cpp) and types it by what that
//! document is:
//!
//! * a plain `true`/`yes`/`on`/`y` (or `false`/`no`/`off`/`n`), in lower case, upper case or
//!   capitalised, is a boolean and nothing else;
//! * a plain integer in C++ stream syntax (`010` is octal 8, `0x10` is 16) that fits an `i32` is a
//!   number;
//! * any other plain or quoted scalar is a string, and the raw text is then read as a double
//!   (`absl::SimpleAtod`), so `2.5`, `1e3` and `4294967296` are numbers but a quoted `"5"` (whose
//!   raw text keeps its quotes) is not;
//! * a mapping is a `FractionalPercent` when it holds only `numerator` (a number) and `denominator`
//!   (`HUNDRED`, `TEN_THOUSAND` or `MILLION`); `{}` is 0 %;
//! * null, sequences and anything else carry no typed reading: only [`Entry::raw`].
//!
//! A number `d` is an integer reading when `0 <= d <= u64::MAX` (floored: `3.7` reads as 3) and a
//! boolean reading (`d != 0`) when it is integral and fits an `i32`. Sluice understands the
//! subset of YAML a runtime value uses (scalars, flat block or flow mappings); a value it cannot
//! read as one of those is kept as a string, where Envoy would refuse the update.

/// A value of one runtime key in one layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    raw: String,
    integer: Option<u64>,
    double: Option<f64>,
    boolean: Option<bool>,
    fraction: Option<Fraction>,
}

/// A `type.v3.FractionalPercent`: `numerator` out of `denominator` (100, 10 000 or 1 000 000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fraction {
    /// `numerator`.
    pub numerator: u32,
    /// `denominator` as a number.
    pub denominator: u32,
}

impl Entry {
    /// Reads `raw` the way Envoy reads an admin or disk value.
    pub fn parse(raw: &str) -> Self {
        let mut entry = Self {
            raw: raw.to_owned(),
            integer: None,
            double: None,
            boolean: None,
            fraction: None,
        };
        match document(raw) {
            Node::Null | Node::Other => {}
            Node::Bool(b) => entry.boolean = Some(b),
            Node::Int(i) if i32::try_from(i).is_ok() => entry.set_number(i as f64),
            // Out-of-range integers and strings: Envoy reads the raw text as a double.
            Node::Int(_) | Node::Str(_) | Node::Quoted(_) => {
                if let Some(d) = simple_atod(raw) {
                    entry.set_number(d);
                }
            }
            Node::Map(fields) => entry.fraction = fraction(&fields),
        }
        entry
    }

    /// The value as it was written.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The integer reading, if any.
    pub fn integer(&self) -> Option<u64> {
        self.integer
    }

    /// The double reading, if any.
    pub fn double(&self) -> Option<f64> {
        self.double
    }

    /// The boolean reading, if any.
    pub fn boolean(&self) -> Option<bool> {
        self.boolean
    }

    /// The `FractionalPercent` reading, if any.
    pub fn fraction(&self) -> Option<Fraction> {
        self.fraction
    }

    fn set_number(&mut self, d: f64) {
        self.double = Some(d);
        // Envoy: `value < INT_MAX && value == static_cast<int>(value)`.
        if d < f64::from(i32::MAX) && d >= f64::from(i32::MIN) && d == d.trunc() {
            self.boolean = Some(d != 0.0);
        }
        if d >= 0.0 && d <= u64::MAX as f64 {
            // Floors, and saturates at 2^64 where C++ would be undefined.
            self.integer = Some(d as u64);
        }
    }
}

/// What a YAML document is, as far as runtime typing cares.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Int(i64),
    /// A plain scalar that is neither a boolean nor an integer.
    Str(String),
    /// A single- or double-quoted scalar, unquoted.
    Quoted(String),
    Map(Vec<(String, Node)>),
    /// Sequences, nested mappings, anything else.
    Other,
}

fn document(text: &str) -> Node {
    let t = text.trim();
    if t.starts_with('{') {
        return flow_map(t).unwrap_or(Node::Other);
    }
    if t.starts_with('[') || t == "-" || t.starts_with("- ") || t.starts_with("-\n") {
        return Node::Other;
    }
    if is_block_map(t) {
        return block_map(t);
    }
    scalar(t)
}

/// A scalar as yaml-cpp and Envoy's `parseYamlNode` type it.
fn scalar(text: &str) -> Node {
    let t = strip_comment(text).trim();
    if matches!(t, "" | "~" | "null" | "Null" | "NULL") {
        return Node::Null;
    }
    if let Some(inner) = unquote(t) {
        return Node::Quoted(inner.to_owned());
    }
    if let Some(b) = yaml_bool(t) {
        return Node::Bool(b);
    }
    if let Some(i) = cpp_int(t) {
        return Node::Int(i);
    }
    Node::Str(t.to_owned())
}

/// A plain scalar ends where ` #` starts a comment; a value that starts with `#` is all comment.
fn strip_comment(text: &str) -> &str {
    if text.starts_with('#') {
        return "";
    }
    if text.starts_with(['"', '\'']) {
        return text;
    }
    match text.find(" #").or_else(|| text.find("\t#")) {
        Some(at) => &text[..at],
        None => text,
    }
}

fn unquote(t: &str) -> Option<&str> {
    let q = t.chars().next()?;
    if (q == '"' || q == '\'') && t.len() >= 2 && t.ends_with(q) {
        return Some(&t[1..t.len() - 1]);
    }
    None
}

/// yaml-cpp's booleans: `y`, `yes`, `true`, `on` and their negations, in lower case, upper case or
/// capitalised (`True`, `TRUE`, not `tRUE`).
fn yaml_bool(t: &str) -> Option<bool> {
    let mut chars = t.chars();
    let first = chars.next()?;
    let rest = chars.as_str();
    let is_flexible_case = t.chars().all(|c| !c.is_ascii_uppercase())
        || (first.is_ascii_uppercase()
            && (rest.chars().all(|c| !c.is_ascii_uppercase())
                || rest.chars().all(|c| !c.is_ascii_lowercase())));
    if !is_flexible_case {
        return None;
    }
    match t.to_ascii_lowercase().as_str() {
        "y" | "yes" | "true" | "on" => Some(true),
        "n" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// An `int64_t` read by a C++ stream with the base left to the prefix: `0x` hex, a leading `0`
/// octal, otherwise decimal; an optional sign; the whole text must be consumed.
fn cpp_int(t: &str) -> Option<i64> {
    let (negative, rest) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) =
        if let Some(hex) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
            (16, hex)
        } else if rest.len() > 1 && rest.starts_with('0') {
            (8, &rest[1..])
        } else {
            (10, rest)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// `absl::SimpleAtod`: surrounding ASCII whitespace ignored, one leading `+` allowed, decimal or
/// exponent notation, `inf`/`infinity`/`nan` in any case; out of range reads as infinity.
pub(crate) fn simple_atod(text: &str) -> Option<f64> {
    let t = text.trim_ascii();
    let t = match t.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return None,
        Some(rest) => rest,
        None => t,
    };
    t.parse::<f64>().ok()
}

fn is_block_map(t: &str) -> bool {
    let first = t.lines().next().unwrap_or("");
    if first.starts_with(['"', '\'', '#']) {
        return false;
    }
    let first = strip_comment(first);
    first.contains(": ") || first.ends_with(':')
}

/// A flat block mapping, one `key: value` per line; an indented line makes the previous key's
/// value a nested node, which no runtime typing reads.
fn block_map(t: &str) -> Node {
    let mut fields: Vec<(String, Node)> = Vec::new();
    for line in t.lines() {
        let trimmed = line.trim_end();
        if trimmed.trim_start().is_empty() || trimmed.trim_start().starts_with('#') {
            continue;
        }
        if trimmed.starts_with([' ', '\t']) {
            match fields.last_mut() {
                Some(last) => last.1 = Node::Other,
                None => return Node::Other,
            }
            continue;
        }
        let Some((key, value)) = split_key(trimmed) else {
            return Node::Other;
        };
        fields.push((key, scalar(value)));
    }
    Node::Map(fields)
}

/// A flow mapping `{k: v, "k2": v2}`, one level deep (JSON objects included).
fn flow_map(t: &str) -> Option<Node> {
    let inner = strip_comment(t)
        .trim()
        .strip_prefix('{')?
        .strip_suffix('}')?;
    let mut fields = Vec::new();
    for part in split_top_level(inner)? {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (key, value) = split_key(part)?;
        let value = value.trim();
        let node = if value.starts_with(['{', '[']) {
            Node::Other
        } else {
            scalar(value)
        };
        fields.push((key, node));
    }
    Some(Node::Map(fields))
}

/// Splits on commas outside quotes and brackets; `None` when brackets do not balance.
fn split_top_level(s: &str) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None, 0);
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '{' | '[') => depth += 1,
            (None, '}' | ']') => depth -= 1,
            (None, ',') if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if depth < 0 {
            return None;
        }
    }
    (depth == 0 && quote.is_none()).then(|| {
        parts.push(&s[start..]);
        parts
    })
}

/// `key: value` (the key possibly quoted) split at the first colon outside quotes.
fn split_key(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    let (key, rest) = if let Some(q @ ('"' | '\'')) = s.chars().next() {
        let end = s[1..].find(q)? + 1;
        (
            s[1..end].to_owned(),
            s[end + 1..].trim_start().strip_prefix(':')?,
        )
    } else {
        let (k, v) = s.split_once(':')?;
        (k.trim().to_owned(), v)
    };
    Some((key, rest))
}

/// Envoy's `parseFractionValue`: only `numerator` and `denominator` keys; a numerator that is not
/// a number is ignored (left 0); a denominator must be one of the three names.
fn fraction(fields: &[(String, Node)]) -> Option<Fraction> {
    let mut f = Fraction {
        numerator: 0,
        denominator: 100,
    };
    for (key, value) in fields {
        match (key.as_str(), value) {
            ("numerator", Node::Int(n)) => {
                if let (Ok(_), Ok(n)) = (i32::try_from(*n), u32::try_from(*n)) {
                    f.numerator = n;
                }
            }
            ("numerator", _) => {}
            ("denominator", Node::Str(name) | Node::Quoted(name)) => {
                f.denominator = denominator(name)?;
            }
            _ => return None,
        }
    }
    Some(f)
}

/// The number a `FractionalPercent.DenominatorType` name stands for.
pub fn denominator(name: &str) -> Option<u32> {
    match name {
        "HUNDRED" => Some(100),
        "TEN_THOUSAND" => Some(10_000),
        "MILLION" => Some(1_000_000),
        _ => None,
    }
}
