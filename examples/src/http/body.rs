//! Message bodies: how one is framed, and an incremental decoder for the
//! framings (Content-Length, chunked, until close) that works on whatever
//! piece of the stream has arrived.

use super::head::ParseError;

/// How a message body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// No body.
    Empty,
    /// Exactly this many bytes (`Content-Length`).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the peer closes (responses only).
    UntilClose,
}

/// Longest chunk-size line (size, extensions) or trailer line accepted.
pub const MAX_CHUNK_LINE: usize = 4096;

/// Most trailer bytes accepted after the last chunk.
pub const MAX_TRAILERS: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// This many body bytes remain (Content-Length).
    Length(u64),
    /// Expecting a chunk-size line.
    ChunkSize,
    /// This many bytes of the current chunk remain.
    ChunkData(u64),
    /// Expecting the CRLF that ends a chunk's data.
    ChunkEnd,
    /// Reading trailer lines; this many bytes so far.
    Trailers(usize),
    UntilClose,
    Done,
}

/// One step of [`BodyDecoder::decode`].
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// Input bytes used (framing and data).
    pub consumed: usize,
    /// Body bytes found (a sub-slice of the input; may be empty).
    pub data: &'a [u8],
}

/// Decodes one body from stream pieces.
#[derive(Clone, Debug)]
pub struct BodyDecoder {
    state: State,
}

impl BodyDecoder {
    /// A decoder for a body framed as `kind`.
    pub fn new(kind: BodyKind) -> BodyDecoder {
        let state = match kind {
            BodyKind::Empty | BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) => State::Length(n),
            BodyKind::Chunked => State::ChunkSize,
            BodyKind::UntilClose => State::UntilClose,
        };
        BodyDecoder { state }
    }

    /// The body has ended; bytes after it belong to the next message.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Takes the next step from `input`. Call again with the unconsumed
    /// rest while it makes progress; `consumed == 0` (with the decoder not
    /// done) means more input is needed. Never consumes past the body.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<Decoded<'a>, ParseError> {
        let none = Decoded {
            consumed: 0,
            data: &[],
        };
        match self.state {
            State::Done => Ok(none),
            State::UntilClose => Ok(Decoded {
                consumed: input.len(),
                data: input,
            }),
            State::Length(left) | State::ChunkData(left) => {
                let n = left.min(input.len() as u64) as usize;
                let left = left - n as u64;
                self.state = match self.state {
                    State::Length(_) if left == 0 => State::Done,
                    State::Length(_) => State::Length(left),
                    _ if left == 0 => State::ChunkEnd,
                    _ => State::ChunkData(left),
                };
                Ok(Decoded {
                    consumed: n,
                    data: &input[..n],
                })
            }
            State::ChunkSize => {
                let Some((line, used)) = take_line(input)? else {
                    return Ok(none);
                };
                let size = parse_chunk_size(line)?;
                self.state = if size == 0 {
                    State::Trailers(0)
                } else {
                    State::ChunkData(size)
                };
                Ok(Decoded {
                    consumed: used,
                    data: &[],
                })
            }
            State::ChunkEnd => match input {
                [b'\r', b'\n', ..] => self.framing(2, State::ChunkSize),
                [b'\n', ..] => self.framing(1, State::ChunkSize),
                [] | [b'\r'] => Ok(none),
                _ => Err(ParseError::Malformed("chunk data longer than its size")),
            },
            State::Trailers(seen) => {
                let Some((line, used)) = take_line(input)? else {
                    return Ok(none);
                };
                let seen = seen + used;
                if seen > MAX_TRAILERS {
                    return Err(ParseError::TooLarge);
                }
                // Trailer fields are read and dropped (nothing here needs
                // them); an empty line ends the message.
                let next = if line.is_empty() {
                    State::Done
                } else {
                    State::Trailers(seen)
                };
                self.framing(used, next)
            }
        }
    }

    fn framing(&mut self, used: usize, next: State) -> Result<Decoded<'static>, ParseError> {
        self.state = next;
        Ok(Decoded {
            consumed: used,
            data: &[],
        })
    }

    /// The peer closed the stream: `Ok` if that ends the body properly
    /// (it was complete, or it is delimited by the close).
    pub fn finish(&mut self) -> Result<(), ParseError> {
        match self.state {
            State::Done => Ok(()),
            State::UntilClose => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(ParseError::Malformed("connection closed inside the body")),
        }
    }
}

/// The next line of `input` without its line end, and the bytes it takes
/// with the line end; `None` if the line is incomplete.
fn take_line(input: &[u8]) -> Result<Option<(&[u8], usize)>, ParseError> {
    let window = &input[..input.len().min(MAX_CHUNK_LINE)];
    match window.iter().position(|&b| b == b'\n') {
        Some(lf) => {
            let line = &input[..lf];
            Ok(Some((line.strip_suffix(b"\r").unwrap_or(line), lf + 1)))
        }
        None if input.len() >= MAX_CHUNK_LINE => Err(ParseError::TooLarge),
        None => Ok(None),
    }
}

/// `chunk-size [ chunk-ext ]`: hex digits, then optional extensions
/// (`;name=value`, ignored).
fn parse_chunk_size(line: &[u8]) -> Result<u64, ParseError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(ParseError::Malformed("bad chunk size"));
    }
    let rest = &line[digits..];
    let ext = rest.iter().position(|&b| b != b' ' && b != b'\t');
    if ext.is_some_and(|i| rest[i] != b';') {
        return Err(ParseError::Malformed("bad chunk size"));
    }
    if rest.iter().any(|&b| b < b' ' && b != b'\t' || b == 0x7f) {
        return Err(ParseError::Malformed(
            "control character in a chunk extension",
        ));
    }
    line[..digits].iter().try_fold(0u64, |n, &d| {
        let v = (d as char).to_digit(16).unwrap_or(0); // a hex digit, checked above
        n.checked_mul(16)
            .map(|n| n + u64::from(v))
            .ok_or(ParseError::Malformed("chunk size overflows"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed `step` bytes at a time (keeping unconsumed
    /// bytes, as a connection buffer does); the body, the bytes left after
    /// it, and whether it completed.
    fn run(
        kind: BodyKind,
        input: &[u8],
        step: usize,
    ) -> Result<(Vec<u8>, Vec<u8>, bool), ParseError> {
        let mut d = BodyDecoder::new(kind);
        let (mut body, mut pending) = (Vec::new(), Vec::new());
        let mut fed = 0;
        loop {
            loop {
                let step = d.decode(&pending)?;
                body.extend_from_slice(step.data);
                let consumed = step.consumed;
                pending.drain(..consumed);
                if consumed == 0 || d.is_done() {
                    break;
                }
            }
            if d.is_done() || fed == input.len() {
                break;
            }
            let n = step.min(input.len() - fed);
            pending.extend_from_slice(&input[fed..fed + n]);
            fed += n;
        }
        pending.extend_from_slice(&input[fed..]);
        Ok((body, pending, d.is_done()))
    }

    fn every_step(kind: BodyKind, input: &[u8]) -> (Vec<u8>, Vec<u8>, bool) {
        let whole = run(kind, input, input.len().max(1)).unwrap();
        for step in 1..input.len() {
            assert_eq!(run(kind, input, step).unwrap(), whole, "step {step}");
        }
        whole
    }

    #[test]
    fn content_length() {
        let (body, rest, done) = every_step(BodyKind::Length(5), b"helloGET /");
        assert_eq!(
            (&body[..], &rest[..], done),
            (&b"hello"[..], &b"GET /"[..], true)
        );
        let (body, _, done) = run(BodyKind::Length(10), b"short", 2).unwrap();
        assert_eq!((&body[..], done), (&b"short"[..], false));
        assert!(BodyDecoder::new(BodyKind::Length(10)).finish().is_err());
        assert!(BodyDecoder::new(BodyKind::Empty).is_done());
        assert!(BodyDecoder::new(BodyKind::Length(0)).is_done());
    }

    #[test]
    fn chunked() {
        let wire = b"5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\nNEXT";
        let (body, rest, done) = every_step(BodyKind::Chunked, wire);
        assert_eq!(body, b"helloabcdefghijklmnopqrstuvwxyz");
        assert_eq!(rest, b"NEXT");
        assert!(done);
    }

    #[test]
    fn chunked_with_trailers_and_bare_lf() {
        let wire = b"3\nabc\n0 ; last\nX-Sum: 1\nY: 2\n\nZ";
        let (body, rest, done) = every_step(BodyKind::Chunked, wire);
        assert_eq!((&body[..], &rest[..], done), (&b"abc"[..], &b"Z"[..], true));
        let (body, _, done) = every_step(BodyKind::Chunked, b"A\r\n0123456789\r\n0\r\n\r\n");
        assert_eq!((&body[..], done), (&b"0123456789"[..], true));
    }

    #[test]
    fn chunked_incomplete() {
        let (body, _, done) = run(BodyKind::Chunked, b"5\r\nhel", 1).unwrap();
        assert_eq!((&body[..], done), (&b"hel"[..], false));
        let mut d = BodyDecoder::new(BodyKind::Chunked);
        assert!(d.finish().is_err());
    }

    #[test]
    fn chunked_errors() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"5x\r\nhello\r\n",
            b"5\r\nhelloX\r\n",
            b"11111111111111111\r\n",
            b"5;\x01\r\n",
        ] {
            assert!(run(BodyKind::Chunked, bad, bad.len()).is_err(), "{bad:?}");
        }
        let long = vec![b'1'; MAX_CHUNK_LINE];
        assert_eq!(
            run(BodyKind::Chunked, &long, long.len()),
            Err(ParseError::TooLarge)
        );
        let mut trailers = b"0\r\n".to_vec();
        for _ in 0..(MAX_TRAILERS / 10 + 1) {
            trailers.extend_from_slice(b"X: 123456\r\n");
        }
        assert_eq!(
            run(BodyKind::Chunked, &trailers, trailers.len()),
            Err(ParseError::TooLarge)
        );
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(parse_chunk_size(b"0"), Ok(0));
        assert_eq!(parse_chunk_size(b"fF"), Ok(255));
        assert_eq!(parse_chunk_size(b"10 ;a=b"), Ok(16));
        assert_eq!(parse_chunk_size(b"ffffffffffffffff"), Ok(u64::MAX));
        assert!(parse_chunk_size(b"-1").is_err());
        assert!(parse_chunk_size(b"").is_err());
    }

    #[test]
    fn until_close() {
        let mut d = BodyDecoder::new(BodyKind::UntilClose);
        let s = d.decode(b"abc").unwrap();
        assert_eq!((s.consumed, s.data), (3, &b"abc"[..]));
        assert!(!d.is_done());
        assert!(d.finish().is_ok());
        assert!(d.is_done());
    }
}
