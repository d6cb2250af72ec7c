//! Outbound connections: [`dial`] from a loop, [`ServerHandle::dial`] from any thread.
//!
//! The user's value is boxed twice (`Box<DialValue>`, a thin pointer) and handed to the
//! library as the dial's `ctx`. The library gives it back exactly once for every dial it
//! accepted: as the new connection's context in `opened` (where the trampoline takes it
//! out before anything else can see the context, see `server::on_opened`) or to
//! `dial_failed`. A dial the library refuses never hands it back, so it is freed here.

use std::any::Any;
use std::ffi::{c_int, c_void, CString};
use std::time::Duration;

use crate::sink::Sink;
use crate::{sys, Error, ServerHandle};

/// The value given to a dial, handed back to [`Handler::dialed`](crate::Handler::dialed)
/// or [`Handler::dial_failed`](crate::Handler::dial_failed). Recover your type with
/// [`downcast`](Box::downcast).
pub type DialValue = Box<dyn Any + Send>;

/// Options of a dial ([`dial`], [`ServerHandle::dial`]).
///
/// ```
/// use std::time::Duration;
/// let opts = evio::DialOptions::new().timeout(Duration::from_secs(3));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DialOptions {
    timeout: Option<Duration>,
}

impl DialOptions {
    /// The defaults: a connect timeout of 30 seconds.
    pub const fn new() -> DialOptions {
        DialOptions { timeout: None }
    }

    /// How long resolving the name and connecting may take; past it the dial fails with
    /// `EVIO_ETIMEDOUT` ([`Error::is_timeout`]). [`Duration::MAX`]: no limit but the
    /// kernel's. A zero timeout makes the dial fail with `EVIO_EINVAL`.
    pub const fn timeout(self, timeout: Duration) -> DialOptions {
        DialOptions {
            timeout: Some(timeout),
        }
    }

    fn to_raw(self) -> Result<sys::evio_dial_options, Error> {
        let mut raw = sys::evio_dial_options::new();
        match self.timeout {
            None => {}
            Some(d) if d.is_zero() => {
                return Err(Error::new(
                    sys::EVIO_EINVAL,
                    "dial: a zero timeout (leave it unset for the default)",
                ))
            }
            Some(d) => raw.timeout_ns = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        }
        Ok(raw)
    }
}

/// The address as a C string (a NUL byte inside is an error).
fn c_addr(addr: &str) -> Result<CString, Error> {
    CString::new(addr).map_err(|_| {
        Error::new(
            sys::EVIO_EINVAL,
            format!("{}: address contains a NUL byte", addr.escape_debug()),
        )
    })
}

/// Boxes `value` for the library; `take_value` gets it back.
fn leak_value<T: Any + Send>(value: T) -> *mut c_void {
    let boxed: Box<DialValue> = Box::new(Box::new(value));
    Box::into_raw(boxed) as *mut c_void
}

/// Takes back a value that `leak_value` boxed.
///
/// # Safety
/// `ctx` came from `leak_value` and is taken back once (the library hands a dial's `ctx`
/// back once; a refused dial never hands it back).
pub(crate) unsafe fn take_value(ctx: *mut c_void) -> DialValue {
    // SAFETY: per the contract.
    *unsafe { Box::from_raw(ctx as *mut DialValue) }
}

/// Runs one dial call with `value` boxed as its ctx; frees the box if the call refused.
fn dial_with<T: Any + Send>(
    addr: &str,
    options: &DialOptions,
    value: T,
    call: impl FnOnce(*const std::ffi::c_char, &sys::evio_dial_options, *mut c_void) -> c_int,
) -> Result<(), Error> {
    let raw = options.to_raw()?;
    let addr = c_addr(addr)?;
    let ctx = leak_value(value);
    let rc = call(addr.as_ptr(), &raw, ctx);
    if rc < 0 {
        let err = Error::last(rc); // before the value's Drop can make another evio call
                                   // SAFETY: the dial was refused, so the library never hands `ctx` back.
        drop(unsafe { take_value(ctx) });
        return Err(err);
    }
    Ok(())
}

/// Opens a connection to `addr` from the calling loop: the new connection lives on this
/// loop, next to the connection whose callback is running (so the two can use each other
/// through a [`ConnSender`](crate::ConnSender)'s loop-local methods without locking).
///
/// Addresses use the syntax of `serve` (`tcp://host:port`, `tcp4`, `tcp6`, `unix://path`,
/// `udp://host:port` for a connected UDP socket); the port must not be 0, an empty host is
/// this machine, and a host name is resolved off the loop.
///
/// When this returns `Ok`, exactly one of two follows, on this loop and never inside this
/// call: [`Handler::dialed`](crate::Handler::dialed) with the new connection and `value`,
/// or [`Handler::dial_failed`](crate::Handler::dial_failed) with `value` and the error
/// (`EVIO_ECONNREFUSED`, `EVIO_ETIMEDOUT`, `EVIO_ENOENT` for an unknown host,
/// `EVIO_ECANCELED` when the server stops first, …). If the server shuts down after a
/// panic, `value` is dropped without either call. On `Err` neither follows and `value` has
/// been dropped.
///
/// Call it on a loop: in a [`Handler`](crate::Handler) callback other than `serving`, a
/// posted closure or a timer. The value is owned by the library until handed back, and
/// dropped exactly once.
///
/// Errors: `EVIO_EPERM` off a loop thread, `EVIO_EINVAL` for a bad address or options,
/// `EVIO_ENOTCONN` when the server is stopping.
pub fn dial<T: Any + Send>(addr: &str, options: &DialOptions, value: T) -> Result<(), Error> {
    if Sink::current().is_none() {
        drop(value);
        return Err(Error::new(
            sys::EVIO_EPERM,
            "dial: not on a loop thread (call it from a callback, or use ServerHandle::dial)",
        ));
    }
    // SAFETY: the address and options are valid for the call (copied by it); `ctx` is
    // handed back to this crate's trampolines (the calling loop's server is this crate's).
    dial_with(addr, options, value, |a, o, ctx| unsafe {
        sys::evio_dial(a, o, ctx)
    })
}

impl ServerHandle {
    /// Opens a connection to `addr` on loop `loop_index` of this server, from any thread;
    /// `None`: the calling loop when called on one of the server's loops, else the loops in
    /// turn. Otherwise as [`dial`]: when this returns `Ok`, exactly one of
    /// [`Handler::dialed`](crate::Handler::dialed) and
    /// [`Handler::dial_failed`](crate::Handler::dial_failed) follows on that loop, with
    /// `value`; on `Err` neither does and `value` has been dropped.
    ///
    /// ```no_run
    /// use evio::{Action, Conn, DialOptions, DialValue, Handler};
    ///
    /// struct Client;
    /// impl Handler for Client {
    ///     type Context = ();
    ///     fn dialed(&self, conn: &mut Conn<()>, value: DialValue) -> Action {
    ///         let name = value.downcast::<&str>().unwrap();
    ///         conn.write(format!("hello from {name}\n").as_bytes()).ok();
    ///         Action::None
    ///     }
    ///     fn dial_failed(&self, value: DialValue, err: evio::Error) -> Action {
    ///         eprintln!("{:?}: {err}", value.downcast::<&str>().unwrap());
    ///         Action::None
    ///     }
    /// }
    ///
    /// let no_addrs: [&str; 0] = [];
    /// let server = evio::Server::new().start(Client, &no_addrs)?;
    /// server.dial(None, "tcp://127.0.0.1:5000", &DialOptions::new(), "client 1")?;
    /// # Ok::<(), evio::Error>(())
    /// ```
    ///
    /// Errors: `EVIO_EINVAL` for no such loop, a bad address or options; `EVIO_ENOTCONN`
    /// once the server has stopped or is stopping.
    pub fn dial<T: Any + Send>(
        &self,
        loop_index: Option<usize>,
        addr: &str,
        options: &DialOptions,
        value: T,
    ) -> Result<(), Error> {
        let index = match loop_index.map(c_int::try_from) {
            None => -1,
            Some(Ok(i)) => i,
            Some(Err(_)) => {
                drop(value);
                return Err(Error::new(
                    sys::EVIO_EINVAL,
                    format!("dial: no loop {}", loop_index.unwrap_or(0)),
                ));
            }
        };
        let server = self.as_raw();
        // SAFETY: a live handle (this one); any thread; the address and options are copied
        // by the call; `ctx` is handed back to this server's trampolines.
        dial_with(addr, options, value, |a, o, ctx| unsafe {
            sys::evio_server_dial(server, index, a, o, ctx)
        })
    }
}
