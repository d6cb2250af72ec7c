use std::ffi::{c_int, c_void};
use std::io;
use std::marker::PhantomData;
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

use crate::sink::Sink;
use crate::{sys, Addr, Error};

/// A connection, as seen from inside a [`Handler`](crate::Handler) callback (for UDP: the
/// sender of one datagram).
///
/// A `Conn` exists only as `&mut Conn` during a callback (or a function posted with
/// [`ConnSender::post`]): it cannot be kept, cloned or sent to another thread. To reach the
/// connection from elsewhere, take a [`ConnSender`] (send bytes, run code on its loop) or a
/// [`Waker`].
///
/// `C` is the handler's [`Context`](crate::Handler::Context) type: a value you can store
/// with each connection ([`set_context`](Conn::set_context)). It lives until the connection
/// closes or is detached, and is dropped after [`Handler::closed`](crate::Handler::closed)
/// or [`Handler::detached`](crate::Handler::detached) returns. For a UDP sender it is
/// dropped when the `data` call returns.
pub struct Conn<C> {
    raw: NonNull<sys::evio_conn>,
    udp: bool,
    /// The server's panic sink (an `Arc` kept alive by the server), for senders.
    sink: NonNull<Sink>,
    // Not Send or Sync (the raw pointer), and owns a `C` through the context pointer.
    _marker: PhantomData<(*mut sys::evio_conn, C)>,
}

impl<C> Conn<C> {
    /// # Safety
    /// `raw` is a connection pointer received in a callback (or posted function) that is
    /// running now, on this thread, and whose context pointer is NULL or a `Box<C>` set by
    /// this crate; `sink` is `Arc::as_ptr` of an `Arc<Sink>` alive for the call.
    pub(crate) unsafe fn from_raw(
        raw: NonNull<sys::evio_conn>,
        udp: bool,
        sink: NonNull<Sink>,
    ) -> Conn<C> {
        Conn {
            raw,
            udp,
            sink,
            _marker: PhantomData,
        }
    }

    pub(crate) fn raw(&self) -> *mut sys::evio_conn {
        self.raw.as_ptr()
    }

    /// `Arc::as_ptr` of the server's panic sink, alive during the callback.
    pub(crate) fn sink_ptr(&self) -> *const Sink {
        self.sink.as_ptr()
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

    /// Index, in the addresses given to `serve`, of the address this connection came in on;
    /// 0 for a dialed connection (see [`is_dialed`](Conn::is_dialed)).
    pub fn addr_index(&self) -> usize {
        // SAFETY: valid connection.
        let i = unsafe { sys::evio_conn_addr_index(self.raw()) };
        i.max(0) as usize
    }

    /// Whether this connection was opened by [`dial`](crate::dial) or
    /// [`ServerHandle::dial`](crate::ServerHandle::dial) rather than accepted.
    pub fn is_dialed(&self) -> bool {
        // SAFETY: valid connection (the index is immutable).
        unsafe { sys::evio_conn_addr_index(self.raw()) == -1 }
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

    /// A [`ConnSender`] for this connection: a handle usable from any thread that sends
    /// bytes to it ([`ConnSender::send`]) and runs functions on its loop
    /// ([`ConnSender::post`]).
    ///
    /// Errors: `EVIO_ENOTSUP` for a UDP sender (it has no lasting connection).
    pub fn sender(&self) -> Result<ConnSender<C>, Error> {
        if self.udp {
            return Err(Error::new(
                sys::EVIO_ENOTSUP,
                "a UDP sender has no ConnSender",
            ));
        }
        // SAFETY: `sink` is Arc::as_ptr of a live Arc<Sink> (see from_raw): one more strong
        // reference, owned by the new Arc.
        let sink = unsafe {
            Arc::increment_strong_count(self.sink.as_ptr());
            Arc::from_raw(self.sink.as_ptr() as *const Sink)
        };
        // SAFETY: the pointer is valid during this callback; the reference keeps its
        // memory valid until the ConnSender's matching unref.
        unsafe { sys::evio_conn_ref(self.raw()) };
        Ok(ConnSender {
            raw: self.raw,
            sink,
            _marker: PhantomData,
        })
    }

    /// Stops calling [`Handler::data`](crate::Handler::data) with input for this
    /// connection until [`resume_read`](Conn::resume_read). The input waits in the kernel
    /// (and TCP's own flow control slows the peer). Wakes, sends and posted functions are
    /// still delivered.
    ///
    /// Errors: `EVIO_ENOTSUP` for a UDP sender, `EVIO_ENOTCONN` once closed (as for every
    /// flow-control call below).
    pub fn pause_read(&self) -> Result<(), Error> {
        // SAFETY: valid connection, loop thread.
        Error::check(unsafe { sys::evio_conn_pause_read(self.raw()) }).map(drop)
    }

    /// Whether the connection's own pending output above its high watermark stops reading
    /// it (`true`, the default). A proxy sets `false` on both halves and pauses the *other*
    /// half itself ([`pause_read`](Conn::pause_read), resumed in `drained`): pausing a half
    /// for its own output can deadlock with an upstream that answers while it reads.
    pub fn set_read_backpressure(&self, on: bool) -> Result<(), Error> {
        // SAFETY: valid connection, loop thread.
        Error::check(unsafe { sys::evio_conn_set_read_backpressure(self.raw(), c_int::from(on)) })
            .map(drop)
    }

    /// Undoes [`pause_read`](Conn::pause_read). Reading also needs the pending output at or
    /// under the high watermark (backpressure).
    pub fn resume_read(&self) -> Result<(), Error> {
        // SAFETY: valid connection, loop thread.
        Error::check(unsafe { sys::evio_conn_resume_read(self.raw()) }).map(drop)
    }

    /// How many bytes of output the socket has not taken yet: written with
    /// [`write`](Conn::write), or sent with [`ConnSender::send`] and already taken by the
    /// loop. A producer that stops while this is above the high watermark goes on in
    /// [`Handler::drained`](crate::Handler::drained).
    pub fn pending(&self) -> Result<usize, Error> {
        let mut bytes = 0usize;
        // SAFETY: valid connection, loop thread; `bytes` is writable.
        Error::check(unsafe { sys::evio_conn_pending(self.raw(), &mut bytes) })?;
        Ok(bytes)
    }

    /// Sets this connection's watermarks: with more than `high` bytes pending it stops
    /// being read, and is read again (and [`Handler::drained`](crate::Handler::drained) is
    /// called) once at most `low` are pending. See [`Server::watermarks`](crate::Server::watermarks)
    /// for the defaults.
    ///
    /// Errors: `EVIO_EINVAL` unless `0 < high` and `low <= high`.
    pub fn set_watermarks(&self, low: usize, high: usize) -> Result<(), Error> {
        // SAFETY: valid connection, loop thread.
        Error::check(unsafe { sys::evio_conn_set_watermarks(self.raw(), low, high) }).map(drop)
    }

    /// Sets this connection's hard limit on pending output (`None`: no limit). A write
    /// that would pass it fails with `EVIO_ENOBUFS` ([`Error::is_output_limit`]), its bytes
    /// are dropped, and the connection is closed when the callback returns
    /// ([`Handler::closed`](crate::Handler::closed) gets the `EVIO_ENOBUFS` error).
    ///
    /// Errors: `EVIO_EINVAL` for `Some(0)` (use `None` for no limit).
    pub fn set_output_limit(&self, limit: Option<usize>) -> Result<(), Error> {
        let limit = match limit {
            None => 0,
            Some(0) => {
                return Err(Error::new(
                    sys::EVIO_EINVAL,
                    "output limit of 0 bytes (use None for no limit)",
                ))
            }
            Some(n) => n,
        };
        // SAFETY: valid connection, loop thread.
        Error::check(unsafe { sys::evio_conn_set_output_limit(self.raw(), limit) }).map(drop)
    }

    /// Shuts down the sending side (`SHUT_WR`) once the pending output has left, and keeps
    /// reading: the peer sees the end of the stream. Later writes fail with `EVIO_EPIPE`.
    /// A connection whose input has ended too (see
    /// [`Handler::input_closed`](crate::Handler::input_closed)) closes once its output
    /// has left.
    pub fn shutdown_write(&self) -> Result<(), Error> {
        // SAFETY: valid connection, loop thread.
        Error::check(unsafe { sys::evio_conn_shutdown_write(self.raw()) }).map(drop)
    }

    /// The connection's socket, for `setsockopt`/`getsockopt` only.
    ///
    /// evio owns the descriptor: never read from it, write to it, close it, or watch it
    /// with another poller, and do not keep the number past the callback (it is reused
    /// once the connection closes).
    pub fn fd(&self) -> Result<RawFd, Error> {
        // SAFETY: valid connection, loop thread.
        Error::check(unsafe { sys::evio_conn_fd(self.raw()) })
    }

    /// Switches `TCP_NODELAY` (on by default for accepted TCP connections); `false` lets
    /// the kernel gather small writes (Nagle's algorithm).
    ///
    /// Errors: `EVIO_ENOTSUP` if the connection is not TCP.
    pub fn set_nodelay(&self, on: bool) -> Result<(), Error> {
        // SAFETY: valid connection, loop thread.
        Error::check(unsafe { sys::evio_conn_set_nodelay(self.raw(), c_int::from(on)) }).map(drop)
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

/// Sends to a connection, and runs functions on its loop, from any thread.
///
/// Obtained from [`Conn::sender`]. Like a [`Waker`] it holds a reference on the
/// connection, so it stays memory-safe however long it is kept; once the connection has
/// closed (or the server has stopped), [`send`](ConnSender::send) and
/// [`post`](ConnSender::post) return an `EVIO_ENOTCONN` error.
///
/// What one thread sends and posts arrives in the order it was sent and posted; the sends
/// of several threads interleave whole, never inside one another.
///
/// ```no_run
/// use evio::{Action, Conn, Handler};
///
/// struct Push;
///
/// impl Handler for Push {
///     type Context = u64; // messages pushed so far
///
///     fn opened(&self, conn: &mut Conn<u64>) -> Action {
///         conn.set_context(0);
///         let sender = conn.sender().unwrap();
///         std::thread::spawn(move || {
///             // Bytes, copied at once:
///             while sender.send(b"tick\n").is_ok() {
///                 // Code on the connection's loop, with access to its context:
///                 let _ = sender.post(|conn| {
///                     if let Some(conn) = conn {
///                         *conn.context_or_insert_with(|| 0) += 1;
///                     }
///                 });
///                 std::thread::sleep(std::time::Duration::from_secs(1));
///             }
///         });
///         Action::None
///     }
/// }
/// ```
pub struct ConnSender<C> {
    raw: NonNull<sys::evio_conn>,
    sink: Arc<Sink>,
    // The context type the posted functions see; no `C` is held here.
    _marker: PhantomData<fn() -> C>,
}

// SAFETY: evio_conn_send, evio_conn_post, evio_conn_ref and evio_conn_unref may be called
// from any thread, and the reference held keeps the pointer valid. Posted functions are
// `Send` and touch the connection (and its `C`, which is `Send`) only on its loop thread.
unsafe impl<C> Send for ConnSender<C> {}
// SAFETY: as above; every method takes `&self` and the C functions are thread-safe.
unsafe impl<C> Sync for ConnSender<C> {}

const _: () = {
    const fn send_sync<T: Send + Sync + Clone>() {}
    send_sync::<ConnSender<()>>();
    send_sync::<ConnSender<std::rc::Rc<()>>>();
};

/// A function posted with [`ConnSender::post`], with what it needs when it runs.
struct Posted<C, F> {
    f: F,
    sink: Arc<Sink>,
    _marker: PhantomData<fn(C)>,
}

impl<C> ConnSender<C> {
    /// Sends `buf` (copied at once) to the connection: its loop appends the bytes to the
    /// connection's output. Bytes still queued when the connection closes are dropped.
    ///
    /// Errors: `EVIO_ENOTCONN` once the connection is closed or the server has stopped;
    /// `EVIO_ENOBUFS` ([`Error::is_output_limit`]) if the bytes would pass the
    /// connection's output limit (the connection stays open; see
    /// [`Conn::set_output_limit`]).
    pub fn send(&self, buf: &[u8]) -> Result<(), Error> {
        // SAFETY: we hold a reference, so the pointer is valid; any thread; the bytes are
        // copied before the call returns.
        let rc = unsafe {
            sys::evio_conn_send(self.raw.as_ptr(), buf.as_ptr() as *const c_void, buf.len())
        };
        Error::check(rc).map(drop)
    }

    /// Runs `f` once on the connection's loop thread, in order with this thread's other
    /// sends and posts.
    ///
    /// `f` runs **exactly once**:
    /// - with `Some(conn)` on the loop thread while the connection is open: every
    ///   [`Conn`] method works there, and output written is sent when `f` returns;
    /// - with `None` if the connection closed (or the server stopped) before `f` could
    ///   run — then on the loop thread, or on the thread that ends the server;
    /// - with `None` on this thread, before `post` returns the error, if the function
    ///   cannot be queued (the connection is closed already: `EVIO_ENOTCONN`).
    ///
    /// So `f` can always release what it owns, or report back through a channel.
    ///
    /// A panic in `f` on the loop is caught like a panic in a [`Handler`](crate::Handler)
    /// method: the server shuts down and the panic is resumed by `serve` or
    /// [`ServerHandle::wait`](crate::ServerHandle::wait). (A panic in `f` called here,
    /// after an error, unwinds from `post` as from any call.)
    pub fn post<F>(&self, f: F) -> Result<(), Error>
    where
        F: FnOnce(Option<&mut Conn<C>>) + Send + 'static,
    {
        let arg = Box::into_raw(Box::new(Posted::<C, F> {
            f,
            sink: self.sink.clone(),
            _marker: PhantomData,
        }));
        // SAFETY: we hold a reference, so the pointer is valid; any thread. On success
        // the library calls `run_posted` exactly once with `arg`, which takes it back.
        let rc = unsafe {
            sys::evio_conn_post(
                self.raw.as_ptr(),
                Some(run_posted::<C, F>),
                arg as *mut c_void,
            )
        };
        if rc < 0 {
            let err = Error::last(rc); // before `f` can make another evio call
                                       // SAFETY: the post failed, so the library never calls `run_posted`: `arg` is
                                       // still ours.
            let posted = unsafe { Box::from_raw(arg) };
            (posted.f)(None);
            return Err(err);
        }
        Ok(())
    }
}

/// Loop-local calls: on the connection's own loop thread, from the callbacks of *other*
/// connections of that loop (or its timers and posted closures), act on this connection
/// at once, without the copy and the hop through the loop's mailbox that
/// [`send`](ConnSender::send) and [`post`](ConnSender::post) take. This is how the two
/// halves of a proxied pair — a client and the connection dialed for it from its callback
/// ([`dial`](crate::dial)), both on one loop — copy bytes and apply backpressure to each
/// other. They never give access to the connection's context.
///
/// Each returns `EVIO_EPERM` off the connection's loop thread and `EVIO_ENOTCONN` once it
/// is closed, and otherwise does what the [`Conn`] method of the same name does.
impl<C> ConnSender<C> {
    /// [`Conn::write`] from the connection's loop: queued now, sent when the running
    /// callback returns. Errors also: `EVIO_EPIPE` after
    /// [`shutdown_write`](ConnSender::shutdown_write), `EVIO_ENOBUFS` past the output
    /// limit (the connection then closes).
    pub fn write(&self, buf: &[u8]) -> Result<(), Error> {
        // SAFETY: we hold a reference, so the pointer is valid; the library checks the
        // thread; the bytes are copied.
        let rc = unsafe {
            sys::evio_conn_write(self.raw.as_ptr(), buf.as_ptr() as *const c_void, buf.len())
        };
        Error::check(rc).map(drop)
    }

    /// [`Conn::pending`] from the connection's loop.
    pub fn pending(&self) -> Result<usize, Error> {
        let mut bytes = 0usize;
        // SAFETY: as in `write`; `bytes` is writable.
        Error::check(unsafe { sys::evio_conn_pending(self.raw.as_ptr(), &mut bytes) })?;
        Ok(bytes)
    }

    /// [`Conn::pause_read`] from the connection's loop.
    pub fn pause_read(&self) -> Result<(), Error> {
        // SAFETY: as in `write`.
        Error::check(unsafe { sys::evio_conn_pause_read(self.raw.as_ptr()) }).map(drop)
    }

    /// [`Conn::resume_read`] from the connection's loop.
    pub fn resume_read(&self) -> Result<(), Error> {
        // SAFETY: as in `write`.
        Error::check(unsafe { sys::evio_conn_resume_read(self.raw.as_ptr()) }).map(drop)
    }

    /// [`Conn::shutdown_write`] from the connection's loop.
    pub fn shutdown_write(&self) -> Result<(), Error> {
        // SAFETY: as in `write`.
        Error::check(unsafe { sys::evio_conn_shutdown_write(self.raw.as_ptr()) }).map(drop)
    }

    /// [`Conn::close`] from the connection's loop: closes it once its pending output has
    /// left, after the running callback returns.
    pub fn close(&self) -> Result<(), Error> {
        // SAFETY: as in `write`.
        Error::check(unsafe { sys::evio_conn_close(self.raw.as_ptr()) }).map(drop)
    }
}

/// The `evio_conn_fn` behind [`ConnSender::post`].
unsafe extern "C" fn run_posted<C, F>(conn: *mut sys::evio_conn, status: c_int, arg: *mut c_void)
where
    F: FnOnce(Option<&mut Conn<C>>),
{
    // SAFETY: `arg` is the Box<Posted<C, F>> that `post` leaked; the library gives it
    // back exactly once.
    let posted = unsafe { Box::from_raw(arg as *mut Posted<C, F>) };
    let Posted { f, sink, .. } = *posted;
    let _on_loop = sink.enter();
    let raw = if status == 0 {
        NonNull::new(conn)
    } else {
        None
    };
    // After a caught panic the server is shutting down: no more user code sees a `Conn`.
    let result = match raw {
        Some(raw) if !sink.panicked() => {
            // SAFETY: status 0: the connection is open and we are on its loop thread, in no
            // other callback of it; its context is a Box<C> (only this crate sets it, and
            // this sender came from a Conn<C> of the same server); `sink` is alive.
            let mut c = unsafe { Conn::<C>::from_raw(raw, false, NonNull::from(&*sink)) };
            catch_unwind(AssertUnwindSafe(|| f(Some(&mut c))))
        }
        _ => catch_unwind(AssertUnwindSafe(|| f(None))),
    };
    if let Err(p) = result {
        sink.record(p);
        // SAFETY: we are on the loop (or the thread ending the server); `conn` is valid
        // during this call and open when status is 0.
        unsafe { sink.halt(raw.map_or(std::ptr::null_mut(), NonNull::as_ptr)) };
    }
}

impl<C> Clone for ConnSender<C> {
    fn clone(&self) -> ConnSender<C> {
        // SAFETY: we hold a reference, so the pointer is valid for another.
        unsafe { sys::evio_conn_ref(self.raw.as_ptr()) };
        ConnSender {
            raw: self.raw,
            sink: self.sink.clone(),
            _marker: PhantomData,
        }
    }
}

impl<C> Drop for ConnSender<C> {
    fn drop(&mut self) {
        // SAFETY: drops the reference this ConnSender holds.
        unsafe { sys::evio_conn_unref(self.raw.as_ptr()) };
    }
}

impl<C> std::fmt::Debug for ConnSender<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnSender")
            .field("conn", &self.raw)
            .finish()
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
