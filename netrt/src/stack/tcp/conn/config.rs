//! Per-connection tunables, Linux defaults. // linux: sysctl net.ipv4.tcp_*

use std::time::Duration;

use crate::stack::tcp::rtt::RtoConfig;

/// The options a connection is created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConfig {
    /// The MSS we advertise (our MTU minus 40); also caps the MSS we send.
    pub mss: u16,
    /// Send buffer size in bytes: [`send`](super::Connection::send)
    /// accepts data up to this much unacknowledged plus unsent.
    pub send_buf: usize,
    /// Receive buffer size in bytes: the largest window we advertise.
    pub recv_buf: usize,
    /// Offer window scaling (RFC 7323). // linux: tcp_window_scaling
    pub window_scaling: bool,
    /// Offer SACK (RFC 2018). // linux: tcp_sack
    pub sack: bool,
    /// Offer timestamps (RFC 7323). // linux: tcp_timestamps
    pub timestamps: bool,
    /// Disable Nagle's algorithm (`TCP_NODELAY`).
    pub nodelay: bool,
    /// Retransmission timeout bounds.
    pub rto: RtoConfig,
    /// SYN (or SYN-ACK) retransmissions before giving up.
    /// // linux: tcp_syn_retries (6)
    pub syn_retries: u32,
    /// Data retransmissions before giving up. // linux: tcp_retries2 (15)
    pub retries: u32,
    /// Longest an ACK is delayed. // linux: TCP_DELACK_MAX (40 ms here,
    /// Linux's TCP_DELACK_MIN which is what it uses once RTT is known)
    pub delayed_ack: Duration,
    /// ACKs sent immediately (quick-ack mode) at the start of a
    /// connection and after the receiver was idle. // linux: icsk_ack.quick
    pub quickacks: u32,
    /// TIME-WAIT duration, 2·MSL. // linux: TCP_TIMEWAIT_LEN (60 s)
    pub time_wait: Duration,
    /// Congestion control algorithm by name (`"cubic"`, `"reno"`).
    pub congestion: &'static str,
    /// TCP segmentation offload: new data may leave as one segment of
    /// up to this many bytes (a multiple of the MSS), for the device to
    /// cut into MSS-sized segments (each repeating our header and
    /// options). 0 (the default) disables it. // linux: gso_max_size
    pub tso_max: u32,
    /// How long an orphaned connection (see
    /// [`orphan`](super::Connection::orphan)) waits in FIN-WAIT-2 for the
    /// peer's FIN. // linux: tcp_fin_timeout (60 s)
    pub fin_timeout: Duration,
    /// Keepalive probing (`SO_KEEPALIVE`), off by default.
    pub keepalive: Option<Keepalive>,
    /// Least time between ACKs answering out-of-window bare ACKs, SYNs
    /// and RSTs. // linux: tcp_invalid_ratelimit (500 ms)
    pub invalid_ratelimit: Duration,
}

/// Keepalive timing. // linux: tcp_keepalive_time/intvl/probes
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Silence before the first probe (Linux: 7200 s).
    pub idle: Duration,
    /// Between unanswered probes (Linux: 75 s).
    pub interval: Duration,
    /// Unanswered probes before the connection times out (Linux: 9).
    pub probes: u32,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive {
            idle: Duration::from_secs(7200),
            interval: Duration::from_secs(75),
            probes: 9,
        }
    }
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            mss: 1460,
            send_buf: 256 * 1024,
            recv_buf: 256 * 1024,
            window_scaling: true,
            sack: true,
            timestamps: true,
            nodelay: false,
            rto: RtoConfig::LINUX,
            syn_retries: 6,
            retries: 15,
            delayed_ack: Duration::from_millis(40),
            quickacks: 16,
            time_wait: Duration::from_secs(60),
            congestion: "cubic",
            keepalive: None,
            tso_max: 0,
            fin_timeout: Duration::from_secs(60),
            invalid_ratelimit: Duration::from_millis(500),
        }
    }
}

impl TcpConfig {
    /// The window scale shift we offer: the smallest that lets the
    /// receive buffer be advertised whole (at most 14, RFC 7323 §2.3).
    pub fn window_shift(&self) -> u8 {
        let mut shift = 0u8;
        while shift < 14 && (self.recv_buf >> shift) > usize::from(u16::MAX) {
            shift += 1;
        }
        shift
    }
}
