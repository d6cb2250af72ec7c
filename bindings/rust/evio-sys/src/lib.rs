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
pub const EVIO_ENOBUFS: evio_error = -105;
/// The connection is closed (or was detached).
pub const EVIO_ENOTCONN: evio_error = -107;
/// Timed out.
pub const EVIO_ETIMEDOUT: evio_error = -110;
/// Connection refused.
pub const EVIO_ECONNREFUSED: evio_error = -111;
/// Host unreachable.
pub const EVIO_EHOSTUNREACH: evio_error = -113;

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
pub const EVIO_VERSION_MINOR: c_int = 0;
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

/// The running server, as seen from the `serving` callback. Opaque; owned by the library.
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
    assert!(size_of::<evio_events>() == 88);
    assert!(align_of::<evio_events>() == 8);
    assert!(offset_of!(evio_events, size) == 0);
    assert!(offset_of!(evio_events, udata) == 8);
    assert!(offset_of!(evio_events, num_loops) == 16);
    assert!(offset_of!(evio_events, load_balance) == 20);
    assert!(offset_of!(evio_events, serving) == 24);
    assert!(offset_of!(evio_events, tick) == 72);
    assert!(offset_of!(evio_events, engine) == 80);
    assert!(size_of::<evio_input_stream>() == 24);
};

extern "C" {
    /// Runs a server on `naddrs` addresses until a callback returns `EVIO_SHUTDOWN`.
    pub fn evio_serve(
        events: *const evio_events,
        addrs: *const *const c_char,
        naddrs: usize,
    ) -> c_int;

    /// Number of addresses the server listens on (`serving` only).
    pub fn evio_server_num_addrs(server: *const evio_server) -> c_int;
    /// Number of event loops the server runs (`serving` only).
    pub fn evio_server_num_loops(server: *const evio_server) -> c_int;
    /// The name of the engine running the server (`"epoll"` or `"libuv"`), or NULL for a
    /// NULL server (`serving` only).
    pub fn evio_server_engine(server: *const evio_server) -> *const c_char;
    /// The bound address `index`, or NULL (`serving` only).
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
