//! Timers (a closure run once after a delay, on a loop) and a connection's timeouts.
//!
//! A timer's closure is boxed and handed to `evio_timer_start` as its argument. The
//! library gives the argument back exactly once when the timer fires or ends (its
//! connection closed, or the server stopped), but not when it is cancelled: so each loop
//! thread keeps a map from the ids of the timers it started to their boxes ([`ARMED`]), and
//! [`TimerId::cancel`] frees the box the library will never hand back. Every path removes
//! the id from the map before freeing the box, and no user code runs while the map is
//! borrowed, so each closure is dropped exactly once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

use crate::sink::Sink;
use crate::{sys, Action, Conn, Error};

/// A timer started with [`Conn::start_timer`] or [`start_loop_timer`]: an id, unique in
/// the process and never reused, that can [`cancel`](TimerId::cancel) the timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(i64);

impl TimerId {
    /// Cancels the timer if it has not fired yet: its closure is then dropped here without
    /// being called. Returns whether it did; `false` when the timer fired already, was
    /// cancelled, ended with its connection or server, or belongs to another loop.
    ///
    /// Works only on the loop that started the timer (in a callback, a posted closure or
    /// a timer of that loop); anywhere else it returns `false` and the timer goes on.
    pub fn cancel(self) -> bool {
        let known = ARMED
            .try_with(|m| m.borrow().contains_key(&self.0))
            .unwrap_or(false);
        if !known {
            return false; // not started on this thread: no business of this loop
        }
        // SAFETY: any thread may call it; it calls no user code.
        if unsafe { sys::evio_timer_cancel(self.0) } != 0 {
            return false; // e.g. a nested server's loop running on this thread
        }
        // The library will never call the timer's function: its box is ours to free.
        if let Some(armed) = disarm(self.0) {
            // SAFETY: `armed` came from `arm` for this id and was removed from the map
            // just now, so nothing else frees it.
            unsafe { armed.free() };
        }
        true
    }

    /// The library's id (`evio_timer_start`'s result).
    pub fn as_raw(self) -> i64 {
        self.0
    }
}

/// A started timer's box, kept by its loop thread until the timer fires, ends or is
/// cancelled.
struct Armed {
    arg: *mut c_void,
    /// Drops the `Box<Entry<F>>` at `arg` (catching a panic of the closure's `Drop`).
    free: unsafe fn(*mut c_void),
}

impl Armed {
    /// # Safety
    /// The library no longer holds `arg` (the timer was cancelled), and this is the only
    /// `Armed` for it.
    unsafe fn free(self) {
        // SAFETY: per the contract.
        unsafe { (self.free)(self.arg) }
    }
}

thread_local! {
    /// The timers started on this thread (a loop's) that have neither fired nor ended.
    static ARMED: RefCell<HashMap<i64, Armed>> = RefCell::new(HashMap::new());
}

fn arm(id: i64, armed: Armed) {
    // Outside a thread's teardown there is always a map; a lost entry only means the box
    // cannot be cancelled (it still goes when the timer fires or ends).
    let _ = ARMED.try_with(|m| m.borrow_mut().insert(id, armed));
}

fn disarm(id: i64) -> Option<Armed> {
    ARMED
        .try_with(|m| m.borrow_mut().remove(&id))
        .ok()
        .flatten()
}

/// A timer's closure with what it needs when it runs.
struct Entry<F> {
    /// The timer's id, once `evio_timer_start` has returned it (before it can fire).
    id: i64,
    f: F,
    sink: Arc<Sink>,
}

/// Drops the box behind an `Armed` of a cancelled timer (in the caller of `cancel`, so a
/// panic of the closure's `Drop` unwinds from there, as from any drop).
///
/// # Safety
/// `arg` is a `Box<Entry<F>>` leaked by `start`, that nothing else frees.
unsafe fn free_entry<F>(arg: *mut c_void) {
    // SAFETY: per the contract.
    drop(unsafe { Box::from_raw(arg as *mut Entry<F>) });
}

/// Drops `value` (a closure and its captures) in a timer's call, catching a panic of its
/// `Drop` like a callback's: recorded, and the server stops.
fn drop_caught<T>(value: T, sink: &Sink) {
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| drop(value))) {
        sink.record(p);
        // SAFETY: on one of the server's loops (the timer's), which is running.
        unsafe { sink.halt(std::ptr::null_mut()) };
    }
}

/// `evio_timer_start` with `f` boxed as its argument; the box is given to `run` when the
/// timer fires or ends, freed by [`TimerId::cancel`], or freed here if the start fails.
///
/// # Safety
/// `conn` is NULL or the connection of the callback running now; `run` takes the argument
/// back as a `Box<Entry<F>>`.
unsafe fn start<F: 'static>(
    conn: *mut sys::evio_conn,
    delay: Duration,
    f: F,
    sink: Arc<Sink>,
    run: unsafe extern "C" fn(*mut sys::evio_conn, c_int, *mut c_void) -> sys::evio_action,
) -> Result<TimerId, Error> {
    let delay_ns = i64::try_from(delay.as_nanos()).unwrap_or(i64::MAX);
    let arg = Box::into_raw(Box::new(Entry { id: 0, f, sink }));
    // SAFETY: per the function's contract; on success the library calls `run` exactly once
    // with `arg` (not during this call), unless the timer is cancelled.
    let id = unsafe { sys::evio_timer_start(conn, delay_ns, Some(run), arg as *mut c_void) };
    if id <= 0 {
        let err = Error::last(c_int::try_from(id).unwrap_or(sys::EVIO_EINVAL));
        // SAFETY: the start failed, so the library never calls `run`: `arg` is still ours.
        drop(unsafe { Box::from_raw(arg) });
        return Err(err);
    }
    // SAFETY: the library holds `arg` but calls nothing with it before this thread goes
    // back to the loop.
    unsafe { (*arg).id = id };
    arm(
        id,
        Armed {
            arg: arg as *mut c_void,
            free: free_entry::<F>,
        },
    );
    Ok(TimerId(id))
}

/// Takes back the box of a timer that fired (`status` 0) or ended, and forgets its id.
///
/// # Safety
/// `arg` is the argument `start` gave the library for an `Entry<F>`, handed back now.
unsafe fn take_entry<F>(arg: *mut c_void) -> Box<Entry<F>> {
    // SAFETY: per the contract: the library hands each argument back once.
    let entry = unsafe { Box::from_raw(arg as *mut Entry<F>) };
    // Only forgotten: an `Armed` points at the box, which the caller now owns.
    let _: Option<Armed> = disarm(entry.id);
    entry
}

/// What a timer returns to the library after running (or not running) its closure.
fn finish(result: std::thread::Result<Action>, sink: &Sink) -> sys::evio_action {
    match result {
        Ok(a) => a.to_raw(),
        Err(p) => {
            sink.record(p);
            sys::EVIO_SHUTDOWN
        }
    }
}

/// The `evio_timer_fn` of a connection timer.
unsafe extern "C" fn run_conn_timer<C, F>(
    conn: *mut sys::evio_conn,
    status: c_int,
    arg: *mut c_void,
) -> sys::evio_action
where
    F: FnOnce(&mut Conn<C>) -> Action,
{
    // SAFETY: `arg` is the Entry<F> that Conn::start_timer armed, handed back once.
    let entry = unsafe { take_entry::<F>(arg) };
    let Entry { f, sink, .. } = *entry;
    let _on_loop = sink.enter();
    match NonNull::new(conn) {
        Some(raw) if status == 0 && !sink.panicked() => {
            // SAFETY: status 0: the connection is open and this is its loop thread, in no
            // other callback of it; its context is a Box<C> (the timer came from a Conn<C>
            // of this server); `sink` is alive.
            let mut c = unsafe { Conn::<C>::from_raw(raw, false, NonNull::from(&*sink)) };
            finish(catch_unwind(AssertUnwindSafe(|| f(&mut c))), &sink)
        }
        _ => {
            // Ended with its connection (the return value is ignored), or the server is
            // going down after a panic: no user code runs, the closure just goes.
            drop_caught(f, &sink);
            if status == 0 {
                sys::EVIO_SHUTDOWN
            } else {
                sys::EVIO_NONE
            }
        }
    }
}

/// The `evio_timer_fn` of a loop timer.
unsafe extern "C" fn run_loop_timer<F>(
    _conn: *mut sys::evio_conn,
    status: c_int,
    arg: *mut c_void,
) -> sys::evio_action
where
    F: FnOnce() -> Action,
{
    // SAFETY: `arg` is the Entry<F> that start_loop_timer armed, handed back once.
    let entry = unsafe { take_entry::<F>(arg) };
    let Entry { f, sink, .. } = *entry;
    let _on_loop = sink.enter();
    if status == 0 && !sink.panicked() {
        return finish(catch_unwind(AssertUnwindSafe(f)), &sink);
    }
    drop_caught(f, &sink);
    if status == 0 {
        sys::EVIO_SHUTDOWN
    } else {
        sys::EVIO_NONE
    }
}

/// Starts a timer of the calling loop: `f` runs once, on this loop's thread, `delay` from
/// now (at the loop's next turn for a zero delay; the loop reads its clock once per turn,
/// so it fires at or after the due time).
///
/// Call it on a loop: in a [`Handler`](crate::Handler) callback other than `serving`, a
/// closure posted with [`ConnSender::post`](crate::ConnSender::post) or
/// [`ServerHandle::post`](crate::ServerHandle::post), or another timer's closure. Only
/// [`Action::Shutdown`] means something as `f`'s result.
///
/// `f` is dropped exactly once: after it ran, when [`TimerId::cancel`] cancels it, or —
/// without being called — when the server stops before it is due. A panic in `f` is
/// caught like a callback's: the server shuts down and the panic is resumed by `serve` or
/// [`ServerHandle::wait`](crate::ServerHandle::wait).
///
/// Errors: `EVIO_EPERM` when not on a loop thread (then `f` is dropped at once).
pub fn start_loop_timer<F>(delay: Duration, f: F) -> Result<TimerId, Error>
where
    F: FnOnce() -> Action + Send + 'static,
{
    let Some(sink) = Sink::current() else {
        drop(f);
        return Err(Error::new(
            sys::EVIO_EPERM,
            "start_loop_timer: not on a loop thread (call it from a callback)",
        ));
    };
    // SAFETY: NULL connection; run_loop_timer takes back an Entry<F>.
    unsafe { start(std::ptr::null_mut(), delay, f, sink, run_loop_timer::<F>) }
}

/// A timeout as the library takes it: `None` is 0 (off); `Some(0)` is refused.
fn timeout_ns(timeout: Option<Duration>, what: &str) -> Result<i64, Error> {
    match timeout {
        None => Ok(0),
        Some(d) if d.is_zero() => Err(Error::new(
            sys::EVIO_EINVAL,
            format!("{what}: a zero timeout (use None to turn it off)"),
        )),
        Some(d) => Ok(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
    }
}

impl<C> Conn<C> {
    /// Starts a timer of this connection: `f` runs once with the connection, on its loop,
    /// `delay` from now (at the loop's next turn for a zero delay). Output written in `f`
    /// is sent when it returns, and its [`Action`] applies to the connection as one from
    /// [`Handler::data`](crate::Handler::data) does.
    ///
    /// `f` is dropped exactly once: after it ran, when [`TimerId::cancel`] cancels it, or
    /// — without being called — when the connection closes or is detached first (after
    /// [`Handler::closed`](crate::Handler::closed) / `detached`). A panic in `f` is
    /// caught like a callback's.
    ///
    /// A closure that starts another timer on the connection makes a periodic one:
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use evio::{Action, Conn};
    /// fn every_second(conn: &mut Conn<()>) {
    ///     conn.start_timer(Duration::from_secs(1), |conn| {
    ///         conn.write(b"tick\n").ok();
    ///         every_second(conn);
    ///         Action::None
    ///     })
    ///     .ok();
    /// }
    /// ```
    ///
    /// Errors (then `f` is dropped at once): `EVIO_ENOTCONN` once closed (also in
    /// `closed`), `EVIO_ENOTSUP` for a UDP sender.
    pub fn start_timer<F>(&self, delay: Duration, f: F) -> Result<TimerId, Error>
    where
        F: FnOnce(&mut Conn<C>) -> Action + Send + 'static,
    {
        // SAFETY: `sink` is Arc::as_ptr of a live Arc<Sink> (see Conn::from_raw): one more
        // strong reference, owned by the new Arc.
        let sink = unsafe {
            Arc::increment_strong_count(self.sink_ptr());
            Arc::from_raw(self.sink_ptr())
        };
        // SAFETY: the connection of the running callback; run_conn_timer takes back an
        // Entry<F> and sees the connection as a Conn<C>, as this one is.
        unsafe { start(self.raw(), delay, f, sink, run_conn_timer::<C, F>) }
    }

    /// Closes the connection with an `EVIO_ETIMEDOUT` error ([`Error::is_timeout`]) once
    /// `timeout` passes without input arriving or output leaving; `None` turns it off.
    /// [`Server::idle_timeout`](crate::Server::idle_timeout) sets the default (a defence
    /// against slowloris clients that open connections and say nothing).
    ///
    /// Errors: `EVIO_EINVAL` for `Some(Duration::ZERO)`, `EVIO_ENOTCONN` once closed,
    /// `EVIO_ENOTSUP` for a UDP sender (the same for the other timeouts).
    pub fn set_idle_timeout(&self, timeout: Option<Duration>) -> Result<(), Error> {
        let ns = timeout_ns(timeout, "set_idle_timeout")?;
        // SAFETY: valid connection, loop thread.
        Error::check(unsafe { sys::evio_conn_set_idle_timeout(self.raw(), ns) }).map(drop)
    }

    /// Closes the connection with an `EVIO_ETIMEDOUT` error unless input arrives within
    /// `timeout` from now; the next input clears it, so set it again for each request (as
    /// a read deadline). `None` clears it.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> Result<(), Error> {
        let ns = timeout_ns(timeout, "set_read_timeout")?;
        // SAFETY: valid connection, loop thread.
        Error::check(unsafe { sys::evio_conn_set_read_timeout(self.raw(), ns) }).map(drop)
    }

    /// Closes the connection with an `EVIO_ETIMEDOUT` error unless all of its pending
    /// output ([`pending`](Conn::pending)) has left within `timeout` from now; it clears
    /// once the output has left (at once when nothing is pending). `None` clears it.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> Result<(), Error> {
        let ns = timeout_ns(timeout, "set_write_timeout")?;
        // SAFETY: valid connection, loop thread.
        Error::check(unsafe { sys::evio_conn_set_write_timeout(self.raw(), ns) }).map(drop)
    }

    /// Closes the connection once its pending output has left, as returning
    /// [`Action::Close`] does, for code that has no action to return for it: a timer of
    /// the loop, a closure posted with [`ConnSender::post`](crate::ConnSender::post), or
    /// a timer of the connection. It happens after the running callback returns, never
    /// inside this call; [`Handler::closed`](crate::Handler::closed) then gets `None`.
    ///
    /// Errors: `EVIO_ENOTCONN` once closed, `EVIO_ENOTSUP` for a UDP sender.
    pub fn close(&self) -> Result<(), Error> {
        // SAFETY: valid connection, loop thread.
        Error::check(unsafe { sys::evio_conn_close(self.raw()) }).map(drop)
    }
}
