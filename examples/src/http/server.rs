//! The HTTP/1.1 server: routes, and the per-connection loop.
//!
//! | request            | response                                           |
//! |--------------------|----------------------------------------------------|
//! | `GET /`            | 200, a short text                                  |
//! | `GET /bytes/N`     | 200, N bytes of [`crate::pattern`] (byte i = i % 251) |
//! | `GET` other paths  | 404                                                |
//! | other methods      | 405 with `Allow: GET, HEAD`                        |
//! | malformed          | 400 (431, 501, 505 for the cases named in [`ParseError`]), then close |
//!
//! `HEAD` gets the `GET` head without the body. Connections are
//! persistent unless the client asks to close (HTTP/1.1 default; 1.0 needs
//! `Connection: keep-alive`). Pipelined requests are answered in order,
//! their responses gathered into one write while more requests are
//! already buffered. Request bodies are read and dropped.

use std::io;
use std::time::Duration;

use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::body::{BodyDecoder, BodyKind};
use super::head::{leading_empty_lines, parse_request, HeadScanner, ParseError, Request, MAX_HEAD};
use super::response::{unix_now, write_head, HeadInfo};
use crate::pattern;

/// The body of `GET /`.
pub const INDEX: &str = "Hello from netrt!\n\
GET /bytes/N returns N bytes: byte i is i % 251.\n";

/// Largest N of `/bytes/N` (1 TiB); larger is a 404 like any other
/// unknown resource.
pub const MAX_BYTES: u64 = 1 << 40;

/// Bodies up to this size go into the gathered output buffer; longer ones
/// are written straight from the static pattern block.
const INLINE_BODY: u64 = 16 * 1024;

/// Connection buffer: a full head fits with room to read more behind it.
const IN_BUF: usize = MAX_HEAD + 16 * 1024;

/// Compact the buffer before a read that would have less room than this.
const MIN_READ: usize = 4096;

/// A response body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyBody {
    /// Fixed text.
    Text(&'static str),
    /// The first N bytes of [`crate::pattern`].
    Pattern(u64),
}

impl ReplyBody {
    fn len(&self) -> u64 {
        match self {
            ReplyBody::Text(t) => t.len() as u64,
            ReplyBody::Pattern(n) => *n,
        }
    }

    fn content_type(&self) -> &'static str {
        match self {
            ReplyBody::Text(_) => "text/plain; charset=utf-8",
            ReplyBody::Pattern(_) => "application/octet-stream",
        }
    }
}

/// What to answer a request with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Body (for `HEAD`, only its length is sent).
    pub body: ReplyBody,
    /// Extra head lines.
    pub extra: &'static str,
}

/// The answer to a well-formed request.
pub fn route(req: &Request<'_>) -> Reply {
    let reply = |status, text| Reply {
        status,
        body: ReplyBody::Text(text),
        extra: "",
    };
    if req.method != "GET" && req.method != "HEAD" {
        return Reply {
            extra: "Allow: GET, HEAD\r\n",
            ..reply(405, "method not allowed\n")
        };
    }
    match req.path() {
        "/" => reply(200, INDEX),
        p => match p.strip_prefix("/bytes/").and_then(parse_count) {
            Some(n) => Reply {
                status: 200,
                body: ReplyBody::Pattern(n),
                extra: "",
            },
            None => reply(404, "not found\n"),
        },
    }
}

/// A decimal byte count up to [`MAX_BYTES`].
fn parse_count(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|&n| n <= MAX_BYTES)
}

/// The answer to a request that could not be parsed.
pub fn error_reply(e: &ParseError) -> Reply {
    let text = match e.status() {
        431 => "request head too large\n",
        501 => "transfer coding not implemented\n",
        505 => "HTTP version not supported\n",
        _ => "bad request\n",
    };
    Reply {
        status: e.status(),
        body: ReplyBody::Text(text),
        extra: "",
    }
}

/// Server settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Close a connection that sends nothing for this long (needs a netrt
    /// runtime; `None` waits forever).
    pub idle_timeout: Option<Duration>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            idle_timeout: Some(Duration::from_secs(60)),
        }
    }
}

/// What happened on one connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Requests answered (including error answers).
    pub requests: u64,
    /// Bytes read.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// Status of the last response.
    pub last_status: u16,
}

/// Serves requests on `stream` until the client closes, asks to close, or
/// sends something malformed; then closes the sending side.
pub async fn serve_connection<S>(stream: &mut S, cfg: &ServerConfig) -> io::Result<ConnStats>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut conn = Conn {
        buf: vec![0; IN_BUF],
        start: 0,
        end: 0,
        out: Vec::with_capacity(4096),
        stats: ConnStats::default(),
    };
    let mut scanner = HeadScanner::new();
    let mut body: Option<BodyDecoder> = None;
    loop {
        if let Some(dec) = &mut body {
            match conn.skip_body(dec) {
                Ok(true) => body = None,
                Ok(false) => {}
                Err(e) => {
                    conn.respond(stream, 1, "GET", &error_reply(&e), false)
                        .await?;
                    break;
                }
            }
        }
        if body.is_none() {
            let blank = leading_empty_lines(conn.pending());
            if blank > 0 {
                conn.start += blank;
                scanner.reset();
            }
            match scanner.scan(conn.pending()) {
                Ok(Some(len)) => {
                    scanner.reset();
                    let (reply, minor, head_only, keep_alive, req_body) =
                        match parse_request(&conn.pending()[..len]) {
                            Ok(req) => (
                                route(&req),
                                req.minor,
                                req.method == "HEAD",
                                req.keep_alive,
                                req.body,
                            ),
                            Err(e) => (error_reply(&e), 1, false, false, BodyKind::Empty),
                        };
                    conn.start += len;
                    let method = if head_only { "HEAD" } else { "GET" };
                    conn.respond(stream, minor, method, &reply, keep_alive)
                        .await?;
                    if !keep_alive {
                        break;
                    }
                    if req_body != BodyKind::Empty {
                        body = Some(BodyDecoder::new(req_body));
                    }
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    conn.respond(stream, 1, "GET", &error_reply(&e), false)
                        .await?;
                    break;
                }
            }
        }
        // Nothing complete is buffered: send what is gathered, then read.
        conn.flush(stream).await?;
        if !conn.read(stream, cfg).await? {
            // Closed by the peer (or idle); a half-sent request is dropped.
            break;
        }
    }
    conn.flush(stream).await?;
    stream.close().await?;
    Ok(conn.stats)
}

/// One connection's buffers.
struct Conn {
    /// Received bytes; `buf[start..end]` not yet used.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Gathered response bytes not yet written.
    out: Vec<u8>,
    stats: ConnStats,
}

impl Conn {
    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Drops request body bytes; true once the body is complete.
    fn skip_body(&mut self, dec: &mut BodyDecoder) -> Result<bool, ParseError> {
        loop {
            let step = dec.decode(&self.buf[self.start..self.end])?;
            self.start += step.consumed;
            if dec.is_done() {
                return Ok(true);
            }
            if step.consumed == 0 {
                return Ok(false);
            }
        }
    }

    /// Appends (or, for long bodies, writes) one response.
    async fn respond<S: AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
        minor: u8,
        method: &str,
        reply: &Reply,
        keep_alive: bool,
    ) -> io::Result<()> {
        let len = reply.body.len();
        write_head(
            &mut self.out,
            &HeadInfo {
                minor,
                status: reply.status,
                content_type: reply.body.content_type(),
                content_length: len,
                keep_alive,
                extra: reply.extra,
                now: unix_now(),
            },
        );
        self.stats.requests += 1;
        self.stats.last_status = reply.status;
        if method == "HEAD" {
            return Ok(());
        }
        match reply.body {
            ReplyBody::Text(t) => self.out.extend_from_slice(t.as_bytes()),
            ReplyBody::Pattern(n) if n <= INLINE_BODY => {
                let at = self.out.len();
                self.out.resize(at + n as usize, 0);
                pattern::fill(0, &mut self.out[at..]);
            }
            ReplyBody::Pattern(n) => {
                self.flush(stream).await?;
                let mut off = 0;
                while off < n {
                    let chunk = pattern::slice_at(off, n - off);
                    stream.write_all(chunk).await?;
                    off += chunk.len() as u64;
                }
                self.stats.bytes_out += n;
            }
        }
        Ok(())
    }

    async fn flush<S: AsyncWrite + Unpin>(&mut self, stream: &mut S) -> io::Result<()> {
        if !self.out.is_empty() {
            stream.write_all(&self.out).await?;
            self.stats.bytes_out += self.out.len() as u64;
            self.out.clear();
        }
        stream.flush().await
    }

    /// Reads more; false at end of stream or idle timeout.
    async fn read<S: AsyncRead + Unpin>(
        &mut self,
        stream: &mut S,
        cfg: &ServerConfig,
    ) -> io::Result<bool> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.buf.len() - self.end < MIN_READ {
            // Keep the unfinished head at the front; the scanner limits a
            // head to MAX_HEAD < IN_BUF, so this frees room.
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        let into = &mut self.buf[self.end..];
        let n = match cfg.idle_timeout {
            Some(idle) => match netrt::time::timeout(idle, stream.read(into)).await {
                Ok(r) => r?,
                Err(_) => return Ok(false),
            },
            None => stream.read(into).await?,
        };
        self.end += n;
        self.stats.bytes_in += n as u64;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::body::BodyDecoder;
    use crate::http::head::parse_response;
    use crate::http::testio::MockStream;
    use futures::executor::block_on;

    const NO_IDLE: ServerConfig = ServerConfig { idle_timeout: None };

    /// Runs the server over `input` delivered in reads of `step` bytes;
    /// returns what it wrote and its stats.
    fn serve(input: &[u8], step: usize) -> (Vec<u8>, ConnStats, MockStream) {
        let mut s = MockStream::new(input, step);
        let stats = block_on(serve_connection(&mut s, &NO_IDLE)).unwrap();
        (s.output.clone(), stats, s)
    }

    /// Splits a server's output into (status, body) responses.
    fn responses(mut out: &[u8], head_only: bool) -> Vec<(u16, Vec<u8>)> {
        let mut v = Vec::new();
        while !out.is_empty() {
            let len = HeadScanner::new()
                .scan(out)
                .unwrap()
                .expect("complete head");
            let r = parse_response(&out[..len]).unwrap();
            let mut dec = BodyDecoder::new(r.body(head_only).unwrap());
            out = &out[len..];
            let mut body = Vec::new();
            while !dec.is_done() {
                let step = dec.decode(out).unwrap();
                assert!(step.consumed > 0, "truncated body");
                body.extend_from_slice(step.data);
                out = &out[step.consumed..];
            }
            v.push((r.status, body));
        }
        v
    }

    fn status_of(input: &str) -> u16 {
        let (out, _, _) = serve(input.as_bytes(), 4096);
        responses(&out, false)[0].0
    }

    #[test]
    fn routes() {
        let req = |s: &'static str| parse_request(s.as_bytes()).unwrap();
        assert_eq!(route(&req("GET / HTTP/1.1\r\nHost: h\r\n\r\n")).status, 200);
        assert_eq!(
            route(&req("GET /bytes/7?q HTTP/1.1\r\nHost: h\r\n\r\n")).body,
            ReplyBody::Pattern(7)
        );
        for missing in [
            "/bytes/",
            "/bytes/x",
            "/bytes/-1",
            "/bytes/+1",
            "/bytes/1099511627777",
            "/nope",
            "/bytes",
        ] {
            let r = format!("GET {missing} HTTP/1.1\r\nHost: h\r\n\r\n");
            assert_eq!(
                route(&parse_request(r.as_bytes()).unwrap()).status,
                404,
                "{missing}"
            );
        }
        let post = route(&req("POST / HTTP/1.1\r\nHost: h\r\n\r\n"));
        assert_eq!((post.status, post.extra), (405, "Allow: GET, HEAD\r\n"));
        assert_eq!(parse_count("1099511627776"), Some(MAX_BYTES));
    }

    #[test]
    fn index_and_bytes() {
        let input = b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /bytes/100000 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
        let (out, stats, s) = serve(input, 4096);
        let r = responses(&out, false);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0], (200, INDEX.as_bytes().to_vec()));
        assert_eq!(r[1].0, 200);
        assert_eq!(r[1].1.len(), 100_000);
        assert_eq!(pattern::fnv1a(&r[1].1), pattern::pattern_hash(100_000));
        assert_eq!(stats.requests, 2);
        assert_eq!(stats.bytes_out, out.len() as u64);
        assert_eq!(stats.bytes_in, input.len() as u64);
        assert!(s.closed, "server closes after Connection: close");
    }

    #[test]
    fn requests_split_across_reads() {
        let input = b"GET /bytes/3 HTTP/1.1\r\nHost: h\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n";
        for step in 1..input.len() {
            let (out, stats, s) = serve(input, step);
            let r = responses(&out, false);
            assert_eq!(
                r,
                vec![(200, vec![0, 1, 2]), (404, b"not found\n".to_vec())],
                "step {step}"
            );
            assert_eq!(stats.requests, 2);
            assert!(s.closed, "closes at the client's EOF");
        }
    }

    #[test]
    fn pipelined_responses_are_gathered_into_one_write() {
        let mut input = Vec::new();
        for i in 0..50 {
            input.extend_from_slice(
                format!("GET /bytes/{i} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes(),
            );
        }
        let (out, stats, s) = serve(&input, input.len());
        let r = responses(&out, false);
        assert_eq!(r.len(), 50);
        for (i, (status, body)) in r.iter().enumerate() {
            assert_eq!(*status, 200);
            assert_eq!(body.len(), i);
        }
        assert_eq!(stats.requests, 50);
        assert_eq!(s.writes, 1, "one write for all pipelined responses");
    }

    #[test]
    fn keep_alive_and_close() {
        // HTTP/1.0 without keep-alive: one response, then close, the
        // second request ignored.
        let (out, stats, _) = serve(b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n", 100);
        assert_eq!(responses(&out, false).len(), 1);
        assert!(String::from_utf8_lossy(&out).contains("Connection: close\r\n"));
        assert_eq!(stats.requests, 1);
        let (out, _, _) = serve(
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
            100,
        );
        assert_eq!(responses(&out, false).len(), 2);
        assert!(String::from_utf8_lossy(&out).contains("Connection: keep-alive\r\n"));
    }

    #[test]
    fn head_requests_get_no_body() {
        let (out, _, _) = serve(
            b"HEAD /bytes/1000 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
            100,
        );
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains("Content-Length: 1000\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        assert_eq!(responses(&out, true), vec![(200, vec![])]);
    }

    #[test]
    fn request_bodies_are_skipped() {
        let input = b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloPUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
        for step in [1, 7, input.len()] {
            let (out, _, _) = serve(input, step);
            let statuses: Vec<u16> = responses(&out, false).iter().map(|r| r.0).collect();
            assert_eq!(statuses, [405, 405, 200], "step {step}");
        }
    }

    #[test]
    fn malformed_requests_get_400_and_close() {
        let (out, stats, s) = serve(
            b"GET / HTTP/1.1\r\nHost: h\r\n\r\nBLAH\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
            1000,
        );
        let r = responses(&out, false);
        assert_eq!(r.iter().map(|r| r.0).collect::<Vec<_>>(), [200, 400]);
        assert_eq!(stats.last_status, 400);
        assert!(s.closed);
        assert!(String::from_utf8_lossy(&out).ends_with("Connection: close\r\n\r\nbad request\n"));
        assert_eq!(status_of("GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status_of("GET / HTTP/3.0\r\nHost: h\r\n\r\n"), 505);
        // The request is answered before its (malformed) body is read.
        let (out, _, _) = serve(
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            100,
        );
        let statuses: Vec<u16> = responses(&out, false).iter().map(|r| r.0).collect();
        assert_eq!(statuses, [405, 400]);
        assert_eq!(
            status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: br, chunked\r\n\r\n"),
            501
        );
    }

    #[test]
    fn oversized_heads_get_431() {
        let mut big = b"GET / HTTP/1.1\r\nHost: h\r\nX: ".to_vec();
        big.resize(MAX_HEAD + 10, b'a');
        let (out, _, s) = serve(&big, 1000);
        assert_eq!(responses(&out, false)[0].0, 431);
        assert!(s.closed);
    }

    #[test]
    fn eof_mid_request_closes_quietly() {
        let (out, stats, s) = serve(b"GET / HTTP/1.1\r\nHo", 5);
        assert!(out.is_empty());
        assert_eq!(stats.requests, 0);
        assert!(s.closed);
    }

    #[test]
    fn leading_blank_lines_are_ignored() {
        assert_eq!(status_of("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 200);
    }
}
