//! Evaluates parsed format strings (`sluice_config::access_log::Token`) for one request into a
//! caller's buffer: text lines as Envoy prints them (`-` for an absent value) and one JSON
//! object per line for `json_format`.
//!
//! Nothing here allocates in the common case: numbers go through `itoa`, addresses and times
//! are written straight into the output, and a value is truncated in place.

use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use sluice_config::access_log::{
    HeaderName, HeaderRef, JsonTemplate, LogFormat, Operator, TimeFormat, TimePiece, Token,
};

use super::RequestLog;

/// Appends one formatted line for `entry` to `out`.
pub(super) fn write_line(
    format: &LogFormat,
    hostname: &str,
    entry: &RequestLog<'_>,
    out: &mut Vec<u8>,
) {
    match format {
        LogFormat::Text {
            tokens,
            omit_empty_values,
        } => {
            let absent: &[u8] = if *omit_empty_values { b"" } else { b"-" };
            write_tokens(tokens, hostname, entry, absent, out);
        }
        LogFormat::Json {
            fields,
            omit_empty_values,
        } => {
            write_object(fields, hostname, entry, *omit_empty_values, out);
            out.push(b'\n');
        }
    }
}

fn write_tokens(
    tokens: &[Token],
    hostname: &str,
    entry: &RequestLog<'_>,
    absent: &[u8],
    out: &mut Vec<u8>,
) {
    for t in tokens {
        match t {
            Token::Literal(s) => out.extend_from_slice(s.as_bytes()),
            Token::Op(op, max_len) => {
                let start = out.len();
                if write_op(op, hostname, entry, out) {
                    if let Some(n) = max_len {
                        out.truncate(start + (out.len() - start).min(*n));
                    }
                } else {
                    out.extend_from_slice(absent);
                }
            }
        }
    }
}

/// Writes an operator's value; false (and nothing written) when it has none.
fn write_op(op: &Operator, hostname: &str, e: &RequestLog<'_>, out: &mut Vec<u8>) -> bool {
    let mut n = itoa::Buffer::new();
    match op {
        Operator::RequestHeader(h) => match request_header(h, e) {
            Some(v) => out.extend_from_slice(v),
            None => return false,
        },
        Operator::ResponseHeader(h) => {
            let Some(headers) = e.response_headers else {
                return false;
            };
            let value = regular(&h.main)
                .and_then(|name| headers.get(name))
                .or_else(|| {
                    h.alternative
                        .as_ref()
                        .and_then(regular)
                        .and_then(|name| headers.get(name))
                });
            match value {
                Some(v) => out.extend_from_slice(v),
                None => return false,
            }
        }
        Operator::StartTime(f) => write_time(f, e.start, out),
        Operator::Protocol => {
            if e.protocol.is_empty() {
                return false;
            }
            out.extend_from_slice(e.protocol.as_bytes());
        }
        // Envoy prints 0 when no response was sent.
        Operator::ResponseCode => out.extend_from_slice(n.format(e.response_code).as_bytes()),
        Operator::ResponseFlags => {
            if e.response_flags.is_empty() {
                return false;
            }
            out.extend_from_slice(e.response_flags.as_bytes());
        }
        Operator::BytesReceived => out.extend_from_slice(n.format(e.bytes_received).as_bytes()),
        Operator::BytesSent => out.extend_from_slice(n.format(e.bytes_sent).as_bytes()),
        Operator::Duration => out.extend_from_slice(n.format(e.duration.as_millis()).as_bytes()),
        Operator::UpstreamHost => match e.upstream_host {
            Some(a) => {
                let _ = write!(out, "{a}");
            }
            None => return false,
        },
        Operator::UpstreamCluster => match e.upstream_cluster {
            Some(c) if !c.is_empty() => out.extend_from_slice(c.as_bytes()),
            _ => return false,
        },
        Operator::DownstreamRemoteAddress => {
            let _ = write!(out, "{}", e.downstream_remote);
        }
        Operator::DownstreamRemoteAddressWithoutPort => {
            let _ = write!(out, "{}", e.downstream_remote.ip());
        }
        Operator::DownstreamLocalAddress => match e.downstream_local {
            Some(a) => {
                let _ = write!(out, "{a}");
            }
            None => return false,
        },
        Operator::DownstreamLocalAddressWithoutPort => match e.downstream_local {
            Some(a) => {
                let _ = write!(out, "{}", a.ip());
            }
            None => return false,
        },
        Operator::RouteName => match e.route_name {
            Some(r) if !r.is_empty() => out.extend_from_slice(r.as_bytes()),
            _ => return false,
        },
        Operator::Hostname => {
            if hostname.is_empty() {
                return false;
            }
            out.extend_from_slice(hostname.as_bytes());
        }
        // Always a value, empty outside a local reply (Envoy's formatter returns a string).
        Operator::LocalReplyBody => out.extend_from_slice(e.local_reply_body.unwrap_or(b"")),
    }
    true
}

fn regular(name: &HeaderName) -> Option<&[u8]> {
    match name {
        HeaderName::Regular(n) => Some(n.as_bytes()),
        _ => None,
    }
}

fn request_header<'e>(h: &HeaderRef, e: &RequestLog<'e>) -> Option<&'e [u8]> {
    let one = |name: &HeaderName| -> Option<&'e [u8]> {
        let v = match name {
            HeaderName::Method => e.method,
            HeaderName::Path => e.path,
            HeaderName::Authority => e.authority,
            HeaderName::Scheme => b"http",
            HeaderName::Regular(n) => e.request_headers?.get(n.as_bytes())?,
        };
        (!v.is_empty()).then_some(v)
    };
    one(&h.main).or_else(|| h.alternative.as_ref().and_then(one))
}

// === JSON ===

fn write_object(
    fields: &[(String, JsonTemplate)],
    hostname: &str,
    entry: &RequestLog<'_>,
    omit_empty: bool,
    out: &mut Vec<u8>,
) {
    out.push(b'{');
    let mut first = true;
    for (key, value) in fields {
        let mark = out.len();
        if !first {
            out.push(b',');
        }
        write_json_string(key.as_bytes(), out);
        out.push(b':');
        let present = match value {
            JsonTemplate::Object(inner) => {
                write_object(inner, hostname, entry, omit_empty, out);
                true
            }
            JsonTemplate::Literal(v) => {
                // A literal was checked to be a JSON scalar at load; its text is short.
                let _ = serde_json::to_writer(&mut *out, v);
                true
            }
            JsonTemplate::Format(tokens) => {
                write_json_format(tokens, hostname, entry, omit_empty, out)
            }
        };
        if present {
            first = false;
        } else {
            // `omit_empty_values`: the member is left out.
            out.truncate(mark);
        }
    }
    out.push(b'}');
}

/// Writes a member's value; false when it is absent and `omit_empty` asks to leave it out.
fn write_json_format(
    tokens: &[Token],
    hostname: &str,
    entry: &RequestLog<'_>,
    omit_empty: bool,
    out: &mut Vec<u8>,
) -> bool {
    if let [Token::Op(op, max_len)] = tokens {
        // A lone operator keeps its type: a number for the numeric ones, `null` when absent.
        let is_number = op.is_numeric() && max_len.is_none();
        let quote = out.len();
        if !is_number {
            out.push(b'"');
        }
        let start = out.len();
        if !write_op(op, hostname, entry, out) {
            out.truncate(quote);
            if omit_empty {
                return false;
            }
            out.extend_from_slice(b"null");
            return true;
        }
        if !is_number {
            if let Some(n) = max_len {
                out.truncate(start + (out.len() - start).min(*n));
            }
            close_string(start, out);
        }
        return true;
    }
    out.push(b'"');
    let start = out.len();
    let absent: &[u8] = if omit_empty { b"" } else { b"-" };
    write_tokens(tokens, hostname, entry, absent, out);
    close_string(start, out);
    true
}

/// Ends the JSON string whose raw bytes were written from `start` (after its opening quote),
/// escaping them in place when they need it (rare: quotes, control bytes, non-ASCII).
fn close_string(start: usize, out: &mut Vec<u8>) {
    let needs_escape = out.get(start..).is_some_and(|raw| {
        raw.iter()
            .any(|&b| b < 0x20 || b == b'"' || b == b'\\' || b >= 0x80)
    });
    if needs_escape {
        let raw = out.split_off(start);
        // `write_json_string` adds both quotes; drop the opening one already written.
        out.pop();
        write_json_string(&raw, out);
    } else {
        out.push(b'"');
    }
}

fn write_json_string(raw: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    if !raw
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\' || b >= 0x80)
    {
        out.extend_from_slice(raw);
        out.push(b'"');
        return;
    }
    // Header values may hold bytes that are not UTF-8; JSON output must be.
    let text = String::from_utf8_lossy(raw);
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}

// === time ===

/// A UTC calendar time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Civil {
    pub(super) year: i64,
    pub(super) month: u32,
    pub(super) day: u32,
    pub(super) hour: u32,
    pub(super) minute: u32,
    pub(super) second: u32,
    pub(super) nanos: u32,
    pub(super) day_of_year: u32,
    /// 0 = Sunday.
    pub(super) weekday: u32,
    pub(super) epoch_seconds: i64,
}

/// A time as protobuf's JSON writes a `Timestamp`: RFC 3339 in UTC, with 0, 3, 6 or 9
/// fractional digits (`2026-12-03T20:01:02.345Z`).
pub(crate) fn protobuf_timestamp(t: SystemTime) -> String {
    let c = civil(t);
    let fraction = match c.nanos {
        0 => String::new(),
        n if n % 1_000_000 == 0 => format!(".{:03}", n / 1_000_000),
        n if n % 1_000 == 0 => format!(".{:06}", n / 1_000),
        n => format!(".{n:09}"),
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// Splits a time into its UTC calendar fields (days-to-civil after Howard Hinnant's public
/// domain algorithm for the proleptic Gregorian calendar).
pub(super) fn civil(t: SystemTime) -> Civil {
    let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(_) => (0, 0),
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy_from_march = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy_from_march + 2) / 153;
    let day = doy_from_march - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let is_leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    const BEFORE_MONTH: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let leap_day = i64::from(is_leap && month > 2);
    let day_of_year = BEFORE_MONTH
        .get(usize::try_from(month - 1).unwrap_or(0))
        .copied()
        .unwrap_or(0)
        + day
        + leap_day;
    let small = |v: i64| u32::try_from(v).unwrap_or(0);
    Civil {
        year,
        month: small(month),
        day: small(day),
        hour: small(rem / 3600),
        minute: small(rem % 3600 / 60),
        second: small(rem % 60),
        nanos,
        day_of_year: small(day_of_year),
        // 1970-01-01 was a Thursday.
        weekday: small((days + 4).rem_euclid(7)),
        epoch_seconds: secs,
    }
}

fn pad(out: &mut Vec<u8>, value: u32, width: usize, fill: u8) {
    let mut b = itoa::Buffer::new();
    let s = b.format(value);
    for _ in s.len()..width {
        out.push(fill);
    }
    out.extend_from_slice(s.as_bytes());
}

/// Prints `t` as `%START_TIME%` does with `format` (also used by header value commands).
pub(crate) fn write_time(format: &TimeFormat, t: SystemTime, out: &mut Vec<u8>) {
    let c = civil(t);
    match format {
        TimeFormat::Default => {
            // 2016-04-15T20:17:00.310Z
            pad(out, u32::try_from(c.year).unwrap_or(0), 4, b'0');
            out.push(b'-');
            pad(out, c.month, 2, b'0');
            out.push(b'-');
            pad(out, c.day, 2, b'0');
            out.push(b'T');
            pad(out, c.hour, 2, b'0');
            out.push(b':');
            pad(out, c.minute, 2, b'0');
            out.push(b':');
            pad(out, c.second, 2, b'0');
            out.push(b'.');
            pad(out, c.nanos / 1_000_000, 3, b'0');
            out.push(b'Z');
        }
        TimeFormat::Custom(pieces) => {
            for p in pieces {
                write_piece(p, &c, out);
            }
        }
    }
}

fn write_piece(p: &TimePiece, c: &Civil, out: &mut Vec<u8>) {
    const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    match p {
        TimePiece::Literal(s) => out.extend_from_slice(s.as_bytes()),
        TimePiece::Year => pad(out, u32::try_from(c.year).unwrap_or(0), 4, b'0'),
        TimePiece::YearShort => pad(
            out,
            u32::try_from(c.year.rem_euclid(100)).unwrap_or(0),
            2,
            b'0',
        ),
        TimePiece::Month => pad(out, c.month, 2, b'0'),
        TimePiece::Day => pad(out, c.day, 2, b'0'),
        TimePiece::DaySpace => pad(out, c.day, 2, b' '),
        TimePiece::DayOfYear => pad(out, c.day_of_year, 3, b'0'),
        TimePiece::Hour => pad(out, c.hour, 2, b'0'),
        TimePiece::Minute => pad(out, c.minute, 2, b'0'),
        TimePiece::Second => pad(out, c.second, 2, b'0'),
        TimePiece::Weekday => {
            let name = WEEKDAYS.get(c.weekday as usize).copied().unwrap_or("");
            out.extend_from_slice(name.as_bytes());
        }
        TimePiece::MonthName => {
            let name = MONTHS
                .get((c.month as usize).wrapping_sub(1))
                .copied()
                .unwrap_or("");
            out.extend_from_slice(name.as_bytes());
        }
        TimePiece::EpochSeconds => {
            let mut b = itoa::Buffer::new();
            out.extend_from_slice(b.format(c.epoch_seconds).as_bytes());
        }
        TimePiece::Offset => out.extend_from_slice(b"+0000"),
        TimePiece::Zone => out.extend_from_slice(b"UTC"),
        TimePiece::Fraction(digits) => {
            let digits = usize::from((*digits).clamp(1, 9));
            let start = out.len();
            pad(out, c.nanos, 9, b'0');
            out.truncate(start + digits);
        }
    }
}
