//! TCP building blocks: pure, I/O-free pieces the TCP state machine is made
//! of. Time is always an argument, nothing here sends a packet or arms a
//! timer; each piece is testable alone.
//!
//! * [`rtt`]: round-trip time estimation and the retransmission timeout
//!   (RFC 6298, Karn's rule, exponential backoff). // linux: tcp_rtt_estimator
//! * [`cc`]: pluggable congestion control, NewReno (RFC 5681, RFC 3465)
//!   and CUBIC (RFC 9438, the default). // linux: tcp_cong.c, tcp_cubic.c
//! * [`isn`]: initial sequence numbers (RFC 6528) and ephemeral port
//!   choice for `connect` (RFC 6056) that keeps a flow on the calling core.
//! * [`ooo`]: the receive side's out-of-order queue and its SACK blocks
//!   (RFC 2018, D-SACK RFC 2883). // linux: tcp_data_queue_ofo
//! * [`scoreboard`]: the sender's SACK scoreboard, pipe and NextSeg()
//!   (RFC 6675). // linux: tcp_sacktag_write_queue
//! * [`conn`]: the per-connection state machine (RFC 9293) built on
//!   the pieces above. // linux: tcp_input.c, tcp_output.c
//! * [`syncookie`]: stateless SYN cookies (RFC 4987) with MSS in the
//!   sequence number and options in the timestamp. // linux: syncookies.c

use std::net::SocketAddrV4;

pub mod cc;
pub mod conn;
pub mod isn;
pub(crate) mod listen;
pub mod ooo;
pub(crate) mod open;
pub(crate) mod rcv;
pub mod rtt;
pub mod scoreboard;
pub(crate) mod sock_lock;
pub(crate) mod socket;
pub mod syncookie;
pub(crate) mod table;
pub(crate) mod timer;
pub(crate) mod xmit;

/// A connection's addresses, from this host's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FourTuple {
    /// Our address and port.
    pub local: SocketAddrV4,
    /// The peer's address and port.
    pub remote: SocketAddrV4,
}

impl std::hash::Hash for FourTuple {
    /// Two words into the hasher instead of six fields: this hash is on
    /// every segment's demux.
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let ips =
            u64::from(self.local.ip().to_bits()) << 32 | u64::from(self.remote.ip().to_bits());
        let ports = u32::from(self.local.port()) << 16 | u32::from(self.remote.port());
        h.write_u64(ips);
        h.write_u32(ports);
    }
}

impl FourTuple {
    /// The tuple as 12 bytes (local address, remote address, local port,
    /// remote port), the input of the keyed hashes.
    pub fn to_bytes(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[0..4].copy_from_slice(&self.local.ip().octets());
        b[4..8].copy_from_slice(&self.remote.ip().octets());
        b[8..10].copy_from_slice(&self.local.port().to_be_bytes());
        b[10..12].copy_from_slice(&self.remote.port().to_be_bytes());
        b
    }
}
