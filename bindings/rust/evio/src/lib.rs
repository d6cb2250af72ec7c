//! Safe Rust bindings for **evio**, an event-loop networking library.
//!
//! A server is a type implementing [`Handler`]: every event (serving, opened, closed,
//! detached, prewrite, data, drained, input_closed, tick, dialed, dial_failed) is a method with a default body,
//! and each returns an [`Action`]. [`serve`] (or the [`Server`] builder, for several loops)
//! binds the addresses and runs the loops until a callback returns [`Action::Shutdown`];
//! [`Server::start`] runs them in the background instead and returns a [`ServerHandle`]
//! that stops ([`ServerHandle::stop`], with a drain deadline) and waits for the server
//! from any thread.
//!
//! ```no_run
//! use evio::{Action, Conn, Handler};
//!
//! struct Echo;
//!
//! impl Handler for Echo {
//!     type Context = ();
//!
//!     fn data(&self, conn: &mut Conn<()>, input: &[u8]) -> Action {
//!         conn.write(input).ok();
//!         Action::None
//!     }
//! }
//!
//! fn main() -> Result<(), evio::Error> {
//!     evio::Server::new().loops(4).serve(&Echo, &["tcp://127.0.0.1:5000"])
//! }
//! ```
//!
//! # Threads
//!
//! Each connection belongs to one loop, and all its callbacks run on that loop's thread.
//! With one loop ([`serve`], [`Server::new`]) the handler needs only to be [`Send`], so it
//! may keep its state in `Cell`s and `RefCell`s. With several loops ([`Server::loops`])
//! callbacks run on several threads at once, and [`Server::serve`] then requires
//! `Handler + Sync` — handing it a `Cell`-based handler does not compile:
//!
//! ```compile_fail
//! use std::cell::Cell;
//! use evio::{Action, Conn, Handler};
//!
//! struct Counter { n: Cell<u64> }
//!
//! impl Handler for Counter {
//!     type Context = ();
//!     fn data(&self, _: &mut Conn<()>, _: &[u8]) -> Action {
//!         self.n.set(self.n.get() + 1);
//!         Action::None
//!     }
//! }
//!
//! let h = Counter { n: Cell::new(0) };
//! // error: `Cell<u64>` cannot be shared between threads safely
//! evio::Server::new().loops(4).serve(&h, &["tcp://127.0.0.1:0"]).unwrap();
//! ```
//!
//! The same handler is fine on one loop:
//!
//! ```no_run
//! # use std::cell::Cell;
//! # use evio::{Action, Conn, Handler};
//! # struct Counter { n: Cell<u64> }
//! # impl Handler for Counter {
//! #     type Context = ();
//! #     fn data(&self, _: &mut Conn<()>, _: &[u8]) -> Action {
//! #         self.n.set(self.n.get() + 1);
//! #         Action::None
//! #     }
//! # }
//! let h = Counter { n: Cell::new(0) };
//! evio::serve(&h, &["tcp://127.0.0.1:0"]).unwrap();
//! ```
//!
//! Three handles leave the callbacks, all `Send + Sync`:
//! - a [`ConnSender`] (from [`Conn::sender`]; `Clone`) sends bytes to its connection and
//!   runs closures on its loop with the connection at hand ([`ConnSender::post`]: exactly
//!   once, with `None` if the connection closed first);
//! - a [`Waker`] (from [`Conn::waker`]; `Clone`) makes the loop call [`Handler::data`]
//!   with empty input;
//! - a [`ServerHandle`] (from [`Server::start`]) stops the server, waits for it, and runs
//!   closures on its loops ([`ServerHandle::post`]).
//!
//! # Flow control and half-close
//!
//! On a [`Conn`] (inside callbacks and posted closures): [`Conn::pause_read`] /
//! [`Conn::resume_read`]; [`Conn::pending`] with the watermarks ([`Server::watermarks`],
//! [`Conn::set_watermarks`]) and [`Handler::drained`] for a producer that waits for a slow
//! reader; a hard [`Server::output_limit`] / [`Conn::set_output_limit`] that closes a
//! connection whose output would pass it (`EVIO_ENOBUFS`, [`Error::is_output_limit`]);
//! [`Conn::shutdown_write`] and, with [`Handler::INPUT_CLOSED`], [`Handler::input_closed`]
//! for half-closed streams.
//!
//! # Timers and timeouts
//!
//! On a loop (inside callbacks, posted closures and timers): [`Conn::start_timer`] runs a
//! closure with the connection after a delay, and [`start_loop_timer`] one of the loop;
//! each returns a [`TimerId`] whose [`cancel`](TimerId::cancel) says whether it stopped
//! the timer. A closure is dropped exactly once: after it ran, when cancelled, or (not
//! called) when its connection closes or the server stops first. [`Conn::set_idle_timeout`]
//! (default: [`Server::idle_timeout`]), [`Conn::set_read_timeout`] and
//! [`Conn::set_write_timeout`] close a connection with `EVIO_ETIMEDOUT`
//! ([`Error::is_timeout`]); [`Conn::close`] closes one after its output, from code that
//! has no action to return for it.
//!
//! # Outbound connections (dial)
//!
//! [`dial`] (on a loop: in a callback, posted closure or timer) opens a connection from the
//! calling loop, and [`ServerHandle::dial`] from any thread. The value given to the dial
//! comes back exactly once: to [`Handler::dialed`] with the new connection, or to
//! [`Handler::dial_failed`] with the error. A dialed connection ([`Conn::is_dialed`]) is
//! then like an accepted one. A connection dialed from a callback lives on that callback's
//! loop, so a proxy can copy between the two with a [`ConnSender`]'s loop-local methods
//! ([`ConnSender::write`], [`ConnSender::pending`], [`ConnSender::pause_read`], …) and
//! no lock; see `examples/proxy.rs`.
//!
//! # Panics
//!
//! A panic in a callback never unwinds into the C library. It is caught, the server shuts
//! down (no further handler methods are called; connection contexts are still dropped), and
//! [`Server::serve`] resumes the panic on the calling thread once the loops have stopped
//! ([`ServerHandle::wait`] for a started server). The same holds for a closure posted with
//! [`ConnSender::post`] or [`ServerHandle::post`].
//!
//! # Linking
//!
//! `evio-sys` finds `libevio` through `pkg-config` (honouring `PKG_CONFIG_PATH`) or, when
//! set, the `EVIO_LIB_DIR` environment variable (a directory holding `libevio.so`). This
//! crate's own tests and examples get an rpath to that directory; other binaries need the
//! library installed, an rpath of their own, or `LD_LIBRARY_PATH`.
#![deny(missing_docs)]
#![warn(unsafe_op_in_unsafe_fn)]

mod addr;
mod conn;
mod dial;
mod error;
mod handle;
mod server;
mod sink;
mod timer;

pub use addr::Addr;
pub use conn::{Conn, ConnSender, DetachedSocket, Waker, Writer};
pub use dial::{dial, DialOptions, DialValue};
pub use error::Error;
pub use handle::ServerHandle;
pub use server::{serve, Handler, MultiLoop, Server, ServerInfo, SingleLoop};
pub use timer::{start_loop_timer, TimerId};

/// The raw C declarations this crate is built on (the `evio-sys` crate).
pub use evio_sys as sys;

/// What the server should do after an event callback returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Action {
    /// Carry on.
    #[default]
    None,
    /// Flush the output, then hand the socket to [`Handler::detached`].
    Detach,
    /// Flush the output, then close the connection.
    Close,
    /// Close every connection and make `serve` return `Ok(())`.
    Shutdown,
}

impl Action {
    fn to_raw(self) -> sys::evio_action {
        match self {
            Action::None => sys::EVIO_NONE,
            Action::Detach => sys::EVIO_DETACH,
            Action::Close => sys::EVIO_CLOSE,
            Action::Shutdown => sys::EVIO_SHUTDOWN,
        }
    }
}

/// How new connections are spread over the loops when there are several.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LoadBalance {
    /// A random loop for each connection (the default).
    #[default]
    Random,
    /// Loops in turn.
    RoundRobin,
    /// The loop with the fewest open connections.
    LeastConnections,
    /// A hash of the client's IP address (not its port): every connection from one client
    /// address lands on the same loop, as long as the number of loops stays the same.
    SourceHash,
}

impl LoadBalance {
    fn to_raw(self) -> sys::evio_load_balance {
        match self {
            LoadBalance::Random => sys::EVIO_LB_RANDOM,
            LoadBalance::RoundRobin => sys::EVIO_LB_ROUND_ROBIN,
            LoadBalance::LeastConnections => sys::EVIO_LB_LEAST_CONNECTIONS,
            LoadBalance::SourceHash => sys::EVIO_LB_SOURCE_HASH,
        }
    }
}

/// Which engine runs a server.
///
/// An address with the `-net` suffix (`tcp-net://…`) selects [`Engine::Std`] for the whole
/// server; else the engine set with [`Server::engine`] unless it is [`Engine::Default`];
/// else the environment variable `EVIO_ENGINE` (`native` or `std`); else native.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Engine {
    /// Decided by the addresses and `EVIO_ENGINE`.
    #[default]
    Default,
    /// The native engine: epoll on Linux. Combined with a `-net` address, `serve` fails
    /// with `EVIO_EINVAL`.
    Native,
    /// The portable std engine (libuv).
    Std,
}

impl Engine {
    fn to_raw(self) -> sys::evio_engine {
        match self {
            Engine::Default => sys::EVIO_ENGINE_DEFAULT,
            Engine::Native => sys::EVIO_ENGINE_NATIVE,
            Engine::Std => sys::EVIO_ENGINE_STD,
        }
    }
}

/// The version of the C library in use, as `(major, minor, patch)`.
pub fn version() -> (u32, u32, u32) {
    // SAFETY: no preconditions.
    let v = unsafe { sys::evio_version() }.max(0) as u32;
    (v / 10000, v / 100 % 100, v % 100)
}

/// The version of the C library in use as text, e.g. `"1.0.0"`.
pub fn version_string() -> String {
    // SAFETY: returns a static NUL-terminated string.
    unsafe { error::cstr_lossy(sys::evio_version_string()) }
}
