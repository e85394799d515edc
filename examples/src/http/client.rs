//! The HTTP/1.1 client of `get`: URL parsing and one `GET` over a stream.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::body::BodyDecoder;
use super::head::{parse_response, HeadScanner, ParseError, MAX_HEAD};
use super::response::write_request;
use crate::pattern::Fnv1a;

/// An `http://A.B.C.D[:port][/path][?query]` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// The server's address.
    pub host: Ipv4Addr,
    /// The port (80 if none is given).
    pub port: u16,
    /// Path and query, `/` if empty (the fragment dropped).
    pub target: String,
    /// `host[:port]` as written, for the `Host` field.
    pub authority: String,
}

impl Url {
    /// Parses `s`. Errors name what is unsupported: schemes other than
    /// `http` (`Unsupported`), host names (no DNS) and IPv6 literals
    /// (`Unsupported`), user info, bad ports and characters (`InvalidInput`).
    pub fn parse(s: &str) -> io::Result<Url> {
        let rest = match s.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => {
                return Err(unsupported(format!(
                    "{s}: only http:// URLs are supported, not {scheme}://"
                )))
            }
            None => {
                return Err(invalid(format!(
                    "{s}: not a URL (want http://A.B.C.D[:port]/path)"
                )))
            }
        };
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        if authority.contains('@') {
            return Err(invalid(format!("{s}: user info in URLs is not supported")));
        }
        if authority.starts_with('[') {
            return Err(unsupported(format!(
                "{s}: IPv6 is not supported (IPv4 only)"
            )));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, "")) => (h, 80),
            Some((h, p)) => {
                let port = Some(p)
                    .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|p| p.parse::<u16>().ok())
                    .filter(|&p| p != 0)
                    .ok_or_else(|| invalid(format!("{s}: bad port {p:?}")))?;
                (h, port)
            }
            None => (authority, 80),
        };
        if host.is_empty() {
            return Err(invalid(format!("{s}: no host")));
        }
        let host: Ipv4Addr = host.parse().map_err(|_| {
            unsupported(format!(
                "{s}: the host must be an IPv4 address like 10.0.0.2 (netrt has no DNS)"
            ))
        })?;
        let target = match target {
            "" => "/".to_string(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_string(),
        };
        if !target.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(format!(
                "{s}: the path must be ASCII without spaces (percent-encode it)"
            )));
        }
        Ok(Url {
            host,
            port,
            target,
            authority: authority.to_string(),
        })
    }

    /// The server's socket address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(self.host, self.port))
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority, self.target)
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn unsupported(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, msg)
}

/// What a request brought back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// x of the response's `HTTP/1.x`.
    pub minor: u8,
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// The server keeps the connection open after this response.
    pub keep_alive: bool,
    /// Body bytes received.
    pub body_len: u64,
    /// FNV-1a of the body ([`crate::pattern::fnv1a`]).
    pub body_hash: u64,
}

/// A client connection: requests go out on the stream, responses are read
/// in order from one buffer, so requests may be pipelined (send several,
/// then read as many responses).
pub struct Connection<S> {
    stream: S,
    buf: Vec<u8>,
    /// `buf[start..end]`: received, not yet used.
    start: usize,
    end: usize,
    bytes_in: u64,
    out: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// A connection over `stream` (already connected to the server).
    pub fn new(stream: S) -> Connection<S> {
        Connection {
            stream,
            buf: vec![0u8; MAX_HEAD + 64 * 1024],
            start: 0,
            end: 0,
            bytes_in: 0,
            out: Vec::with_capacity(256),
        }
    }

    /// Bytes read from the stream so far (heads and framing included).
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in
    }

    /// Sends a request head (no body) for `url`; with `keep_alive` false
    /// it asks the server to close after answering.
    pub async fn send(&mut self, method: &str, url: &Url, keep_alive: bool) -> io::Result<()> {
        self.out.clear();
        write_request(
            &mut self.out,
            method,
            &url.authority,
            &url.target,
            keep_alive,
        );
        self.stream.write_all(&self.out).await?;
        self.stream.flush().await
    }

    /// Reads the next response, handing body bytes to `sink` in arrival
    /// order; `head_request` if it answers a `HEAD` (no body follows).
    /// Interim 1xx responses are skipped.
    ///
    /// Errors: `UnexpectedEof` if the server closes before the response is
    /// complete; `InvalidData` for a malformed response; the stream's and
    /// the sink's errors.
    pub async fn receive<F>(&mut self, head_request: bool, mut sink: F) -> io::Result<Fetched>
    where
        F: FnMut(&[u8]) -> io::Result<()>,
    {
        let mut scanner = HeadScanner::new();
        let (mut fetched, kind) = loop {
            if let Some(len) = scanner.scan(&self.buf[self.start..self.end])? {
                scanner.reset();
                let r = parse_response(&self.buf[self.start..self.start + len])?;
                self.start += len;
                if (100..200).contains(&r.status) && r.status != 101 {
                    continue;
                }
                let kind = r.body(head_request)?;
                let f = Fetched {
                    minor: r.minor,
                    status: r.status,
                    reason: r.reason.to_string(),
                    keep_alive: r.keep_alive,
                    body_len: 0,
                    body_hash: 0,
                };
                break (f, kind);
            }
            if !self.read().await? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection before a complete response head",
                ));
            }
        };
        let mut dec = BodyDecoder::new(kind);
        let mut hash = Fnv1a::new();
        loop {
            // Decode everything buffered.
            loop {
                let step = dec.decode(&self.buf[self.start..self.end])?;
                if !step.data.is_empty() {
                    hash.update(step.data);
                    fetched.body_len += step.data.len() as u64;
                    sink(step.data)?;
                }
                self.start += step.consumed;
                if step.consumed == 0 || dec.is_done() {
                    break;
                }
            }
            if dec.is_done() {
                break;
            }
            if !self.read().await? {
                dec.finish().map_err(|e: ParseError| {
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{e} (after {} body bytes)", fetched.body_len),
                    )
                })?;
                break;
            }
        }
        fetched.body_hash = hash.finish();
        Ok(fetched)
    }

    /// Sends `GET url` and reads the response.
    pub async fn get<F>(&mut self, url: &Url, keep_alive: bool, sink: F) -> io::Result<Fetched>
    where
        F: FnMut(&[u8]) -> io::Result<()>,
    {
        self.send("GET", url, keep_alive).await?;
        self.receive(false, sink).await
    }

    /// Closes the sending side.
    pub async fn close(&mut self) -> io::Result<()> {
        self.stream.close().await
    }

    /// Reads more into the buffer (making room first); false at end of
    /// stream.
    async fn read(&mut self) -> io::Result<bool> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.buf.len() - self.end < 4096 {
            // The unfinished part is a head (< MAX_HEAD, the scanner's
            // limit) or a chunk-size line: it fits at the front.
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        self.bytes_in += n as u64;
        Ok(n > 0)
    }
}

/// One `GET url` on `stream` (asking the server to close), then closes the
/// sending side; see [`Connection::receive`].
pub async fn get<S, F>(stream: S, url: &Url, sink: F) -> io::Result<Fetched>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnMut(&[u8]) -> io::Result<()>,
{
    let mut conn = Connection::new(stream);
    let fetched = conn.get(url, false, sink).await?;
    conn.close().await?;
    Ok(fetched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::testio::MockStream;
    use crate::pattern;
    use futures::executor::block_on;

    fn url(s: &str) -> io::Result<Url> {
        Url::parse(s)
    }

    #[test]
    fn urls() {
        let u = url("http://10.0.0.2:8080/bytes/5?x=1#frag").unwrap();
        assert_eq!(u.host, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(u.port, 8080);
        assert_eq!(u.target, "/bytes/5?x=1");
        assert_eq!(u.authority, "10.0.0.2:8080");
        assert_eq!(u.addr().to_string(), "10.0.0.2:8080");
        assert_eq!(u.to_string(), "http://10.0.0.2:8080/bytes/5?x=1");
        let u = url("HTTP://1.2.3.4").unwrap();
        assert_eq!((u.port, &u.target[..]), (80, "/"));
        assert_eq!(url("http://1.2.3.4:/a").unwrap().port, 80);
        assert_eq!(url("http://1.2.3.4?q").unwrap().target, "/?q");
    }

    #[test]
    fn url_errors_are_clear() {
        let e = |s| url(s).unwrap_err();
        assert_eq!(e("https://1.2.3.4/").kind(), io::ErrorKind::Unsupported);
        assert!(e("https://1.2.3.4/").to_string().contains("only http://"));
        assert!(e("ftp://x").to_string().contains("not ftp://"));
        assert_eq!(e("1.2.3.4/x").kind(), io::ErrorKind::InvalidInput);
        assert!(e("http://example.com/").to_string().contains("no DNS"));
        assert_eq!(e("http://example.com/").kind(), io::ErrorKind::Unsupported);
        assert!(e("http://[::1]:80/").to_string().contains("IPv6"));
        assert!(e("http://1.2.3.4:0/").to_string().contains("bad port"));
        assert!(e("http://1.2.3.4:70000/").to_string().contains("bad port"));
        assert!(e("http://1.2.3.4:x/").to_string().contains("bad port"));
        assert!(e("http://1.2.3.4:+80/").to_string().contains("bad port"));
        assert!(e("http://u@1.2.3.4/").to_string().contains("user info"));
        assert!(e("http:///x").to_string().contains("no host"));
        assert!(e("http://1.2.3.4/a b")
            .to_string()
            .contains("without spaces"));
        assert!(e("http://1.2.3/").to_string().contains("IPv4 address"));
    }

    fn fetch(response: &[u8], step: usize) -> (io::Result<Fetched>, Vec<u8>, MockStream) {
        let mut s = MockStream::new(response, step);
        let u = url("http://10.0.0.2:8080/bytes/5").unwrap();
        let mut body = Vec::new();
        let r = block_on(get(&mut s, &u, |d| {
            body.extend_from_slice(d);
            Ok(())
        }));
        (r, body, s)
    }

    #[test]
    fn pipelined_responses_on_one_connection() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nHTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx";
        for step in [1, 5, wire.len()] {
            let mut s = MockStream::new(wire, step);
            let mut c = Connection::new(&mut s);
            let u = url("http://10.0.0.2/").unwrap();
            let mut bodies = Vec::new();
            for head in [false, false, true, false] {
                let mut body = Vec::new();
                let f = block_on(c.receive(head, |d| {
                    body.extend_from_slice(d);
                    Ok(())
                }))
                .unwrap();
                bodies.push((f.status, f.keep_alive, body));
            }
            assert_eq!(c.bytes_in(), wire.len() as u64);
            block_on(c.send("GET", &u, true)).unwrap();
            assert_eq!(
                bodies,
                [
                    (200, true, b"abc".to_vec()),
                    (200, true, b"de".to_vec()),
                    (200, true, vec![]),
                    (404, false, b"x".to_vec()),
                ],
                "step {step}"
            );
            assert!(String::from_utf8_lossy(&s.output).ends_with("Accept: */*\r\n\r\n"));
        }
    }

    #[test]
    fn sends_a_well_formed_request() {
        let (_, _, s) = fetch(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 100);
        let text = String::from_utf8(s.output.clone()).unwrap();
        assert!(text.starts_with("GET /bytes/5 HTTP/1.1\r\nHost: 10.0.0.2:8080\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(s.closed);
    }

    #[test]
    fn content_length_bodies() {
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA";
        for step in 1..resp.len() {
            let (r, body, _) = fetch(resp, step);
            let f = r.unwrap();
            assert_eq!((f.status, &f.reason[..], f.body_len), (200, "OK", 5));
            assert_eq!(body, b"hello", "step {step}");
            assert_eq!(f.body_hash, pattern::fnv1a(b"hello"));
        }
    }

    #[test]
    fn chunked_bodies() {
        let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x\r\nde\r\n0\r\nT: 1\r\n\r\n";
        for step in 1..resp.len() {
            let (r, body, _) = fetch(resp, step);
            assert_eq!(r.unwrap().body_len, 5);
            assert_eq!(body, b"abcde", "step {step}");
        }
    }

    #[test]
    fn bodies_until_close_and_interim_responses() {
        let (r, body, _) = fetch(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nServer: SimpleHTTP\r\n\r\nall of it",
            4,
        );
        let f = r.unwrap();
        assert_eq!((f.minor, f.status), (0, 200));
        assert_eq!(body, b"all of it");
        let (r, body, _) = fetch(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n",
            7,
        );
        assert_eq!(r.unwrap().status, 404);
        assert_eq!(body, b"no\n");
    }

    #[test]
    fn large_bodies_stream_through() {
        let n = 300_000u64;
        let mut resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").into_bytes();
        let at = resp.len();
        resp.resize(at + n as usize, 0);
        pattern::fill(0, &mut resp[at..]);
        let (r, body, _) = fetch(&resp, 1448);
        let f = r.unwrap();
        assert_eq!(f.body_len, n);
        assert_eq!(f.body_hash, pattern::pattern_hash(n));
        assert_eq!(body.len() as u64, n);
    }

    #[test]
    fn truncated_and_malformed_responses() {
        let (r, _, _) = fetch(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 100);
        let e = r.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert!(e.to_string().contains("after 5 body bytes"));
        let (r, _, _) = fetch(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            100,
        );
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        let (r, _, _) = fetch(b"HTTP/1.1 200 OK\r\nContent-", 100);
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        let (r, _, _) = fetch(b"SSH-2.0-OpenSSH\r\n\r\n", 100);
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::InvalidData);
        let (r, _, _) = fetch(b"", 100);
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        let big = vec![b'x'; MAX_HEAD + 1];
        let (r, _, _) = fetch(&big, 4096);
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn sink_errors_stop_the_fetch() {
        let mut s = MockStream::new(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 100);
        let u = url("http://10.0.0.2/").unwrap();
        let r = block_on(get(&mut s, &u, |_| Err(io::Error::other("disk full"))));
        assert_eq!(r.unwrap_err().to_string(), "disk full");
    }
}
