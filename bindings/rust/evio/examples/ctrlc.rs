//! An echo server started in the background with a `ServerHandle`, and stopped cleanly on
//! Ctrl-C (SIGINT) or SIGTERM.
//!
//! ```text
//! cargo run --example ctrlc -- tcp://127.0.0.1:5000
//! cargo run --example ctrlc -- --loops 4 --drain-ms 2000 tcp://127.0.0.1:5000 unix:///tmp/echo.sock
//! ```
//!
//! The first signal starts a drain: the server accepts and reads nothing more, closes each
//! connection as soon as its output has left, and closes those still sending after the
//! drain time with `EVIO_ETIMEDOUT`; then `wait` returns and the program exits. A second
//! signal kills the program at once (the handler is installed with `SA_RESETHAND`).
//!
//! The signal handler does one thing: it calls `evio_server_stop`, which is
//! async-signal-safe (it only stores atomics and writes to each loop's wake-up
//! descriptor). Nothing in the safe API may be called from a signal handler: it could
//! allocate or take a lock the interrupted thread holds.

use std::ffi::c_int;
use std::process::ExitCode;
use std::ptr;
use std::sync::atomic::{AtomicI64, AtomicPtr, Ordering};

use evio::{sys, Action, Conn, Error, Handler, ServerHandle};

struct Echo;

impl Handler for Echo {
    type Context = ();

    fn data(&self, conn: &mut Conn<()>, input: &[u8]) -> Action {
        if conn.write(input).is_err() {
            return Action::Close;
        }
        Action::None
    }

    fn closed(&self, conn: &mut Conn<()>, err: Option<Error>) -> Action {
        if let Some(e) = err {
            let peer = conn
                .remote_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            eprintln!("ctrlc: connection {peer} closed: {e}");
        }
        Action::None
    }
}

/// The C handle of the running server, for the signal handler (NULL until it runs).
static SERVER: AtomicPtr<sys::evio_server> = AtomicPtr::new(ptr::null_mut());
/// The drain time in nanoseconds.
static DRAIN_NS: AtomicI64 = AtomicI64::new(5_000_000_000);

/// Async-signal-safe: two lock-free atomic loads and `evio_server_stop`.
extern "C" fn on_signal(_signal: c_int) {
    let server = SERVER.load(Ordering::Acquire);
    if !server.is_null() {
        // SAFETY: the handle is never freed (see `main`); evio_server_stop is
        // async-signal-safe and may be called from any thread.
        unsafe { sys::evio_server_stop(server, DRAIN_NS.load(Ordering::Relaxed)) };
    }
}

fn install(signal: c_int) -> std::io::Result<()> {
    // SAFETY: a zeroed sigaction is valid; the handler is an `extern "C" fn(c_int)`.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(c_int) as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESETHAND | libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(signal, &sa, ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: ctrlc [--loops N] [--drain-ms MS] ADDRESS...\n\
         e.g.   ctrlc tcp://127.0.0.1:5000"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut loops = 1usize;
    let mut addrs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--loops" | "-l" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) => loops = n,
                None => return usage(),
            },
            "--drain-ms" => match args.next().and_then(|n| n.parse::<i64>().ok()) {
                Some(ms) if ms >= 0 => {
                    DRAIN_NS.store(ms.saturating_mul(1_000_000), Ordering::Relaxed)
                }
                _ => return usage(),
            },
            "-h" | "--help" => return usage(),
            _ => addrs.push(arg),
        }
    }
    if addrs.is_empty() {
        return usage();
    }

    let server = match evio::Server::new().loops(loops).start(Echo, &addrs) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ctrlc: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The signal handler may use the C handle at any moment until the process exits, so
    // the handle is never dropped (dropping frees it): it is leaked on purpose. `wait`
    // below still joins the loops and removes the unix socket files.
    let server: &'static ServerHandle = Box::leak(Box::new(server));
    SERVER.store(server.as_raw(), Ordering::Release);
    for signal in [libc::SIGINT, libc::SIGTERM] {
        if let Err(e) = install(signal) {
            eprintln!("ctrlc: sigaction: {e}");
            server.stop(std::time::Duration::ZERO);
            let _ = server.wait();
            return ExitCode::FAILURE;
        }
    }

    for i in 0..server.num_addrs() {
        println!(
            "ctrlc: echo server on {} ({} loops, {}); Ctrl-C to stop",
            server.addr_string(i).unwrap_or(""),
            server.num_loops(),
            server.engine_name()
        );
    }
    match server.wait() {
        Ok(()) => {
            println!("ctrlc: stopped cleanly");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ctrlc: {e}");
            ExitCode::FAILURE
        }
    }
}
