use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A socket address: an IP address and port, or a unix socket path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Addr {
    /// An IPv4 or IPv6 address (TCP or UDP).
    Ip(SocketAddr),
    /// A unix socket: its path, or `None` for an unnamed socket (as a unix peer usually
    /// is).
    Unix(Option<PathBuf>),
}

impl Addr {
    /// The IP address and port, if this is one.
    pub fn as_socket_addr(&self) -> Option<SocketAddr> {
        match self {
            Addr::Ip(a) => Some(*a),
            Addr::Unix(_) => None,
        }
    }

    /// The unix socket path, if this is a named unix socket.
    pub fn as_unix_path(&self) -> Option<&Path> {
        match self {
            Addr::Unix(Some(p)) => Some(p),
            _ => None,
        }
    }

    /// Reads a C socket address.
    ///
    /// # Safety
    /// `sa` is NULL or points to `len` readable bytes holding a socket address.
    pub(crate) unsafe fn from_raw(sa: *const libc::sockaddr, len: libc::socklen_t) -> Option<Addr> {
        if sa.is_null() {
            return None;
        }
        let len = len as usize;
        if len < std::mem::size_of::<libc::sa_family_t>() {
            return None;
        }
        // SAFETY (all reads below): `sa` holds `len` bytes, and each branch checks that
        // `len` covers the structure it reads; unaligned reads avoid alignment assumptions.
        let family = unsafe { std::ptr::addr_of!((*sa).sa_family).read_unaligned() };
        match family as i32 {
            libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
                let sin = unsafe { (sa as *const libc::sockaddr_in).read_unaligned() };
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                Some(Addr::Ip(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(sin.sin_port),
                ))))
            }
            libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
                let sin6 = unsafe { (sa as *const libc::sockaddr_in6).read_unaligned() };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Some(Addr::Ip(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    u32::from_be(sin6.sin6_flowinfo),
                    sin6.sin6_scope_id,
                ))))
            }
            libc::AF_UNIX => {
                let off = std::mem::offset_of!(libc::sockaddr_un, sun_path);
                let max = std::mem::size_of::<libc::sockaddr_un>() - off;
                let plen = len.saturating_sub(off).min(max);
                let bytes = unsafe { std::slice::from_raw_parts((sa as *const u8).add(off), plen) };
                // The path ends at the first NUL (also covers a trailing terminator).
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                if end == 0 {
                    Some(Addr::Unix(None))
                } else {
                    let p = Path::new(std::ffi::OsStr::from_bytes(&bytes[..end]));
                    Some(Addr::Unix(Some(p.to_path_buf())))
                }
            }
            _ => None,
        }
    }
}

impl From<SocketAddr> for Addr {
    fn from(a: SocketAddr) -> Addr {
        Addr::Ip(a)
    }
}

impl fmt::Display for Addr {
    /// `127.0.0.1:5000`, `[::1]:5000`, a unix path, or `(unnamed)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Ip(a) => a.fmt(f),
            Addr::Unix(Some(p)) => p.display().fmt(f),
            Addr::Unix(None) => f.write_str("(unnamed)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_inet_and_unix() {
        let v4: SocketAddr = "127.0.0.1:4242".parse().unwrap();
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 4242u16.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(Ipv4Addr::LOCALHOST).to_be(),
            },
            sin_zero: [0; 8],
        };
        let a = unsafe {
            Addr::from_raw(
                &sin as *const _ as *const libc::sockaddr,
                std::mem::size_of_val(&sin) as _,
            )
        };
        assert_eq!(a, Some(Addr::Ip(v4)));

        let mut un: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        un.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in un.sun_path.iter_mut().zip(b"/tmp/x.sock") {
            *d = *s as libc::c_char;
        }
        let full = std::mem::size_of_val(&un) as libc::socklen_t;
        let a = unsafe { Addr::from_raw(&un as *const _ as *const libc::sockaddr, full) };
        assert_eq!(a, Some(Addr::Unix(Some("/tmp/x.sock".into()))));
        let a = unsafe { Addr::from_raw(&un as *const _ as *const libc::sockaddr, 2) };
        assert_eq!(a, Some(Addr::Unix(None)));
        assert_eq!(unsafe { Addr::from_raw(std::ptr::null(), 16) }, None);
    }
}
