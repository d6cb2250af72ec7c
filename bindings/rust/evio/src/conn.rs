use std::ffi::c_void;
use std::io;
use std::marker::PhantomData;
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::ptr::NonNull;
use std::time::Duration;

use crate::{sys, Addr, Error};

/// A connection, as seen from inside a [`Handler`](crate::Handler) callback (for UDP: the
/// sender of one datagram).
///
/// A `Conn` exists only as `&mut Conn` during a callback: it cannot be kept, cloned or
/// sent to another thread. To reach the connection from elsewhere, take a [`Waker`].
///
/// `C` is the handler's [`Context`](crate::Handler::Context) type: a value you can store
/// with each connection ([`set_context`](Conn::set_context)). It lives until the connection
/// closes or is detached, and is dropped after [`Handler::closed`](crate::Handler::closed)
/// or [`Handler::detached`](crate::Handler::detached) returns. For a UDP sender it is
/// dropped when the `data` call returns.
pub struct Conn<C> {
    raw: NonNull<sys::evio_conn>,
    udp: bool,
    // Not Send or Sync (the raw pointer), and owns a `C` through the context pointer.
    _marker: PhantomData<(*mut sys::evio_conn, C)>,
}

impl<C> Conn<C> {
    /// # Safety
    /// `raw` is a connection pointer received in a callback that is running now, on this
    /// thread, and whose context pointer is NULL or a `Box<C>` set by this crate.
    pub(crate) unsafe fn from_raw(raw: NonNull<sys::evio_conn>, udp: bool) -> Conn<C> {
        Conn {
            raw,
            udp,
            _marker: PhantomData,
        }
    }

    pub(crate) fn raw(&self) -> *mut sys::evio_conn {
        self.raw.as_ptr()
    }

    /// Queues `buf` for sending. It is written as soon as the callback returns, in one write
    /// with the rest of this callback's output. For UDP, the output of one `data` call goes
    /// back to the sender as one datagram.
    ///
    /// To write while the context is borrowed, use [`split`](Conn::split).
    ///
    /// Errors: `EVIO_ENOTCONN` if the connection is closed.
    pub fn write(&mut self, buf: &[u8]) -> Result<(), Error> {
        self.writer().write(buf)
    }

    /// A [`Writer`] for this connection that can be used while the context is borrowed;
    /// see also [`split`](Conn::split).
    pub fn writer(&self) -> Writer<'_> {
        Writer {
            raw: self.raw,
            _marker: PhantomData,
        }
    }

    /// The context (mutable) together with a [`Writer`], so that output can be produced from
    /// state kept in the context without taking it out.
    ///
    /// ```
    /// # use evio::{Action, Conn};
    /// fn data(conn: &mut Conn<Vec<u8>>, input: &[u8]) -> Action {
    ///     let (ctx, out) = conn.split();
    ///     if let Some(buf) = ctx {
    ///         buf.extend_from_slice(input);
    ///         out.write(buf).ok();
    ///     }
    ///     Action::None
    /// }
    /// ```
    pub fn split(&mut self) -> (Option<&mut C>, Writer<'_>) {
        let w = Writer {
            raw: self.raw,
            _marker: PhantomData,
        };
        (self.context_mut(), w)
    }

    fn context_ptr(&self) -> *mut C {
        // SAFETY: valid connection, loop thread (see from_raw).
        unsafe { sys::evio_conn_context(self.raw()) as *mut C }
    }

    /// The context stored with [`set_context`](Conn::set_context), if any.
    pub fn context(&self) -> Option<&C> {
        // SAFETY: the pointer is NULL or a live Box<C> owned by the connection, and the
        // returned borrow is tied to `self`, the only handle to it during this callback.
        unsafe { self.context_ptr().as_ref() }
    }

    /// The context stored with [`set_context`](Conn::set_context), mutably, if any.
    pub fn context_mut(&mut self) -> Option<&mut C> {
        // SAFETY: as in `context`, with an exclusive borrow of `self`.
        unsafe { self.context_ptr().as_mut() }
    }

    /// Stores `ctx` with the connection; returns the context it replaces.
    pub fn set_context(&mut self, ctx: C) -> Option<C> {
        let old = self.take_context();
        let p = Box::into_raw(Box::new(ctx));
        // SAFETY: valid connection, loop thread.
        unsafe { sys::evio_conn_set_context(self.raw(), p as *mut c_void) };
        old
    }

    /// Removes the context from the connection and returns it.
    pub fn take_context(&mut self) -> Option<C> {
        let p = self.context_ptr();
        if p.is_null() {
            return None;
        }
        // SAFETY: valid connection, loop thread; `p` came from Box::into_raw in
        // set_context and is cleared before being turned back into a Box.
        unsafe {
            sys::evio_conn_set_context(self.raw(), std::ptr::null_mut());
            Some(*Box::from_raw(p))
        }
    }

    /// The context, first storing `f()` if there is none.
    pub fn context_or_insert_with(&mut self, f: impl FnOnce() -> C) -> &mut C {
        if self.context_ptr().is_null() {
            self.set_context(f());
        }
        self.context_mut().expect("context was just set")
    }

    /// Index, in the addresses given to `serve`, of the address this connection came in on.
    pub fn addr_index(&self) -> usize {
        // SAFETY: valid connection.
        let i = unsafe { sys::evio_conn_addr_index(self.raw()) };
        i.max(0) as usize
    }

    /// Whether this is the sender of a UDP datagram rather than a stream connection.
    pub fn is_udp(&self) -> bool {
        self.udp
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> Option<Addr> {
        let mut len: libc::socklen_t = 0;
        // SAFETY: valid connection, loop thread; the returned pointer is valid while the
        // connection is, and read at once.
        unsafe {
            let sa = sys::evio_conn_local_addr(self.raw(), &mut len);
            Addr::from_raw(sa, len)
        }
    }

    /// The remote address of the connection (the sender, for UDP). A unix socket peer is
    /// usually unnamed: `Addr::Unix(None)`.
    pub fn remote_addr(&self) -> Option<Addr> {
        let mut len: libc::socklen_t = 0;
        // SAFETY: as in local_addr.
        unsafe {
            let sa = sys::evio_conn_remote_addr(self.raw(), &mut len);
            Addr::from_raw(sa, len)
        }
    }

    /// Enables TCP keepalive probes after `idle` (also the interval between probes), in
    /// whole seconds (at least one); `None` turns keepalive off.
    ///
    /// Errors: `EVIO_ENOTSUP` if the connection is not TCP.
    pub fn set_keepalive(&self, idle: Option<Duration>) -> Result<(), Error> {
        let secs = match idle {
            None => 0,
            Some(d) => d.as_secs().clamp(1, i32::MAX as u64) as i32,
        };
        // SAFETY: valid connection, loop thread.
        Error::check(unsafe { sys::evio_conn_set_keepalive(self.raw(), secs) }).map(drop)
    }

    /// A [`Waker`] for this connection: a handle usable from any thread, at any time, that
    /// makes the loop call [`Handler::data`](crate::Handler::data) with empty input.
    ///
    /// Errors: `EVIO_ENOTSUP` for a UDP sender (it has no lasting connection).
    pub fn waker(&self) -> Result<Waker, Error> {
        if self.udp {
            return Err(Error::new(sys::EVIO_ENOTSUP, "a UDP sender has no waker"));
        }
        // SAFETY: the pointer is valid during this callback; the reference keeps its
        // memory valid until the Waker's matching unref.
        unsafe { sys::evio_conn_ref(self.raw()) };
        Ok(Waker { raw: self.raw })
    }

    /// Drops the context, if any (at the end of a connection's life).
    pub(crate) fn drop_context(&mut self) {
        drop(self.take_context());
    }
}

impl<C> io::Write for Conn<C> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Conn::write(self, buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<C> std::fmt::Debug for Conn<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("addr_index", &self.addr_index())
            .field("udp", &self.udp)
            .field("local_addr", &self.local_addr())
            .field("remote_addr", &self.remote_addr())
            .finish()
    }
}

/// Writes to a connection during a callback; obtained from [`Conn::writer`] or
/// [`Conn::split`].
pub struct Writer<'a> {
    raw: NonNull<sys::evio_conn>,
    _marker: PhantomData<&'a mut sys::evio_conn>,
}

impl Writer<'_> {
    /// Queues `buf` for sending; see [`Conn::write`].
    pub fn write(&self, buf: &[u8]) -> Result<(), Error> {
        // SAFETY: valid connection (the Writer borrows the callback's Conn), loop thread;
        // the bytes are copied.
        let rc = unsafe {
            sys::evio_conn_write(self.raw.as_ptr(), buf.as_ptr() as *const c_void, buf.len())
        };
        Error::check(rc).map(drop)
    }
}

impl io::Write for Writer<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Writer::write(self, buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Wakes a connection from any thread: the loop then calls
/// [`Handler::data`](crate::Handler::data) for it with empty input.
///
/// Obtained from [`Conn::waker`]. It holds a reference on the connection, so it stays
/// memory-safe however long it is kept: after the connection closes (or the server stops),
/// [`wake`](Waker::wake) returns an `EVIO_ENOTCONN` error. Wakes coalesce: several before
/// the loop gets to them may give one `data` call, but every wake is followed by at least
/// one, unless the connection stops being open first (it closes, or is closing or
/// detaching after [`Action::Close`](crate::Action::Close)/[`Action::Detach`](crate::Action::Detach) with output still to send).
pub struct Waker {
    raw: NonNull<sys::evio_conn>,
}

// SAFETY: evio_conn_wake, evio_conn_ref and evio_conn_unref may be called from any thread,
// and the reference held keeps the pointer valid.
unsafe impl Send for Waker {}
// SAFETY: as above; `wake` takes `&self` and the C function is thread-safe.
unsafe impl Sync for Waker {}

const _: () = {
    const fn send_sync<T: Send + Sync + Clone>() {}
    send_sync::<Waker>();
};

impl Waker {
    /// Asks the loop to call `data` for the connection with empty input.
    ///
    /// Errors: `EVIO_ENOTCONN` if the connection is closed or the server has stopped.
    pub fn wake(&self) -> Result<(), Error> {
        // SAFETY: we hold a reference, so the pointer is valid; any thread.
        Error::check(unsafe { sys::evio_conn_wake(self.raw.as_ptr()) }).map(drop)
    }
}

impl Clone for Waker {
    fn clone(&self) -> Waker {
        // SAFETY: we hold a reference, so the pointer is valid for another.
        unsafe { sys::evio_conn_ref(self.raw.as_ptr()) };
        Waker { raw: self.raw }
    }
}

impl Drop for Waker {
    fn drop(&mut self) {
        // SAFETY: drops the reference this Waker holds.
        unsafe { sys::evio_conn_unref(self.raw.as_ptr()) };
    }
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waker").field("conn", &self.raw).finish()
    }
}

/// The socket of a detached connection, now owned by you (in blocking mode, no longer
/// watched by evio). Dropping it closes the socket.
#[derive(Debug)]
pub enum DetachedSocket {
    /// A TCP connection (IPv4 or IPv6).
    Tcp(TcpStream),
    /// A unix stream connection.
    Unix(UnixStream),
    /// Any other kind of socket.
    Other(OwnedFd),
}

impl DetachedSocket {
    /// Wraps `fd` according to its address family and type.
    pub(crate) fn from_fd(fd: OwnedFd) -> DetachedSocket {
        let raw = fd.as_raw_fd();
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of_val(&ss) as libc::socklen_t;
        // SAFETY: valid fd and buffers of the given sizes.
        let family = if unsafe {
            libc::getsockname(raw, &mut ss as *mut _ as *mut libc::sockaddr, &mut len)
        } == 0
        {
            ss.ss_family as i32
        } else {
            -1
        };
        let mut ty: libc::c_int = 0;
        let mut tlen = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: as above.
        let stream = unsafe {
            libc::getsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_TYPE,
                &mut ty as *mut _ as *mut _,
                &mut tlen,
            )
        } == 0
            && ty == libc::SOCK_STREAM;
        match family {
            libc::AF_INET | libc::AF_INET6 if stream => DetachedSocket::Tcp(TcpStream::from(fd)),
            libc::AF_UNIX if stream => DetachedSocket::Unix(UnixStream::from(fd)),
            _ => DetachedSocket::Other(fd),
        }
    }

    /// The socket as a plain owned file descriptor.
    pub fn into_owned_fd(self) -> OwnedFd {
        match self {
            DetachedSocket::Tcp(s) => s.into(),
            DetachedSocket::Unix(s) => s.into(),
            DetachedSocket::Other(fd) => fd,
        }
    }

    /// The TCP stream, if this is one.
    pub fn into_tcp(self) -> Option<TcpStream> {
        match self {
            DetachedSocket::Tcp(s) => Some(s),
            _ => None,
        }
    }

    /// The unix stream, if this is one.
    pub fn into_unix(self) -> Option<UnixStream> {
        match self {
            DetachedSocket::Unix(s) => Some(s),
            _ => None,
        }
    }
}

impl AsFd for DetachedSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            DetachedSocket::Tcp(s) => s.as_fd(),
            DetachedSocket::Unix(s) => s.as_fd(),
            DetachedSocket::Other(fd) => fd.as_fd(),
        }
    }
}

impl AsRawFd for DetachedSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// Takes ownership of a detached fd.
///
/// # Safety
/// `fd` is an open descriptor that nothing else owns.
pub(crate) unsafe fn owned_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: per the function's contract.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
