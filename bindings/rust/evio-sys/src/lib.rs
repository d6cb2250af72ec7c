//! Raw FFI declarations for the evio C API (`include/evio.h`).
//!
//! These are hand-written, one for one, from the public header: every type, constant and
//! function keeps its C name. Nothing here is safe to use without reading the header's
//! documentation of the function; the `evio` crate is the safe layer on top.
//!
//! # Linking
//!
//! The build script finds `libevio` with `pkg-config` (honouring `PKG_CONFIG_PATH`; a C
//! build tree provides `<build>/pkgconfig-uninstalled/evio.pc`). Set `EVIO_LIB_DIR` to a
//! directory that holds `libevio.so` to skip `pkg-config`. The directories to put in an
//! rpath are exported to dependent build scripts as `DEP_EVIO_RPATH` (`:`-separated).
#![no_std]
#![deny(missing_docs)]
#![allow(non_camel_case_types)]

use core::ffi::{c_char, c_int, c_void};

pub use libc::{sockaddr, socklen_t};

/// `evio_error`: error codes (negated Linux errno values).
pub type evio_error = c_int;
/// Success.
pub const EVIO_OK: evio_error = 0;
/// Called from a thread that does not own the object.
pub const EVIO_EPERM: evio_error = -1;
/// No such file or host.
pub const EVIO_ENOENT: evio_error = -2;
/// Input/output error.
pub const EVIO_EIO: evio_error = -5;
/// Bad file descriptor.
pub const EVIO_EBADF: evio_error = -9;
/// Out of memory.
pub const EVIO_ENOMEM: evio_error = -12;
/// Permission denied.
pub const EVIO_EACCES: evio_error = -13;
/// Resource busy.
pub const EVIO_EBUSY: evio_error = -16;
/// Invalid argument (a bad address, a NULL pointer, …).
pub const EVIO_EINVAL: evio_error = -22;
/// Too many open files in the system.
pub const EVIO_ENFILE: evio_error = -23;
/// Too many open files in this process.
pub const EVIO_EMFILE: evio_error = -24;
/// Broken pipe: the peer is gone.
pub const EVIO_EPIPE: evio_error = -32;
/// A name (such as a unix socket path) is too long.
pub const EVIO_ENAMETOOLONG: evio_error = -36;
/// Function not implemented on this platform.
pub const EVIO_ENOSYS: evio_error = -38;
/// Operation not supported (by this engine, socket type…).
pub const EVIO_ENOTSUP: evio_error = -95;
/// Address family not supported.
pub const EVIO_EAFNOSUPPORT: evio_error = -97;
/// Address already in use.
pub const EVIO_EADDRINUSE: evio_error = -98;
/// Address not available on this machine.
pub const EVIO_EADDRNOTAVAIL: evio_error = -99;
/// Network unreachable.
pub const EVIO_ENETUNREACH: evio_error = -101;
/// Connection aborted.
pub const EVIO_ECONNABORTED: evio_error = -103;
/// Connection reset by peer.
pub const EVIO_ECONNRESET: evio_error = -104;
/// No buffer space: the connection's output limit was reached (since 1.1).
pub const EVIO_ENOBUFS: evio_error = -105;
/// The connection is closed (or was detached).
pub const EVIO_ENOTCONN: evio_error = -107;
/// Timed out.
pub const EVIO_ETIMEDOUT: evio_error = -110;
/// Connection refused.
pub const EVIO_ECONNREFUSED: evio_error = -111;
/// Host unreachable.
pub const EVIO_EHOSTUNREACH: evio_error = -113;
/// Operation canceled (the server stopped first). Since 1.2.
pub const EVIO_ECANCELED: evio_error = -125;

/// `evio_action`: what the server should do after an event callback returns.
///
/// A C enum; kept as a plain integer so that no value coming from C can be invalid.
pub type evio_action = c_int;
/// Carry on.
pub const EVIO_NONE: evio_action = 0;
/// Flush the output, then hand the socket to the `detached` callback.
pub const EVIO_DETACH: evio_action = 1;
/// Flush the output, then close the connection.
pub const EVIO_CLOSE: evio_action = 2;
/// Close every connection and make `evio_serve()` return 0.
pub const EVIO_SHUTDOWN: evio_action = 3;

/// `evio_load_balance`: how new connections are spread over the loops.
pub type evio_load_balance = c_int;
/// A random loop for each connection (the default).
pub const EVIO_LB_RANDOM: evio_load_balance = 0;
/// Loops in turn.
pub const EVIO_LB_ROUND_ROBIN: evio_load_balance = 1;
/// The loop with the fewest open connections.
pub const EVIO_LB_LEAST_CONNECTIONS: evio_load_balance = 2;
/// A hash of the client's IP address (not its port): one client address always lands on
/// the same loop while the number of loops stays the same (since 1.1).
pub const EVIO_LB_SOURCE_HASH: evio_load_balance = 3;

/// `evio_engine`: which engine runs a server.
///
/// An address with the `-net` suffix selects the std engine for the whole server; else
/// `evio_events.engine` if not `EVIO_ENGINE_DEFAULT`; else the environment variable
/// `EVIO_ENGINE` (`native` or `std`); else native.
pub type evio_engine = c_int;
/// Decided by the addresses and `EVIO_ENGINE`.
pub const EVIO_ENGINE_DEFAULT: evio_engine = 0;
/// epoll (or the std engine where there is no native one).
pub const EVIO_ENGINE_NATIVE: evio_engine = 1;
/// libuv.
pub const EVIO_ENGINE_STD: evio_engine = 2;

/// `EVIO_VERSION_MAJOR` of the header these declarations were written from.
pub const EVIO_VERSION_MAJOR: c_int = 1;
/// `EVIO_VERSION_MINOR` of the header these declarations were written from.
pub const EVIO_VERSION_MINOR: c_int = 2;
/// `EVIO_VERSION_PATCH` of the header these declarations were written from.
pub const EVIO_VERSION_PATCH: c_int = 0;
/// `EVIO_VERSION`: major * 10000 + minor * 100 + patch.
pub const EVIO_VERSION: c_int =
    EVIO_VERSION_MAJOR * 10000 + EVIO_VERSION_MINOR * 100 + EVIO_VERSION_PATCH;

/// A connection (or, for UDP, the sender of one datagram). Opaque; owned by the library.
#[repr(C)]
pub struct evio_conn {
    _opaque: [u8; 0],
    _not_send_sync: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
}

/// A server: as seen from the `serving` callback (owned by the library, valid during the
/// call), or a handle from `evio_server_start()` (valid until `evio_server_free()`). Opaque.
#[repr(C)]
pub struct evio_server {
    _opaque: [u8; 0],
    _not_send_sync: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
}

/// `serving` callback.
pub type evio_serving_fn =
    Option<unsafe extern "C" fn(server: *mut evio_server, udata: *mut c_void) -> evio_action>;
/// `opened` callback.
pub type evio_opened_fn =
    Option<unsafe extern "C" fn(conn: *mut evio_conn, udata: *mut c_void) -> evio_action>;
/// `closed` callback.
pub type evio_closed_fn = Option<
    unsafe extern "C" fn(conn: *mut evio_conn, err: c_int, udata: *mut c_void) -> evio_action,
>;
/// `detached` callback.
pub type evio_detached_fn = Option<
    unsafe extern "C" fn(conn: *mut evio_conn, fd: c_int, udata: *mut c_void) -> evio_action,
>;
/// `prewrite` callback.
pub type evio_prewrite_fn = Option<unsafe extern "C" fn(conn: *mut evio_conn, udata: *mut c_void)>;
/// `data` callback.
pub type evio_data_fn = Option<
    unsafe extern "C" fn(
        conn: *mut evio_conn,
        input: *const c_void,
        len: usize,
        udata: *mut c_void,
    ) -> evio_action,
>;
/// `tick` callback.
pub type evio_tick_fn =
    Option<unsafe extern "C" fn(delay_ns: *mut i64, udata: *mut c_void) -> evio_action>;
/// `drained` callback (since 1.1).
pub type evio_drained_fn =
    Option<unsafe extern "C" fn(conn: *mut evio_conn, udata: *mut c_void) -> evio_action>;
/// `input_closed` callback (since 1.1).
pub type evio_input_closed_fn =
    Option<unsafe extern "C" fn(conn: *mut evio_conn, udata: *mut c_void) -> evio_action>;
/// `dial_failed` callback: `ctx` is the dial's, `err` why it failed (since 1.2).
pub type evio_dial_failed_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, err: c_int, udata: *mut c_void) -> evio_action>;

/// `evio_conn_fn`: a function run on a connection's loop (`evio_conn_post()`), exactly
/// once. `status` is 0 when the connection is open (the loop-thread-only functions work on
/// it), `EVIO_ENOTCONN` when it closed (or the server stopped) first. Since 1.1.
pub type evio_conn_fn =
    Option<unsafe extern "C" fn(conn: *mut evio_conn, status: c_int, arg: *mut c_void)>;
/// `evio_timer_fn`: what a timer calls (`evio_timer_start()`). `conn` is the timer's
/// connection, or NULL for a loop timer. `status` is 0 when it fired; `EVIO_ENOTCONN` when
/// it ends without firing (its connection closed, or the server stopped): its last call,
/// whose return value is ignored. Since 1.1.
pub type evio_timer_fn = Option<
    unsafe extern "C" fn(conn: *mut evio_conn, status: c_int, arg: *mut c_void) -> evio_action,
>;
/// `evio_loop_fn`: a function run on loop `loop` of a server (`evio_server_post()`),
/// exactly once; `status` is 0, or `EVIO_ENOTCONN` when the server stopped first. Since 1.1.
pub type evio_loop_fn = Option<
    unsafe extern "C" fn(server: *mut evio_server, loop_: c_int, status: c_int, arg: *mut c_void),
>;

/// `evio_events`: the event callbacks and settings of a server.
///
/// Create it with [`evio_events::new`] (the `EVIO_EVENTS_INIT` of C), which sets `size`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct evio_events {
    /// Must be `size_of::<evio_events>()`.
    pub size: usize,
    /// Passed unchanged to every callback.
    pub udata: *mut c_void,
    /// Number of event loops: 0 or 1 = one, N = N, -1 = one per CPU.
    pub num_loops: c_int,
    /// How connections are spread over the loops when `num_loops` > 1.
    pub load_balance: evio_load_balance,
    /// Called once on the calling thread after every address is bound.
    pub serving: evio_serving_fn,
    /// Called when a connection is accepted.
    pub opened: evio_opened_fn,
    /// Called when a connection closes (not after a detach).
    pub closed: evio_closed_fn,
    /// Called after the `EVIO_DETACH` action; the fd is then the caller's.
    pub detached: evio_detached_fn,
    /// Called just before output is written to a socket.
    pub prewrite: evio_prewrite_fn,
    /// Called when bytes arrive, or after `evio_conn_wake()` (`input` NULL, `len` 0).
    pub data: evio_data_fn,
    /// Called right after `serving`, then after the delay it stores in `*delay_ns`.
    pub tick: evio_tick_fn,
    /// The engine for the whole server. `EVIO_ENGINE_NATIVE` together with a `-net`
    /// address is an error (`EVIO_EINVAL`).
    pub engine: evio_engine,
    /// Called when a connection's pending output falls to its low watermark after it had
    /// passed the high watermark (since 1.1).
    pub drained: evio_drained_fn,
    /// When set, the peer's end of input calls this instead of closing the connection
    /// (since 1.1). Unset: the end of input closes it once the output owed has left.
    pub input_closed: evio_input_closed_fn,
    /// Default low watermark of every connection; 0: the default, 256 KiB (since 1.1).
    pub low_watermark: usize,
    /// Default high watermark of every connection; 0: the default, 1 MiB (since 1.1).
    pub high_watermark: usize,
    /// Default hard limit on a connection's pending output; 0: none (since 1.1).
    pub output_limit: usize,
    /// Default idle timeout of every connection, in nanoseconds
    /// (`evio_conn_set_idle_timeout()`); 0: none (since 1.1).
    pub idle_timeout_ns: i64,
    /// Called on the dialing loop when a dial (`evio_dial()`, `evio_server_dial()`) fails,
    /// with the dial's `ctx`; a dial that succeeds calls `opened` instead (since 1.2).
    pub dial_failed: evio_dial_failed_fn,
}

impl evio_events {
    /// The equivalent of `EVIO_EVENTS_INIT`: `size` set, everything else zero/NULL.
    pub const fn new() -> Self {
        evio_events {
            size: core::mem::size_of::<evio_events>(),
            udata: core::ptr::null_mut(),
            num_loops: 0,
            load_balance: EVIO_LB_RANDOM,
            serving: None,
            opened: None,
            closed: None,
            detached: None,
            prewrite: None,
            data: None,
            tick: None,
            engine: EVIO_ENGINE_DEFAULT,
            drained: None,
            input_closed: None,
            low_watermark: 0,
            high_watermark: 0,
            output_limit: 0,
            idle_timeout_ns: 0,
            dial_failed: None,
        }
    }
}

impl Default for evio_events {
    fn default() -> Self {
        Self::new()
    }
}

/// `evio_input_stream`: buffered leftover input. Treat the fields as private.
#[repr(C)]
#[derive(Debug)]
pub struct evio_input_stream {
    /// Kept bytes (owned by the library).
    pub buf: *mut u8,
    /// Number of kept bytes.
    pub len: usize,
    /// Capacity of `buf`.
    pub cap: usize,
}

impl evio_input_stream {
    /// The equivalent of `EVIO_INPUT_STREAM_INIT`.
    pub const fn new() -> Self {
        evio_input_stream {
            buf: core::ptr::null_mut(),
            len: 0,
            cap: 0,
        }
    }
}

/// `evio_dial_options`: options of a dial (since 1.2). Create it with
/// [`evio_dial_options::new`] (the `EVIO_DIAL_OPTIONS_INIT` of C), which sets `size`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct evio_dial_options {
    /// Must be `size_of::<evio_dial_options>()`.
    pub size: usize,
    /// How long resolving and connecting may take, in nanoseconds (then `EVIO_ETIMEDOUT`);
    /// 0: `EVIO_DIAL_TIMEOUT_DEFAULT_NS`; `i64::MAX`: no limit but the kernel's.
    pub timeout_ns: i64,
}

impl evio_dial_options {
    /// The equivalent of `EVIO_DIAL_OPTIONS_INIT`: the default timeout.
    pub const fn new() -> Self {
        evio_dial_options {
            size: core::mem::size_of::<evio_dial_options>(),
            timeout_ns: 0,
        }
    }
}

impl Default for evio_dial_options {
    fn default() -> Self {
        Self::new()
    }
}

/// `EVIO_DIAL_TIMEOUT_DEFAULT_NS`: the connect timeout when none is given, 30 s (since 1.2).
pub const EVIO_DIAL_TIMEOUT_DEFAULT_NS: i64 = 30 * 1000 * 1000 * 1000;

impl Default for evio_input_stream {
    fn default() -> Self {
        Self::new()
    }
}

// Compile-time checks of the layout on LP64 targets (x86_64/aarch64 Linux and macOS). The
// test `tests/layout.rs` additionally compares with a C compiler's view of the header.
#[cfg(target_pointer_width = "64")]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<evio_events>() == 144);
    assert!(align_of::<evio_events>() == 8);
    assert!(offset_of!(evio_events, size) == 0);
    assert!(offset_of!(evio_events, udata) == 8);
    assert!(offset_of!(evio_events, num_loops) == 16);
    assert!(offset_of!(evio_events, load_balance) == 20);
    assert!(offset_of!(evio_events, serving) == 24);
    assert!(offset_of!(evio_events, tick) == 72);
    assert!(offset_of!(evio_events, engine) == 80);
    assert!(offset_of!(evio_events, drained) == 88);
    assert!(offset_of!(evio_events, input_closed) == 96);
    assert!(offset_of!(evio_events, low_watermark) == 104);
    assert!(offset_of!(evio_events, high_watermark) == 112);
    assert!(offset_of!(evio_events, output_limit) == 120);
    assert!(offset_of!(evio_events, idle_timeout_ns) == 128);
    assert!(offset_of!(evio_events, dial_failed) == 136);
    assert!(size_of::<evio_dial_options>() == 16);
    assert!(size_of::<evio_input_stream>() == 24);
};

extern "C" {
    /// Runs a server on `naddrs` addresses until a callback returns `EVIO_SHUTDOWN`.
    pub fn evio_serve(
        events: *const evio_events,
        addrs: *const *const c_char,
        naddrs: usize,
    ) -> c_int;

    /// Binds, calls `serving` on this thread, runs every loop on a thread of its own and
    /// returns the handle in `*server` (since 1.1). `naddrs` may be 0.
    pub fn evio_server_start(
        events: *const evio_events,
        addrs: *const *const c_char,
        naddrs: usize,
        server: *mut *mut evio_server,
    ) -> c_int;
    /// Asks a started server to stop, closing each connection once its output has left and
    /// the rest after `drain_ns` (0: at once). Any thread, async-signal-safe (since 1.1).
    pub fn evio_server_stop(server: *mut evio_server, drain_ns: i64) -> c_int;
    /// Waits until a started server has stopped; `EVIO_EPERM` on its own loops (since 1.1).
    pub fn evio_server_wait(server: *mut evio_server) -> c_int;
    /// Frees a handle from `evio_server_start()`, stopping and waiting first if needed. Not
    /// on the server's own loops (then it only leaks). Since 1.1.
    pub fn evio_server_free(server: *mut evio_server);

    /// Number of addresses the server listens on (`serving`, or a started handle).
    pub fn evio_server_num_addrs(server: *const evio_server) -> c_int;
    /// Number of event loops the server runs (`serving`, or a started handle).
    pub fn evio_server_num_loops(server: *const evio_server) -> c_int;
    /// The name of the engine running the server (`"epoll"` or `"libuv"`), or NULL for a
    /// NULL server (`serving`, or a started handle).
    pub fn evio_server_engine(server: *const evio_server) -> *const c_char;
    /// The bound address `index`, or NULL (`serving`, or a started handle).
    pub fn evio_server_addr(
        server: *const evio_server,
        index: c_int,
        len: *mut socklen_t,
    ) -> *const sockaddr;
    /// The bound address `index` as text; returns the full length or a negative code.
    pub fn evio_server_addr_string(
        server: *const evio_server,
        index: c_int,
        buf: *mut c_char,
        buflen: usize,
    ) -> c_int;

    /// Queues output for the connection (loop thread only).
    pub fn evio_conn_write(conn: *mut evio_conn, buf: *const c_void, len: usize) -> c_int;
    /// Makes the loop call `data` with no input (any thread).
    pub fn evio_conn_wake(conn: *mut evio_conn) -> c_int;
    /// Takes a reference on the connection's memory (any thread).
    pub fn evio_conn_ref(conn: *mut evio_conn);
    /// Drops a reference taken with `evio_conn_ref()` (any thread).
    pub fn evio_conn_unref(conn: *mut evio_conn);
    /// The user context pointer, or NULL (loop thread only).
    pub fn evio_conn_context(conn: *const evio_conn) -> *mut c_void;
    /// Stores a user context pointer (loop thread only).
    pub fn evio_conn_set_context(conn: *mut evio_conn, ctx: *mut c_void);
    /// Index of the address this connection came in on, or a negative code.
    pub fn evio_conn_addr_index(conn: *const evio_conn) -> c_int;
    /// The local address of the connection, or NULL (loop thread only).
    pub fn evio_conn_local_addr(conn: *mut evio_conn, len: *mut socklen_t) -> *const sockaddr;
    /// The remote address of the connection (loop thread only).
    pub fn evio_conn_remote_addr(conn: *mut evio_conn, len: *mut socklen_t) -> *const sockaddr;
    /// Formats an address as text; returns the full length or `EVIO_EINVAL`.
    pub fn evio_addr_string(
        addr: *const sockaddr,
        len: socklen_t,
        buf: *mut c_char,
        buflen: usize,
    ) -> c_int;
    /// Enables TCP keepalive after `seconds` of idleness; 0 turns it off.
    pub fn evio_conn_set_keepalive(conn: *mut evio_conn, seconds: c_int) -> c_int;
    /// Chooses whether `data` input points into the loop's shared buffer.
    pub fn evio_conn_set_reuse_input(conn: *mut evio_conn, on: c_int) -> c_int;

    /// Copies `len` bytes and appends them to the connection's output on its loop (any
    /// thread; in order per sending thread). Since 1.1.
    pub fn evio_conn_send(conn: *mut evio_conn, buf: *const c_void, len: usize) -> c_int;
    /// Runs `fn_(conn, status, arg)` on the connection's loop exactly once (any thread); if
    /// it returns an error, `fn_` never runs. Since 1.1.
    pub fn evio_conn_post(conn: *mut evio_conn, fn_: evio_conn_fn, arg: *mut c_void) -> c_int;
    /// Runs `fn_(server, loop_, status, arg)` on loop `loop_` exactly once (any thread); if
    /// it returns an error, `fn_` never runs. Since 1.1.
    pub fn evio_server_post(
        server: *mut evio_server,
        loop_: c_int,
        fn_: evio_loop_fn,
        arg: *mut c_void,
    ) -> c_int;

    /// Calls `fn_(conn, 0, arg)` once, `delay_ns` from now, on the calling loop; returns the
    /// timer's id (> 0, never reused) or a negative code. With a connection the timer
    /// belongs to it; NULL makes it a timer of the calling loop (loop thread only; since 1.1).
    pub fn evio_timer_start(
        conn: *mut evio_conn,
        delay_ns: i64,
        fn_: evio_timer_fn,
        arg: *mut c_void,
    ) -> i64;
    /// Cancels a timer of the calling loop that has not fired: its function is never
    /// called (loop thread only; since 1.1).
    pub fn evio_timer_cancel(timer: i64) -> c_int;
    /// Closes the connection with `EVIO_ETIMEDOUT` after `ns` without input or output
    /// leaving; 0 turns it off (loop thread only; since 1.1).
    pub fn evio_conn_set_idle_timeout(conn: *mut evio_conn, ns: i64) -> c_int;
    /// Closes the connection with `EVIO_ETIMEDOUT` unless input arrives within `ns`; 0
    /// clears it (loop thread only; since 1.1).
    pub fn evio_conn_set_read_timeout(conn: *mut evio_conn, ns: i64) -> c_int;
    /// Closes the connection with `EVIO_ETIMEDOUT` unless its pending output has left
    /// within `ns`; 0 clears it (loop thread only; since 1.1).
    pub fn evio_conn_set_write_timeout(conn: *mut evio_conn, ns: i64) -> c_int;

    /// Stops calling `data` with input until `evio_conn_resume_read()` (loop thread only;
    /// since 1.1).
    pub fn evio_conn_pause_read(conn: *mut evio_conn) -> c_int;
    /// Undoes `evio_conn_pause_read()` (loop thread only; since 1.1).
    pub fn evio_conn_resume_read(conn: *mut evio_conn) -> c_int;
    /// Bytes of output the socket has not taken yet (loop thread only; since 1.1).
    pub fn evio_conn_pending(conn: *mut evio_conn, bytes: *mut usize) -> c_int;
    /// Sets the connection's watermarks; `EVIO_EINVAL` unless 0 < `high` and `low` <=
    /// `high` (loop thread only; since 1.1).
    pub fn evio_conn_set_watermarks(conn: *mut evio_conn, low: usize, high: usize) -> c_int;
    /// Whether the connection's own pending output above its high watermark stops reading
    /// it (on by default; a proxy turns it off; loop thread only; since 1.2).
    pub fn evio_conn_set_read_backpressure(conn: *mut evio_conn, on: c_int) -> c_int;
    /// Sets the connection's hard output limit; 0: none (loop thread only; since 1.1).
    pub fn evio_conn_set_output_limit(conn: *mut evio_conn, limit: usize) -> c_int;
    /// Shuts down the sending side once the pending output has left, and keeps reading
    /// (loop thread only; since 1.1).
    pub fn evio_conn_shutdown_write(conn: *mut evio_conn) -> c_int;
    /// Closes the connection once its pending output has left, as `EVIO_CLOSE` from its
    /// callback does, for code that is not its own callback (a posted function, a timer);
    /// it happens after the current callback returns (loop thread only; since 1.1).
    pub fn evio_conn_close(conn: *mut evio_conn) -> c_int;

    /// Dials `addr` from the calling loop: exactly one of `opened` (with `ctx` as the
    /// connection's context) and `dial_failed` follows when it returns 0 (loop thread only;
    /// since 1.2). `options` may be NULL.
    pub fn evio_dial(
        addr: *const c_char,
        options: *const evio_dial_options,
        ctx: *mut c_void,
    ) -> c_int;
    /// Dials `addr` on loop `loop_` of a server (-1: the calling loop, else the loops in
    /// turn), from any thread while the handle is valid (since 1.2).
    pub fn evio_server_dial(
        server: *mut evio_server,
        loop_: c_int,
        addr: *const c_char,
        options: *const evio_dial_options,
        ctx: *mut c_void,
    ) -> c_int;
    /// The connection's socket, for `setsockopt`/`getsockopt` only; a negative code on
    /// error (loop thread only; since 1.1).
    pub fn evio_conn_fd(conn: *mut evio_conn) -> c_int;
    /// Switches `TCP_NODELAY` (loop thread only; since 1.1).
    pub fn evio_conn_set_nodelay(conn: *mut evio_conn, on: c_int) -> c_int;

    /// Joins kept bytes with new input.
    pub fn evio_input_stream_begin(
        is: *mut evio_input_stream,
        input: *const c_void,
        len: usize,
        data: *mut *const c_void,
        data_len: *mut usize,
    ) -> c_int;
    /// Keeps the unconsumed tail for the next call.
    pub fn evio_input_stream_end(
        is: *mut evio_input_stream,
        rest: *const c_void,
        rest_len: usize,
    ) -> c_int;
    /// Frees the stream's buffer and resets it.
    pub fn evio_input_stream_free(is: *mut evio_input_stream);

    /// A short static description of a code; never NULL.
    pub fn evio_strerror(code: c_int) -> *const c_char;
    /// This thread's message about its last failed evio call; "" if none.
    pub fn evio_last_error() -> *const c_char;
    /// The library's version as `EVIO_VERSION` computes it.
    pub fn evio_version() -> c_int;
    /// The library's version as text, e.g. `"1.0.0"`.
    pub fn evio_version_string() -> *const c_char;
}
