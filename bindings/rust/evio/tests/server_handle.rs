//! The server handle: `Server::start`, `ServerHandle::{stop, wait, post}`, its accessors,
//! draining, `Drop`, and panics.

mod common;

use std::io::{Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::*;
use evio::sys::{EVIO_EINVAL, EVIO_ENOTCONN, EVIO_EPERM, EVIO_ETIMEDOUT};
use evio::{Action, Addr, Conn, Engine, Error, Handler, Server, ServerHandle, ServerInfo};

on_both_engines!(
    start_returns_after_serving_and_accessors_work_from_any_thread,
    drain_delivers_pending_output_before_the_deadline,
    drain_deadline_closes_the_rest_with_etimedout,
    post_runs_on_each_loop_of_a_server_without_addresses,
    drop_stops_waits_and_drops_the_handler,
    wait_on_own_loop_is_eperm_and_drop_there_only_stops,
    wait_on_own_loop_does_not_block_behind_another_waiter,
    panic_in_data_is_resumed_by_wait,
);

const BIG: usize = 16 << 20;

// ---------------------------------------------------------------------------------------
// Start, accessors, stop, wait

struct Echoing {
    serving_thread: Mutex<Option<thread::ThreadId>>,
    serving_calls: AtomicUsize,
    opened: Sender<()>,
    closed: AtomicUsize,
}

impl Handler for Echoing {
    type Context = ();

    fn serving(&self, s: &ServerInfo<'_>) -> Action {
        assert_eq!(s.num_addrs(), 2);
        *self.serving_thread.lock().unwrap() = Some(thread::current().id());
        self.serving_calls.fetch_add(1, Ordering::SeqCst);
        Action::None
    }

    fn opened(&self, _: &mut Conn<()>) -> Action {
        self.opened.send(()).unwrap();
        Action::None
    }

    fn data(&self, conn: &mut Conn<()>, input: &[u8]) -> Action {
        conn.write(input).unwrap();
        Action::None
    }

    fn closed(&self, _: &mut Conn<()>, _: Option<Error>) -> Action {
        self.closed.fetch_add(1, Ordering::SeqCst);
        Action::None
    }
}

fn start_returns_after_serving_and_accessors_work_from_any_thread(engine: Engine, name: &str) {
    let path = temp_sock("handle");
    let (otx, orx) = channel();
    let h = Arc::new(Echoing {
        serving_thread: Mutex::new(None),
        serving_calls: AtomicUsize::new(0),
        opened: otx,
        closed: AtomicUsize::new(0),
    });
    let server = Server::new()
        .loops(2)
        .engine(engine)
        .start(
            h.clone(),
            &[
                "tcp://127.0.0.1:0".to_string(),
                format!("unix://{}", path.display()),
            ],
        )
        .expect("start");
    // `serving` ran on this thread, before start returned.
    assert_eq!(h.serving_calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        *h.serving_thread.lock().unwrap(),
        Some(thread::current().id())
    );

    assert_eq!(server.num_addrs(), 2);
    assert_eq!(server.num_loops(), 2);
    assert_eq!(server.engine_name(), name);
    let ip = server
        .addr(0)
        .and_then(Addr::as_socket_addr)
        .expect("an IP address");
    assert!(ip.ip().is_loopback() && ip.port() != 0, "{ip}");
    assert_eq!(
        server.addr_string(0),
        Some(format!("tcp://127.0.0.1:{}", ip.port()).as_str())
    );
    assert_eq!(server.addr(1), Some(&Addr::Unix(Some(path.clone()))));
    assert_eq!(server.addr(2), None);
    assert_eq!(server.addr_string(2), None);
    assert!(format!("{server:?}").contains(name));

    thread::scope(|s| {
        // The accessors from another thread.
        let other = s.spawn(|| (server.addrs().to_vec(), server.num_loops()));
        let (addrs, loops) = other.join().unwrap();
        assert_eq!(addrs, server.addrs());
        assert_eq!(loops, 2);
    });

    let mut c = tcp(ip);
    orx.recv_timeout(TIMEOUT).expect("opened");
    let msg = pattern(100_000, 9);
    assert_eq!(round_trip(&mut c, &msg), msg);
    let mut u = unix(&path);
    assert_eq!(round_trip(&mut u, b"over unix"), b"over unix");

    // Stop and wait from another thread; the open connections are closed.
    thread::scope(|s| {
        s.spawn(|| {
            server.stop(Duration::ZERO);
            server.wait()
        })
        .join()
        .unwrap()
        .expect("wait");
    });
    assert_eq!(
        h.closed.load(Ordering::SeqCst),
        2,
        "closed for each connection"
    );
    assert_eq!(read_to_eof(&mut c), b"");
    assert!(!path.exists(), "the unix socket file is removed by wait");
    // Waiting again gives the same result at once; the accessors still answer.
    server.wait().expect("second wait");
    assert_eq!(server.addr(0).and_then(Addr::as_socket_addr), Some(ip));
    drop(server);
    assert_eq!(Arc::strong_count(&h), 1, "the server dropped its handler");
}

// ---------------------------------------------------------------------------------------
// Drain

/// Writes `payload` in `opened` and reports what is pending then; reports `closed`.
struct Bulk {
    payload: Arc<Vec<u8>>,
    pending: Sender<usize>,
    closed: Sender<Option<Error>>,
}

impl Handler for Bulk {
    type Context = ();

    fn opened(&self, conn: &mut Conn<()>) -> Action {
        conn.write(&self.payload).unwrap();
        self.pending.send(conn.pending().unwrap()).unwrap();
        Action::None
    }

    fn data(&self, _: &mut Conn<()>, input: &[u8]) -> Action {
        panic!("no input is read while draining: got {} bytes", input.len());
    }

    fn closed(&self, _: &mut Conn<()>, err: Option<Error>) -> Action {
        self.closed.send(err).unwrap();
        Action::None
    }
}

/// A `Bulk` server with what it reports.
struct BulkServer {
    server: ServerHandle,
    payload: Arc<Vec<u8>>,
    pending: Receiver<usize>,
    closed: Receiver<Option<Error>>,
}

fn start_bulk(engine: Engine) -> BulkServer {
    let payload = Arc::new(pattern(BIG, 1));
    let (ptx, prx) = channel();
    let (ctx, crx) = channel();
    let h = Bulk {
        payload: payload.clone(),
        pending: ptx,
        closed: ctx,
    };
    let server = Server::new()
        .loops(2)
        .engine(engine)
        .start(h, &["tcp://127.0.0.1:0"])
        .expect("start");
    BulkServer {
        server,
        payload,
        pending: prx,
        closed: crx,
    }
}

fn drain_delivers_pending_output_before_the_deadline(engine: Engine, _: &str) {
    let BulkServer {
        server,
        payload,
        pending: prx,
        closed: crx,
    } = start_bulk(engine);
    let mut c = tcp(server.addr(0).unwrap().as_socket_addr().unwrap());
    let pending = prx.recv_timeout(TIMEOUT).expect("opened");
    assert!(pending > 0, "output still pending when the stop comes");

    let (stx, srx) = channel();
    thread::scope(|s| {
        let stopper = s.spawn(|| {
            server.stop(TIMEOUT);
            stx.send(()).unwrap();
            server.wait()
        });
        srx.recv_timeout(TIMEOUT).expect("stop called");
        let mut got = vec![0u8; BIG];
        c.read_exact(&mut got).expect("every pending byte arrives");
        assert!(got == *payload, "the bytes arrive unchanged");
        assert_eq!(read_to_eof(&mut c), b"", "then the end of the stream");
        stopper.join().unwrap().expect("wait after a drain");
    });
    let err = crx.recv_timeout(TIMEOUT).expect("closed");
    assert!(
        err.is_none(),
        "a drained connection closes in order: {err:?}"
    );
}

fn drain_deadline_closes_the_rest_with_etimedout(engine: Engine, _: &str) {
    let BulkServer {
        server,
        pending: prx,
        closed: crx,
        ..
    } = start_bulk(engine);
    let c = tcp(server.addr(0).unwrap().as_socket_addr().unwrap());
    assert!(prx.recv_timeout(TIMEOUT).expect("opened") > 0);
    // The client never reads: 16 MiB cannot leave, so the deadline closes it.
    server.stop(Duration::from_millis(100));
    server.wait().expect("wait after a deadline");
    let err = crx
        .recv_timeout(TIMEOUT)
        .expect("closed")
        .expect("closed with an error");
    assert_eq!(err.code(), EVIO_ETIMEDOUT, "{err:?}");
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    drop(c);
}

// ---------------------------------------------------------------------------------------
// Post to loops

struct Nothing;

impl Handler for Nothing {
    type Context = ();
}

fn post_runs_on_each_loop_of_a_server_without_addresses(engine: Engine, _: &str) {
    let none: &[&str] = &[];
    let server = Server::new()
        .loops(3)
        .engine(engine)
        .start(Nothing, none)
        .expect("a server without addresses starts");
    assert_eq!(server.num_addrs(), 0);
    assert_eq!(server.num_loops(), 3);

    let ran = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = channel();
    for i in 0..3 {
        let tx = tx.clone();
        let ran = ran.clone();
        server
            .post(i, move |at| {
                ran.fetch_add(1, Ordering::SeqCst);
                tx.send((i, at, thread::current().id())).unwrap();
            })
            .expect("post");
    }
    let mut threads = std::collections::HashSet::new();
    for _ in 0..3 {
        let (i, at, id) = rx.recv_timeout(TIMEOUT).expect("posted function ran");
        assert_eq!(at, Some(i), "runs on the loop it was posted to");
        assert_ne!(id, thread::current().id());
        threads.insert(id);
    }
    assert_eq!(threads.len(), 3, "one thread per loop");

    // No such loop: an error, and the function runs at once with None.
    let (etx, erx) = channel();
    let e = server
        .post(3, move |at| etx.send(at).unwrap())
        .expect_err("loop 3 of 3");
    assert_eq!(e.code(), EVIO_EINVAL, "{e}");
    assert_eq!(erx.try_recv(), Ok(None));

    server.stop(Duration::ZERO);
    server.wait().unwrap();
    // After the stop: ENOTCONN, and the function still runs once, with None.
    let (ltx, lrx) = channel();
    let e = server
        .post(0, move |at| ltx.send(at).unwrap())
        .expect_err("post after the server stopped");
    assert_eq!(e.code(), EVIO_ENOTCONN, "{e}");
    assert_eq!(lrx.try_recv(), Ok(None));
    assert_eq!(ran.load(Ordering::SeqCst), 3);
}

// ---------------------------------------------------------------------------------------
// Drop

fn drop_stops_waits_and_drops_the_handler(engine: Engine, _: &str) {
    let (otx, orx) = channel();
    let h = Arc::new(Echoing {
        serving_thread: Mutex::new(None),
        serving_calls: AtomicUsize::new(0),
        opened: otx,
        closed: AtomicUsize::new(0),
    });
    let path = temp_sock("drop");
    let server = Server::new()
        .loops(1)
        .engine(engine)
        .start(
            h.clone(),
            &[
                "tcp://127.0.0.1:0".to_string(),
                format!("unix://{}", path.display()),
            ],
        )
        .unwrap();
    let mut c = tcp(server.addr(0).unwrap().as_socket_addr().unwrap());
    orx.recv_timeout(TIMEOUT).expect("opened");
    drop(server);
    // Drop returned: the server has stopped, closed its connection and let go of the handler.
    assert_eq!(h.closed.load(Ordering::SeqCst), 1);
    assert_eq!(Arc::strong_count(&h), 1);
    assert_eq!(read_to_eof(&mut c), b"");
    assert!(!path.exists());
}

fn wait_on_own_loop_is_eperm_and_drop_there_only_stops(engine: Engine, _: &str) {
    /// Keeps the handle of its own server (the last reference to it, once the test drops
    /// its own), and uses it on its own loop.
    struct Holder {
        slot: Mutex<Option<Arc<ServerHandle>>>,
        wait_err: Sender<i32>,
        dropped: Sender<()>,
    }
    impl Handler for Holder {
        type Context = ();
        fn data(&self, _: &mut Conn<()>, input: &[u8]) -> Action {
            if input == b"wait" {
                let h = self.slot.lock().unwrap().clone().expect("handle set");
                let e = h.wait().expect_err("wait on the server's own loop");
                self.wait_err.send(e.code()).unwrap();
            } else if input == b"drop" {
                let h = self.slot.lock().unwrap().take().expect("handle set");
                drop(h); // the last reference: Drop runs here, on the loop
                self.dropped.send(()).unwrap();
            }
            Action::None
        }
    }
    let (wtx, wrx) = channel();
    let (dtx, drx) = channel();
    let h = Arc::new(Holder {
        slot: Mutex::new(None),
        wait_err: wtx,
        dropped: dtx,
    });
    let server = Arc::new(
        Server::new()
            .loops(1)
            .engine(engine)
            .start(h.clone(), &["tcp://127.0.0.1:0"])
            .unwrap(),
    );
    let addr = server.addr(0).unwrap().as_socket_addr().unwrap();
    *h.slot.lock().unwrap() = Some(server.clone());
    drop(server);

    let mut c = tcp(addr);
    c.write_all(b"wait").unwrap();
    assert_eq!(wrx.recv_timeout(TIMEOUT), Ok(EVIO_EPERM));
    c.write_all(b"drop").unwrap();
    drx.recv_timeout(TIMEOUT)
        .expect("the handle was dropped on its loop");
    // The server stopped (its connection closes); the handler was kept alive.
    assert_eq!(read_to_eof(&mut c), b"");
    assert!(
        Arc::strong_count(&h) >= 2,
        "leaked, not freed under the running loop"
    );
}

/// Stops its own server from a callback, after trying to wait for it there.
struct StopFromLoop {
    slot: Mutex<Option<Arc<ServerHandle>>>,
    wait_err: Sender<i32>,
}

impl Handler for StopFromLoop {
    type Context = ();

    fn data(&self, _: &mut Conn<()>, input: &[u8]) -> Action {
        let h = self.slot.lock().unwrap().clone().expect("handle set");
        if input == b"wait" {
            // Another thread holds the handle's wait: this must not block behind it.
            let e = h.wait().expect_err("wait on the server's own loop");
            self.wait_err.send(e.code()).unwrap();
        } else if input == b"stop" {
            h.stop(Duration::ZERO);
        }
        Action::None
    }
}

fn wait_on_own_loop_does_not_block_behind_another_waiter(engine: Engine, _: &str) {
    let (wtx, wrx) = channel();
    let h = Arc::new(StopFromLoop {
        slot: Mutex::new(None),
        wait_err: wtx,
    });
    let server = Arc::new(
        Server::new()
            .loops(2)
            .engine(engine)
            .start(h.clone(), &["tcp://127.0.0.1:0"])
            .unwrap(),
    );
    *h.slot.lock().unwrap() = Some(server.clone());
    let waiter = {
        let server = server.clone();
        thread::spawn(move || server.wait())
    };
    let mut c = tcp(server.addr(0).unwrap().as_socket_addr().unwrap());
    c.write_all(b"wait").unwrap();
    assert_eq!(wrx.recv_timeout(TIMEOUT), Ok(EVIO_EPERM));
    c.write_all(b"stop").unwrap();
    waiter.join().unwrap().expect("the other waiter returns");
    assert_eq!(read_to_eof(&mut c), b"");
    // Break the cycle handler -> handle -> handler; the last handle goes on this thread.
    h.slot.lock().unwrap().take();
    drop(server);
    assert_eq!(Arc::strong_count(&h), 1);
}

// ---------------------------------------------------------------------------------------
// Panics

struct PanicIn(&'static str);

impl Handler for PanicIn {
    type Context = ();

    fn serving(&self, _: &ServerInfo<'_>) -> Action {
        if self.0 == "serving" {
            panic!("boom in serving");
        }
        Action::None
    }

    fn data(&self, _: &mut Conn<()>, _: &[u8]) -> Action {
        panic!("boom in data");
    }
}

#[test]
fn panic_in_serving_is_resumed_by_start() {
    quiet_expected_panics();
    let r = catch_unwind(|| {
        Server::new()
            .loops(2)
            .start(PanicIn("serving"), &["tcp://127.0.0.1:0"])
            .map(drop)
    });
    assert_eq!(
        panic_message(r.expect_err("panic resumed")),
        "boom in serving"
    );
}

fn panic_in_data_is_resumed_by_wait(engine: Engine, _: &str) {
    quiet_expected_panics();
    let server = Server::new()
        .loops(2)
        .engine(engine)
        .start(PanicIn("data"), &["tcp://127.0.0.1:0"])
        .unwrap();
    let mut c = tcp(server.addr(0).unwrap().as_socket_addr().unwrap());
    c.write_all(b"x").unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| server.wait()));
    assert_eq!(panic_message(r.expect_err("panic resumed")), "boom in data");
    read_to_eof(&mut c);
    // The panic is resumed once; the server's result stays.
    server.wait().expect("second wait");
}

#[test]
fn bad_settings_and_addresses_fail_start() {
    let e = Server::new()
        .start(Nothing, &["tcp://:99999"])
        .expect_err("bad port");
    assert_eq!(e.code(), EVIO_EINVAL);
    assert!(e.message().contains("99999"), "{e}");
    let e = Server::new()
        .watermarks(10, 5)
        .start(Nothing, &["tcp://127.0.0.1:0"])
        .expect_err("low above high");
    assert_eq!(e.code(), EVIO_EINVAL);
    let e = Server::new()
        .watermarks(0, 0)
        .start(Nothing, &["tcp://127.0.0.1:0"])
        .expect_err("high of 0");
    assert_eq!(e.code(), EVIO_EINVAL);
    let e = Server::new()
        .output_limit(Some(0))
        .serve(&Nothing, &["tcp://127.0.0.1:0"])
        .expect_err("output limit of 0");
    assert_eq!(e.code(), EVIO_EINVAL);
}

#[test]
fn handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync + 'static>() {}
    fn clone<T: Clone>() {}
    send_sync::<ServerHandle>();
    send_sync::<evio::ConnSender<()>>();
    send_sync::<evio::ConnSender<Vec<u8>>>();
    send_sync::<evio::Waker>();
    clone::<evio::ConnSender<()>>();
}
