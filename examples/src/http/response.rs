//! Writing response heads (and, for the client, request heads).

use std::time::{SystemTime, UNIX_EPOCH};

/// The reason phrase of the status codes this server sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// What goes into a response head besides the status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadInfo<'a> {
    /// The request's minor version (1.0 clients need an explicit
    /// `Connection: keep-alive`).
    pub minor: u8,
    /// The status code.
    pub status: u16,
    /// `Content-Type` of the body.
    pub content_type: &'a str,
    /// Body length (also sent for `HEAD`, which gets no body).
    pub content_length: u64,
    /// Keep the connection open after this response.
    pub keep_alive: bool,
    /// Extra field lines, each ending in CRLF (e.g. `Allow: GET, HEAD\r\n`).
    pub extra: &'a str,
    /// Seconds since the Unix epoch, for the `Date` field.
    pub now: u64,
}

/// Appends a response head to `out`. Always `HTTP/1.1` (RFC 9110 §6.2: a
/// server sends its own highest version).
pub fn write_head(out: &mut Vec<u8>, h: &HeadInfo<'_>) {
    use std::io::Write;
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\nServer: netrt-http\r\nDate: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}",
        h.status,
        reason(h.status),
        HttpDate(h.now),
        h.content_type,
        h.content_length,
        h.extra,
    );
    if !h.keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if h.minor == 0 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Seconds since the Unix epoch now (0 if the clock is before it).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Formats Unix seconds as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`,
/// RFC 9110 §5.6.7).
#[derive(Clone, Copy, Debug)]
pub struct HttpDate(pub u64);

impl std::fmt::Display for HttpDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let (days, secs) = (self.0 / 86_400, self.0 % 86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
            DAYS[(days % 7) as usize],
            d,
            MONTHS[(m - 1) as usize],
            y,
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31) in the
/// proleptic Gregorian calendar, counting in 400-year eras of 146,097 days
/// that start on March 1st (so the leap day is the era-year's last day).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097;
    let doe = z % 146_097; // day of era
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of (March-based) year
    let mp = (5 * doy + 2) / 153; // March = 0
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Appends a request head without a body for `target` on `host` to
/// `out`; without `keep_alive` it asks the server to close after the
/// response.
pub fn write_request(out: &mut Vec<u8>, method: &str, host: &str, target: &str, keep_alive: bool) {
    use std::io::Write;
    let _ = write!(
        out,
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: netrt-get/{}\r\nAccept: */*\r\n{}\r\n",
        env!("CARGO_PKG_VERSION"),
        if keep_alive { "" } else { "Connection: close\r\n" }
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::body::BodyKind;
    use crate::http::head::{parse_request, parse_response, HeadScanner};

    fn head(h: &HeadInfo<'_>) -> String {
        let mut out = Vec::new();
        write_head(&mut out, h);
        String::from_utf8(out).unwrap()
    }

    const BASE: HeadInfo<'static> = HeadInfo {
        minor: 1,
        status: 200,
        content_type: "text/plain",
        content_length: 12,
        keep_alive: true,
        extra: "",
        now: 784_111_777,
    };

    #[test]
    fn head_bytes() {
        assert_eq!(
            head(&BASE),
            "HTTP/1.1 200 OK\r\nServer: netrt-http\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Content-Type: text/plain\r\nContent-Length: 12\r\n\r\n"
        );
        let closing = head(&HeadInfo {
            status: 404,
            keep_alive: false,
            ..BASE
        });
        assert!(closing.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(closing.ends_with("Connection: close\r\n\r\n"));
        let old = head(&HeadInfo { minor: 0, ..BASE });
        assert!(old.ends_with("Connection: keep-alive\r\n\r\n"));
        let allow = head(&HeadInfo {
            status: 405,
            extra: "Allow: GET, HEAD\r\n",
            ..BASE
        });
        assert!(allow.contains("\r\nAllow: GET, HEAD\r\n"));
    }

    #[test]
    fn head_round_trips_through_the_parser() {
        for keep_alive in [true, false] {
            let h = head(&HeadInfo {
                keep_alive,
                content_length: 99,
                ..BASE
            });
            let len = HeadScanner::new().scan(h.as_bytes()).unwrap();
            assert_eq!(len, Some(h.len()));
            let r = parse_response(h.as_bytes()).unwrap();
            assert_eq!(r.status, 200);
            assert_eq!(r.keep_alive, keep_alive);
            assert_eq!(r.body(false), Ok(BodyKind::Length(99)));
        }
    }

    #[test]
    fn request_round_trips_through_the_parser() {
        let mut out = Vec::new();
        write_request(&mut out, "GET", "10.0.0.2:8080", "/bytes/5", false);
        let r = parse_request(&out).unwrap();
        assert_eq!((r.method, r.target, r.minor), ("GET", "/bytes/5", 1));
        assert!(!r.keep_alive);
        assert_eq!(r.field("host"), Some(&b"10.0.0.2:8080"[..]));
        out.clear();
        write_request(&mut out, "HEAD", "h", "/", true);
        let r = parse_request(&out).unwrap();
        assert_eq!(r.method, "HEAD");
        assert!(r.keep_alive);
    }

    #[test]
    fn dates() {
        assert_eq!(HttpDate(0).to_string(), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            HttpDate(784_111_777).to_string(),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        // Leap days, century rules.
        assert_eq!(
            HttpDate(951_782_400).to_string(),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
        assert_eq!(
            HttpDate(1_709_251_199).to_string(),
            "Thu, 29 Feb 2024 23:59:59 GMT"
        );
        assert_eq!(
            HttpDate(4_107_542_400).to_string(),
            "Mon, 01 Mar 2100 00:00:00 GMT"
        );
        assert_eq!(
            HttpDate(253_402_300_799).to_string(),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
    }

    #[test]
    fn reasons() {
        assert_eq!(reason(431), "Request Header Fields Too Large");
        assert_eq!(reason(299), "");
    }
}
