//! smoltcp on its own loopback device, driven by one thread's poll loop:
//! poll the interface, then let every socket's application logic react,
//! until the shape's clock runs out. Both ends of every connection live in
//! the one interface (address 10.0.0.1), so each frame crosses the device
//! queue once and is processed by the same thread, like the kernel's lo.
//!
//! The device is `phy::Loopback` with the IP medium and two changes to its
//! advertised capabilities: an MTU of 1500 (Loopback says 65535) and
//! smoltcp's default checksum capabilities (checksums computed on send and
//! verified on receive; Loopback says "ignored").

use std::time::{Duration, Instant};

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::{ChecksumCapabilities, Device, DeviceCapabilities, Loopback, Medium};
use smoltcp::socket::tcp::{self, State};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint};

use super::heap;
use super::workload::{request, ConnectFigure};
use super::{Figures, BULK_CHUNK, CONNECTORS_PER_CORE, CORES, IDLE_CONNS, MSG, RR_CONNS};
use super::{RUN_BULK, RUN_CONNECT, RUN_RR};

const MTU: usize = 1500;
const ADDR: IpAddress = IpAddress::v4(10, 0, 0, 1);
const PORT: u16 = 5000;
/// First client port; smoltcp leaves ephemeral port choice to the app.
const EPHEMERAL: u16 = 49152;
/// Receive and send buffer of every socket but the bulk pair. smoltcp has
/// no lazy or growable buffers: the app allocates them before connecting.
const SMALL_BUF: usize = 4 * 1024;
/// Receive and send buffer of the bulk pair (window scaling on).
const BULK_BUF: usize = 256 * 1024;
/// Listening sockets kept ready in the connect/close shape (smoltcp has no
/// backlog: a listening socket becomes the connection).
const LISTENERS: usize = 4 * CORES * CONNECTORS_PER_CORE;

/// The line printed under the table.
pub fn describe() -> String {
    format!(
        "smoltcp 0.13: one thread polling phy::Loopback (IP medium, MTU {MTU}, default \
         ChecksumCapabilities: computed and verified), Nagle off for (a), {} KiB socket \
         buffers ({} KiB for the bulk pair)",
        SMALL_BUF / 1024,
        BULK_BUF / 1024
    )
}

/// `phy::Loopback` advertising a 1500-byte MTU and checksums on.
struct Wire(Loopback);

impl Device for Wire {
    type RxToken<'a> = <Loopback as Device>::RxToken<'a>;
    type TxToken<'a> = <Loopback as Device>::TxToken<'a>;

    fn receive(
        &mut self,
        now: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        self.0.receive(now)
    }

    fn transmit(&mut self, now: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        self.0.transmit(now)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = self.0.capabilities();
        caps.max_transmission_unit = MTU;
        caps.checksum = ChecksumCapabilities::default();
        caps
    }
}

/// One interface on the loopback wire and its sockets.
struct Net {
    iface: Interface,
    wire: Wire,
    sockets: SocketSet<'static>,
    /// The next client port (smoltcp leaves the choice to the app).
    next_port: u16,
}

impl Net {
    fn new() -> Net {
        Net::with_capacity(0)
    }

    /// An interface whose socket set has room for `sockets` sockets.
    fn with_capacity(sockets: usize) -> Net {
        let mut wire = Wire(Loopback::new(Medium::Ip));
        let mut iface = Interface::new(
            Config::new(HardwareAddress::Ip),
            &mut wire,
            smoltcp::time::Instant::now(),
        );
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(ADDR, 24)).expect("first address fits");
        });
        Net {
            iface,
            wire,
            sockets: SocketSet::new(Vec::with_capacity(sockets)),
            next_port: EPHEMERAL,
        }
    }

    /// A client port, cycling through the ephemeral range.
    fn ephemeral(&mut self) -> u16 {
        let p = self.next_port;
        self.next_port = p.checked_add(1).unwrap_or(EPHEMERAL);
        p
    }

    /// Moves every queued frame and segment; `true` if a socket's state
    /// may have changed.
    fn poll(&mut self) -> bool {
        let now = smoltcp::time::Instant::now();
        self.iface.poll(now, &mut self.wire, &mut self.sockets)
            == smoltcp::iface::PollResult::SocketStateChanged
    }

    fn socket(&mut self, buf: usize) -> SocketHandle {
        let s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; buf]),
            tcp::SocketBuffer::new(vec![0; buf]),
        );
        self.sockets.add(s)
    }

    fn tcp(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }

    fn listen(&mut self, h: SocketHandle) {
        self.tcp(h).listen(PORT).expect("listen");
    }

    fn connect(&mut self, h: SocketHandle) {
        let port = self.ephemeral();
        let cx = self.iface.context();
        let s = self.sockets.get_mut::<tcp::Socket>(h);
        s.connect(cx, IpEndpoint::new(ADDR, PORT), port)
            .expect("connect");
    }

    /// Opens `n` connections with `buf`-sized buffers; returns (client,
    /// server) socket pairs once all are established.
    fn open_pairs(&mut self, n: usize, buf: usize) -> Vec<(SocketHandle, SocketHandle)> {
        let mut pairs = Vec::with_capacity(n);
        for _ in 0..n {
            let server = self.socket(buf);
            self.listen(server);
            let client = self.socket(buf);
            self.connect(client);
            pairs.push((client, server));
        }
        let give_up = Instant::now() + Duration::from_secs(10);
        while !pairs.iter().all(|&(c, s)| {
            self.tcp(c).state() == State::Established && self.tcp(s).state() == State::Established
        }) {
            assert!(
                Instant::now() < give_up,
                "smoltcp connections not established"
            );
            self.poll();
        }
        pairs
    }
}

/// Runs the four measurements, each on a fresh interface.
pub fn run() -> Figures {
    Figures {
        idle_bytes: Some(idle_memory()),
        rr: Some(request_response()),
        bulk_gbps: Some(bulk()),
        connect: Some(connect_close()),
        problems: Vec::new(),
    }
}

/// (a) ping-pong of [`MSG`] bytes on [`RR_CONNS`] connections.
fn request_response() -> f64 {
    let mut net = Net::new();
    let pairs = net.open_pairs(RR_CONNS, SMALL_BUF);
    for &(c, s) in &pairs {
        net.tcp(c).set_nagle_enabled(false);
        net.tcp(s).set_nagle_enabled(false);
    }
    // Per pair: the request the server is reading and the response the
    // client is reading, each with the bytes received so far; the tag of
    // the pair's request in flight.
    let mut partial = vec![(([0u8; MSG], 0usize), ([0u8; MSG], 0usize), 0u8); RR_CONNS];
    let start = Instant::now();
    let deadline = start + RUN_RR;
    for &(c, _) in &pairs {
        net.tcp(c).send_slice(&request(0)).expect("send");
    }
    let (mut done, mut in_flight) = (0u64, RR_CONNS);
    while in_flight > 0 {
        net.poll();
        let now = Instant::now();
        for (&(c, s), ((req, at_s), (resp, at_c), tag)) in pairs.iter().zip(&mut partial) {
            let server = net.tcp(s);
            if server.can_recv() {
                *at_s += server.recv_slice(&mut req[*at_s..]).expect("recv");
                if *at_s == MSG {
                    *at_s = 0;
                    server.send_slice(req).expect("send");
                }
            }
            let client = net.tcp(c);
            if client.can_recv() {
                *at_c += client.recv_slice(&mut resp[*at_c..]).expect("recv");
                if *at_c == MSG {
                    *at_c = 0;
                    // Checked like the async systems' echoes.
                    assert_eq!(*resp, request(*tag), "wrong echo");
                    done += 1;
                    if now < deadline {
                        *tag = tag.wrapping_add(1);
                        client.send_slice(&request(*tag)).expect("send");
                    } else {
                        in_flight -= 1;
                    }
                }
            }
        }
    }
    done as f64 / start.elapsed().as_secs_f64()
}

/// (b) one stream: the client copies [`BULK_CHUNK`]-byte buffers into its
/// send buffer whenever there is room, the server copies out and discards.
fn bulk() -> f64 {
    let mut net = Net::new();
    let (c, s) = net.open_pairs(1, BULK_BUF)[0];
    let chunk = vec![0x5au8; BULK_CHUNK];
    let mut sink = vec![0u8; BULK_CHUNK];
    let mut sent_at = 0;
    let mut bytes = 0u64;
    let start = Instant::now();
    let mut closing = false;
    loop {
        net.poll();
        let client = net.tcp(c);
        if !closing {
            if start.elapsed() >= RUN_BULK {
                client.close();
                closing = true;
            } else {
                while client.can_send() {
                    sent_at += client.send_slice(&chunk[sent_at..]).expect("send");
                    if sent_at == chunk.len() {
                        sent_at = 0;
                    }
                }
            }
        }
        let server = net.tcp(s);
        while server.can_recv() {
            bytes += server.recv_slice(&mut sink).expect("recv") as u64;
        }
        if closing && !server.may_recv() {
            break;
        }
    }
    bytes as f64 * 8.0 / start.elapsed().as_secs_f64() / 1e9
}

/// (c) as many concurrent connect/close loops as the async systems run;
/// the server side closes as soon as a connection is established and
/// listens again once its socket reaches TIME_WAIT (smoltcp's idiom for an
/// accept loop; it drops the TIME_WAIT state, which smoltcp would keep for
/// 10 s otherwise).
fn connect_close() -> ConnectFigure {
    let mut net = Net::new();
    let servers: Vec<SocketHandle> = (0..LISTENERS)
        .map(|_| {
            let h = net.socket(SMALL_BUF);
            net.listen(h);
            h
        })
        .collect();
    let loops = CORES * CONNECTORS_PER_CORE;
    let clients: Vec<SocketHandle> = (0..loops).map(|_| net.socket(SMALL_BUF)).collect();
    // Per client: whether the current attempt got established, and
    // whether the loop has stopped.
    let mut established = vec![false; loops];
    let mut parked = vec![false; loops];
    for &c in &clients {
        net.connect(c);
    }
    let start = Instant::now();
    let (mut done, mut failures) = (0u64, 0u64);
    let mut active = loops;
    while active > 0 {
        net.poll();
        for &s in &servers {
            match net.tcp(s).state() {
                State::Established | State::CloseWait => net.tcp(s).close(),
                State::TimeWait | State::Closed => net.listen(s),
                _ => {}
            }
        }
        let over = start.elapsed() >= RUN_CONNECT;
        for ((&c, est), parked) in clients.iter().zip(&mut established).zip(&mut parked) {
            if *parked {
                continue;
            }
            let client = net.tcp(c);
            match client.state() {
                State::Established => *est = true,
                State::CloseWait => {
                    *est = true;
                    client.close();
                }
                State::Closed | State::TimeWait => {
                    if std::mem::take(est) {
                        done += 1;
                    } else {
                        failures += 1;
                    }
                    if over {
                        *parked = true;
                        active -= 1;
                    } else {
                        net.connect(c);
                    }
                }
                _ => {}
            }
        }
    }
    ConnectFigure {
        rate: done as f64 / start.elapsed().as_secs_f64(),
        failures,
    }
}

/// (d) heap bytes per idle connection end: its slot in the socket set
/// (which holds the socket itself) plus the heap growth of opening the
/// connections, i.e. the two buffers. The set is sized up front so that
/// its doubling does not blur the figure.
fn idle_memory() -> f64 {
    let mut net = Net::with_capacity(2 * IDLE_CONNS + 2);
    // Warm-up pair.
    net.open_pairs(1, SMALL_BUF);
    let window = heap::Window::open();
    let pairs = net.open_pairs(IDLE_CONNS, SMALL_BUF);
    let grown = window.net_bytes();
    drop(window);
    let handles = size_of_val(pairs.as_slice());
    drop(pairs);
    let slots = size_of::<SocketStorage>() * 2 * IDLE_CONNS;
    (grown as f64 - handles as f64 + slots as f64) / (2 * IDLE_CONNS) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_advertises_mtu_1500_and_checksums_on() {
        let caps = Wire(Loopback::new(Medium::Ip)).capabilities();
        assert_eq!(caps.max_transmission_unit, 1500);
        let dflt = ChecksumCapabilities::default();
        assert_eq!(format!("{:?}", caps.checksum), format!("{dflt:?}"));
    }

    /// Polls until `MSG` bytes arrived on `h`.
    fn recv_msg(net: &mut Net, h: SocketHandle) -> Vec<u8> {
        let mut got = Vec::new();
        let give_up = Instant::now() + Duration::from_secs(5);
        while got.len() < MSG {
            assert!(Instant::now() < give_up, "stalled");
            net.poll();
            let _ = net.tcp(h).recv(|b| {
                got.extend_from_slice(b);
                (b.len(), ())
            });
        }
        got
    }

    #[test]
    fn pairs_connect_and_carry_data_both_ways() {
        let mut net = Net::new();
        let pairs = net.open_pairs(3, SMALL_BUF);
        for (i, &(c, s)) in pairs.iter().enumerate() {
            let port = net.tcp(c).local_endpoint().unwrap().port;
            assert_eq!(port, EPHEMERAL + i as u16);
            net.tcp(c).send_slice(&[i as u8; MSG]).unwrap();
            net.tcp(s).send_slice(&[0x80 | i as u8; MSG]).unwrap();
        }
        for (i, &(c, s)) in pairs.iter().enumerate() {
            assert_eq!(recv_msg(&mut net, s), [i as u8; MSG]);
            assert_eq!(recv_msg(&mut net, c), [0x80 | i as u8; MSG]);
        }
    }
}
