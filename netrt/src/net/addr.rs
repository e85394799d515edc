//! Address conversion for the socket constructors.
//!
//! [`ToSocketAddrs`] has the shape of `tokio::net::ToSocketAddrs`: a sealed
//! trait implemented for the usual address types and strings. netrt has no
//! DNS resolver, so strings must hold IP literals; the one host name that
//! resolves is `localhost` (to `127.0.0.1`, as in `/etc/hosts`). Anything
//! else is an error that says so, rather than a lookup that cannot happen.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Converts to one or more [`SocketAddr`]s, without blocking.
///
/// Implemented for `SocketAddr`, `SocketAddrV4`, `SocketAddrV6`,
/// `(IpAddr, u16)`, `(Ipv4Addr, u16)`, `(Ipv6Addr, u16)`, `(&str, u16)`,
/// `(String, u16)`, `str` and `String` (`"10.0.0.1:80"`),
/// `&[SocketAddr]` and references to any of these. Strings must be IP
/// literals or `localhost`: there is no DNS.
///
/// The trait is sealed: it is only meant as a bound on netrt's functions
/// (`UdpSocket::bind`, `send_to`, ...). Use [`lookup_host`] to convert
/// directly.
pub trait ToSocketAddrs: sealed::ToSocketAddrsPriv {}

/// Converts `addr` to the socket addresses it names (the same rules as
/// [`ToSocketAddrs`]; never blocks, since there is no DNS).
pub async fn lookup_host<T: ToSocketAddrs>(
    addr: T,
) -> io::Result<impl Iterator<Item = SocketAddr>> {
    resolve(&addr)
}

/// The addresses `addr` names (crate-internal, synchronous).
pub(crate) fn resolve<T: ToSocketAddrs + ?Sized>(addr: &T) -> io::Result<Addrs> {
    addr.to_addrs(sealed::Internal)
}

/// The addresses of one conversion: usually exactly one, without a heap
/// allocation.
#[derive(Debug)]
pub struct Addrs(AddrsInner);

#[derive(Debug)]
enum AddrsInner {
    One(Option<SocketAddr>),
    Many(std::vec::IntoIter<SocketAddr>),
}

impl Addrs {
    fn one(addr: SocketAddr) -> Addrs {
        Addrs(AddrsInner::One(Some(addr)))
    }
}

impl Iterator for Addrs {
    type Item = SocketAddr;

    fn next(&mut self) -> Option<SocketAddr> {
        match &mut self.0 {
            AddrsInner::One(a) => a.take(),
            AddrsInner::Many(it) => it.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            AddrsInner::One(a) => (a.is_some() as usize, Some(a.is_some() as usize)),
            AddrsInner::Many(it) => it.size_hint(),
        }
    }
}

/// The address of host `host` (an IP literal or `localhost`).
fn parse_host(host: &str) -> io::Result<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "cannot resolve host name {host:?}: netrt has no DNS resolver; \
             use an IP address literal or \"localhost\""
        ),
    ))
}

/// Parses `"host:port"` (with `[v6]:port` for IPv6 literals).
fn parse_host_port(s: &str) -> io::Result<SocketAddr> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let invalid = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid socket address {s:?}: expected \"host:port\""),
        )
    };
    let (host, port) = s.rsplit_once(':').ok_or_else(invalid)?;
    let port: u16 = port.parse().map_err(|_| invalid())?;
    Ok(SocketAddr::new(parse_host(host)?, port))
}

pub(crate) mod sealed {
    use super::*;

    /// Proof of a call from inside the crate: keeps the method private.
    #[derive(Debug, Clone, Copy)]
    pub struct Internal;

    /// The sealed conversion behind [`ToSocketAddrs`](super::ToSocketAddrs).
    pub trait ToSocketAddrsPriv {
        /// The addresses `self` names.
        fn to_addrs(&self, _: Internal) -> io::Result<Addrs>;
    }
}

use sealed::{Internal, ToSocketAddrsPriv};

/// Implements the trait pair for a type that converts to one address.
macro_rules! one_addr {
    ($($t:ty => |$s:ident| $e:expr;)+) => {$(
        impl ToSocketAddrs for $t {}
        impl ToSocketAddrsPriv for $t {
            fn to_addrs(&self, _: Internal) -> io::Result<Addrs> {
                let $s = self;
                Ok(Addrs::one($e))
            }
        }
    )+};
}

one_addr! {
    SocketAddr => |s| *s;
    SocketAddrV4 => |s| SocketAddr::V4(*s);
    SocketAddrV6 => |s| SocketAddr::V6(*s);
    (IpAddr, u16) => |s| SocketAddr::new(s.0, s.1);
    (Ipv4Addr, u16) => |s| SocketAddr::new(IpAddr::V4(s.0), s.1);
    (Ipv6Addr, u16) => |s| SocketAddr::new(IpAddr::V6(s.0), s.1);
    (&str, u16) => |s| SocketAddr::new(parse_host(s.0)?, s.1);
    (String, u16) => |s| SocketAddr::new(parse_host(&s.0)?, s.1);
    str => |s| parse_host_port(s)?;
    String => |s| parse_host_port(s)?;
}

impl ToSocketAddrs for &[SocketAddr] {}
impl ToSocketAddrsPriv for &[SocketAddr] {
    fn to_addrs(&self, _: Internal) -> io::Result<Addrs> {
        // Owned: the iterator outlives the borrowed slice.
        Ok(Addrs(AddrsInner::Many(Vec::from(*self).into_iter())))
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: ToSocketAddrs + ?Sized> ToSocketAddrsPriv for &T {
    fn to_addrs(&self, i: Internal) -> io::Result<Addrs> {
        (**self).to_addrs(i)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn all<T: ToSocketAddrs + ?Sized>(a: &T) -> io::Result<Vec<SocketAddr>> {
        resolve(a).map(Iterator::collect)
    }

    fn v4(a: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::from((a, port))
    }

    #[test]
    fn literals_and_tuples() {
        let want = vec![v4([10, 0, 0, 1], 80)];
        assert_eq!(all(&want[0]).unwrap(), want);
        assert_eq!(all("10.0.0.1:80").unwrap(), want);
        assert_eq!(all(&String::from("10.0.0.1:80")).unwrap(), want);
        assert_eq!(all(&("10.0.0.1", 80)).unwrap(), want);
        assert_eq!(all(&(String::from("10.0.0.1"), 80)).unwrap(), want);
        assert_eq!(all(&(Ipv4Addr::new(10, 0, 0, 1), 80)).unwrap(), want);
        assert_eq!(all(&(IpAddr::from([10, 0, 0, 1]), 80)).unwrap(), want);
        assert_eq!(
            all(&SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80)).unwrap(),
            want
        );
        let v6 = all("[::1]:9").unwrap();
        assert!(v6[0].is_ipv6());
        assert_eq!(all(&(Ipv6Addr::LOCALHOST, 9)).unwrap(), v6);
        let list = [v4([1, 2, 3, 4], 1), v4([5, 6, 7, 8], 2)];
        assert_eq!(all(&&list[..]).unwrap(), list.to_vec());
        let mut it = resolve("1.2.3.4:5").unwrap();
        assert_eq!(it.size_hint(), (1, Some(1)));
        it.next();
        assert_eq!(it.size_hint(), (0, Some(0)));
    }

    #[test]
    fn localhost_only_host_name() {
        assert_eq!(all("localhost:7").unwrap(), vec![v4([127, 0, 0, 1], 7)]);
        assert_eq!(all(&("LocalHost", 7)).unwrap(), vec![v4([127, 0, 0, 1], 7)]);
        let e = all("example.com:80").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("no DNS"), "{e}");
        assert!(all(&("example.com", 80)).is_err());
    }

    #[test]
    fn malformed_strings() {
        for bad in [
            "",
            "10.0.0.1",
            "10.0.0.1:",
            "10.0.0.1:70000",
            ":80",
            "1.2.3.4:x",
        ] {
            let e = all(bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
    }
}
