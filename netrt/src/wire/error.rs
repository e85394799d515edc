//! The one error type of the wire layer.

use core::fmt;
use std::io;

/// Why a packet could not be parsed (or a value could not be built).
///
/// Every parser in [`crate::wire`] reports malformed input through this type;
/// none of them panics or indexes out of bounds on any input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The buffer is shorter than the header, or than a length field says.
    Truncated,
    /// A field holds a value the format forbids (bad length field, IHL < 5,
    /// data offset < 5, bad option length, wrong IP version...).
    Malformed,
    /// A checksum did not verify.
    Checksum,
    /// Well-formed but outside what this stack handles (ARP over something
    /// other than Ethernet/IPv4, an unknown ICMP message in a `Repr`...).
    Unsupported,
}

/// Shorthand for `Result<T, wire::Error>`.
pub type Result<T> = core::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated packet",
            Error::Malformed => "malformed packet",
            Error::Checksum => "checksum mismatch",
            Error::Unsupported => "unsupported packet",
        })
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        let kind = match err {
            Error::Unsupported => io::ErrorKind::Unsupported,
            Error::Truncated | Error::Malformed | Error::Checksum => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_io_kind() {
        assert_eq!(Error::Truncated.to_string(), "truncated packet");
        assert_eq!(Error::Checksum.to_string(), "checksum mismatch");
        let e: io::Error = Error::Malformed.into();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let e: io::Error = Error::Unsupported.into();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
    }
}
