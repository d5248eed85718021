//! Access log configuration: the validated `AccessLog` of an HTTP connection manager, and the
//! parser of Envoy's substitution format strings (`%REQ(X?Y):N%`, `%START_TIME(...)%`, ...).
//!
//! A format string is parsed once, at load, into [`Token`]s; the proxy evaluates those per
//! request. An operator Sluice cannot evaluate is refused here, so a loaded config never
//! prints a value it does not have.

use std::fmt;

/// `config.accesslog.v3.AccessLog` with one of the loggers Sluice implements.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessLog {
    /// `name` (informational).
    pub name: String,
    /// `filter`; `None` logs every request.
    pub filter: Option<Filter>,
    /// Where lines go.
    pub sink: Sink,
    /// What a line looks like.
    pub format: LogFormat,
}

/// The logger extension: where formatted lines are written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sink {
    /// `envoy.access_loggers.file`: appended to `path`.
    File(String),
    /// `envoy.access_loggers.stdout`.
    Stdout,
    /// `envoy.access_loggers.stderr`.
    Stderr,
}

/// `config.accesslog.v3.AccessLogFilter`, the kinds Sluice implements.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `status_code_filter`: the response code compared with a value.
    StatusCode(Comparison),
    /// `duration_filter`: the request's duration in milliseconds compared with a value.
    Duration(Comparison),
    /// `not_health_check_filter`: passes requests a health-check filter did not mark; Sluice
    /// has no health-check HTTP filter, so every request passes.
    NotHealthCheck,
    /// `runtime_filter`: a sampled share of requests.
    Runtime(RuntimeSample),
    /// `and_filter`: every sub-filter passes.
    And(Vec<Filter>),
    /// `or_filter`: at least one sub-filter passes.
    Or(Vec<Filter>),
    /// `header_filter`: the request's headers (pseudo-headers `:method`, `:path`,
    /// `:authority` included) match.
    Header(crate::model::HeaderMatcher),
    /// `response_flag_filter`: one of these flags is set, or, when the list is empty, any
    /// flag at all.
    ResponseFlag(Vec<String>),
}

/// The response flags Envoy's `ResponseFlagFilter` accepts (its proto's `in` list).
pub const RESPONSE_FLAGS: &[&str] = &[
    "LH", "UH", "UT", "LR", "UR", "UF", "UC", "UO", "NR", "DI", "FI", "RL", "UAEX", "RLSE", "DC",
    "URX", "SI", "IH", "DPE", "UMSDR", "RFCF", "NFCF", "DT", "UPE", "NC", "OM", "DF", "DO", "DR",
    "UDO",
];

/// `ComparisonFilter`: `value op threshold`, the threshold overridable by a runtime key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// `op`.
    pub op: ComparisonOp,
    /// `value.default_value`.
    pub default_value: u32,
    /// `value.runtime_key`.
    pub runtime_key: String,
}

/// `ComparisonFilter.Op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComparisonOp {
    /// `EQ`.
    Eq,
    /// `GE`.
    Ge,
    /// `LE`.
    Le,
}

impl ComparisonOp {
    /// Whether `value op threshold` holds.
    pub fn holds(self, value: u64, threshold: u64) -> bool {
        match self {
            ComparisonOp::Eq => value == threshold,
            ComparisonOp::Ge => value >= threshold,
            ComparisonOp::Le => value <= threshold,
        }
    }
}

/// `RuntimeFilter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeSample {
    /// `runtime_key`.
    pub runtime_key: String,
    /// `percent_sampled.numerator`; Envoy's default is 0 of 100 when absent.
    pub numerator: u32,
    /// `percent_sampled.denominator`: 100, 10 000 or 1 000 000.
    pub denominator: u32,
    /// `use_independent_randomness`: a fresh random value per log rather than one derived
    /// from `x-request-id`.
    pub use_independent_randomness: bool,
}

/// A `SubstitutionFormatString` (or a logger's legacy `format` / `json_format`).
#[derive(Debug, Clone, PartialEq)]
pub enum LogFormat {
    /// `text_format` / `text_format_source`.
    Text {
        /// The parsed format string.
        tokens: Vec<Token>,
        /// `omit_empty_values`: an absent value prints nothing instead of `-`.
        omit_empty_values: bool,
    },
    /// `json_format`: one JSON object per line.
    Json {
        /// The object's members, in the order written.
        fields: Vec<(String, JsonTemplate)>,
        /// `omit_empty_values`: members whose value is absent are left out.
        omit_empty_values: bool,
    },
}

/// One value of a `json_format` template.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonTemplate {
    /// A nested object.
    Object(Vec<(String, JsonTemplate)>),
    /// A format string; when it is exactly one operator the value keeps its type (a number
    /// for `%RESPONSE_CODE%`, `null` when absent), as in Envoy.
    Format(Vec<Token>),
    /// A number, boolean or null written as such.
    Literal(serde_json::Value),
}

/// A piece of a parsed format string.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// Text copied as is.
    Literal(String),
    /// A command operator and its optional `:N` truncation.
    Op(Operator, Option<usize>),
}

/// A command operator Sluice can evaluate.
#[derive(Debug, Clone, PartialEq)]
pub enum Operator {
    /// `%REQ(X?Y)%` / `%REQUEST_HEADER(X?Y)%`.
    RequestHeader(HeaderRef),
    /// `%RESP(X?Y)%` / `%RESPONSE_HEADER(X?Y)%`.
    ResponseHeader(HeaderRef),
    /// `%START_TIME%` and `%START_TIME(fmt)%`.
    StartTime(TimeFormat),
    /// `%PROTOCOL%`: `HTTP/1.1`.
    Protocol,
    /// `%RESPONSE_CODE%`: 0 when no response was sent.
    ResponseCode,
    /// `%RESPONSE_FLAGS%`.
    ResponseFlags,
    /// `%BYTES_RECEIVED%`: request body bytes.
    BytesReceived,
    /// `%BYTES_SENT%`: response body bytes.
    BytesSent,
    /// `%DURATION%`: milliseconds from the request's start to its last byte sent.
    Duration,
    /// `%UPSTREAM_HOST%`.
    UpstreamHost,
    /// `%UPSTREAM_CLUSTER%`.
    UpstreamCluster,
    /// `%DOWNSTREAM_REMOTE_ADDRESS%`.
    DownstreamRemoteAddress,
    /// `%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%`.
    DownstreamRemoteAddressWithoutPort,
    /// `%DOWNSTREAM_LOCAL_ADDRESS%`.
    DownstreamLocalAddress,
    /// `%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%`.
    DownstreamLocalAddressWithoutPort,
    /// `%ROUTE_NAME%`.
    RouteName,
    /// `%HOSTNAME%`.
    Hostname,
    /// `%LOCAL_REPLY_BODY%`: the body of a local reply being formatted by
    /// `local_reply_config`; empty in access logs, as in Envoy.
    LocalReplyBody,
}

impl Operator {
    /// Whether the operator's value is a number (typed in `json_format`).
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            Operator::ResponseCode
                | Operator::BytesReceived
                | Operator::BytesSent
                | Operator::Duration
        )
    }
}

/// A header a `REQ`/`RESP` operator reads: `main`, else `alternative`. Names are lower-case;
/// the request pseudo-headers are resolved to what they stand for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderRef {
    /// The header read first.
    pub main: HeaderName,
    /// The header read when `main` is absent (`X?Y`).
    pub alternative: Option<HeaderName>,
}

/// A header name, or a request pseudo-header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderName {
    /// `:method`.
    Method,
    /// `:path`: the request target as received.
    Path,
    /// `:authority` (and `host`).
    Authority,
    /// `:scheme`.
    Scheme,
    /// A regular header, lower-case.
    Regular(String),
}

/// How `%START_TIME%` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    /// Envoy's default: `2016-04-15T20:17:00.310Z` (UTC, milliseconds).
    Default,
    /// A strftime-like pattern, in UTC.
    Custom(Vec<TimePiece>),
}

/// One piece of a `%START_TIME(...)%` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimePiece {
    /// Text copied as is.
    Literal(String),
    /// `%Y`: four-digit year.
    Year,
    /// `%y`: two-digit year.
    YearShort,
    /// `%m`: month 01-12.
    Month,
    /// `%d`: day 01-31.
    Day,
    /// `%e`: day 1-31, space padded.
    DaySpace,
    /// `%j`: day of the year 001-366.
    DayOfYear,
    /// `%H`: hour 00-23.
    Hour,
    /// `%M`: minute 00-59.
    Minute,
    /// `%S`: second 00-60.
    Second,
    /// `%a`: abbreviated weekday.
    Weekday,
    /// `%b`: abbreviated month.
    MonthName,
    /// `%s`: seconds since the epoch.
    EpochSeconds,
    /// `%z`: `+0000` (times are UTC).
    Offset,
    /// `%Z`: `UTC`.
    Zone,
    /// `%f` (9 digits) or `%Nf`: the first N digits of the fraction of the second.
    Fraction(u8),
}

/// Why a format string was refused, with the byte position of the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    /// Byte offset in the format string.
    pub position: usize,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at position {})", self.reason, self.position)
    }
}

/// Envoy's default access log format (`[%START_TIME%] "%REQ(:METHOD)% ..."`).
pub const DEFAULT_FORMAT: &str = "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\"\n";

/// Operators Envoy has that Sluice cannot evaluate yet: refused with "not supported yet"
/// rather than "unknown".
const ENVOY_OPERATORS: &[&str] = &[
    "REQUEST_DURATION",
    "REQUEST_TX_DURATION",
    "RESPONSE_DURATION",
    "RESPONSE_TX_DURATION",
    "DOWNSTREAM_HANDSHAKE_DURATION",
    "ROUNDTRIP_DURATION",
    "BYTES_RETRANSMITTED",
    "PACKETS_RETRANSMITTED",
    "UPSTREAM_WIRE_BYTES_SENT",
    "UPSTREAM_WIRE_BYTES_RECEIVED",
    "UPSTREAM_HEADER_BYTES_SENT",
    "UPSTREAM_HEADER_BYTES_RECEIVED",
    "DOWNSTREAM_WIRE_BYTES_SENT",
    "DOWNSTREAM_WIRE_BYTES_RECEIVED",
    "DOWNSTREAM_HEADER_BYTES_SENT",
    "DOWNSTREAM_HEADER_BYTES_RECEIVED",
    "RESPONSE_CODE_DETAILS",
    "CONNECTION_TERMINATION_DETAILS",
    "RESPONSE_FLAGS_LONG",
    "UPSTREAM_LOCAL_ADDRESS",
    "UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT",
    "UPSTREAM_LOCAL_PORT",
    "UPSTREAM_REMOTE_ADDRESS",
    "UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT",
    "UPSTREAM_REMOTE_PORT",
    "UPSTREAM_TRANSPORT_FAILURE_REASON",
    "UPSTREAM_REQUEST_ATTEMPT_COUNT",
    "UPSTREAM_CONNECTION_ID",
    "DOWNSTREAM_REMOTE_PORT",
    "DOWNSTREAM_LOCAL_PORT",
    "DOWNSTREAM_DIRECT_REMOTE_ADDRESS",
    "DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT",
    "DOWNSTREAM_DIRECT_REMOTE_PORT",
    "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT_ENDPOINT",
    "DOWNSTREAM_PEER_URI_SAN",
    "DOWNSTREAM_LOCAL_URI_SAN",
    "DOWNSTREAM_TLS_VERSION",
    "DOWNSTREAM_TLS_CIPHER",
    "DOWNSTREAM_PEER_SUBJECT",
    "DOWNSTREAM_PEER_ISSUER",
    "DOWNSTREAM_PEER_FINGERPRINT_256",
    "DOWNSTREAM_PEER_CERT",
    "REQUESTED_SERVER_NAME",
    "CONNECTION_ID",
    "STREAM_ID",
    "UPSTREAM_FILTER_STATE",
    "FILTER_STATE",
    "DYNAMIC_METADATA",
    "CLUSTER_METADATA",
    "UPSTREAM_METADATA",
    "VIRTUAL_CLUSTER_NAME",
    "TRAILER",
    "RESPONSE_TRAILER",
    "REQ_WITHOUT_QUERY",
    "START_TIME_LOCAL",
    "EMIT_TIME",
    "GRPC_STATUS",
    "GRPC_STATUS_NUMBER",
    "ACCESS_LOG_TYPE",
    "UNIQUE_ID",
    "ENVIRONMENT",
    "TRACE_ID",
    "CEL",
    "METADATA",
    "COMMON_DURATION",
    "CUSTOM_FLAGS",
    "QUERY_PARAM",
    "PATH",
    "UPSTREAM_PROTOCOL",
    "UPSTREAM_CLUSTER_RAW",
];

/// Parses a format string into tokens, refusing operators Sluice cannot evaluate.
pub fn parse_format(text: &str) -> Result<Vec<Token>, FormatError> {
    let mut tokens = Vec::new();
    let mut literal = String::new();
    let bytes = text.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        let Some(rel) = text.get(pos..).and_then(|rest| rest.find('%')) else {
            literal.push_str(text.get(pos..).unwrap_or(""));
            break;
        };
        literal.push_str(text.get(pos..pos + rel).unwrap_or(""));
        let start = pos + rel;
        if bytes.get(start + 1) == Some(&b'%') {
            // `%%` is an escaped percent sign.
            literal.push('%');
            pos = start + 2;
            continue;
        }
        let (op, len, end) = command(text, start)?;
        if !literal.is_empty() {
            tokens.push(Token::Literal(std::mem::take(&mut literal)));
        }
        tokens.push(Token::Op(op, len));
        pos = end;
    }
    if !literal.is_empty() {
        tokens.push(Token::Literal(literal));
    }
    Ok(tokens)
}

/// Parses `%COMMAND(ARGS):LEN%` at `start`; returns the operator, the truncation and the
/// offset just past the closing `%`.
fn command(text: &str, start: usize) -> Result<(Operator, Option<usize>, usize), FormatError> {
    let invalid = |reason: &str| FormatError {
        position: start,
        reason: reason.to_owned(),
    };
    let rest = text.get(start + 1..).unwrap_or("");
    let name_len = rest
        .bytes()
        .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
        .count();
    if name_len == 0 {
        return Err(invalid(
            "expected a command operator such as `%PROTOCOL%` after `%` (write `%%` for a literal percent sign)",
        ));
    }
    let name = rest.get(..name_len).unwrap_or("");
    let mut after = rest.get(name_len..).unwrap_or("");
    let mut args = None;
    if let Some(a) = after.strip_prefix('(') {
        let Some(close) = a.find(')') else {
            return Err(invalid(&format!("`%{name}(` has no closing `)`")));
        };
        args = Some(a.get(..close).unwrap_or(""));
        after = a.get(close + 1..).unwrap_or("");
    }
    let mut len = None;
    if let Some(l) = after.strip_prefix(':') {
        let digits = l.bytes().take_while(u8::is_ascii_digit).count();
        let n = l
            .get(..digits)
            .and_then(|d| d.parse::<usize>().ok())
            .ok_or_else(|| invalid(&format!("`%{name}...:` needs a length in digits")))?;
        len = Some(n);
        after = l.get(digits..).unwrap_or("");
    }
    if !after.starts_with('%') {
        return Err(invalid(&format!(
            "command operator `%{name}` is not closed with `%`"
        )));
    }
    let end = text.len() - after.len() + 1;
    let op = operator(name, args).map_err(|reason| FormatError {
        position: start,
        reason,
    })?;
    if len.is_some() && op == Operator::LocalReplyBody {
        // Envoy's parser allows no length on this command.
        return Err(invalid(&format!("`%{name}%` takes no `:N` length")));
    }
    Ok((op, len, end))
}

fn operator(name: &str, args: Option<&str>) -> Result<Operator, String> {
    let no_args = |op: Operator| match args {
        None => Ok(op),
        Some(_) => Err(format!("`%{name}%` takes no argument")),
    };
    match name {
        "REQ" | "REQUEST_HEADER" => header_ref(name, args, true).map(Operator::RequestHeader),
        "RESP" | "RESPONSE_HEADER" => header_ref(name, args, false).map(Operator::ResponseHeader),
        "START_TIME" => match args {
            None | Some("") => Ok(Operator::StartTime(TimeFormat::Default)),
            Some(pattern) => parse_time_format(pattern).map(Operator::StartTime),
        },
        "PROTOCOL" => no_args(Operator::Protocol),
        "RESPONSE_CODE" => no_args(Operator::ResponseCode),
        "RESPONSE_FLAGS" => no_args(Operator::ResponseFlags),
        "BYTES_RECEIVED" => no_args(Operator::BytesReceived),
        "BYTES_SENT" => no_args(Operator::BytesSent),
        "DURATION" => no_args(Operator::Duration),
        "UPSTREAM_HOST" => no_args(Operator::UpstreamHost),
        "UPSTREAM_CLUSTER" => no_args(Operator::UpstreamCluster),
        "DOWNSTREAM_REMOTE_ADDRESS" => no_args(Operator::DownstreamRemoteAddress),
        "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT" => {
            no_args(Operator::DownstreamRemoteAddressWithoutPort)
        }
        "DOWNSTREAM_LOCAL_ADDRESS" => no_args(Operator::DownstreamLocalAddress),
        "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT" => {
            no_args(Operator::DownstreamLocalAddressWithoutPort)
        }
        "ROUTE_NAME" => no_args(Operator::RouteName),
        "HOSTNAME" => no_args(Operator::Hostname),
        "LOCAL_REPLY_BODY" => no_args(Operator::LocalReplyBody),
        other if ENVOY_OPERATORS.contains(&other) => {
            Err(format!("command operator `%{other}%` is not supported yet"))
        }
        other => Err(format!("unknown command operator `%{other}%`")),
    }
}

fn header_ref(name: &str, args: Option<&str>, is_request: bool) -> Result<HeaderRef, String> {
    let Some(args) = args.filter(|a| !a.is_empty()) else {
        return Err(format!("`%{name}(...)%` needs a header name"));
    };
    let mut parts = args.split('?');
    let main = parts.next().unwrap_or("");
    let alternative = parts.next();
    if parts.next().is_some() {
        return Err(format!(
            "`%{name}({args})%`: at most one alternative header (`X?Y`)"
        ));
    }
    let main = header_name(main, is_request)?;
    let alternative = alternative
        .map(|a| header_name(a, is_request))
        .transpose()?;
    Ok(HeaderRef { main, alternative })
}

fn header_name(raw: &str, is_request: bool) -> Result<HeaderName, String> {
    let lower = raw.to_ascii_lowercase();
    if lower.is_empty() {
        return Err("an empty header name".to_owned());
    }
    if let Some(pseudo) = lower.strip_prefix(':') {
        if !is_request {
            return match pseudo {
                // HTTP/1 responses carry the status in the status line; Envoy reads it here.
                "status" => {
                    Err("`%RESP(:STATUS)%` is not supported yet; use `%RESPONSE_CODE%`".to_owned())
                }
                _ => Err(format!("`{raw}` is not a response pseudo-header")),
            };
        }
        return match pseudo {
            "method" => Ok(HeaderName::Method),
            "path" => Ok(HeaderName::Path),
            "authority" => Ok(HeaderName::Authority),
            "scheme" => Ok(HeaderName::Scheme),
            _ => Err(format!(
                "`{raw}` is not a request pseudo-header Sluice knows"
            )),
        };
    }
    if is_request && lower == "host" {
        return Ok(HeaderName::Authority);
    }
    if !lower
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$&'*+-.^_`|~".contains(&b))
    {
        return Err(format!("`{raw}` is not a valid header name"));
    }
    Ok(HeaderName::Regular(lower))
}

/// Parses a `%START_TIME(...)%` pattern.
pub fn parse_time_format(pattern: &str) -> Result<TimeFormat, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            literal.push(c);
            continue;
        }
        let mut digits: Option<u8> = None;
        if let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
            chars.next();
            digits = u8::try_from(d).ok();
        }
        let Some(spec) = chars.next() else {
            return Err(format!("`START_TIME({pattern})`: a lone `%` at the end"));
        };
        let piece = match (spec, digits) {
            ('%', None) => {
                literal.push('%');
                continue;
            }
            ('f', None) => TimePiece::Fraction(9),
            ('f', Some(n)) if (1..=9).contains(&n) => TimePiece::Fraction(n),
            ('Y', None) => TimePiece::Year,
            ('y', None) => TimePiece::YearShort,
            ('m', None) => TimePiece::Month,
            ('d', None) => TimePiece::Day,
            ('e', None) => TimePiece::DaySpace,
            ('j', None) => TimePiece::DayOfYear,
            ('H', None) => TimePiece::Hour,
            ('M', None) => TimePiece::Minute,
            ('S', None) => TimePiece::Second,
            ('a', None) => TimePiece::Weekday,
            ('b', None) => TimePiece::MonthName,
            ('s', None) => TimePiece::EpochSeconds,
            ('z', None) => TimePiece::Offset,
            ('Z', None) => TimePiece::Zone,
            ('T' | 'F', None) => {
                if !literal.is_empty() {
                    pieces.push(TimePiece::Literal(std::mem::take(&mut literal)));
                }
                let (a, b, c) = if spec == 'T' {
                    (TimePiece::Hour, TimePiece::Minute, TimePiece::Second)
                } else {
                    (TimePiece::Year, TimePiece::Month, TimePiece::Day)
                };
                let sep = if spec == 'T' { ":" } else { "-" };
                pieces.extend([
                    a,
                    TimePiece::Literal(sep.to_owned()),
                    b,
                    TimePiece::Literal(sep.to_owned()),
                    c,
                ]);
                continue;
            }
            _ => {
                let shown = digits.map_or(String::new(), |d| d.to_string());
                return Err(format!(
                    "`START_TIME({pattern})`: the specifier `%{shown}{spec}` is not supported yet \
                     (supported: %Y %y %m %d %e %j %H %M %S %a %b %s %z %Z %T %F %f %1f..%9f %%)"
                ));
            }
        };
        if !literal.is_empty() {
            pieces.push(TimePiece::Literal(std::mem::take(&mut literal)));
        }
        pieces.push(piece);
    }
    if !literal.is_empty() {
        pieces.push(TimePiece::Literal(literal));
    }
    Ok(TimeFormat::Custom(pieces))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_format_parses() {
        let tokens = parse_format(DEFAULT_FORMAT).expect("default format");
        let ops = tokens.iter().filter(|t| matches!(t, Token::Op(..))).count();
        assert_eq!(ops, 15);
        assert_eq!(
            tokens.get(5),
            Some(&Token::Op(
                Operator::RequestHeader(HeaderRef {
                    main: HeaderName::Regular("x-envoy-original-path".into()),
                    alternative: Some(HeaderName::Path),
                }),
                None
            ))
        );
        assert_eq!(tokens.last(), Some(&Token::Literal("\"\n".into())));
    }

    #[test]
    fn truncation_escapes_and_literals() {
        let tokens = parse_format("a%%b %REQ(Host):3% %PROTOCOL%").expect("parses");
        assert_eq!(
            tokens,
            vec![
                Token::Literal("a%b ".into()),
                Token::Op(
                    Operator::RequestHeader(HeaderRef {
                        main: HeaderName::Authority,
                        alternative: None
                    }),
                    Some(3)
                ),
                Token::Literal(" ".into()),
                Token::Op(Operator::Protocol, None),
            ]
        );
    }

    #[test]
    fn refusals() {
        let cases = [
            (
                "%NOPE%",
                "unknown command operator `%NOPE%` (at position 0)",
            ),
            (
                "x %RESPONSE_CODE_DETAILS%",
                "command operator `%RESPONSE_CODE_DETAILS%` is not supported yet (at position 2)",
            ),
            ("%REQ%", "`%REQ(...)%` needs a header name (at position 0)"),
            (
                "%REQ(a?b?c)%",
                "`%REQ(a?b?c)%`: at most one alternative header (`X?Y`) (at position 0)",
            ),
            (
                "%PROTOCOL(x)%",
                "`%PROTOCOL%` takes no argument (at position 0)",
            ),
            (
                "%LOCAL_REPLY_BODY:5%",
                "`%LOCAL_REPLY_BODY%` takes no `:N` length (at position 0)",
            ),
            (
                "100%",
                "expected a command operator such as `%PROTOCOL%` after `%` (write `%%` for a literal percent sign) (at position 3)",
            ),
            (
                "%PROTOCOL",
                "command operator `%PROTOCOL` is not closed with `%` (at position 0)",
            ),
            (
                "%START_TIME(%Q)%",
                "`START_TIME(%Q)`: the specifier `%Q` is not supported yet (supported: %Y %y %m %d %e %j %H %M %S %a %b %s %z %Z %T %F %f %1f..%9f %%) (at position 0)",
            ),
        ];
        for (text, want) in cases {
            let err = parse_format(text).expect_err(text);
            assert_eq!(err.to_string(), want, "{text}");
        }
    }

    #[test]
    fn time_patterns() {
        assert_eq!(
            parse_time_format("%FT%T.%3f").expect("parses"),
            TimeFormat::Custom(vec![
                TimePiece::Year,
                TimePiece::Literal("-".into()),
                TimePiece::Month,
                TimePiece::Literal("-".into()),
                TimePiece::Day,
                TimePiece::Literal("T".into()),
                TimePiece::Hour,
                TimePiece::Literal(":".into()),
                TimePiece::Minute,
                TimePiece::Literal(":".into()),
                TimePiece::Second,
                TimePiece::Literal(".".into()),
                TimePiece::Fraction(3),
            ])
        );
    }
}
