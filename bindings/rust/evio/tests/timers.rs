//! Timers and timeouts: connection and loop timers (fire once, on their loop, not before
//! their delay; cancel; their closures dropped exactly once whether they fire, are
//! cancelled, or end with their connection or server), the idle/read/write timeouts
//! closing with `EVIO_ETIMEDOUT`, and `Conn::close` from a timer and a posted closure.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use evio::sys::{EVIO_EINVAL, EVIO_ENOTCONN, EVIO_ENOTSUP, EVIO_EPERM};
use evio::{start_loop_timer, Action, Conn, Engine, Error, Handler, Server, ServerHandle};

on_both_engines!(
    idle_timeout_of_the_server_closes_with_etimedout,
    read_timeout_closes_with_etimedout,
    write_timeout_closes_a_connection_whose_output_does_not_leave,
    cleared_timeouts_do_not_fire,
    conn_timer_fires_once_on_the_loop_and_is_dropped_once,
    rearming_in_the_closure_makes_a_periodic_timer,
    cancel_prevents_the_timer_and_drops_its_closure,
    timers_end_with_their_connection_after_closed,
    loop_timers_fire_cancel_and_end_at_shutdown,
    loop_timer_can_shut_the_server_down,
    close_from_a_timer_and_from_a_posted_closure,
    panics_in_timers_stop_the_server,
    bad_timeouts_and_udp_senders,
);

type OnOpened = Box<dyn Fn(&mut Conn<()>) -> Action + Send + Sync>;

/// What `closed` saw.
struct Closed {
    err: Option<Error>,
    at: Instant,
}

/// A handler whose `opened` is a closure given by each test; `closed` reports.
struct Scripted {
    opened: OnOpened,
    closed: Mutex<Sender<Closed>>,
}

impl Handler for Scripted {
    type Context = ();

    fn opened(&self, conn: &mut Conn<()>) -> Action {
        (self.opened)(conn)
    }

    fn closed(&self, _: &mut Conn<()>, err: Option<Error>) -> Action {
        let _ = self.closed.lock().unwrap().send(Closed {
            err,
            at: Instant::now(),
        });
        Action::None
    }
}

fn scripted(
    opened: impl Fn(&mut Conn<()>) -> Action + Send + Sync + 'static,
) -> (Scripted, std::sync::mpsc::Receiver<Closed>) {
    let (tx, rx) = channel();
    let h = Scripted {
        opened: Box::new(opened),
        closed: Mutex::new(tx),
    };
    (h, rx)
}

fn start<H: Handler + Send + 'static>(server: Server, engine: Engine, h: H) -> ServerHandle {
    server
        .engine(engine)
        .start(h, &["tcp://127.0.0.1:0"])
        .expect("start")
}

fn ip(server: &ServerHandle) -> SocketAddr {
    server.addr(0).unwrap().as_socket_addr().unwrap()
}

fn stop(server: ServerHandle) {
    server.stop(Duration::ZERO);
    server.wait().expect("wait");
}

fn closed(rx: &std::sync::mpsc::Receiver<Closed>) -> Closed {
    rx.recv_timeout(TIMEOUT).expect("closed")
}

fn assert_timed_out(c: &Closed, since: Instant, at_least: Duration) {
    let err = c.err.as_ref().expect("closed with an error");
    assert!(err.is_timeout(), "closed with {err:?}, not ETIMEDOUT");
    let took = c.at - since;
    assert!(
        took >= at_least,
        "closed after {took:?}, before {at_least:?}"
    );
}

const MS: Duration = Duration::from_millis(1);

// ---------------------------------------------------------------------------------------
// Timeouts

fn idle_timeout_of_the_server_closes_with_etimedout(engine: Engine, _: &str) {
    let (h, rx) = scripted(|_| Action::None);
    let server = start(Server::new().idle_timeout(Some(40 * MS)), engine, h);
    let t0 = Instant::now();
    let mut c = tcp(ip(&server));
    assert_eq!(
        read_to_eof(&mut c),
        b"",
        "the server closes the silent connection"
    );
    assert_timed_out(&closed(&rx), t0, 40 * MS);
    stop(server);
}

fn read_timeout_closes_with_etimedout(engine: Engine, _: &str) {
    let (h, rx) = scripted(|conn| {
        conn.set_read_timeout(Some(40 * MS)).unwrap();
        Action::None
    });
    let server = start(Server::new(), engine, h);
    let t0 = Instant::now();
    let mut c = tcp(ip(&server));
    assert_eq!(read_to_eof(&mut c), b"");
    assert_timed_out(&closed(&rx), t0, 40 * MS);
    stop(server);
}

fn write_timeout_closes_a_connection_whose_output_does_not_leave(engine: Engine, _: &str) {
    // More than the loopback socket buffers hold, to a client that never reads.
    let big = vec![7u8; 32 << 20];
    let (h, rx) = scripted(move |conn| {
        conn.write(&big).unwrap();
        conn.set_write_timeout(Some(50 * MS)).unwrap();
        Action::None
    });
    let server = start(Server::new(), engine, h);
    let t0 = Instant::now();
    let c = tcp(ip(&server));
    assert_timed_out(&closed(&rx), t0, 50 * MS);
    drop(c);
    stop(server);
}

fn cleared_timeouts_do_not_fire(engine: Engine, _: &str) {
    // The server's idle timeout and a read timeout, both turned off again; a timer closes
    // the connection well after both would have fired.
    let (h, rx) = scripted(|conn| {
        conn.set_idle_timeout(None).unwrap();
        conn.set_read_timeout(Some(20 * MS)).unwrap();
        conn.set_read_timeout(None).unwrap();
        conn.set_write_timeout(Some(20 * MS)).unwrap(); // nothing pending: clears at once
        conn.start_timer(150 * MS, |conn| {
            conn.write(b"bye").unwrap();
            Action::Close
        })
        .unwrap();
        Action::None
    });
    let server = start(Server::new().idle_timeout(Some(20 * MS)), engine, h);
    let mut c = tcp(ip(&server));
    assert_eq!(read_to_eof(&mut c), b"bye");
    let cl = closed(&rx);
    assert!(cl.err.is_none(), "closed with {:?}", cl.err);
    stop(server);
}

// ---------------------------------------------------------------------------------------
// Connection timers

fn conn_timer_fires_once_on_the_loop_and_is_dropped_once(engine: Engine, _: &str) {
    let fired = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let (report_tx, report_rx) = channel();
    let (f2, d2) = (fired.clone(), drops.clone());
    let report = Mutex::new(report_tx);
    let (h, rx) = scripted(move |conn| {
        let (fired, guard) = (f2.clone(), DropCount(d2.clone()));
        let (loop_thread, t0) = (thread::current().id(), Instant::now());
        let report = report.lock().unwrap().clone();
        conn.start_timer(30 * MS, move |conn| {
            let _keep = &guard; // moved in: dropped once the closure has run
            fired.fetch_add(1, Ordering::SeqCst);
            report
                .send((thread::current().id() == loop_thread, t0.elapsed()))
                .unwrap();
            conn.write(b"T").unwrap();
            Action::None
        })
        .unwrap();
        Action::None
    });
    let server = start(Server::new(), engine, h);
    let mut c = tcp(ip(&server));
    let mut t = [0u8; 1];
    c.read_exact(&mut t).expect("the timer's output");
    assert_eq!(&t, b"T");
    let (on_loop, after) = report_rx.recv_timeout(TIMEOUT).unwrap();
    assert!(
        on_loop,
        "the timer ran on another thread than its connection's loop"
    );
    assert!(after >= 30 * MS, "fired after {after:?}, before its delay");
    // The connection goes on as before; the closure is gone.
    c.write_all(b"x").unwrap();
    drop(c);
    assert!(closed(&rx).err.is_none());
    stop(server);
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "closure dropped once");
}

/// Writes `n`, then `n + 1` on the next turn, ... up to 3, then closes.
fn count_to_three(conn: &mut Conn<()>, n: u8) {
    conn.start_timer(Duration::ZERO, move |conn| {
        conn.write(&[b'0' + n]).unwrap();
        if n == 3 {
            return Action::Close;
        }
        count_to_three(conn, n + 1);
        Action::None
    })
    .unwrap();
}

fn rearming_in_the_closure_makes_a_periodic_timer(engine: Engine, _: &str) {
    let (h, rx) = scripted(|conn| {
        count_to_three(conn, 1);
        Action::None
    });
    let server = start(Server::new(), engine, h);
    let mut c = tcp(ip(&server));
    assert_eq!(read_to_eof(&mut c), b"123");
    assert!(closed(&rx).err.is_none());
    stop(server);
}

fn cancel_prevents_the_timer_and_drops_its_closure(engine: Engine, _: &str) {
    let drops = Arc::new(AtomicUsize::new(0));
    let (id_tx, id_rx) = channel();
    let d2 = drops.clone();
    let id_tx = Mutex::new(id_tx);
    let (h, rx) = scripted(move |conn| {
        let guard = DropCount(d2.clone());
        let a = conn
            .start_timer(30 * MS, move |conn| {
                let _keep = &guard;
                conn.write(b"A").unwrap();
                Action::None
            })
            .unwrap();
        assert_eq!(d2.load(Ordering::SeqCst), 0);
        assert!(a.cancel(), "a pending timer is cancelled");
        assert_eq!(
            d2.load(Ordering::SeqCst),
            1,
            "cancel drops the closure at once"
        );
        assert!(!a.cancel(), "a second cancel does nothing");
        let b = conn
            .start_timer(200 * MS, |conn| {
                conn.write(b"B").unwrap();
                Action::Close
            })
            .unwrap();
        assert_ne!(a, b, "ids are not reused");
        id_tx.lock().unwrap().send(b).unwrap();
        Action::None
    });
    let server = start(Server::new(), engine, h);
    let mut c = tcp(ip(&server));
    let b = id_rx.recv_timeout(TIMEOUT).unwrap();
    assert!(!b.cancel(), "cancel off the loop cancels nothing");
    assert_eq!(
        read_to_eof(&mut c),
        b"B",
        "only the timer not cancelled fired"
    );
    assert!(closed(&rx).err.is_none());
    stop(server);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

/// What `EndCheck::closed` saw: the drop count before, the code of a timer started then,
/// the drop count after, and the error.
type AtClosed = (usize, i32, usize, Option<Error>);

/// Starts three hour-long timers on every connection; `closed` reports the drop count it
/// sees and what starting a timer on the closed connection gives.
struct EndCheck {
    drops: Arc<AtomicUsize>,
    fired: Arc<AtomicUsize>,
    report: Mutex<Sender<AtClosed>>,
}

impl Handler for EndCheck {
    type Context = ();

    fn opened(&self, conn: &mut Conn<()>) -> Action {
        for _ in 0..3 {
            let (guard, fired) = (DropCount(self.drops.clone()), self.fired.clone());
            conn.start_timer(Duration::from_secs(3600), move |_| {
                let _keep = &guard;
                fired.fetch_add(1, Ordering::SeqCst);
                Action::None
            })
            .unwrap();
        }
        Action::None
    }

    fn closed(&self, conn: &mut Conn<()>, err: Option<Error>) -> Action {
        let before = self.drops.load(Ordering::SeqCst);
        let guard = DropCount(self.drops.clone());
        let code = conn
            .start_timer(MS, move |_| {
                let _keep = &guard;
                Action::None
            })
            .unwrap_err()
            .code();
        let after = self.drops.load(Ordering::SeqCst);
        let report = (before, code, after, err);
        self.report.lock().unwrap().send(report).unwrap();
        Action::None
    }
}

fn timers_end_with_their_connection_after_closed(engine: Engine, _: &str) {
    let drops = Arc::new(AtomicUsize::new(0));
    let fired = Arc::new(AtomicUsize::new(0));
    let (tx, reports) = channel();
    let h = EndCheck {
        drops: drops.clone(),
        fired: fired.clone(),
        report: Mutex::new(tx),
    };
    let server = start(Server::new(), engine, h);
    drop(tcp(ip(&server))); // the client goes: the connection closes, its timers end
    let (before, code, after, err) = reports.recv_timeout(TIMEOUT).unwrap();
    assert!(err.is_none(), "closed with {err:?}");
    assert_eq!(before, 0, "the timers end after closed, not before");
    assert_eq!(code, EVIO_ENOTCONN, "no timer on a closed connection");
    assert_eq!(
        after, 1,
        "a closure that could not start is dropped at once"
    );
    // A function posted to the loop now runs after the timers' last calls.
    let (tx, seen) = channel();
    let d2 = drops.clone();
    server
        .post(0, move |_| tx.send(d2.load(Ordering::SeqCst)).unwrap())
        .unwrap();
    assert_eq!(
        seen.recv_timeout(TIMEOUT).unwrap(),
        4,
        "each closure dropped once"
    );
    stop(server);
    assert_eq!(drops.load(Ordering::SeqCst), 4);
    assert_eq!(fired.load(Ordering::SeqCst), 0);
}

// ---------------------------------------------------------------------------------------
// Loop timers

/// A handler whose `tick` starts a loop timer once.
struct Ticking {
    fired: Mutex<Sender<&'static str>>,
}

impl Handler for Ticking {
    type Context = ();

    fn tick(&self, delay: &mut Duration) -> Action {
        let tx = self.fired.lock().unwrap().clone();
        start_loop_timer(10 * MS, move || {
            tx.send("from tick").unwrap();
            Action::None
        })
        .unwrap();
        *delay = Duration::MAX;
        Action::None
    }
}

fn loop_timers_fire_cancel_and_end_at_shutdown(engine: Engine, _: &str) {
    let (tx, fired) = channel();
    let h = Ticking {
        fired: Mutex::new(tx.clone()),
    };
    let server = Server::new()
        .engine(engine)
        .start(h, &[] as &[&str])
        .expect("start");
    assert_eq!(fired.recv_timeout(TIMEOUT).unwrap(), "from tick");

    let drops = Arc::new(AtomicUsize::new(0));
    let (d2, t0) = (drops.clone(), Instant::now());
    let (checks_tx, checks) = channel();
    server
        .post(0, move |index| {
            assert_eq!(index, Some(0));
            start_loop_timer(20 * MS, move || {
                tx.send(if t0.elapsed() >= 20 * MS {
                    "from post"
                } else {
                    "too early"
                })
                .unwrap();
                Action::None
            })
            .unwrap();
            let guard = DropCount(d2.clone());
            let cancelled = start_loop_timer(10 * MS, move || {
                let _keep = &guard;
                panic!("a cancelled timer ran")
            })
            .unwrap();
            let cancel = cancelled.cancel();
            let dropped = d2.load(Ordering::SeqCst);
            let guard = DropCount(d2.clone());
            start_loop_timer(Duration::from_secs(3600), move || {
                let _keep = &guard;
                panic!("a timer of an hour ran")
            })
            .unwrap();
            checks_tx.send((cancel, dropped)).unwrap();
        })
        .unwrap();
    assert_eq!(checks.recv_timeout(TIMEOUT).unwrap(), (true, 1));
    assert_eq!(fired.recv_timeout(TIMEOUT).unwrap(), "from post");

    // Not on a loop: refused, and the closure goes at once.
    let guard = DropCount(drops.clone());
    let err = start_loop_timer(MS, move || {
        let _keep = &guard;
        Action::None
    })
    .unwrap_err();
    assert_eq!(err.code(), EVIO_EPERM);
    assert_eq!(drops.load(Ordering::SeqCst), 2);

    stop(server); // the hour-long timer ends without running
    assert_eq!(drops.load(Ordering::SeqCst), 3);
}

fn loop_timer_can_shut_the_server_down(engine: Engine, _: &str) {
    let server = Server::new()
        .engine(engine)
        .start(Ticking::quiet(), &[] as &[&str])
        .expect("start");
    server
        .post(0, |_| {
            start_loop_timer(10 * MS, || Action::Shutdown).unwrap();
        })
        .unwrap();
    let (tx, done) = channel();
    thread::spawn(move || tx.send(server.wait()).unwrap());
    done.recv_timeout(TIMEOUT)
        .expect("the timer shut the server down")
        .unwrap();
}

impl Ticking {
    /// A handler without ticks.
    fn quiet() -> impl Handler + Send + 'static {
        struct Quiet;
        impl Handler for Quiet {
            type Context = ();
        }
        Quiet
    }
}

// ---------------------------------------------------------------------------------------
// Close

fn close_from_a_timer_and_from_a_posted_closure(engine: Engine, _: &str) {
    let (sender_tx, senders) = channel();
    let senders_tx = Mutex::new(sender_tx);
    let first = AtomicUsize::new(0);
    let (h, rx) = scripted(move |conn| {
        if first.fetch_add(1, Ordering::SeqCst) == 0 {
            conn.start_timer(10 * MS, |conn| {
                conn.write(b"closed by a timer").unwrap();
                conn.close().unwrap();
                Action::None
            })
            .unwrap();
        } else {
            senders_tx
                .lock()
                .unwrap()
                .send(conn.sender().unwrap())
                .unwrap();
        }
        Action::None
    });
    let server = start(Server::new(), engine, h);
    let mut a = tcp(ip(&server));
    assert_eq!(read_to_eof(&mut a), b"closed by a timer");
    assert!(closed(&rx).err.is_none());

    let mut b = tcp(ip(&server));
    let sender = senders.recv_timeout(TIMEOUT).unwrap();
    sender
        .post(|conn| {
            let conn = conn.expect("open");
            conn.write(b"closed by a post").unwrap();
            conn.close().unwrap();
        })
        .unwrap();
    assert_eq!(read_to_eof(&mut b), b"closed by a post");
    assert!(closed(&rx).err.is_none());
    stop(server);
}

// ---------------------------------------------------------------------------------------
// Panics and errors

fn panics_in_timers_stop_the_server(engine: Engine, _: &str) {
    quiet_expected_panics();
    let (h, _rx) = scripted(|conn| {
        conn.start_timer(10 * MS, |_| panic!("boom in a connection timer"))
            .unwrap();
        Action::None
    });
    let server = start(Server::new(), engine, h);
    let _c = tcp(ip(&server));
    let p = catch_unwind(AssertUnwindSafe(|| server.wait())).expect_err("resumed");
    assert_eq!(panic_message(p), "boom in a connection timer");

    let server = Server::new()
        .engine(engine)
        .start(Ticking::quiet(), &[] as &[&str])
        .expect("start");
    server
        .post(0, |_| {
            start_loop_timer(MS, || panic!("boom in a loop timer")).unwrap();
        })
        .unwrap();
    let p = catch_unwind(AssertUnwindSafe(|| server.wait())).expect_err("resumed");
    assert_eq!(panic_message(p), "boom in a loop timer");
}

/// Reports what the timer and timeout calls return for a UDP sender.
struct UdpProbe {
    codes: Mutex<Sender<Vec<i32>>>,
}

impl Handler for UdpProbe {
    type Context = ();

    fn data(&self, conn: &mut Conn<()>, _: &[u8]) -> Action {
        let codes = vec![
            conn.start_timer(MS, |_| Action::None).unwrap_err().code(),
            conn.set_idle_timeout(Some(MS)).unwrap_err().code(),
            conn.set_read_timeout(Some(MS)).unwrap_err().code(),
            conn.set_write_timeout(Some(MS)).unwrap_err().code(),
            conn.close().unwrap_err().code(),
        ];
        self.codes.lock().unwrap().send(codes).unwrap();
        Action::None
    }
}

fn bad_timeouts_and_udp_senders(engine: Engine, _: &str) {
    let err = Server::new()
        .idle_timeout(Some(Duration::ZERO))
        .engine(engine)
        .start(Ticking::quiet(), &["tcp://127.0.0.1:0"])
        .unwrap_err();
    assert_eq!(err.code(), EVIO_EINVAL);

    let (tx, codes) = channel();
    let tx = Mutex::new(tx);
    let (h, rx) = scripted(move |conn| {
        let zero = Some(Duration::ZERO);
        let c = [
            conn.set_idle_timeout(zero).unwrap_err().code(),
            conn.set_read_timeout(zero).unwrap_err().code(),
            conn.set_write_timeout(zero).unwrap_err().code(),
        ];
        tx.lock().unwrap().send(c).unwrap();
        Action::Close
    });
    let server = start(Server::new(), engine, h);
    let _c = tcp(ip(&server));
    assert_eq!(codes.recv_timeout(TIMEOUT).unwrap(), [EVIO_EINVAL; 3]);
    assert!(closed(&rx).err.is_none());
    stop(server);

    let (tx, codes) = channel();
    let server = Server::new()
        .engine(engine)
        .start(
            UdpProbe {
                codes: Mutex::new(tx),
            },
            &["udp://127.0.0.1:0"],
        )
        .expect("start");
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.send_to(b"?", ip(&server)).unwrap();
    assert_eq!(
        codes.recv_timeout(TIMEOUT).unwrap(),
        vec![EVIO_ENOTSUP; 5],
        "timers and timeouts are for stream connections"
    );
    stop(server);
}
