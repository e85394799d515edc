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
//! * [`syncookie`]: stateless SYN cookies (RFC 4987) with MSS in the
//!   sequence number and options in the timestamp. // linux: syncookies.c

pub mod cc;
pub mod rtt;
