use std::ffi::{c_char, c_int, c_void, CStr};
use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::sink::Sink;
use crate::{sys, Addr, Error};

/// A server started with [`Server::start`](crate::Server::start), running on threads of
/// its own: stop it, wait for it, and post work to its loops, from any thread.
///
/// ```no_run
/// use std::time::Duration;
/// # struct Echo;
/// # impl evio::Handler for Echo { type Context = (); }
///
/// let server = evio::Server::new().loops(2).start(Echo, &["tcp://127.0.0.1:0"])?;
/// println!("listening on {}", server.addr_string(0).unwrap());
/// // ... later, from any thread: let connections finish sending for up to 5 s.
/// server.stop(Duration::from_secs(5));
/// server.wait()?;
/// # Ok::<(), evio::Error>(())
/// ```
///
/// Dropping the handle stops the server (at once, unless [`stop`](ServerHandle::stop) was
/// called before: then that stop goes on to its deadline) and waits for it, then drops the
/// handler. **Do not drop it on one of the server's own loop threads** (inside a callback,
/// or a function posted to the server): it cannot wait for itself there, so it only asks the
/// server to stop and leaks the handler and the handle instead.
///
/// A panic in a callback stops the server (as in [`serve`](crate::serve)) and is resumed
/// by [`wait`](ServerHandle::wait); if nobody waits, dropping the handle discards it.
pub struct ServerHandle {
    raw: NonNull<sys::evio_server>,
    sink: Arc<Sink>,
    /// The `Shared` the callbacks use (and with it the handler). `None` once leaked.
    state: Option<State>,
    /// What `evio_server_wait` returned, once it has; also serialises the waits.
    waited: Mutex<Option<Result<(), Error>>>,
    /// Whether `stop` was called: then `Drop` lets that stop run to its deadline.
    stop_asked: std::sync::atomic::AtomicBool,
    addrs: Vec<Addr>,
    addr_strings: Vec<String>,
    num_loops: usize,
    engine: &'static str,
}

/// The type-erased `Box<Shared<H>>` of a started server.
struct State(#[allow(dead_code)] Box<dyn Send>);

// SAFETY: a `State` is never used through a shared reference (there is nothing to use on
// a `dyn Send`); it is only dropped, through `&mut ServerHandle`.
unsafe impl Sync for State {}

// SAFETY: every C function used on the handle may be called from any thread (stop, post,
// and the accessors, which are read once, at start); evio_server_wait is called under
// `waited`, one caller at a time; `evio_server_free` only from Drop (`&mut`). The state is
// `Send` and not shared (see `State`).
unsafe impl Send for ServerHandle {}
// SAFETY: as above.
unsafe impl Sync for ServerHandle {}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<ServerHandle>();
};

/// A function posted with [`ServerHandle::post`], with what it needs when it runs.
struct LoopPosted<F> {
    f: F,
    sink: Arc<Sink>,
}

impl ServerHandle {
    /// # Safety
    /// `raw` was just returned by `evio_server_start` (not waited for, not freed) for a
    /// callback table whose `udata` is `state`, and whose panics go to `sink`.
    pub(crate) unsafe fn from_started(
        raw: NonNull<sys::evio_server>,
        sink: Arc<Sink>,
        state: Box<dyn Send>,
    ) -> ServerHandle {
        let p = raw.as_ptr();
        // Read once, now, on the thread that started the server: nothing changes them
        // while it runs, and evio_server_wait releases the addresses.
        // SAFETY (all calls): `p` is a live started handle, not yet waited for.
        let num_addrs = unsafe { sys::evio_server_num_addrs(p) }.max(0) as usize;
        let mut addrs = Vec::with_capacity(num_addrs);
        let mut addr_strings = Vec::with_capacity(num_addrs);
        for i in 0..num_addrs {
            let index = i as c_int; // num_addrs came from a c_int
            let mut len: libc::socklen_t = 0;
            let sa = unsafe { sys::evio_server_addr(p, index, &mut len) };
            // SAFETY: NULL or `len` readable bytes of a socket address, read at once.
            if let Some(a) = unsafe { Addr::from_raw(sa, len) } {
                addrs.push(a);
            }
            addr_strings.push(unsafe { addr_string(p, index) }.unwrap_or_default());
        }
        let num_loops = unsafe { sys::evio_server_num_loops(p) }.max(0) as usize;
        let engine = unsafe { sys::evio_server_engine(p) };
        let engine = if engine.is_null() {
            ""
        } else {
            // SAFETY: a static NUL-terminated string.
            unsafe { CStr::from_ptr(engine) }.to_str().unwrap_or("")
        };
        ServerHandle {
            raw,
            sink,
            state: Some(State(state)),
            waited: Mutex::new(None),
            stop_asked: std::sync::atomic::AtomicBool::new(false),
            addrs,
            addr_strings,
            num_loops,
            engine,
        }
    }

    pub(crate) fn panicked(&self) -> bool {
        self.sink.panicked()
    }

    /// Asks the server to stop, letting its connections finish sending.
    ///
    /// At once it stops accepting, and no connection receives input any more (wakes,
    /// sends and posted functions still run). Each connection is closed, with
    /// [`Handler::closed`](crate::Handler::closed) getting `None`, as soon as its pending
    /// output has left; those still open after `drain` are closed with an
    /// `EVIO_ETIMEDOUT` error. Then the loops end. A `drain` of zero closes every
    /// connection at once, as [`Action::Shutdown`](crate::Action::Shutdown) does.
    ///
    /// Returns at once; [`wait`](ServerHandle::wait) waits for the end. Any thread, the
    /// server's own loops too.
    pub fn stop(&self, drain: Duration) {
        self.stop_asked
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let ns = i64::try_from(drain.as_nanos()).unwrap_or(i64::MAX);
        // SAFETY: a live handle (freed only in Drop); any thread. It fails only for a NULL
        // handle or a negative drain, neither of which can happen here.
        unsafe { sys::evio_server_stop(self.raw.as_ptr(), ns) };
    }

    /// Waits until the server has stopped ([`stop`](ServerHandle::stop), a callback's
    /// [`Action::Shutdown`](crate::Action::Shutdown), or a panic): every loop has ended,
    /// [`Handler::closed`](crate::Handler::closed) ran for every connection, every posted
    /// function ran, the threads are joined and the unix socket files removed.
    ///
    /// Returns `Ok(())`, or the error of an engine that failed; the same again when called
    /// again. Several threads may wait at once. If a callback panicked, the first `wait`
    /// resumes the panic.
    ///
    /// Errors: `EVIO_EPERM` on one of the server's own loop threads, i.e. inside one of its
    /// callbacks or posted functions (it would wait for itself); returned at once, also
    /// while another thread waits.
    pub fn wait(&self) -> Result<(), Error> {
        if self.sink.on_own_loop() {
            // Refused before taking `waited`, which another thread may hold while it waits
            // for this very loop to end.
            return Err(Error::new(
                sys::EVIO_EPERM,
                "ServerHandle::wait: called on one of the server's own loops",
            ));
        }
        let result = {
            let mut waited = self.waited.lock().unwrap_or_else(PoisonError::into_inner);
            match &*waited {
                Some(r) => r.clone(),
                None => {
                    // SAFETY: a live handle; one waiter at a time (under `waited`).
                    let rc = unsafe { sys::evio_server_wait(self.raw.as_ptr()) };
                    let r = Error::check(rc).map(drop);
                    if rc == sys::EVIO_EPERM {
                        return r; // on one of its own loops: nothing waited for
                    }
                    *waited = Some(r.clone());
                    r
                }
            }
        };
        if let Some(p) = self.sink.take() {
            resume_unwind(p);
        }
        result
    }

    /// Runs `f` once on loop `loop_index` (0 … [`num_loops`](ServerHandle::num_loops) - 1),
    /// in order with the other functions this thread posts there.
    ///
    /// `f` runs **exactly once**: with `Some(loop_index)` on that loop's thread; with
    /// `None` if the server stopped before it could run (on the loop's thread as it ends);
    /// or with `None` on this thread, before `post` returns the error, if it cannot be
    /// queued (`EVIO_ENOTCONN`: the server has stopped; `EVIO_EINVAL`: no such loop).
    ///
    /// A panic in `f` on the loop stops the server, and [`wait`](ServerHandle::wait)
    /// resumes it. (A panic in `f` called here, after an error, unwinds from `post`.)
    pub fn post<F>(&self, loop_index: usize, f: F) -> Result<(), Error>
    where
        F: FnOnce(Option<usize>) + Send + 'static,
    {
        let Ok(index) = c_int::try_from(loop_index) else {
            f(None);
            return Err(Error::new(
                sys::EVIO_EINVAL,
                format!("evio_server_post: no loop {loop_index}"),
            ));
        };
        let arg = Box::into_raw(Box::new(LoopPosted {
            f,
            sink: self.sink.clone(),
        }));
        // SAFETY: a live handle; any thread. On success the library calls `run_posted`
        // exactly once with `arg`, which takes it back.
        let rc = unsafe {
            sys::evio_server_post(
                self.raw.as_ptr(),
                index,
                Some(run_posted::<F>),
                arg as *mut c_void,
            )
        };
        if rc < 0 {
            let err = Error::last(rc); // before `f` can make another evio call
                                       // SAFETY: the post failed, so `run_posted` is never called: `arg` is ours.
            let posted = unsafe { Box::from_raw(arg) };
            (posted.f)(None);
            return Err(err);
        }
        Ok(())
    }

    /// Number of addresses the server listens on.
    pub fn num_addrs(&self) -> usize {
        self.addr_strings.len()
    }

    /// Number of event loops the server runs.
    pub fn num_loops(&self) -> usize {
        self.num_loops
    }

    /// The name of the engine running the server: `"epoll"` or `"libuv"`.
    pub fn engine_name(&self) -> &'static str {
        self.engine
    }

    /// The bound address `index` (with the real port when port 0 was asked), or `None`
    /// if `index` is out of range.
    pub fn addr(&self, index: usize) -> Option<&Addr> {
        self.addrs.get(index)
    }

    /// All bound addresses, in the order given to `start`.
    pub fn addrs(&self) -> &[Addr] {
        &self.addrs
    }

    /// The bound address `index` as text in the form `start` accepts
    /// (`tcp://127.0.0.1:40123`, `unix:///tmp/s.sock`, …), or `None` if out of range.
    pub fn addr_string(&self, index: usize) -> Option<&str> {
        self.addr_strings.get(index).map(String::as_str)
    }

    /// The C handle, for what only C can do: above all, `evio_server_stop` from a signal
    /// handler (it is async-signal-safe; see `examples/ctrlc.rs`). Valid until this
    /// `ServerHandle` is dropped; do not pass it to `evio_server_wait` or
    /// `evio_server_free`.
    pub fn as_raw(&self) -> *mut sys::evio_server {
        self.raw.as_ptr()
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if !*self.stop_asked.get_mut() {
            self.stop(Duration::ZERO);
        }
        let waited = self
            .waited
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if waited.is_none() {
            // SAFETY: a live handle; `&mut self`: nobody else waits.
            let rc = unsafe { sys::evio_server_wait(self.raw.as_ptr()) };
            if rc == sys::EVIO_EPERM {
                // The library says this is one of the server's loops after all: as above.
                std::mem::forget(self.state.take());
                return;
            }
            *waited = Some(Error::check(rc).map(drop));
        }
        // SAFETY: waited for, so no callback runs any more; freed once (here).
        unsafe { sys::evio_server_free(self.raw.as_ptr()) };
        // Now the handler can go; a panic in its Drop must not unwind out of this one
        // while the caller may be unwinding already.
        if let Some(state) = self.state.take() {
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| drop(state))) {
                if !std::thread::panicking() {
                    resume_unwind(p);
                }
            }
        }
    }
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("engine", &self.engine)
            .field("num_loops", &self.num_loops)
            .field("addrs", &self.addr_strings)
            .finish()
    }
}

/// The `evio_loop_fn` behind [`ServerHandle::post`].
unsafe extern "C" fn run_posted<F>(
    _server: *mut sys::evio_server,
    loop_: c_int,
    status: c_int,
    arg: *mut c_void,
) where
    F: FnOnce(Option<usize>),
{
    // SAFETY: `arg` is the Box<LoopPosted<F>> that `post` leaked; the library gives it
    // back exactly once.
    let posted = unsafe { Box::from_raw(arg as *mut LoopPosted<F>) };
    let LoopPosted { f, sink } = *posted;
    let _on_loop = sink.enter();
    let running = status == 0 && !sink.panicked();
    let index = usize::try_from(loop_).ok().filter(|_| running);
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(index))) {
        sink.record(p);
        // SAFETY: on one of the server's loops; the handle is freed only after they end.
        unsafe { sink.halt(std::ptr::null_mut()) };
    }
}

/// `evio_server_addr_string` into a `String`.
///
/// # Safety
/// `server` is a live server handle (or the `serving` server during that call).
pub(crate) unsafe fn addr_string(server: *const sys::evio_server, index: c_int) -> Option<String> {
    let mut buf = vec![0u8; 128];
    loop {
        // SAFETY: per the function's contract; `buf` has `buf.len()` writable bytes.
        let n = unsafe {
            sys::evio_server_addr_string(server, index, buf.as_mut_ptr() as *mut c_char, buf.len())
        };
        let n = usize::try_from(n).ok()?;
        if n < buf.len() {
            buf.truncate(n);
            return Some(String::from_utf8_lossy(&buf).into_owned());
        }
        buf.resize(n + 1, 0);
    }
}
