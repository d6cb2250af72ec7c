use std::ffi::{c_char, c_int, c_void, CString};
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

use crate::conn::owned_fd;
use crate::dial::{take_value, DialValue};
use crate::sink::{Payload, Sink};
use crate::{sys, Action, Addr, Conn, DetachedSocket, Engine, Error, LoadBalance, ServerHandle};

/// The methods of a `Handler` impl that forwards every event to `**self`.
macro_rules! forward_events {
    () => {
        fn serving(&self, server: &ServerInfo<'_>) -> Action {
            (**self).serving(server)
        }
        fn opened(&self, conn: &mut Conn<Self::Context>) -> Action {
            (**self).opened(conn)
        }
        fn closed(&self, conn: &mut Conn<Self::Context>, err: Option<Error>) -> Action {
            (**self).closed(conn, err)
        }
        fn detached(&self, conn: &mut Conn<Self::Context>, socket: DetachedSocket) -> Action {
            (**self).detached(conn, socket)
        }
        fn prewrite(&self, conn: &mut Conn<Self::Context>) {
            (**self).prewrite(conn)
        }
        fn data(&self, conn: &mut Conn<Self::Context>, input: &[u8]) -> Action {
            (**self).data(conn, input)
        }
        fn drained(&self, conn: &mut Conn<Self::Context>) -> Action {
            (**self).drained(conn)
        }
        fn input_closed(&self, conn: &mut Conn<Self::Context>) -> Action {
            (**self).input_closed(conn)
        }
        fn tick(&self, delay: &mut Duration) -> Action {
            (**self).tick(delay)
        }
        fn dialed(&self, conn: &mut Conn<Self::Context>, value: DialValue) -> Action {
            (**self).dialed(conn, value)
        }
        fn dial_failed(&self, value: DialValue, err: Error) -> Action {
            (**self).dial_failed(value, err)
        }
    };
}

/// The event handler of a server: one method per event, each with a default body.
///
/// Every method takes `&self`: callbacks for different connections may run at the same
/// time on different loops (see [`Server::loops`], which then requires `Handler + Sync`).
/// Keep per-connection state in the connection's [`Context`](Handler::Context).
///
/// A panic in any method shuts the server down and is resumed by `serve` on its caller's
/// thread (by [`ServerHandle::wait`] for a started server); see the
/// [crate documentation](crate#panics).
pub trait Handler {
    /// The value stored with each connection ([`Conn::set_context`]); use `()` for none.
    type Context: Send;

    /// Set to `true` in an implementation that overrides [`prewrite`](Handler::prewrite):
    /// the event is registered with the library only then. (A server with a `prewrite`
    /// event copies every write into the connection's output buffer, because large
    /// writes can no longer go to the socket directly from inside the callback; so it is
    /// off unless asked for.)
    const PREWRITE: bool = false;

    /// Set to `true` in an implementation that overrides
    /// [`input_closed`](Handler::input_closed): the event is registered with the library
    /// only then, because registering it changes what the end of input does. Without it
    /// (the default), the peer's end of input closes the connection once the output owed
    /// has left, as in evio 1.0.
    const INPUT_CLOSED: bool = false;

    /// Called once, on the thread that called `serve`, after every address is bound and
    /// before any connection is accepted. Return [`Action::Shutdown`] to stop at once.
    fn serving(&self, server: &ServerInfo<'_>) -> Action {
        let _ = server;
        Action::None
    }

    /// Called when a connection is accepted (not for UDP). Output written here is sent
    /// before any input is read (a greeting); options such as
    /// [`Conn::set_keepalive`] are usually set here. A dialed connection calls
    /// [`dialed`](Handler::dialed) instead (whose default calls this).
    fn opened(&self, conn: &mut Conn<Self::Context>) -> Action {
        let _ = conn;
        Action::None
    }

    /// Called when a connection closes, before its socket is closed. `err` is `None` for an
    /// orderly close (by either side, or at shutdown), else why it failed (for example
    /// `EVIO_ECONNRESET`). Not called after a detach. Only [`Action::Shutdown`] is
    /// meaningful as the return value. The context is dropped after this returns.
    fn closed(&self, conn: &mut Conn<Self::Context>, err: Option<Error>) -> Action {
        let _ = (conn, err);
        Action::None
    }

    /// Called after [`Action::Detach`], once all pending output is flushed: the socket is
    /// now yours (blocking, no longer watched). The default drops (closes) it. Only
    /// [`Action::Shutdown`] is meaningful as the return value. The context is dropped
    /// after this returns.
    fn detached(&self, conn: &mut Conn<Self::Context>, socket: DetachedSocket) -> Action {
        let _ = (conn, socket);
        Action::None
    }

    /// Called on a loop just before output is written to the connection's socket, after
    /// the callback that wrote it has returned. Called only if
    /// [`PREWRITE`](Handler::PREWRITE) is `true`.
    fn prewrite(&self, conn: &mut Conn<Self::Context>) {
        let _ = conn;
    }

    /// Called when bytes arrive, or with empty `input` after a
    /// [`Waker::wake`](crate::Waker::wake). For UDP, once per datagram, and the output written during the
    /// call is sent back as one datagram.
    ///
    /// `input` is only borrowed for the call (it points into the loop's read buffer): copy
    /// what you need to keep, e.g. into the context.
    fn data(&self, conn: &mut Conn<Self::Context>, input: &[u8]) -> Action {
        let _ = (conn, input);
        Action::None
    }

    /// Called when the connection's pending output ([`Conn::pending`]) has fallen to its
    /// low watermark after it had passed the high watermark: the moment for a producer that
    /// paused (because `pending` was high) to go on. Output and action apply as for
    /// [`data`](Handler::data). See [`Server::watermarks`] and [`Conn::set_watermarks`].
    fn drained(&self, conn: &mut Conn<Self::Context>) -> Action {
        let _ = conn;
        Action::None
    }

    /// Called when the peer has shut down its sending side (end of input), if
    /// [`INPUT_CLOSED`](Handler::INPUT_CLOSED) is `true`. The connection then stays open
    /// for output: a proxy can pass the end on ([`Conn::shutdown_write`]) and a server can
    /// still answer. Return [`Action::Close`] (the default) to close it once its output has
    /// left; after [`Conn::shutdown_write`] it closes by itself once its output has left.
    fn input_closed(&self, conn: &mut Conn<Self::Context>) -> Action {
        let _ = conn;
        Action::Close
    }

    /// Called on the first loop right after `serving`, then again after `*delay`, which is
    /// one second on entry; set it to choose the next delay (zero: on the next loop turn;
    /// [`Duration::MAX`]: never again).
    ///
    /// The default implementation asks for no further tick, so a server without ticks
    /// does not wake up for them (an event loop waiting with a timeout costs a kernel
    /// timer per wait).
    fn tick(&self, delay: &mut Duration) -> Action {
        *delay = Duration::MAX;
        Action::None
    }

    /// Called instead of [`opened`](Handler::opened) when a connection opened by
    /// [`dial`](crate::dial) or [`ServerHandle::dial`] has connected, on the loop it was
    /// dialed on, with the value given to the dial (exactly once per dial; see
    /// [`Conn::is_dialed`]). From then on the connection is like an accepted one: every
    /// event and [`Conn`] method applies. Output written here is sent first (a request).
    /// The connection has no context yet.
    ///
    /// The default drops `value` and calls [`opened`](Handler::opened).
    fn dialed(&self, conn: &mut Conn<Self::Context>, value: DialValue) -> Action {
        drop(value);
        self.opened(conn)
    }

    /// Called on the dialing loop when a dial fails, with the value given to the dial and
    /// why: `EVIO_ECONNREFUSED`, `EVIO_ETIMEDOUT` for the connect timeout
    /// ([`Error::is_timeout`]), `EVIO_ENOENT` for an unknown host, `EVIO_ECANCELED` when
    /// the server stopped first ([`Error::is_canceled`]), … Each dial that was accepted
    /// ends in exactly one of [`dialed`](Handler::dialed) and this. Loop functions work
    /// here (dial again, close the connection that waited for this one). Only
    /// [`Action::Shutdown`] is meaningful as the return value.
    ///
    /// The default drops `value`.
    fn dial_failed(&self, value: DialValue, err: Error) -> Action {
        let _ = (value, err);
        Action::None
    }
}

/// Forwards every event to `H`; `serve(&handler, …)` runs on this.
impl<H: Handler> Handler for &H {
    type Context = H::Context;
    const PREWRITE: bool = H::PREWRITE;
    const INPUT_CLOSED: bool = H::INPUT_CLOSED;
    forward_events!();
}

/// Forwards every event to `H`: a handler shared with the rest of the program, e.g. given
/// to [`Server::start`] while the caller keeps a clone to read its state.
impl<H: Handler> Handler for Arc<H> {
    type Context = H::Context;
    const PREWRITE: bool = H::PREWRITE;
    const INPUT_CLOSED: bool = H::INPUT_CLOSED;
    forward_events!();
}

/// The running server, as seen from [`Handler::serving`]: the bound addresses and the
/// number of loops. Exists only during that call.
pub struct ServerInfo<'a> {
    raw: NonNull<sys::evio_server>,
    _marker: PhantomData<&'a sys::evio_server>,
}

impl ServerInfo<'_> {
    /// Number of addresses the server listens on.
    pub fn num_addrs(&self) -> usize {
        // SAFETY: valid during the serving callback, on its thread.
        unsafe { sys::evio_server_num_addrs(self.raw.as_ptr()) }.max(0) as usize
    }

    /// Number of event loops the server runs.
    pub fn num_loops(&self) -> usize {
        // SAFETY: as above.
        unsafe { sys::evio_server_num_loops(self.raw.as_ptr()) }.max(0) as usize
    }

    /// The name of the engine running the server: `"epoll"` or `"libuv"`.
    pub fn engine_name(&self) -> &'static str {
        // SAFETY: as above; the result is NULL or a static NUL-terminated string.
        let p = unsafe { sys::evio_server_engine(self.raw.as_ptr()) };
        if p.is_null() {
            return "";
        }
        // SAFETY: static string (see above).
        unsafe { std::ffi::CStr::from_ptr(p) }
            .to_str()
            .unwrap_or("")
    }

    /// The bound address `index` (with the real port when port 0 was asked), or `None`
    /// if `index` is out of range.
    pub fn addr(&self, index: usize) -> Option<Addr> {
        let index = c_int::try_from(index).ok()?;
        let mut len: libc::socklen_t = 0;
        // SAFETY: as above; the returned pointer is read at once.
        unsafe {
            let sa = sys::evio_server_addr(self.raw.as_ptr(), index, &mut len);
            Addr::from_raw(sa, len)
        }
    }

    /// All bound addresses, in the order given to `serve`.
    pub fn addrs(&self) -> Vec<Addr> {
        (0..self.num_addrs()).filter_map(|i| self.addr(i)).collect()
    }

    /// The bound address `index` as text in the form `serve` accepts
    /// (`tcp://127.0.0.1:40123`, `unix:///tmp/s.sock`, …), or `None` if out of range.
    pub fn addr_string(&self, index: usize) -> Option<String> {
        let index = c_int::try_from(index).ok()?;
        // SAFETY: valid during the serving callback, on its thread.
        unsafe { crate::handle::addr_string(self.raw.as_ptr(), index) }
    }
}

impl std::fmt::Debug for ServerInfo<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerInfo")
            .field("engine", &self.engine_name())
            .field("num_loops", &self.num_loops())
            .field("addrs", &self.addrs())
            .finish()
    }
}

/// Marker for a [`Server`] with one event loop: its handler needs only be `Send`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleLoop;

/// Marker for a [`Server`] with several event loops: its handler must be `Sync`.
#[derive(Clone, Copy, Debug, Default)]
pub struct MultiLoop;

/// Settings of a server, then `serve` (run on this thread until shutdown) or `start` (run
/// in the background, with a [`ServerHandle`] to stop it).
///
/// `Server::new()` runs one loop; [`loops`](Server::loops) turns it into a multi-loop
/// server (`Server<MultiLoop>`), whose `serve` and `start` require the handler to be
/// `Sync` because its callbacks then run on several threads at once.
///
/// ```no_run
/// # struct Echo;
/// # impl evio::Handler for Echo { type Context = (); }
/// use evio::{LoadBalance, Server};
/// Server::new()
///     .loops(4)
///     .load_balance(LoadBalance::RoundRobin)
///     .serve(&Echo, &["tcp://127.0.0.1:5000", "unix:///tmp/echo.sock"])?;
/// # Ok::<(), evio::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Server<M = SingleLoop> {
    settings: Settings,
    _mode: PhantomData<M>,
}

impl Default for Server<SingleLoop> {
    fn default() -> Self {
        Server::new()
    }
}

impl Server<SingleLoop> {
    /// A server with one event loop and default settings.
    pub fn new() -> Server<SingleLoop> {
        Server {
            settings: Settings {
                num_loops: 1,
                load_balance: LoadBalance::Random,
                engine: Engine::Default,
                watermarks: None,
                output_limit: None,
                idle_timeout: None,
            },
            _mode: PhantomData,
        }
    }

    /// Runs a one-loop server on `addrs` until a callback returns [`Action::Shutdown`].
    ///
    /// Addresses follow evio's syntax, `[scheme://]host:port[?reuseport=true]`, with
    /// scheme `tcp` (default), `tcp4`, `tcp6`, `udp`, `udp4`, `udp6` or `unix`
    /// (`unix:///tmp/s.sock`). Port 0 asks the kernel for a free port; see
    /// [`ServerInfo::addr`].
    ///
    /// Returns `Ok(())` after an orderly shutdown, or the error that kept the server from
    /// starting (then no callback was called). If a callback panicked, the panic is resumed
    /// here once the server has stopped.
    ///
    /// The callbacks run on the loop's thread (and `serving` on this one), one at a time,
    /// so `H` need not be `Sync`.
    pub fn serve<H, S>(&self, handler: &H, addrs: &[S]) -> Result<(), Error>
    where
        H: Handler + Send,
        S: AsRef<str>,
    {
        // Soundness of `H: Send` without `Sync`: with one loop, the handler is used by one
        // thread at a time (serving on this thread, then the loop's callbacks one by one,
        // ordered by the library's thread start and join), and this thread is blocked in
        // evio_serve meanwhile; no other thread can hold `&H` because `H` is not `Sync`.
        // That is the same as moving the handler to the loop thread and back.
        run(&self.settings, handler, addrs)
    }

    /// Starts a one-loop server on `addrs` and returns at once with its [`ServerHandle`];
    /// the loop runs on a thread of its own. `serving` is called on this thread before
    /// `start` returns.
    ///
    /// The server owns `handler` (pass an [`Arc`] to keep a reference of your own) and
    /// drops it once it has stopped, when the handle is dropped. `addrs` may be empty: a
    /// server that only runs functions posted to its loop ([`ServerHandle::post`]).
    ///
    /// Errors: as for [`serve`](Server::serve); then no callback was called. A panic in
    /// `serving` (or in a callback that ran before `start` returned) stops the server and
    /// is resumed here.
    ///
    /// ```compile_fail
    /// // A handler that cannot move to the loop thread does not compile.
    /// use std::rc::Rc;
    /// struct NotSend(Rc<()>);
    /// impl evio::Handler for NotSend { type Context = (); }
    /// evio::Server::new().start(NotSend(Rc::new(())), &["tcp://127.0.0.1:0"]);
    /// ```
    pub fn start<H, S>(&self, handler: H, addrs: &[S]) -> Result<ServerHandle, Error>
    where
        H: Handler + Send + 'static,
        S: AsRef<str>,
    {
        // Soundness of `H: Send` without `Sync`, as in `serve`: `serving` runs on this
        // thread inside evio_server_start, then the one loop thread has the handler (the
        // library orders the two), and the ServerHandle drops it only after the loop has
        // been joined. The handle gives no access to it, so it is never shared.
        start(&self.settings, handler, addrs)
    }
}

impl<M> Server<M> {
    /// Runs `n` event loops (threads); `0` and `1` mean one. The handler must then be
    /// `Sync`.
    pub fn loops(self, n: usize) -> Server<MultiLoop> {
        Server {
            settings: Settings {
                num_loops: c_int::try_from(n).unwrap_or(c_int::MAX),
                ..self.settings
            },
            _mode: PhantomData,
        }
    }

    /// Runs one event loop per CPU. The handler must then be `Sync`.
    pub fn loops_per_cpu(self) -> Server<MultiLoop> {
        Server {
            settings: Settings {
                num_loops: -1,
                ..self.settings
            },
            _mode: PhantomData,
        }
    }

    /// How new connections are spread over the loops (default [`LoadBalance::Random`]).
    pub fn load_balance(mut self, lb: LoadBalance) -> Self {
        self.settings.load_balance = lb;
        self
    }

    /// The engine for the whole server (default [`Engine::Default`]; see [`Engine`]).
    pub fn engine(mut self, engine: Engine) -> Self {
        self.settings.engine = engine;
        self
    }

    /// The watermarks of every connection (each can change its own with
    /// [`Conn::set_watermarks`]): with more than `high` bytes of pending output a
    /// connection stops being read, and it is read again, and [`Handler::drained`] is
    /// called, once at most `low` bytes are pending. The defaults are 256 KiB and 1 MiB.
    ///
    /// `serve` and `start` fail with `EVIO_EINVAL` unless `0 < high` and `low <= high`.
    pub fn watermarks(mut self, low: usize, high: usize) -> Self {
        self.settings.watermarks = Some((low, high));
        self
    }

    /// The hard limit on every connection's pending output (`None`, the default: no
    /// limit); each can change its own with [`Conn::set_output_limit`]. A write past it
    /// fails with `EVIO_ENOBUFS` and closes the connection after the callback, instead of
    /// letting a peer that does not read make the output grow without end.
    ///
    /// `serve` and `start` fail with `EVIO_EINVAL` for `Some(0)`.
    pub fn output_limit(mut self, limit: Option<usize>) -> Self {
        self.settings.output_limit = limit;
        self
    }

    /// The idle timeout of every connection (`None`, the default: none); each can change
    /// its own with [`Conn::set_idle_timeout`]. A connection on which no input arrives
    /// and no output leaves for that long is closed, and [`Handler::closed`] gets an
    /// `EVIO_ETIMEDOUT` error ([`Error::is_timeout`]): a defence against clients that open
    /// connections and say nothing.
    ///
    /// `serve` and `start` fail with `EVIO_EINVAL` for `Some(Duration::ZERO)`.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.settings.idle_timeout = timeout;
        self
    }
}

impl Server<MultiLoop> {
    /// Runs the server on `addrs` until a callback returns [`Action::Shutdown`]; see
    /// [`Server::<SingleLoop>::serve`](Server::serve) for the addresses and the result.
    /// Callbacks run on several loop threads at once, hence `H: Sync`.
    pub fn serve<H, S>(&self, handler: &H, addrs: &[S]) -> Result<(), Error>
    where
        H: Handler + Sync,
        S: AsRef<str>,
    {
        run(&self.settings, handler, addrs)
    }

    /// Starts the server on `addrs`, every loop on a thread of its own, and returns its
    /// [`ServerHandle`]; see [`Server::<SingleLoop>::start`](Server::start). Callbacks run
    /// on several loop threads at once, hence `H: Sync`.
    pub fn start<H, S>(&self, handler: H, addrs: &[S]) -> Result<ServerHandle, Error>
    where
        H: Handler + Send + Sync + 'static,
        S: AsRef<str>,
    {
        start(&self.settings, handler, addrs)
    }
}

/// Runs a one-loop server: `Server::new().serve(handler, addrs)`.
pub fn serve<H, S>(handler: &H, addrs: &[S]) -> Result<(), Error>
where
    H: Handler + Send,
    S: AsRef<str>,
{
    Server::new().serve(handler, addrs)
}

#[derive(Clone, Copy, Debug)]
struct Settings {
    num_loops: c_int,
    load_balance: LoadBalance,
    engine: Engine,
    watermarks: Option<(usize, usize)>,
    output_limit: Option<usize>,
    idle_timeout: Option<Duration>,
}

impl Settings {
    fn check(&self) -> Result<(), Error> {
        if let Some((low, high)) = self.watermarks {
            if high == 0 || low > high {
                return Err(Error::new(
                    sys::EVIO_EINVAL,
                    format!("watermarks ({low}, {high}): want 0 < high and low <= high"),
                ));
            }
        }
        if self.output_limit == Some(0) {
            return Err(Error::new(
                sys::EVIO_EINVAL,
                "output limit of 0 bytes (use None for no limit)",
            ));
        }
        if self.idle_timeout == Some(Duration::ZERO) {
            return Err(Error::new(
                sys::EVIO_EINVAL,
                "idle timeout of zero (use None for none)",
            ));
        }
        Ok(())
    }

    /// The callback table for `shared`, which must outlive every callback.
    fn events<H: Handler>(&self, shared: &Shared<H>) -> sys::evio_events {
        let mut ev = sys::evio_events::new();
        ev.udata = shared as *const Shared<H> as *mut c_void;
        ev.num_loops = self.num_loops;
        ev.load_balance = self.load_balance.to_raw();
        ev.engine = self.engine.to_raw();
        ev.serving = Some(on_serving::<H>);
        ev.opened = Some(on_opened::<H>);
        ev.closed = Some(on_closed::<H>);
        ev.detached = Some(on_detached::<H>);
        ev.prewrite = if H::PREWRITE {
            Some(on_prewrite::<H>)
        } else {
            None
        };
        ev.data = Some(on_data::<H>);
        ev.tick = Some(on_tick::<H>);
        ev.dial_failed = Some(on_dial_failed::<H>);
        // Registering `drained` changes nothing but the call itself, so it always is.
        ev.drained = Some(on_drained::<H>);
        ev.input_closed = if H::INPUT_CLOSED {
            Some(on_input_closed::<H>)
        } else {
            None
        };
        if let Some((low, high)) = self.watermarks {
            // A low watermark of 0 reads as "the default" in evio_events; it is set on each
            // connection instead (Shared::conn_watermarks).
            ev.low_watermark = low;
            ev.high_watermark = high;
        }
        ev.output_limit = self.output_limit.unwrap_or(0);
        ev.idle_timeout_ns = self
            .idle_timeout
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        ev
    }
}

// ---------------------------------------------------------------------------------------
// Trampolines

/// What every callback receives as `udata`.
struct Shared<H> {
    /// `&H` for `serve`, the handler itself for `start`.
    handler: H,
    /// Per address index: whether it is a UDP address.
    udp: Vec<bool>,
    /// Caught panics; shared with the functions posted to the loops.
    sink: Arc<Sink>,
    /// Watermarks set on each connection in `opened`: only a low watermark of 0, which
    /// `evio_events` cannot express.
    conn_watermarks: Option<(usize, usize)>,
}

impl<H: Handler> Shared<H> {
    fn new<S: AsRef<str>>(handler: H, addrs: &[S], settings: &Settings) -> Shared<H> {
        Shared {
            handler,
            udp: addrs.iter().map(|a| is_udp_addr(a.as_ref())).collect(),
            sink: Sink::new(),
            conn_watermarks: settings.watermarks.filter(|&(low, _)| low == 0),
        }
    }

    fn panicked(&self) -> bool {
        self.sink.panicked()
    }

    fn record_panic(&self, payload: Payload) {
        self.sink.record(payload);
    }

    /// Runs `f`, catching a panic (then: recorded, and the server shuts down).
    fn guard(&self, f: impl FnOnce() -> Action) -> sys::evio_action {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(a) => a.to_raw(),
            Err(p) => {
                self.record_panic(p);
                sys::EVIO_SHUTDOWN
            }
        }
    }

    fn is_udp(&self, conn: *mut sys::evio_conn) -> bool {
        // SAFETY: `conn` is the valid pointer of the running callback.
        let i = unsafe { sys::evio_conn_addr_index(conn) };
        usize::try_from(i)
            .ok()
            .and_then(|i| self.udp.get(i).copied())
            .unwrap_or(false)
    }

    /// # Safety
    /// `conn` is the pointer of the callback running now on this thread.
    unsafe fn conn(&self, conn: *mut sys::evio_conn) -> Option<Conn<H::Context>> {
        let raw = NonNull::new(conn)?;
        let udp = self.is_udp(conn);
        // SAFETY: per this function's contract; contexts are only set by Conn; the sink
        // lives as long as `self`.
        Some(unsafe { Conn::from_raw(raw, udp, NonNull::from(&*self.sink)) })
    }

    /// Drops `value`, catching a panic from its Drop.
    fn drop_caught<T>(&self, value: T) {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| drop(value))) {
            self.record_panic(p);
        }
    }

    /// Drops a connection's context, catching a panic from its Drop.
    fn drop_context(&self, conn: &mut Conn<H::Context>) {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| conn.drop_context())) {
            self.record_panic(p);
        }
    }
}

/// # Safety
/// `udata` is the `Shared<H>` that `run` or `start` passed, alive while any callback runs.
unsafe fn shared<'a, H: Handler>(udata: *mut c_void) -> &'a Shared<H> {
    // SAFETY: per the function's contract.
    unsafe { &*(udata as *const Shared<H>) }
}

unsafe extern "C" fn on_serving<H: Handler>(
    server: *mut sys::evio_server,
    udata: *mut c_void,
) -> sys::evio_action {
    // SAFETY: udata is our Shared; server is valid during this call.
    let sh = unsafe { shared::<H>(udata) };
    let Some(raw) = NonNull::new(server) else {
        return sys::EVIO_NONE;
    };
    let info = ServerInfo {
        raw,
        _marker: PhantomData,
    };
    sh.guard(|| sh.handler.serving(&info))
}

unsafe extern "C" fn on_opened<H: Handler>(
    conn: *mut sys::evio_conn,
    udata: *mut c_void,
) -> sys::evio_action {
    // SAFETY: udata is our Shared; conn is valid during this call, on this thread.
    let sh = unsafe { shared::<H>(udata) };
    let _on_loop = sh.sink.enter();
    // SAFETY: as above.
    let dial_value = unsafe { take_dial_value(conn) };
    let Some(mut c) = (unsafe { sh.conn(conn) }) else {
        return sys::EVIO_NONE;
    };
    if sh.panicked() {
        if let Some(value) = dial_value {
            sh.drop_caught(value);
        }
        return sys::EVIO_SHUTDOWN;
    }
    // The `&[u8]` given to `data` cannot outlive the call, so the loop's shared buffer
    // can be lent directly (no copy into a per-connection buffer).
    // SAFETY: valid connection, loop thread.
    unsafe { sys::evio_conn_set_reuse_input(c.raw(), 1) };
    if let Some((low, high)) = sh.conn_watermarks {
        // SAFETY: as above (the values were checked when the server started).
        unsafe { sys::evio_conn_set_watermarks(c.raw(), low, high) };
    }
    match dial_value {
        Some(value) => sh.guard(|| sh.handler.dialed(&mut c, value)),
        None => sh.guard(|| sh.handler.opened(&mut c)),
    }
}

/// For a dialed connection (address index -1), takes the dial's value out of its context
/// (where the library put it) and clears the context, before anything reads the context
/// as a `Box<Context>`. `None` for an accepted connection.
///
/// # Safety
/// `conn` is NULL or the connection of the `opened` callback running now on this thread.
unsafe fn take_dial_value(conn: *mut sys::evio_conn) -> Option<DialValue> {
    if conn.is_null() {
        return None;
    }
    // SAFETY: per the contract.
    if unsafe { sys::evio_conn_addr_index(conn) } != -1 {
        return None;
    }
    // SAFETY: as above; the context of a dialed connection in its `opened` is the dial's
    // ctx, which only this crate's `dial` functions create (a boxed DialValue).
    unsafe {
        let ctx = sys::evio_conn_context(conn);
        sys::evio_conn_set_context(conn, std::ptr::null_mut());
        if ctx.is_null() {
            return Some(Box::new(()));
        }
        Some(take_value(ctx))
    }
}

unsafe extern "C" fn on_dial_failed<H: Handler>(
    ctx: *mut c_void,
    err: c_int,
    udata: *mut c_void,
) -> sys::evio_action {
    // SAFETY: udata is our Shared.
    let sh = unsafe { shared::<H>(udata) };
    let _on_loop = sh.sink.enter();
    let value: DialValue = if ctx.is_null() {
        Box::new(())
    } else {
        // SAFETY: a dial's ctx, made by this crate's `dial` functions, handed back once.
        unsafe { take_value(ctx) }
    };
    if sh.panicked() {
        sh.drop_caught(value);
        return sys::EVIO_SHUTDOWN;
    }
    sh.guard(|| sh.handler.dial_failed(value, Error::from_code(err)))
}

unsafe extern "C" fn on_closed<H: Handler>(
    conn: *mut sys::evio_conn,
    err: c_int,
    udata: *mut c_void,
) -> sys::evio_action {
    // SAFETY: as in on_opened.
    let sh = unsafe { shared::<H>(udata) };
    let _on_loop = sh.sink.enter();
    let Some(mut c) = (unsafe { sh.conn(conn) }) else {
        return sys::EVIO_NONE;
    };
    let action = if sh.panicked() {
        sys::EVIO_SHUTDOWN
    } else {
        let err = (err < 0).then(|| Error::from_code(err));
        sh.guard(|| sh.handler.closed(&mut c, err))
    };
    sh.drop_context(&mut c);
    action
}

unsafe extern "C" fn on_detached<H: Handler>(
    conn: *mut sys::evio_conn,
    fd: c_int,
    udata: *mut c_void,
) -> sys::evio_action {
    // SAFETY: as in on_opened.
    let sh = unsafe { shared::<H>(udata) };
    let _on_loop = sh.sink.enter();
    // SAFETY: the fd is handed over to us by the detached callback.
    let socket = (fd >= 0).then(|| DetachedSocket::from_fd(unsafe { owned_fd(fd) }));
    let Some(mut c) = (unsafe { sh.conn(conn) }) else {
        return sys::EVIO_NONE;
    };
    let action = match socket {
        Some(socket) if !sh.panicked() => sh.guard(|| sh.handler.detached(&mut c, socket)),
        Some(socket) => {
            // Shutting down after a panic: just close the socket.
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| drop(socket))) {
                sh.record_panic(p);
            }
            sys::EVIO_SHUTDOWN
        }
        None => sys::EVIO_NONE,
    };
    sh.drop_context(&mut c);
    action
}

unsafe extern "C" fn on_prewrite<H: Handler>(conn: *mut sys::evio_conn, udata: *mut c_void) {
    // SAFETY: as in on_opened.
    let sh = unsafe { shared::<H>(udata) };
    let _on_loop = sh.sink.enter();
    let Some(mut c) = (unsafe { sh.conn(conn) }) else {
        return;
    };
    if sh.panicked() {
        return;
    }
    if sh.guard(|| {
        sh.handler.prewrite(&mut c);
        Action::None
    }) == sys::EVIO_SHUTDOWN
    {
        // prewrite cannot return an action: stop a started server through its handle,
        // else wake the connection so that the next callback (data, which sees the panic)
        // shuts the server down. For a UDP sender (no wake) the next callback of any kind
        // does it (the next datagram, or a tick if the handler has one).
        // SAFETY: on the loop; valid connection.
        unsafe {
            sh.sink.halt(if c.is_udp() {
                std::ptr::null_mut()
            } else {
                c.raw()
            })
        };
    }
    if c.is_udp() {
        // A UDP sender lives for one datagram: a context set here goes now too.
        sh.drop_context(&mut c);
    }
}

unsafe extern "C" fn on_data<H: Handler>(
    conn: *mut sys::evio_conn,
    input: *const c_void,
    len: usize,
    udata: *mut c_void,
) -> sys::evio_action {
    // SAFETY: as in on_opened.
    let sh = unsafe { shared::<H>(udata) };
    let _on_loop = sh.sink.enter();
    let Some(mut c) = (unsafe { sh.conn(conn) }) else {
        return sys::EVIO_NONE;
    };
    if sh.panicked() {
        if c.is_udp() {
            sh.drop_context(&mut c);
        }
        return sys::EVIO_SHUTDOWN;
    }
    let input: &[u8] = if input.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: `len` readable bytes at `input`, valid during this call; the slice's
        // lifetime is that of the call (the handler method is generic over it).
        unsafe { std::slice::from_raw_parts(input as *const u8, len) }
    };
    let action = sh.guard(|| sh.handler.data(&mut c, input));
    if c.is_udp() {
        // A UDP sender lives for this call only.
        sh.drop_context(&mut c);
    }
    action
}

unsafe extern "C" fn on_drained<H: Handler>(
    conn: *mut sys::evio_conn,
    udata: *mut c_void,
) -> sys::evio_action {
    // SAFETY: as in on_opened.
    let sh = unsafe { shared::<H>(udata) };
    let _on_loop = sh.sink.enter();
    let Some(mut c) = (unsafe { sh.conn(conn) }) else {
        return sys::EVIO_NONE;
    };
    if sh.panicked() {
        return sys::EVIO_SHUTDOWN;
    }
    sh.guard(|| sh.handler.drained(&mut c))
}

unsafe extern "C" fn on_input_closed<H: Handler>(
    conn: *mut sys::evio_conn,
    udata: *mut c_void,
) -> sys::evio_action {
    // SAFETY: as in on_opened.
    let sh = unsafe { shared::<H>(udata) };
    let _on_loop = sh.sink.enter();
    let Some(mut c) = (unsafe { sh.conn(conn) }) else {
        return sys::EVIO_CLOSE;
    };
    if sh.panicked() {
        return sys::EVIO_SHUTDOWN;
    }
    sh.guard(|| sh.handler.input_closed(&mut c))
}

unsafe extern "C" fn on_tick<H: Handler>(
    delay_ns: *mut i64,
    udata: *mut c_void,
) -> sys::evio_action {
    // SAFETY: udata is our Shared.
    let sh = unsafe { shared::<H>(udata) };
    let _on_loop = sh.sink.enter();
    if sh.panicked() || delay_ns.is_null() {
        return if sh.panicked() {
            sys::EVIO_SHUTDOWN
        } else {
            sys::EVIO_NONE
        };
    }
    // SAFETY: delay_ns points to the library's delay for this call.
    let mut delay = Duration::from_nanos(unsafe { *delay_ns }.max(0) as u64);
    let action = sh.guard(|| sh.handler.tick(&mut delay));
    let ns = i64::try_from(delay.as_nanos()).unwrap_or(i64::MAX);
    // SAFETY: as above.
    unsafe { *delay_ns = ns };
    action
}

/// Whether an address (in evio's syntax) is a UDP one.
fn is_udp_addr(addr: &str) -> bool {
    match addr.find("://") {
        Some(i) => addr[..i].to_ascii_lowercase().starts_with("udp"),
        None => false,
    }
}

/// The addresses as C strings (a NUL byte inside one is an error).
fn c_addrs<S: AsRef<str>>(addrs: &[S]) -> Result<Vec<CString>, Error> {
    addrs
        .iter()
        .map(|a| {
            let a = a.as_ref();
            CString::new(a).map_err(|_| {
                Error::new(
                    sys::EVIO_EINVAL,
                    format!("{}: address contains a NUL byte", a.escape_debug()),
                )
            })
        })
        .collect()
}

fn run<H: Handler, S: AsRef<str>>(
    settings: &Settings,
    handler: &H,
    addrs: &[S],
) -> Result<(), Error> {
    settings.check()?;
    let c_addrs = c_addrs(addrs)?;
    let ptrs: Vec<*const c_char> = c_addrs.iter().map(|c| c.as_ptr()).collect();
    let shared = Shared::new(handler, addrs, settings);
    let ev = settings.events(&shared);

    // SAFETY: `ev` is a valid table whose udata (`shared`) and addresses outlive the
    // call; evio_serve joins every loop thread, and runs every function posted to them,
    // before returning, so no callback (and no use of `shared` or `handler`) happens
    // after it.
    let rc = unsafe { sys::evio_serve(&ev, ptrs.as_ptr(), ptrs.len()) };
    let result = Error::check(rc).map(drop);

    if let Some(p) = shared.sink.take() {
        resume_unwind(p);
    }
    result
}

fn start<H, S>(settings: &Settings, handler: H, addrs: &[S]) -> Result<ServerHandle, Error>
where
    H: Handler + Send + 'static,
    S: AsRef<str>,
{
    settings.check()?;
    let c_addrs = c_addrs(addrs)?;
    let ptrs: Vec<*const c_char> = c_addrs.iter().map(|c| c.as_ptr()).collect();
    // Boxed: the callbacks keep its address until the handle has waited for the loops.
    let shared = Box::new(Shared::new(handler, addrs, settings));
    let ev = settings.events(&*shared);

    let mut raw: *mut sys::evio_server = std::ptr::null_mut();
    // SAFETY: `ev` and the addresses are valid for the call (both are copied or read
    // during it); `shared` lives in the returned handle until after evio_server_wait.
    let rc = unsafe { sys::evio_server_start(&ev, ptrs.as_ptr(), ptrs.len(), &mut raw) };
    if rc < 0 {
        // Nothing was started and no callback was called: `shared` can go.
        return Err(Error::last(rc));
    }
    let Some(raw) = NonNull::new(raw) else {
        return Err(Error::new(
            sys::EVIO_EIO,
            "evio_server_start returned no server",
        ));
    };
    let sink = shared.sink.clone();
    sink.set_server(raw.as_ptr());
    // SAFETY: `raw` is a fresh handle from evio_server_start whose callbacks use `shared`.
    let handle = unsafe { ServerHandle::from_started(raw, sink, shared) };
    if handle.panicked() {
        // `serving` panicked (or a callback right after it): the server is stopping; wait
        // for it here and resume the panic, as `serve` would.
        let _ = handle.wait();
    }
    Ok(handle)
}
