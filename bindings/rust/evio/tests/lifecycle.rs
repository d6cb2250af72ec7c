//! Wake, detach, close, shutdown, tick, contexts, errors and panics.

mod common;

use std::cell::Cell;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::*;
use evio::sys::{EVIO_EADDRINUSE, EVIO_EINVAL, EVIO_ENAMETOOLONG, EVIO_ENOTCONN};
use evio::{Action, Conn, DetachedSocket, Engine, Error, Handler, ServerInfo, Waker};

on_both_engines!(
    wake_from_another_thread_then_error_after_close,
    waker_outlives_server_while_connection_open,
    detach_hands_over_a_tcp_stream,
    detach_hands_over_a_unix_stream,
    context_accumulates_and_close_action_flushes,
    shutdown_closes_every_open_connection,
    panic_in_data_single_loop,
    panic_in_data_multiple_loops,
    panic_in_prewrite,
    closed_reports_a_reset,
    wakes_race_with_close,
);

// ---------------------------------------------------------------------------------------
// Wake

struct Wakeable {
    ctl: Control,
    wakers: Mutex<Sender<Waker>>,
    closed: Mutex<Sender<Option<Error>>>,
    empty_data: AtomicUsize,
}

impl Handler for Wakeable {
    type Context = ();

    fn serving(&self, s: &ServerInfo<'_>) -> Action {
        self.ctl.serving(s)
    }

    fn opened(&self, conn: &mut Conn<()>) -> Action {
        if self.ctl.is_control(conn) {
            return Action::Shutdown;
        }
        self.wakers
            .lock()
            .unwrap()
            .send(conn.waker().unwrap())
            .unwrap();
        Action::None
    }

    fn data(&self, conn: &mut Conn<()>, input: &[u8]) -> Action {
        if input.is_empty() {
            self.empty_data.fetch_add(1, Ordering::SeqCst);
            conn.write(b"woken\n").unwrap();
        }
        Action::None
    }

    fn closed(&self, conn: &mut Conn<()>, err: Option<Error>) -> Action {
        if !self.ctl.is_control(conn) {
            self.closed.lock().unwrap().send(err).unwrap();
        }
        Action::None
    }
}

/// A `Wakeable` server on `loops` loops: the handler, the wakers `opened` sends and the
/// errors `closed` reports.
fn start_wakeable(
    engine: Engine,
    loops: usize,
) -> (
    Running,
    Arc<Wakeable>,
    Receiver<Waker>,
    Receiver<Option<Error>>,
) {
    let (ctl, rx) = Control::new();
    let (wtx, wrx) = channel();
    let (ctx, crx) = channel();
    let h = Arc::new(Wakeable {
        ctl,
        wakers: Mutex::new(wtx),
        closed: Mutex::new(ctx),
        empty_data: AtomicUsize::new(0),
    });
    let srv = start_with(
        h.clone(),
        rx,
        Opts::loops(loops).engine(engine),
        &["tcp://127.0.0.1:0"],
    );
    (srv, h, wrx, crx)
}

fn wake_from_another_thread_then_error_after_close(engine: Engine, _: &str) {
    let (srv, h, wrx, crx) = start_wakeable(engine, 2);

    let mut c = tcp(srv.ip(0));
    let waker = wrx.recv_timeout(TIMEOUT).expect("waker from opened");

    // Wake from a different thread, through a clone.
    let w2 = waker.clone();
    thread::spawn(move || w2.wake())
        .join()
        .unwrap()
        .expect("wake an open connection");
    let mut buf = [0u8; 6];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"woken\n");
    assert!(h.empty_data.load(Ordering::SeqCst) >= 1);

    // Close from the client; once `closed` has run, wake reports ENOTCONN.
    drop(c);
    let err = crx.recv_timeout(TIMEOUT).expect("closed called");
    assert!(err.is_none(), "orderly close: {err:?}");
    let e = waker.wake().expect_err("wake after close");
    assert_eq!(e.code(), EVIO_ENOTCONN);
    assert!(!e.to_string().is_empty());

    srv.stop().unwrap();
    // After the server stopped the Waker is still memory-safe.
    let e = waker.wake().expect_err("wake after serve returned");
    assert_eq!(e.code(), EVIO_ENOTCONN);
    drop(waker);
}

fn wakes_race_with_close(engine: Engine, _: &str) {
    let (srv, _h, wrx, crx) = start_wakeable(engine, 2);
    let mut c = tcp(srv.ip(0));
    let waker = wrx.recv_timeout(TIMEOUT).unwrap();
    let mut buf = [0u8; 6];
    // Four threads wake as fast as they can while the client reads a first answer and
    // then closes: every wake is Ok or ENOTCONN, never a crash or use-after-free.
    let start = Arc::new(std::sync::Barrier::new(5));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let w = waker.clone();
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                let mut closed_seen = false;
                for _ in 0..2000 {
                    match w.wake() {
                        Ok(()) => assert!(!closed_seen, "Ok after ENOTCONN"),
                        Err(e) => {
                            assert_eq!(e.code(), EVIO_ENOTCONN, "{e}");
                            closed_seen = true;
                        }
                    }
                }
            })
        })
        .collect();
    start.wait();
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"woken\n");
    // Unread wake answers may make this close a reset: either way `closed` runs.
    drop(c);
    crx.recv_timeout(TIMEOUT).expect("closed called");
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(waker.wake().unwrap_err().code(), EVIO_ENOTCONN);
    srv.stop().unwrap();
    drop(waker);
}

fn waker_outlives_server_while_connection_open(engine: Engine, _: &str) {
    let (srv, _h, wrx, crx) = start_wakeable(engine, 1);
    let mut c = tcp(srv.ip(0));
    let waker = wrx.recv_timeout(TIMEOUT).unwrap();
    // Shut down with the connection still open: closed is called for it.
    srv.stop().unwrap();
    assert!(crx.recv_timeout(TIMEOUT).unwrap().is_none());
    assert_eq!(read_to_eof(&mut c), b"");
    assert_eq!(waker.wake().unwrap_err().code(), EVIO_ENOTCONN);
}

// ---------------------------------------------------------------------------------------
// Detach

struct Detacher {
    ctl: Control,
    sockets: Mutex<Sender<DetachedSocket>>,
    closed: AtomicUsize,
    drops: Arc<AtomicUsize>,
}

impl Handler for Detacher {
    type Context = DropCount;

    fn serving(&self, s: &ServerInfo<'_>) -> Action {
        self.ctl.serving(s)
    }

    fn opened(&self, conn: &mut Conn<DropCount>) -> Action {
        if self.ctl.is_control(conn) {
            return Action::Shutdown;
        }
        conn.set_context(DropCount(self.drops.clone()));
        Action::None
    }

    fn data(&self, conn: &mut Conn<DropCount>, _input: &[u8]) -> Action {
        conn.write(b"bye\n").unwrap();
        Action::Detach
    }

    fn detached(&self, conn: &mut Conn<DropCount>, socket: DetachedSocket) -> Action {
        assert!(conn.context().is_some(), "context still there in detached");
        self.sockets.lock().unwrap().send(socket).unwrap();
        Action::None
    }

    fn closed(&self, conn: &mut Conn<DropCount>, _err: Option<Error>) -> Action {
        if !self.ctl.is_control(conn) {
            self.closed.fetch_add(1, Ordering::SeqCst);
        }
        Action::None
    }
}

fn new_detacher() -> (
    Arc<Detacher>,
    std::sync::mpsc::Receiver<Served>,
    std::sync::mpsc::Receiver<DetachedSocket>,
) {
    let (ctl, rx) = Control::new();
    let (stx, srx) = channel();
    let h = Arc::new(Detacher {
        ctl,
        sockets: Mutex::new(stx),
        closed: AtomicUsize::new(0),
        drops: Arc::new(AtomicUsize::new(0)),
    });
    (h, rx, srx)
}

fn detach_hands_over_a_tcp_stream(engine: Engine, _: &str) {
    let (h, rx, srx) = new_detacher();
    let srv = start_with(
        h.clone(),
        rx,
        Opts::loops(1).engine(engine),
        &["tcp://127.0.0.1:0"],
    );
    let mut c = tcp(srv.ip(0));
    c.write_all(b"detach me").unwrap();
    let mut buf = [0u8; 4];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"bye\n", "output flushed before the detach");

    let socket = srx.recv_timeout(TIMEOUT).expect("detached called");
    let mut s = match socket {
        DetachedSocket::Tcp(s) => s,
        other => panic!("expected a TcpStream, got {other:?}"),
    };
    assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(b"from server").unwrap();
    let mut buf = [0u8; 11];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"from server");
    c.write_all(b"to server").unwrap();
    let mut buf = [0u8; 9];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"to server");
    drop(s);
    assert_eq!(
        read_to_eof(&mut c),
        b"",
        "closing the detached stream closes the connection"
    );

    srv.stop().unwrap();
    assert_eq!(
        h.closed.load(Ordering::SeqCst),
        0,
        "closed is not called after a detach"
    );
    assert_eq!(
        h.drops.load(Ordering::SeqCst),
        1,
        "context dropped after detached"
    );
}

fn detach_hands_over_a_unix_stream(engine: Engine, _: &str) {
    let path = temp_sock("detach");
    let (h, rx, srx) = new_detacher();
    let srv = start_with(
        h.clone(),
        rx,
        Opts::loops(1).engine(engine),
        &[&format!("unix://{}", path.display())],
    );
    let mut c = unix(&path);
    c.write_all(b"x").unwrap();
    let mut buf = [0u8; 4];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"bye\n");
    let mut s = srx
        .recv_timeout(TIMEOUT)
        .unwrap()
        .into_unix()
        .expect("a UnixStream");
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(b"ping").unwrap();
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    c.write_all(b"pong").unwrap();
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"pong");
    srv.stop().unwrap();
    assert_eq!(h.closed.load(Ordering::SeqCst), 0);
}

// ---------------------------------------------------------------------------------------
// Close, shutdown, contexts

/// Upper-cases each line; `quit` closes the connection after a goodbye.
struct Lines {
    ctl: Control,
}

impl Handler for Lines {
    type Context = Vec<u8>;

    fn serving(&self, s: &ServerInfo<'_>) -> Action {
        self.ctl.serving(s)
    }

    fn opened(&self, conn: &mut Conn<Vec<u8>>) -> Action {
        if self.ctl.is_control(conn) {
            return Action::Shutdown;
        }
        assert!(conn.set_context(Vec::new()).is_none());
        Action::None
    }

    fn data(&self, conn: &mut Conn<Vec<u8>>, input: &[u8]) -> Action {
        let (buf, out) = conn.split();
        let buf = buf.expect("context set in opened");
        buf.extend_from_slice(input);
        let mut action = Action::None;
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            if line == b"quit\n" {
                out.write(b"goodbye\n").unwrap();
                action = Action::Close;
                break;
            }
            out.write(&line.to_ascii_uppercase()).unwrap();
        }
        action
    }
}

fn context_accumulates_and_close_action_flushes(engine: Engine, _: &str) {
    let (ctl, rx) = Control::new();
    let srv = start_with(
        Arc::new(Lines { ctl }),
        rx,
        Opts::loops(1).engine(engine),
        &["tcp://127.0.0.1:0"],
    );
    let mut c = tcp(srv.ip(0));
    c.write_all(b"hel").unwrap();
    c.write_all(b"lo\nwor").unwrap();
    let mut buf = [0u8; 6];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HELLO\n");
    c.write_all(b"ld\nquit\nignored\n").unwrap();
    assert_eq!(read_to_eof(&mut c), b"WORLD\ngoodbye\n");
    srv.stop().unwrap();
}

fn shutdown_closes_every_open_connection(engine: Engine, _: &str) {
    let (h, rx) = Echo::new();
    let srv = start_with(
        h.clone(),
        rx,
        Opts::loops(3).engine(engine),
        &["tcp://127.0.0.1:0"],
    );
    let mut clients: Vec<_> = (0..5).map(|_| tcp(srv.ip(0))).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        let msg = pattern(10 + i, i as u8);
        assert_eq!(round_trip(c, &msg), msg);
    }
    assert_eq!(h.closed.load(Ordering::SeqCst), 0);

    srv.stop().expect("serve returns Ok");
    assert_eq!(h.opened.load(Ordering::SeqCst), 5);
    assert_eq!(
        h.closed.load(Ordering::SeqCst),
        5,
        "closed called for each open connection"
    );
    assert_eq!(
        h.closed_err.load(Ordering::SeqCst),
        0,
        "shutdown is an orderly close"
    );
    assert_eq!(h.drops.load(Ordering::SeqCst), 5, "every context dropped");
    for c in &mut clients {
        assert_eq!(read_to_eof(c), b"", "client sees EOF");
    }
}

fn closed_reports_a_reset(engine: Engine, _: &str) {
    let (ctl, rx) = Control::new();
    let (wtx, wrx) = channel();
    let (ctx, crx) = channel();
    let h = Arc::new(Wakeable {
        ctl,
        wakers: Mutex::new(wtx),
        closed: Mutex::new(ctx),
        empty_data: AtomicUsize::new(0),
    });
    let srv = start_with(h, rx, Opts::loops(1).engine(engine), &["tcp://127.0.0.1:0"]);
    let c = tcp(srv.ip(0));
    // Make sure the server has the connection, then reset it (SO_LINGER 0 + close).
    let w = wrx.recv_timeout(TIMEOUT).expect("opened");
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: valid socket and option buffer.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&c),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    drop(c);
    let err = crx.recv_timeout(TIMEOUT).expect("closed called");
    let err = err.expect("a reset is reported as an error");
    assert_eq!(err.code(), evio::sys::EVIO_ECONNRESET, "{err:?}");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    assert_eq!(w.wake().unwrap_err().code(), EVIO_ENOTCONN);
    srv.stop().unwrap();
}

#[test]
fn serving_can_shut_down_at_once() {
    struct H(AtomicUsize);
    impl Handler for H {
        type Context = ();
        fn serving(&self, _: &ServerInfo<'_>) -> Action {
            self.0.fetch_add(1, Ordering::SeqCst);
            Action::Shutdown
        }
    }
    let h = H(AtomicUsize::new(0));
    evio::serve(&h, &["tcp://127.0.0.1:0"]).unwrap();
    assert_eq!(h.0.load(Ordering::SeqCst), 1);
}

#[test]
fn tick_runs_with_chosen_delay_and_can_shut_down() {
    // A single-loop server: the handler only needs `Send`, so `Cell` is fine.
    struct H {
        ticks: Cell<u32>,
        first_delay: Cell<Duration>,
    }
    impl Handler for H {
        type Context = ();
        fn tick(&self, delay: &mut Duration) -> Action {
            if self.ticks.get() == 0 {
                self.first_delay.set(*delay);
            }
            self.ticks.set(self.ticks.get() + 1);
            *delay = Duration::from_millis(1);
            if self.ticks.get() == 3 {
                Action::Shutdown
            } else {
                Action::None
            }
        }
    }
    let h = H {
        ticks: Cell::new(0),
        first_delay: Cell::new(Duration::ZERO),
    };
    evio::serve(&h, &["tcp://127.0.0.1:0"]).unwrap();
    assert_eq!(h.ticks.get(), 3);
    assert_eq!(
        h.first_delay.get(),
        Duration::from_secs(1),
        "delay is one second on entry"
    );
}

#[test]
fn single_loop_handler_needs_only_send() {
    // `Cell` state, moved to the serving thread: `Handler + Send`, not `Sync`.
    struct Count {
        bytes: Cell<usize>,
        ctl: Control,
    }
    impl Handler for Count {
        type Context = ();
        fn serving(&self, s: &ServerInfo<'_>) -> Action {
            self.ctl.serving(s)
        }
        fn opened(&self, conn: &mut Conn<()>) -> Action {
            if self.ctl.is_control(conn) {
                Action::Shutdown
            } else {
                Action::None
            }
        }
        fn data(&self, conn: &mut Conn<()>, input: &[u8]) -> Action {
            self.bytes.set(self.bytes.get() + input.len());
            conn.write(input).unwrap();
            Action::None
        }
    }
    let (ctl, rx) = Control::new();
    let h = Count {
        bytes: Cell::new(0),
        ctl,
    };
    let server = thread::spawn(move || {
        let r = evio::serve(&h, &["tcp://127.0.0.1:0", CONTROL]);
        (r, h.bytes.get())
    });
    let addrs = rx.recv_timeout(TIMEOUT).unwrap().addrs;
    let mut c = tcp(addrs[0].as_socket_addr().unwrap());
    let msg = pattern(5000, 3);
    assert_eq!(round_trip(&mut c, &msg), msg);
    let _stop = tcp(addrs[1].as_socket_addr().unwrap());
    let (r, bytes) = server.join().unwrap();
    r.unwrap();
    assert_eq!(bytes, 5000);
}

// ---------------------------------------------------------------------------------------
// Errors

struct Never(AtomicUsize);

impl Handler for Never {
    type Context = ();
    fn serving(&self, _: &ServerInfo<'_>) -> Action {
        self.0.fetch_add(1, Ordering::SeqCst);
        Action::Shutdown
    }
}

fn serve_err(addrs: &[&str]) -> Error {
    let h = Never(AtomicUsize::new(0));
    let e = evio::serve(&h, addrs).expect_err("serve must fail");
    assert_eq!(
        h.0.load(Ordering::SeqCst),
        0,
        "no callback after a failed start: {e}"
    );
    assert!(e.code() < 0);
    assert!(!e.to_string().is_empty());
    assert!(!e.description().is_empty());
    e
}

#[test]
fn bad_addresses_give_code_and_message() {
    let e = serve_err(&["tcp://:99999"]);
    assert_eq!(e.code(), EVIO_EINVAL);
    assert!(e.message().contains("99999"), "{e}");
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);

    let e = serve_err(&["bogus://127.0.0.1:1"]);
    assert_eq!(e.code(), EVIO_EINVAL);
    assert!(e.message().contains("bogus"), "{e}");

    let e = serve_err(&["tcp://127.0.0.1"]);
    assert_eq!(e.code(), EVIO_EINVAL);
    assert!(e.message().contains("tcp://127.0.0.1"), "{e}");

    let long = format!("unix:///tmp/{}", "x".repeat(200));
    let e = serve_err(&[&long]);
    assert_eq!(e.code(), EVIO_ENAMETOOLONG);

    // Rust-side check: a NUL byte cannot be passed to C.
    let e = serve_err(&["tcp://127.0.0.1:0\0junk"]);
    assert_eq!(e.code(), EVIO_EINVAL);
    assert!(e.message().contains("NUL"), "{e}");

    // The good address is not kept bound when a later one fails.
    let e = serve_err(&["tcp://127.0.0.1:0", "tcp://:70000"]);
    assert!(e.message().contains("70000"), "{e}");

    let empty: &[&str] = &[];
    let e = serve_err(empty);
    assert_eq!(e.code(), EVIO_EINVAL);

    // Error converts to io::Error, and is a std error with Display/Debug.
    let io: std::io::Error = e.clone().into();
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
    let dynerr: Box<dyn std::error::Error + Send + Sync> = Box::new(e.clone());
    assert_eq!(dynerr.to_string(), e.to_string());
    assert!(format!("{e:?}").contains("code"));
}

#[test]
fn address_in_use_and_non_socket_path() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let e = serve_err(&[&format!("tcp://127.0.0.1:{port}")]);
    assert_eq!(e.code(), EVIO_EADDRINUSE, "{e}");

    let file = temp_sock("regular-file");
    std::fs::write(&file, b"not a socket").unwrap();
    let e = serve_err(&[&format!("unix://{}", file.display())]);
    assert!(file.exists(), "a regular file is not removed");
    std::fs::remove_file(&file).unwrap();
    assert!(e.message().contains(&*file.to_string_lossy()), "{e}");
}

// ---------------------------------------------------------------------------------------
// Panics

/// Panics in the event selected by `at`.
struct Panicky {
    ctl: Control,
    at: &'static str,
    drops: Arc<AtomicUsize>,
    opened: AtomicUsize,
}

impl Panicky {
    fn new(at: &'static str) -> (Arc<Panicky>, std::sync::mpsc::Receiver<Served>) {
        let (ctl, rx) = Control::new();
        let h = Panicky {
            ctl,
            at,
            drops: Arc::new(AtomicUsize::new(0)),
            opened: AtomicUsize::new(0),
        };
        (Arc::new(h), rx)
    }
}

impl Handler for Panicky {
    type Context = DropCount;
    const PREWRITE: bool = true;

    fn serving(&self, s: &ServerInfo<'_>) -> Action {
        if self.at == "serving" {
            panic!("boom in serving");
        }
        self.ctl.serving(s)
    }

    fn opened(&self, conn: &mut Conn<DropCount>) -> Action {
        if self.ctl.is_control(conn) {
            return Action::Shutdown;
        }
        self.opened.fetch_add(1, Ordering::SeqCst);
        conn.set_context(DropCount(self.drops.clone()));
        Action::None
    }

    fn data(&self, conn: &mut Conn<DropCount>, input: &[u8]) -> Action {
        if self.at == "data" && input == b"panic" {
            panic!("boom in {}", "data");
        }
        conn.write(input).unwrap();
        Action::None
    }

    fn prewrite(&self, _conn: &mut Conn<DropCount>) {
        if self.at == "prewrite" {
            panic!("boom in prewrite");
        }
    }
}

fn panics_in_data(loops: usize, engine: Engine) {
    quiet_expected_panics();
    let (h, rx) = Panicky::new("data");
    let srv = start_with(
        h.clone(),
        rx,
        Opts::loops(loops).engine(engine),
        &["tcp://127.0.0.1:0"],
    );
    // A bystander connection that must be closed (and its context dropped) too.
    let mut other = tcp(srv.ip(0));
    assert_eq!(round_trip(&mut other, b"fine"), b"fine");
    let mut c = tcp(srv.ip(0));
    assert_eq!(round_trip(&mut c, b"ok"), b"ok");
    c.write_all(b"panic").unwrap();

    let payload = srv
        .wait()
        .expect_err("serve resumes the panic on its caller's thread");
    assert_eq!(panic_message(payload), "boom in data");
    // The server shut down: both clients see the end of their connection.
    read_to_eof(&mut c);
    read_to_eof(&mut other);
    assert_eq!(
        h.drops.load(Ordering::SeqCst),
        h.opened.load(Ordering::SeqCst)
    );
}

fn panic_in_data_single_loop(engine: Engine, _: &str) {
    panics_in_data(1, engine);
}

fn panic_in_data_multiple_loops(engine: Engine, _: &str) {
    panics_in_data(3, engine);
}

#[test]
fn panic_in_serving() {
    quiet_expected_panics();
    let (h, _rx) = Panicky::new("serving");
    let h2 = h.clone();
    let r = thread::spawn(move || {
        evio::Server::new()
            .loops(2)
            .serve(&*h2, &["tcp://127.0.0.1:0"])
    })
    .join();
    assert_eq!(
        panic_message(r.expect_err("panic resumed")),
        "boom in serving"
    );
    assert_eq!(h.opened.load(Ordering::SeqCst), 0);
}

fn panic_in_prewrite(engine: Engine, _: &str) {
    quiet_expected_panics();
    let (h, rx) = Panicky::new("prewrite");
    let srv = start_with(
        h.clone(),
        rx,
        Opts::loops(1).engine(engine),
        &["tcp://127.0.0.1:0"],
    );
    let mut c = tcp(srv.ip(0));
    c.write_all(b"x").unwrap();
    let payload = srv.wait().expect_err("panic resumed");
    assert_eq!(panic_message(payload), "boom in prewrite");
    read_to_eof(&mut c);
    assert_eq!(h.drops.load(Ordering::SeqCst), 1);
}

#[test]
fn panic_in_tick() {
    quiet_expected_panics();
    struct H;
    impl Handler for H {
        type Context = ();
        fn tick(&self, _: &mut Duration) -> Action {
            panic!("boom in tick");
        }
    }
    let r = thread::spawn(|| evio::serve(&H, &["tcp://127.0.0.1:0"])).join();
    assert_eq!(panic_message(r.expect_err("panic resumed")), "boom in tick");
}

#[test]
fn version_is_reported() {
    let (major, _, _) = evio::version();
    assert_eq!(major as i32, evio::sys::EVIO_VERSION_MAJOR);
    assert!(evio::version_string().starts_with(&format!("{major}.")));
}
