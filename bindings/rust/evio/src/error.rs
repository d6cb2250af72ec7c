use std::ffi::{c_char, CStr};
use std::fmt;
use std::io;

use crate::sys;

/// An error reported by evio: a negative `EVIO_E…` code and a message.
///
/// The code is one of the `EVIO_E…` constants of [`sys`](crate::sys) (negated Linux errno
/// values, the same on every platform). The message names what was wrong, for example
/// `"tcp://:99999: port 99999 out of range (0-65535)"`; it comes from `evio_last_error()`
/// when the error is the result of a failed call.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    code: i32,
    message: String,
}

impl Error {
    /// An error with `code` and evio's short description of it as the message.
    pub fn from_code(code: i32) -> Error {
        Error {
            code,
            message: strerror(code),
        }
    }

    /// An error with `code` and a message of your own.
    pub fn new(code: i32, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
        }
    }

    /// The error of the evio call that just failed on this thread with `code`: the message
    /// is `evio_last_error()`, or the code's description when that is empty.
    pub(crate) fn last(code: i32) -> Error {
        // SAFETY: returns a thread-local NUL-terminated string, read at once.
        let msg = unsafe { cstr_lossy(sys::evio_last_error()) };
        if msg.is_empty() {
            Error::from_code(code)
        } else {
            Error { code, message: msg }
        }
    }

    /// Turns a C return value into a `Result`: negative values are errors.
    pub(crate) fn check(rc: i32) -> Result<i32, Error> {
        if rc < 0 {
            Err(Error::last(rc))
        } else {
            Ok(rc)
        }
    }

    /// The negative `EVIO_E…` code, e.g. [`sys::EVIO_EINVAL`](crate::sys::EVIO_EINVAL).
    pub fn code(&self) -> i32 {
        self.code
    }

    /// The message: what was wrong (or the code's description).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// evio's short description of the code (`evio_strerror`), e.g. `"invalid argument"`.
    pub fn description(&self) -> String {
        strerror(self.code)
    }

    /// The code as a positive OS errno value (evio's codes are negated Linux errno values).
    pub fn raw_os_error(&self) -> i32 {
        -self.code
    }

    /// Whether this is `EVIO_ENOBUFS`: a write or send would have passed the connection's
    /// output limit ([`Conn::set_output_limit`](crate::Conn::set_output_limit),
    /// [`Server::output_limit`](crate::Server::output_limit)).
    pub fn is_output_limit(&self) -> bool {
        self.code == sys::EVIO_ENOBUFS
    }

    /// Whether this is `EVIO_ETIMEDOUT`: a connection's idle, read or write timeout passed
    /// ([`Conn::set_idle_timeout`](crate::Conn::set_idle_timeout) and the others), a dial's
    /// connect timeout ([`DialOptions::timeout`](crate::DialOptions::timeout)), or a
    /// server's drain deadline ([`ServerHandle::stop`](crate::ServerHandle::stop)).
    pub fn is_timeout(&self) -> bool {
        self.code == sys::EVIO_ETIMEDOUT
    }

    /// Whether this is `EVIO_ECANCELED`: a dial ended because the server stopped first
    /// ([`Handler::dial_failed`](crate::Handler::dial_failed)).
    pub fn is_canceled(&self) -> bool {
        self.code == sys::EVIO_ECANCELED
    }

    /// Whether this is `EVIO_ENOTCONN`: the connection is closed (or was detached), or the
    /// server has stopped.
    pub fn is_not_connected(&self) -> bool {
        self.code == sys::EVIO_ENOTCONN
    }

    /// The closest [`io::ErrorKind`] for the code.
    ///
    /// `EVIO_ENOBUFS` (the output limit) is [`io::ErrorKind::OutOfMemory`], as is
    /// `EVIO_ENOMEM`: no finer kind is stable in the Rust versions this crate supports;
    /// tell them apart with [`code`](Error::code) or [`is_output_limit`](Error::is_output_limit).
    pub fn kind(&self) -> io::ErrorKind {
        match self.code {
            sys::EVIO_EPERM | sys::EVIO_EACCES => io::ErrorKind::PermissionDenied,
            sys::EVIO_ENOENT => io::ErrorKind::NotFound,
            sys::EVIO_ENOMEM | sys::EVIO_ENOBUFS => io::ErrorKind::OutOfMemory,
            sys::EVIO_EINVAL | sys::EVIO_ENAMETOOLONG => io::ErrorKind::InvalidInput,
            sys::EVIO_EPIPE => io::ErrorKind::BrokenPipe,
            sys::EVIO_ENOSYS | sys::EVIO_ENOTSUP | sys::EVIO_EAFNOSUPPORT => {
                io::ErrorKind::Unsupported
            }
            sys::EVIO_EADDRINUSE => io::ErrorKind::AddrInUse,
            sys::EVIO_EADDRNOTAVAIL => io::ErrorKind::AddrNotAvailable,
            sys::EVIO_ECONNABORTED => io::ErrorKind::ConnectionAborted,
            sys::EVIO_ECONNRESET => io::ErrorKind::ConnectionReset,
            sys::EVIO_ENOTCONN => io::ErrorKind::NotConnected,
            sys::EVIO_ETIMEDOUT => io::ErrorKind::TimedOut,
            sys::EVIO_ECONNREFUSED => io::ErrorKind::ConnectionRefused,
            _ => io::ErrorKind::Other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("code", &self.code)
            .field("description", &strerror(self.code))
            .field("message", &self.message)
            .finish()
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}

fn strerror(code: i32) -> String {
    // SAFETY: evio_strerror returns a static NUL-terminated string, never NULL.
    unsafe { cstr_lossy(sys::evio_strerror(code)) }
}

/// Copies a C string (NULL gives "").
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string valid for the call.
pub(crate) unsafe fn cstr_lossy(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: per the function's contract.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}
