//! Where a server's caught panics go: shared by its callbacks and by the functions posted
//! to its loops, which may outlive the callback that posted them.

use std::any::Any;
use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Mutex};

use crate::sys;

thread_local! {
    /// The sink of the server whose callback (or posted function) runs on this thread now,
    /// if any: that thread is one of the server's loops.
    static CURRENT: Cell<*const Sink> = const { Cell::new(ptr::null()) };
}

/// Marks the running thread as inside a callback of one server until dropped (restoring
/// the outer mark: a callback may run another server with `serve`).
pub(crate) struct InCallback {
    outer: *const Sink,
}

impl Drop for InCallback {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.outer));
    }
}

/// A panic payload.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// The first panic of a server's callbacks, and how to stop that server.
pub(crate) struct Sink {
    /// Set once a callback panicked: the server is shutting down.
    panicked: AtomicBool,
    /// The first panic's payload, resumed by `serve` or `ServerHandle::wait`.
    payload: Mutex<Option<Payload>>,
    /// The handle of a server started with `evio_server_start`, once it has returned
    /// (NULL for `evio_serve`, whose server has no handle). Valid until the loops have
    /// ended: `ServerHandle` frees it only after `evio_server_wait`.
    server: AtomicPtr<sys::evio_server>,
}

impl Sink {
    /// A new sink. Always in an `Arc`: [`Sink::current`] and the connections hand out more
    /// references to it from its address.
    pub(crate) fn new() -> Arc<Sink> {
        Arc::new(Sink {
            panicked: AtomicBool::new(false),
            payload: Mutex::new(None),
            server: AtomicPtr::new(ptr::null_mut()),
        })
    }

    /// The sink of the server whose callback runs on this thread now (innermost), if any.
    pub(crate) fn current() -> Option<Arc<Sink>> {
        let p = CURRENT.with(Cell::get);
        if p.is_null() {
            return None;
        }
        // SAFETY: CURRENT is set only by `enter` for the duration of a callback, whose
        // caller holds the sink alive, and every sink lives in an Arc (`new`): `p` is
        // Arc::as_ptr of a live Arc, given one more strong reference owned by the result.
        unsafe {
            Arc::increment_strong_count(p);
            Some(Arc::from_raw(p))
        }
    }

    /// Marks this thread as running a callback of this sink's server (one of its loops)
    /// until the guard is dropped.
    pub(crate) fn enter(&self) -> InCallback {
        InCallback {
            outer: CURRENT.with(|c| c.replace(self)),
        }
    }

    /// Whether this thread is inside a callback of this sink's server: then it is one of
    /// the server's loops, which must not wait for the server.
    pub(crate) fn on_own_loop(&self) -> bool {
        CURRENT.with(|c| ptr::eq(c.get(), self))
    }

    pub(crate) fn panicked(&self) -> bool {
        self.panicked.load(Ordering::SeqCst)
    }

    /// Keeps the first payload. Callers then make the server shut down.
    pub(crate) fn record(&self, payload: Payload) {
        let mut slot = match self.payload.lock() {
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
        drop(slot);
        self.panicked.store(true, Ordering::SeqCst);
    }

    /// Takes the recorded payload, if any.
    pub(crate) fn take(&self) -> Option<Payload> {
        match self.payload.lock() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        }
    }

    /// Remembers the handle of a started server (after `evio_server_start` returned). A
    /// panic caught before then stops the server now. (`panicked` and `server` are both
    /// sequentially consistent, so a panic racing this call is seen by one side or both.)
    pub(crate) fn set_server(&self, server: *mut sys::evio_server) {
        self.server.store(server, Ordering::SeqCst);
        if self.panicked() {
            // SAFETY: the handle was just returned by evio_server_start and is not freed.
            unsafe { sys::evio_server_stop(server, 0) };
        }
    }

    /// Stops the server after a panic in a function that cannot return an action (a
    /// posted function, `prewrite`): through the handle when the server has one, else by
    /// waking `conn` (when not NULL) so that its next callback returns `EVIO_SHUTDOWN`.
    ///
    /// # Safety
    /// Called on one of the server's loops (or the thread ending it, before the loops'
    /// end is waited for); `conn` is NULL or a connection pointer valid for the call.
    pub(crate) unsafe fn halt(&self, conn: *mut sys::evio_conn) {
        let server = self.server.load(Ordering::SeqCst);
        if !server.is_null() {
            // SAFETY: the handle is freed only after the loops have ended (see `server`).
            unsafe { sys::evio_server_stop(server, 0) };
        } else if !conn.is_null() {
            // SAFETY: per the function's contract; any thread may wake.
            unsafe { sys::evio_conn_wake(conn) };
        }
    }
}
