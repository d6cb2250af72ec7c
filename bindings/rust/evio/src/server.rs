use std::any::Any;
use std::ffi::{c_char, c_int, c_void, CString};
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::conn::owned_fd;
use crate::{sys, Action, Addr, Conn, DetachedSocket, Engine, Error, LoadBalance};

/// The event handler of a server: one method per event, each with a default body.
///
/// Every method takes `&self`: callbacks for different connections may run at the same
/// time on different loops (see [`Server::loops`], which then requires `Handler + Sync`).
/// Keep per-connection state in the connection's [`Context`](Handler::Context).
///
/// A panic in any method shuts the server down and is resumed by `serve` on its caller's
/// thread; see the [crate documentation](crate#panics).
pub trait Handler {
    /// The value stored with each connection ([`Conn::set_context`]); use `()` for none.
    type Context: Send;

    /// Set to `true` in an implementation that overrides [`prewrite`](Handler::prewrite):
    /// the event is registered with the library only then. (A server with a `prewrite`
    /// event copies every write into the connection's output buffer, because large
    /// writes can no longer go to the socket directly from inside the callback; so it is
    /// off unless asked for.)
    const PREWRITE: bool = false;

    /// Called once, on the thread that called `serve`, after every address is bound and
    /// before any connection is accepted. Return [`Action::Shutdown`] to stop at once.
    fn serving(&self, server: &ServerInfo<'_>) -> Action {
        let _ = server;
        Action::None
    }

    /// Called when a connection is accepted (not for UDP). Output written here is sent
    /// before any input is read (a greeting); options such as
    /// [`Conn::set_keepalive`] are usually set here.
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
        let mut buf = vec![0u8; 128];
        loop {
            // SAFETY: as above; `buf` has `buf.len()` writable bytes.
            let n = unsafe {
                sys::evio_server_addr_string(
                    self.raw.as_ptr(),
                    index,
                    buf.as_mut_ptr() as *mut c_char,
                    buf.len(),
                )
            };
            if n < 0 {
                return None;
            }
            let n = n as usize;
            if n < buf.len() {
                buf.truncate(n);
                return Some(String::from_utf8_lossy(&buf).into_owned());
            }
            buf.resize(n + 1, 0);
        }
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

/// Settings of a server, and `serve`.
///
/// `Server::new()` runs one loop; [`loops`](Server::loops) turns it into a multi-loop
/// server (`Server<MultiLoop>`), whose `serve` requires the handler to be `Sync` because
/// its callbacks then run on several threads at once.
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
    num_loops: c_int,
    load_balance: LoadBalance,
    engine: Engine,
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
            num_loops: 1,
            load_balance: LoadBalance::Random,
            engine: Engine::Default,
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
        run(self.settings(), handler, addrs)
    }
}

impl<M> Server<M> {
    /// Runs `n` event loops (threads); `0` and `1` mean one. The handler must then be
    /// `Sync`.
    pub fn loops(self, n: usize) -> Server<MultiLoop> {
        Server {
            num_loops: c_int::try_from(n).unwrap_or(c_int::MAX),
            load_balance: self.load_balance,
            engine: self.engine,
            _mode: PhantomData,
        }
    }

    /// Runs one event loop per CPU. The handler must then be `Sync`.
    pub fn loops_per_cpu(self) -> Server<MultiLoop> {
        Server {
            num_loops: -1,
            load_balance: self.load_balance,
            engine: self.engine,
            _mode: PhantomData,
        }
    }

    /// How new connections are spread over the loops (default [`LoadBalance::Random`]).
    pub fn load_balance(mut self, lb: LoadBalance) -> Self {
        self.load_balance = lb;
        self
    }

    /// The engine for the whole server (default [`Engine::Default`]; see [`Engine`]).
    pub fn engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }

    fn settings(&self) -> Settings {
        Settings {
            num_loops: self.num_loops,
            load_balance: self.load_balance,
            engine: self.engine,
        }
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
        run(self.settings(), handler, addrs)
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

// ---------------------------------------------------------------------------------------
// Trampolines

/// What every callback receives as `udata`.
struct Shared<'h, H> {
    handler: &'h H,
    /// Per address index: whether it is a UDP address.
    udp: Vec<bool>,
    /// Set once a callback panicked: the server is shutting down.
    panicked: AtomicBool,
    /// The first panic's payload, resumed by `run`.
    panic: Mutex<Option<Box<dyn Any + Send + 'static>>>,
}

impl<H: Handler> Shared<'_, H> {
    fn panicked(&self) -> bool {
        self.panicked.load(Ordering::Acquire)
    }

    fn record_panic(&self, payload: Box<dyn Any + Send + 'static>) {
        let mut slot = match self.panic.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if slot.is_none() {
            *slot = Some(payload);
        } else {
            // Only the first panic is resumed; dropping another payload could itself panic
            // here, inside a callback, so it is leaked.
            std::mem::forget(payload);
        }
        self.panicked.store(true, Ordering::Release);
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
        // SAFETY: per this function's contract; contexts are only set by Conn.
        Some(unsafe { Conn::from_raw(raw, udp) })
    }

    /// Drops a connection's context, catching a panic from its Drop.
    fn drop_context(&self, conn: &mut Conn<H::Context>) {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| conn.drop_context())) {
            self.record_panic(p);
        }
    }
}

/// # Safety
/// `udata` is the `Shared<H>` that `run` passed, alive for the whole evio_serve call.
unsafe fn shared<'a, H: Handler>(udata: *mut c_void) -> &'a Shared<'a, H> {
    // SAFETY: per the function's contract.
    unsafe { &*(udata as *const Shared<'a, H>) }
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
    let Some(mut c) = (unsafe { sh.conn(conn) }) else {
        return sys::EVIO_NONE;
    };
    if sh.panicked() {
        return sys::EVIO_SHUTDOWN;
    }
    // The `&[u8]` given to `data` cannot outlive the call, so the loop's shared buffer
    // can be lent directly (no copy into a per-connection buffer).
    // SAFETY: valid connection, loop thread.
    unsafe { sys::evio_conn_set_reuse_input(c.raw(), 1) };
    sh.guard(|| sh.handler.opened(&mut c))
}

unsafe extern "C" fn on_closed<H: Handler>(
    conn: *mut sys::evio_conn,
    err: c_int,
    udata: *mut c_void,
) -> sys::evio_action {
    // SAFETY: as in on_opened.
    let sh = unsafe { shared::<H>(udata) };
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
        // prewrite cannot return an action: wake the connection so that the next
        // callback (data, which sees the panic) shuts the server down. For a UDP sender
        // (no wake) the next callback of any kind does it (the next datagram, or a tick if
        // the handler has one).
        // SAFETY: valid connection; wake may be called from the loop thread.
        unsafe { sys::evio_conn_wake(c.raw()) };
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

unsafe extern "C" fn on_tick<H: Handler>(
    delay_ns: *mut i64,
    udata: *mut c_void,
) -> sys::evio_action {
    // SAFETY: udata is our Shared.
    let sh = unsafe { shared::<H>(udata) };
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

struct Settings {
    num_loops: c_int,
    load_balance: LoadBalance,
    engine: Engine,
}

fn run<H: Handler, S: AsRef<str>>(
    settings: Settings,
    handler: &H,
    addrs: &[S],
) -> Result<(), Error> {
    let mut c_addrs = Vec::with_capacity(addrs.len());
    for a in addrs {
        let a = a.as_ref();
        match CString::new(a) {
            Ok(c) => c_addrs.push(c),
            Err(_) => {
                return Err(Error::new(
                    sys::EVIO_EINVAL,
                    format!("{}: address contains a NUL byte", a.escape_debug()),
                ))
            }
        }
    }
    let ptrs: Vec<*const c_char> = c_addrs.iter().map(|c| c.as_ptr()).collect();

    let shared = Shared {
        handler,
        udp: addrs.iter().map(|a| is_udp_addr(a.as_ref())).collect(),
        panicked: AtomicBool::new(false),
        panic: Mutex::new(None),
    };

    let mut ev = sys::evio_events::new();
    ev.udata = &shared as *const Shared<'_, H> as *mut c_void;
    ev.num_loops = settings.num_loops;
    ev.load_balance = settings.load_balance.to_raw();
    ev.engine = settings.engine.to_raw();
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

    // SAFETY: `ev` is a valid table whose udata (`shared`) and addresses outlive the
    // call; evio_serve joins every loop thread before returning, so no callback (and no
    // use of `shared` or `handler`) happens after it.
    let rc = unsafe { sys::evio_serve(&ev, ptrs.as_ptr(), ptrs.len()) };
    let result = Error::check(rc).map(drop);

    let payload = match shared.panic.into_inner() {
        Ok(p) => p,
        Err(p) => p.into_inner(),
    };
    if let Some(p) = payload {
        resume_unwind(p);
    }
    result
}
