//! HTTP/1.x message heads (RFC 9112): finding where a head ends in a
//! growing buffer, and parsing request and response heads.
//!
//! Parsing borrows from the buffer and allocates nothing. Lines may end in
//! CRLF or a bare LF (RFC 9112 §2.2 lets a recipient accept LF); a bare CR
//! inside a line, obsolete line folding, whitespace before a field's colon
//! and control characters in values are rejected, as are the framing
//! ambiguities that enable request smuggling (Content-Length together with
//! Transfer-Encoding, conflicting Content-Lengths).

use std::fmt;
use std::io;

use super::body::BodyKind;

/// Largest head accepted (request line or status line plus fields).
pub const MAX_HEAD: usize = 16 * 1024;

/// Most header fields accepted in one head.
pub const MAX_FIELDS: usize = 100;

/// Why a message cannot be parsed; [`ParseError::status`] is the answer a
/// server gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Syntax or framing error (400).
    Malformed(&'static str),
    /// The head exceeds [`MAX_HEAD`] or [`MAX_FIELDS`] (431).
    TooLarge,
    /// An HTTP major version other than 1 (505).
    Version,
    /// A transfer coding this implementation does not decode (501).
    NotImplemented(&'static str),
}

impl ParseError {
    /// The status code a server answers this error with.
    pub fn status(&self) -> u16 {
        match self {
            ParseError::Malformed(_) => 400,
            ParseError::TooLarge => 431,
            ParseError::Version => 505,
            ParseError::NotImplemented(_) => 501,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Malformed(why) => write!(f, "malformed HTTP message: {why}"),
            ParseError::TooLarge => write!(f, "HTTP head larger than {MAX_HEAD} bytes"),
            ParseError::Version => write!(f, "unsupported HTTP version"),
            ParseError::NotImplemented(what) => write!(f, "not implemented: {what}"),
        }
    }
}

impl std::error::Error for ParseError {}

impl From<ParseError> for io::Error {
    fn from(e: ParseError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

/// Finds the end of a head in a buffer that grows between calls,
/// resuming where the previous call stopped (so a head arriving a byte at
/// a time costs linear, not quadratic, time).
#[derive(Clone, Copy, Debug, Default)]
pub struct HeadScanner {
    scanned: usize,
}

impl HeadScanner {
    /// A scanner at the start of a head.
    pub fn new() -> HeadScanner {
        HeadScanner::default()
    }

    /// `buf` holds the head from its first byte on (and maybe more after
    /// it). Returns the head's length including its empty last line, or
    /// `None` if the empty line has not arrived; `TooLarge` once more than
    /// [`MAX_HEAD`] bytes hold no end. Call [`HeadScanner::reset`] before
    /// scanning the next head.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, ParseError> {
        let limit = buf.len().min(MAX_HEAD);
        for i in self.scanned..limit {
            if buf[i] != b'\n' {
                continue;
            }
            // The line ending here is empty if the byte before it (after
            // dropping a CR) is the previous line's LF.
            let before = if i >= 1 && buf[i - 1] == b'\r' {
                i - 1
            } else {
                i
            };
            if before == 0 || buf[before - 1] == b'\n' {
                self.scanned = 0;
                return Ok(Some(i + 1));
            }
        }
        if buf.len() >= MAX_HEAD {
            return Err(ParseError::TooLarge);
        }
        self.scanned = limit;
        Ok(None)
    }

    /// Forgets progress (for the next head).
    pub fn reset(&mut self) {
        self.scanned = 0;
    }
}

/// Bytes of empty lines at the start of `buf`, which a server skips before
/// a request line (RFC 9112 §2.2: clients sometimes send a CRLF after a
/// body). Stops before a lone trailing CR (it may be half a CRLF).
pub fn leading_empty_lines(buf: &[u8]) -> usize {
    let mut n = 0;
    loop {
        match buf[n..] {
            [b'\n', ..] => n += 1,
            [b'\r', b'\n', ..] => n += 2,
            _ => return n,
        }
    }
}

/// The lines of a complete head, without their line ends (the final empty
/// line excluded).
fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    head.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .take_while(|l| !l.is_empty())
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// A field value byte: visible ASCII, SP, HTAB or obs-text.
fn is_value_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The comma-separated elements of a list-valued field, trimmed, empty
/// elements dropped (RFC 9110 §5.6.1).
fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// One field line, split and checked.
fn split_field(line: &[u8]) -> Result<(&[u8], &[u8]), ParseError> {
    if matches!(line.first(), Some(b' ' | b'\t')) {
        return Err(ParseError::Malformed("obsolete line folding"));
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(ParseError::Malformed("field line without a colon"))?;
    let (name, value) = (&line[..colon], trim_ows(&line[colon + 1..]));
    if !is_token(name) {
        return Err(ParseError::Malformed("bad field name"));
    }
    if !value.iter().all(|&b| is_value_byte(b)) {
        return Err(ParseError::Malformed("control character in a field value"));
    }
    Ok((name, value))
}

/// `HTTP/1.x` → x; another major version → `Version`.
fn parse_version(v: &[u8]) -> Result<u8, ParseError> {
    match v {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            if *major == b'1' {
                Ok(minor - b'0')
            } else {
                Err(ParseError::Version)
            }
        }
        _ => Err(ParseError::Malformed("bad HTTP version")),
    }
}

/// A decimal Content-Length (digits only, no sign, no overflow).
fn parse_length(v: &[u8]) -> Result<u64, ParseError> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::Malformed("bad Content-Length"));
    }
    v.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or(ParseError::Malformed("Content-Length overflows"))
    })
}

/// What the fields of a head say about framing and the connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Fields {
    content_length: Option<u64>,
    /// Transfer-Encoding present; `Some(true)` if its last coding is
    /// chunked and it names no other coding.
    transfer_encoding: Option<TransferCoding>,
    close: bool,
    keep_alive: bool,
    hosts: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TransferCoding {
    /// Exactly `chunked`.
    Chunked,
    /// Ends in `chunked` after other codings (`gzip, chunked`).
    OtherThenChunked,
    /// Does not end in `chunked`.
    NotChunked,
}

fn parse_fields<'a>(lines: impl Iterator<Item = &'a [u8]>) -> Result<Fields, ParseError> {
    let mut f = Fields::default();
    for (n, line) in lines.enumerate() {
        if n >= MAX_FIELDS {
            return Err(ParseError::TooLarge);
        }
        let (name, value) = split_field(line)?;
        if name.eq_ignore_ascii_case(b"content-length") {
            let len = parse_length(value)?;
            if f.content_length.is_some_and(|l| l != len) {
                return Err(ParseError::Malformed("conflicting Content-Length"));
            }
            f.content_length = Some(len);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Several Transfer-Encoding lines form one list; only the
            // last line's last coding decides, anything before it makes
            // the coding one we cannot decode.
            let mut codings = list(value).peekable();
            if codings.peek().is_none() {
                return Err(ParseError::Malformed("empty Transfer-Encoding"));
            }
            let mut seen_other = f.transfer_encoding.is_some();
            let mut last_chunked = false;
            for c in codings {
                if last_chunked {
                    seen_other = true;
                }
                last_chunked = c.eq_ignore_ascii_case(b"chunked");
                if !last_chunked {
                    seen_other = true;
                }
            }
            f.transfer_encoding = Some(match (last_chunked, seen_other) {
                (true, false) => TransferCoding::Chunked,
                (true, true) => TransferCoding::OtherThenChunked,
                (false, _) => TransferCoding::NotChunked,
            });
        } else if name.eq_ignore_ascii_case(b"connection") {
            for option in list(value) {
                f.close |= option.eq_ignore_ascii_case(b"close");
                f.keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"host") {
            f.hosts += 1;
        }
    }
    if f.content_length.is_some() && f.transfer_encoding.is_some() {
        return Err(ParseError::Malformed(
            "both Content-Length and Transfer-Encoding",
        ));
    }
    Ok(f)
}

/// Whether a connection stays open after this message (RFC 9112 §9.3).
fn persistent(minor: u8, f: &Fields) -> bool {
    !f.close && (minor >= 1 || f.keep_alive)
}

/// A parsed request head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// The method (`GET`), case-sensitive.
    pub method: &'a str,
    /// The path and query (origin-form; an absolute-form target is
    /// reduced to its path, `*` kept).
    pub target: &'a str,
    /// x of `HTTP/1.x`.
    pub minor: u8,
    /// How the request's body is framed.
    pub body: BodyKind,
    /// The connection stays open after the response.
    pub keep_alive: bool,
    head: &'a [u8],
}

impl<'a> Request<'a> {
    /// The path of the target, without the query.
    pub fn path(&self) -> &'a str {
        self.target.split_once('?').map_or(self.target, |(p, _)| p)
    }

    /// The header fields, in order (names as sent).
    pub fn fields(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        // Every line was validated by `parse_request`.
        lines(self.head).skip(1).filter_map(|l| split_field(l).ok())
    }

    /// The value of the first field named `name` (case-insensitive).
    pub fn field(&self, name: &str) -> Option<&'a [u8]> {
        self.fields()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }
}

/// Reduces a request target to origin-form, or rejects it.
fn origin_form(target: &str) -> Result<&str, ParseError> {
    if target.starts_with('/') || target == "*" {
        return Ok(target);
    }
    // absolute-form (RFC 9112 §3.2.2): servers must accept it.
    let scheme_len = if target.len() >= 7 && target[..7].eq_ignore_ascii_case("http://") {
        7
    } else {
        return Err(ParseError::Malformed("bad request target"));
    };
    let rest = &target[scheme_len..];
    Ok(rest.find('/').map_or("/", |i| &rest[i..]))
}

/// Parses a complete request head (as delimited by [`HeadScanner`]).
pub fn parse_request(head: &[u8]) -> Result<Request<'_>, ParseError> {
    let mut it = lines(head);
    let line = it.next().ok_or(ParseError::Malformed("empty request"))?;
    // A stray CR or NUL anywhere fails the token, target, version or
    // value checks below.
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::Malformed("bad request line"));
    };
    if !is_token(method) {
        return Err(ParseError::Malformed("bad method"));
    }
    if target.is_empty() || !target.iter().all(|b| b.is_ascii_graphic()) {
        return Err(ParseError::Malformed("bad request target"));
    }
    let minor = parse_version(version)?;
    let fields = parse_fields(it.by_ref())?;
    if minor >= 1 && fields.hosts != 1 {
        return Err(ParseError::Malformed("HTTP/1.1 needs exactly one Host"));
    }
    let body = match (fields.transfer_encoding, fields.content_length) {
        (Some(TransferCoding::Chunked), _) => BodyKind::Chunked,
        (Some(TransferCoding::OtherThenChunked), _) => {
            return Err(ParseError::NotImplemented(
                "transfer codings other than chunked",
            ))
        }
        // RFC 9112 §6.3: a request whose final coding is not chunked
        // cannot be framed.
        (Some(TransferCoding::NotChunked), _) => {
            return Err(ParseError::Malformed(
                "Transfer-Encoding does not end in chunked",
            ))
        }
        (None, Some(0)) | (None, None) => BodyKind::Empty,
        (None, Some(n)) => BodyKind::Length(n),
    };
    // Both are ASCII: every byte was checked above.
    let method = std::str::from_utf8(method).map_err(|_| ParseError::Malformed("bad method"))?;
    let target = std::str::from_utf8(target)
        .map_err(|_| ParseError::Malformed("bad request target"))
        .and_then(origin_form)?;
    Ok(Request {
        method,
        target,
        minor,
        body,
        keep_alive: persistent(minor, &fields),
        head,
    })
}

/// A parsed response head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response<'a> {
    /// x of `HTTP/1.x`.
    pub minor: u8,
    /// The status code.
    pub status: u16,
    /// The reason phrase (may be empty).
    pub reason: &'a str,
    /// The connection stays open after this response.
    pub keep_alive: bool,
    content_length: Option<u64>,
    transfer_encoding: Option<TransferCoding>,
}

impl Response<'_> {
    /// How the body of this response is framed (RFC 9112 §6.3), given
    /// whether the request was `HEAD`.
    pub fn body(&self, head_request: bool) -> Result<BodyKind, ParseError> {
        if head_request || (100..200).contains(&self.status) || matches!(self.status, 204 | 304) {
            return Ok(BodyKind::Empty);
        }
        Ok(match (self.transfer_encoding, self.content_length) {
            (Some(TransferCoding::Chunked), _) => BodyKind::Chunked,
            (Some(TransferCoding::OtherThenChunked), _) => {
                return Err(ParseError::NotImplemented(
                    "transfer codings other than chunked",
                ))
            }
            (Some(TransferCoding::NotChunked), _) | (None, None) => BodyKind::UntilClose,
            (None, Some(0)) => BodyKind::Empty,
            (None, Some(n)) => BodyKind::Length(n),
        })
    }
}

/// Parses a complete response head.
pub fn parse_response(head: &[u8]) -> Result<Response<'_>, ParseError> {
    let mut it = lines(head);
    let line = it.next().ok_or(ParseError::Malformed("empty response"))?;
    // status-line = HTTP-version SP status-code SP [ reason-phrase ]
    let (version, rest) = split_at_space(line).ok_or(ParseError::Malformed("bad status line"))?;
    let minor = parse_version(version)?;
    let (code, reason) = split_at_space(rest).unwrap_or((rest, b""));
    let status = match code {
        [a, b, c] if code.iter().all(u8::is_ascii_digit) => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return Err(ParseError::Malformed("bad status code")),
    };
    if !(100..=599).contains(&status) {
        return Err(ParseError::Malformed("bad status code"));
    }
    let reason = std::str::from_utf8(reason)
        .ok()
        .filter(|r| r.bytes().all(is_value_byte))
        .ok_or(ParseError::Malformed("bad reason phrase"))?;
    let fields = parse_fields(it)?;
    Ok(Response {
        minor,
        status,
        reason,
        keep_alive: persistent(minor, &fields),
        content_length: fields.content_length,
        transfer_encoding: fields.transfer_encoding,
    })
}

fn split_at_space(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|&b| b == b' ')?;
    Some((&s[..i], &s[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans `data` fed in pieces of `step` bytes; the head length.
    fn scan_in_steps(data: &[u8], step: usize) -> Option<usize> {
        let mut s = HeadScanner::new();
        let mut end = 0;
        while end < data.len() {
            end = (end + step).min(data.len());
            if let Some(n) = s.scan(&data[..end]).unwrap() {
                return Some(n);
            }
        }
        None
    }

    #[test]
    fn scanner_finds_the_end_however_split() {
        let req = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next";
        for step in 1..=req.len() {
            assert_eq!(scan_in_steps(req, step), Some(27), "step {step}");
        }
        assert_eq!(scan_in_steps(b"GET / HTTP/1.0\n\nrest", 1), Some(16));
        assert_eq!(scan_in_steps(b"GET / HTTP/1.0\r\n\nrest", 3), Some(17));
        assert_eq!(scan_in_steps(b"GET / HTTP/1.0\n\r\nX", 2), Some(17));
        assert_eq!(scan_in_steps(b"GET / HTTP/1.1\r\nHost: a\r\n", 1), None);
        assert_eq!(scan_in_steps(b"GET / HTTP/1.1\r\n\r", 1), None);
    }

    #[test]
    fn scanner_limits_the_head() {
        let mut s = HeadScanner::new();
        let big = vec![b'a'; MAX_HEAD];
        assert_eq!(s.scan(&big[..MAX_HEAD - 1]), Ok(None));
        assert_eq!(s.scan(&big), Err(ParseError::TooLarge));
        // An end exactly at the limit is still found.
        let mut ok = vec![b'a'; MAX_HEAD - 4];
        ok.extend_from_slice(b"\r\n\r\n");
        assert_eq!(HeadScanner::new().scan(&ok), Ok(Some(MAX_HEAD)));
    }

    #[test]
    fn leading_empty_lines_are_skippable() {
        assert_eq!(leading_empty_lines(b"\r\n\nGET"), 3);
        assert_eq!(leading_empty_lines(b"GET"), 0);
        assert_eq!(leading_empty_lines(b"\r"), 0);
        assert_eq!(leading_empty_lines(b""), 0);
    }

    fn req(s: &str) -> Result<Request<'_>, ParseError> {
        parse_request(s.as_bytes())
    }

    #[test]
    fn simple_get() {
        let r = req("GET /bytes/10?x=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: t\r\n\r\n").unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.target, "/bytes/10?x=1");
        assert_eq!(r.path(), "/bytes/10");
        assert_eq!(r.minor, 1);
        assert_eq!(r.body, BodyKind::Empty);
        assert!(r.keep_alive);
        assert_eq!(r.field("user-agent"), Some(&b"t"[..]));
        assert_eq!(r.field("missing"), None);
        assert_eq!(r.fields().count(), 2);
    }

    #[test]
    fn connection_semantics() {
        let close = req("GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n").unwrap();
        assert!(!close.keep_alive);
        let listed = req("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n").unwrap();
        assert!(!listed.keep_alive);
        let http10 = req("GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(!http10.keep_alive);
        let ka10 = req("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
        assert!(ka10.keep_alive);
    }

    #[test]
    fn bodies() {
        let r = req("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n").unwrap();
        assert_eq!(r.body, BodyKind::Length(12));
        let r = req("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert_eq!(r.body, BodyKind::Empty);
        let r = req("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n").unwrap();
        assert_eq!(r.body, BodyKind::Chunked);
        // Identical repeats are tolerated, conflicting ones are not.
        let r = req("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n")
            .unwrap();
        assert_eq!(r.body, BodyKind::Length(5));
    }

    #[test]
    fn absolute_and_asterisk_targets() {
        assert_eq!(
            req("GET http://h:80/a?b HTTP/1.1\r\nHost: h\r\n\r\n")
                .unwrap()
                .target,
            "/a?b"
        );
        assert_eq!(
            req("GET HTTP://h HTTP/1.1\r\nHost: h\r\n\r\n")
                .unwrap()
                .target,
            "/"
        );
        assert_eq!(
            req("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").unwrap().target,
            "*"
        );
    }

    #[test]
    fn malformed_requests() {
        let bad = [
            "\r\n",
            "GET\r\n\r\n",
            "GET /\r\n\r\n",
            "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET / HTTP/1.1 x\r\nHost: h\r\n\r\n",
            "G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET x HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET / HTTP/1.x\r\nHost: h\r\n\r\n",
            "GET / http/1.1\r\nHost: h\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost : h\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nX: a\x07b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,\r\n\r\n",
        ];
        for b in bad {
            match req(b) {
                Err(e) => assert_eq!(e.status(), 400, "{b:?}: {e}"),
                Ok(r) => panic!("{b:?} parsed: {r:?}"),
            }
        }
    }

    #[test]
    fn other_errors() {
        assert_eq!(
            req("GET / HTTP/2.0\r\nHost: h\r\n\r\n"),
            Err(ParseError::Version)
        );
        assert_eq!(
            req("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
                .unwrap_err()
                .status(),
            501
        );
        let mut many = String::from("GET / HTTP/1.1\r\nHost: h\r\n");
        for i in 0..MAX_FIELDS {
            many.push_str(&format!("X-{i}: v\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(req(&many), Err(ParseError::TooLarge));
        assert_eq!(ParseError::TooLarge.status(), 431);
        let io: io::Error = ParseError::Malformed("x").into();
        assert_eq!(io.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn obs_text_and_tabs_in_values_are_fine() {
        let r = parse_request(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\tb \xff\r\n\r\n").unwrap();
        assert_eq!(r.field("x"), Some(&b"a\tb \xff"[..]));
    }

    fn resp(s: &str) -> Response<'_> {
        parse_response(s.as_bytes()).unwrap()
    }

    #[test]
    fn responses() {
        let r = resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
        assert_eq!((r.minor, r.status, r.reason), (1, 200, "OK"));
        assert!(r.keep_alive);
        assert_eq!(r.body(false), Ok(BodyKind::Length(5)));
        assert_eq!(r.body(true), Ok(BodyKind::Empty));
        let r = resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(r.body(false), Ok(BodyKind::Chunked));
        let r = resp("HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6\r\n\r\n");
        assert!(!r.keep_alive);
        assert_eq!(r.body(false), Ok(BodyKind::UntilClose));
        let r = resp("HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n");
        assert_eq!(r.body(false), Ok(BodyKind::Empty));
        let r = resp("HTTP/1.1 100 Continue\r\n\r\n");
        assert_eq!(r.body(false), Ok(BodyKind::Empty));
        let r = resp("HTTP/1.1 404\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        assert_eq!((r.status, r.reason, r.keep_alive), (404, "", false));
        let r = resp("HTTP/1.1 200 Fine Thanks\nContent-Length: 1\n\n");
        assert_eq!(r.reason, "Fine Thanks");
        let r = resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert_eq!(r.body(false), Ok(BodyKind::UntilClose));
    }

    #[test]
    fn malformed_responses() {
        for b in [
            "",
            "HTTP/1.1\r\n\r\n",
            "HTTP/1.1 20 OK\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "HTTP/1.1 099 OK\r\n\r\n",
            "HTTP/1.1 abc OK\r\n\r\n",
            "HTTP/1.1 200 O\x01K\r\n\r\n",
            "HTTX/1.1 200 OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert!(parse_response(b.as_bytes()).is_err(), "{b:?}");
        }
        assert_eq!(
            parse_response(b"HTTP/2.0 200 OK\r\n\r\n"),
            Err(ParseError::Version)
        );
    }
}
