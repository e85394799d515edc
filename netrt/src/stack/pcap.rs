//! The classic libpcap file format (what `tcpdump -w` writes and
//! `tshark -r` reads): a 24-byte file header, then per frame a 16-byte
//! record header and the frame bytes.
//!
//! Written little-endian, version 2.4, microsecond timestamps, link type
//! Ethernet, snapshot length 65535 (longer frames — unsegmented TSO frames
//! seen on transmit — are cut and keep their original length in the
//! record). Readers detect the byte order from the magic number.
//! [`PcapReader`] reads such files back (both byte orders), for tests and
//! tools.
//!
//! To capture what a namespace's devices send and receive, see
//! [`Namespace::capture_pcap`](super::ns::Namespace::capture_pcap).

use std::io::{self, Write};
use std::time::Duration;

/// File magic of microsecond-resolution captures.
pub const MAGIC: u32 = 0xa1b2_c3d4;
/// Format version written (2.4, the only one in use).
pub const VERSION: (u16, u16) = (2, 4);
/// Largest number of bytes kept per frame.
pub const SNAPLEN: u32 = 65535;
/// `LINKTYPE_ETHERNET`: frames start with an Ethernet header (no FCS).
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Bytes of the file header.
pub const FILE_HEADER_LEN: usize = 24;
/// Bytes of a record header.
pub const RECORD_HEADER_LEN: usize = 16;

/// The file header: magic, version, zone offset 0, accuracy 0, snaplen,
/// link type.
pub fn file_header() -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    h[4..6].copy_from_slice(&VERSION.0.to_le_bytes());
    h[6..8].copy_from_slice(&VERSION.1.to_le_bytes());
    // thiszone (8..12) and sigfigs (12..16) stay 0.
    h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    h
}

/// The header of a record for a `len`-byte frame captured at `ts` (since
/// the Unix epoch): seconds, microseconds, bytes kept, original length.
/// Seconds past 2106 wrap (the format has 32 bits).
pub fn record_header(ts: Duration, len: usize) -> [u8; RECORD_HEADER_LEN] {
    let orig = u32::try_from(len).unwrap_or(u32::MAX);
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[0..4].copy_from_slice(&(ts.as_secs() as u32).to_le_bytes());
    h[4..8].copy_from_slice(&ts.subsec_micros().to_le_bytes());
    h[8..12].copy_from_slice(&orig.min(SNAPLEN).to_le_bytes());
    h[12..16].copy_from_slice(&orig.to_le_bytes());
    h
}

/// Writes a pcap stream into `W`. Give it a buffered writer: it issues two
/// `write_all`s per frame.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header to `out`.
    pub fn new(mut out: W) -> io::Result<PcapWriter<W>> {
        out.write_all(&file_header())?;
        Ok(PcapWriter { out })
    }

    /// Appends one frame captured at `ts` (since the Unix epoch), cut to
    /// [`SNAPLEN`] bytes.
    pub fn write_frame(&mut self, ts: Duration, frame: &[u8]) -> io::Result<()> {
        let keep = frame.len().min(SNAPLEN as usize);
        self.out.write_all(&record_header(ts, frame.len()))?;
        self.out.write_all(&frame[..keep])
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Unwraps the writer (not flushed).
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// One record read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Capture time since the Unix epoch.
    pub ts: Duration,
    /// Length of the frame on the wire.
    pub orig_len: u32,
    /// The bytes kept (at most the file's snapshot length).
    pub data: &'a [u8],
}

/// Reads a classic microsecond pcap file held in memory.
#[derive(Clone, Debug)]
pub struct PcapReader<'a> {
    rest: &'a [u8],
    big_endian: bool,
    link_type: u32,
    snaplen: u32,
}

impl<'a> PcapReader<'a> {
    /// Parses the file header. `InvalidData` for anything but a classic
    /// microsecond pcap header (nanosecond and pcapng files included).
    pub fn new(file: &'a [u8]) -> io::Result<PcapReader<'a>> {
        let Some((head, rest)) = file.split_first_chunk::<FILE_HEADER_LEN>() else {
            return Err(bad("pcap file shorter than its header"));
        };
        let big_endian = match head[0..4] {
            [0xd4, 0xc3, 0xb2, 0xa1] => false,
            [0xa1, 0xb2, 0xc3, 0xd4] => true,
            _ => return Err(bad("not a microsecond pcap file (bad magic)")),
        };
        let r = PcapReader {
            rest,
            big_endian,
            link_type: 0,
            snaplen: 0,
        };
        if (r.u16_at(head, 4), r.u16_at(head, 6)) != VERSION {
            return Err(bad("pcap version other than 2.4"));
        }
        Ok(PcapReader {
            link_type: r.u32_at(head, 20),
            snaplen: r.u32_at(head, 16),
            ..r
        })
    }

    /// The link type (1 for Ethernet).
    pub fn link_type(&self) -> u32 {
        self.link_type
    }

    /// The snapshot length.
    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    /// The next record; `Ok(None)` at the end, `InvalidData` for a
    /// truncated record or one longer than the snapshot length.
    pub fn next_record(&mut self) -> io::Result<Option<Record<'a>>> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let Some((head, rest)) = self.rest.split_first_chunk::<RECORD_HEADER_LEN>() else {
            return Err(bad("truncated pcap record header"));
        };
        let (secs, usecs) = (self.u32_at(head, 0), self.u32_at(head, 4));
        let (incl, orig_len) = (self.u32_at(head, 8), self.u32_at(head, 12));
        if incl > self.snaplen.max(SNAPLEN) || usecs >= 1_000_000 {
            return Err(bad("pcap record header out of range"));
        }
        let Some((data, rest)) = rest.split_at_checked(incl as usize) else {
            return Err(bad("truncated pcap record"));
        };
        self.rest = rest;
        Ok(Some(Record {
            ts: Duration::new(u64::from(secs), usecs * 1000),
            orig_len,
            data,
        }))
    }

    fn u16_at(&self, b: &[u8], at: usize) -> u16 {
        let v = [b[at], b[at + 1]];
        if self.big_endian {
            u16::from_be_bytes(v)
        } else {
            u16::from_le_bytes(v)
        }
    }

    fn u32_at(&self, b: &[u8], at: usize) -> u32 {
        let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.big_endian {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        }
    }
}

impl<'a> Iterator for PcapReader<'a> {
    type Item = io::Result<Record<'a>>;

    /// Stops after the first error.
    fn next(&mut self) -> Option<Self::Item> {
        match self.next_record() {
            Ok(r) => r.map(Ok),
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn file_header_bytes() {
        assert_eq!(
            file_header(),
            [
                0xd4, 0xc3, 0xb2, 0xa1, // magic, little-endian
                2, 0, 4, 0, // version 2.4
                0, 0, 0, 0, // thiszone
                0, 0, 0, 0, // sigfigs
                0xff, 0xff, 0, 0, // snaplen 65535
                1, 0, 0, 0, // LINKTYPE_ETHERNET
            ]
        );
    }

    #[test]
    fn record_bytes() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let ts = Duration::new(0x0102_0304, 567_891_234); // µs: 567891
        w.write_frame(ts, &[0xaa, 0xbb, 0xcc]).unwrap();
        let out = w.into_inner();
        assert_eq!(out.len(), FILE_HEADER_LEN + RECORD_HEADER_LEN + 3);
        assert_eq!(
            &out[FILE_HEADER_LEN..],
            &[
                0x04, 0x03, 0x02, 0x01, // seconds
                0x53, 0xaa, 0x08, 0x00, // 567891 µs
                3, 0, 0, 0, // bytes kept
                3, 0, 0, 0, // original length
                0xaa, 0xbb, 0xcc,
            ]
        );
    }

    #[test]
    fn long_frames_are_cut_to_the_snaplen_and_keep_their_length() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let frame = vec![7u8; 70_000];
        w.write_frame(Duration::from_secs(1), &frame).unwrap();
        w.write_frame(Duration::from_micros(1_000_001), b"x")
            .unwrap();
        let file = w.into_inner();
        let mut r = PcapReader::new(&file).unwrap();
        assert_eq!((r.link_type(), r.snaplen()), (LINKTYPE_ETHERNET, SNAPLEN));
        let a = r.next_record().unwrap().unwrap();
        assert_eq!((a.orig_len, a.data.len()), (70_000, 65_535));
        assert_eq!(a.ts, Duration::from_secs(1));
        let b = r.next_record().unwrap().unwrap();
        assert_eq!(
            (b.orig_len, b.data, b.ts),
            (1, &b"x"[..], Duration::from_micros(1_000_001))
        );
        assert!(r.next_record().unwrap().is_none());
    }

    #[test]
    fn reads_big_endian_files() {
        let mut file = vec![0xa1, 0xb2, 0xc3, 0xd4, 0, 2, 0, 4];
        file.extend_from_slice(&[0; 8]);
        file.extend_from_slice(&[0, 0, 0xff, 0xff, 0, 0, 0, 1]);
        file.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0, 60, 1, 2]);
        let recs: Vec<_> = PcapReader::new(&file).unwrap().collect();
        assert_eq!(recs.len(), 1);
        let r = recs[0].as_ref().unwrap();
        assert_eq!(
            (r.ts, r.orig_len, r.data),
            (Duration::new(9, 5000), 60, &[1u8, 2][..])
        );
    }

    #[test]
    fn malformed_files_are_errors_not_panics() {
        let good = {
            let mut w = PcapWriter::new(Vec::new()).unwrap();
            w.write_frame(Duration::ZERO, &[1, 2, 3, 4]).unwrap();
            w.into_inner()
        };
        // Every truncation is either a clean end or InvalidData.
        for cut in 0..good.len() {
            match PcapReader::new(&good[..cut]) {
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::InvalidData),
                Ok(r) => {
                    let res: Result<Vec<_>, _> = r.collect();
                    if cut != FILE_HEADER_LEN {
                        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::InvalidData);
                    }
                }
            }
        }
        let mut bad_magic = good.clone();
        bad_magic[0] = 0x4d; // nanosecond magic is a1b23c4d
        assert!(PcapReader::new(&bad_magic).is_err());
        let mut bad_version = good.clone();
        bad_version[4] = 3;
        assert!(PcapReader::new(&bad_version).is_err());
        let mut huge = good;
        huge[FILE_HEADER_LEN + 8..FILE_HEADER_LEN + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut r = PcapReader::new(&huge).unwrap();
        assert!(r.next().unwrap().is_err());
        assert!(r.next().is_none(), "stops after an error");
    }
}
