//! Work from any thread: `ConnSender::send` and `ConnSender::post`.

mod common;

use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use common::*;
use evio::sys::EVIO_ENOTCONN;
use evio::{Action, Conn, ConnSender, Engine, Error, Handler, Server, ServerHandle, ServerInfo};

on_both_engines!(
    send_from_four_threads_in_order_per_thread,
    post_runs_once_with_none_when_the_connection_closed_first,
    posts_racing_a_close_run_exactly_once_and_drop_what_they_own,
    post_sees_the_connection_and_its_context_in_order_with_sends,
    panic_in_a_posted_function_stops_a_started_server,
    panic_in_a_posted_function_stops_a_served_server,
);

/// Hands out a sender for every connection (context: a counter), reports `closed`.
struct Hub {
    senders: Sender<ConnSender<u64>>,
    closed: Sender<Option<Error>>,
}

impl Handler for Hub {
    type Context = u64;

    fn opened(&self, conn: &mut Conn<u64>) -> Action {
        conn.set_context(0);
        self.senders.send(conn.sender().unwrap()).unwrap();
        Action::None
    }

    fn closed(&self, conn: &mut Conn<u64>, err: Option<Error>) -> Action {
        assert!(conn.context().is_some(), "context still there in closed");
        self.closed.send(err).unwrap();
        Action::None
    }
}

struct Started {
    server: ServerHandle,
    senders: Receiver<ConnSender<u64>>,
    closed: Receiver<Option<Error>>,
}

impl Started {
    fn connect(&self) -> (std::net::TcpStream, ConnSender<u64>) {
        let c = tcp(self.server.addr(0).unwrap().as_socket_addr().unwrap());
        let s = self.senders.recv_timeout(TIMEOUT).expect("opened");
        (c, s)
    }
}

fn start_hub(engine: Engine, loops: usize) -> Started {
    let (stx, srx) = channel();
    let (ctx, crx) = channel();
    let server = Server::new()
        .loops(loops)
        .engine(engine)
        .start(
            Hub {
                senders: stx,
                closed: ctx,
            },
            &["tcp://127.0.0.1:0"],
        )
        .expect("start");
    Started {
        server,
        senders: srx,
        closed: crx,
    }
}

// ---------------------------------------------------------------------------------------
// Send

const THREADS: u8 = 4;
const MSGS: u32 = 2000;

/// Message `seq` of sender `t`: `t`, `seq` (big-endian), a length, then that many bytes
/// derived from both (so a message cut or mixed with another is seen).
fn message(t: u8, seq: u32) -> Vec<u8> {
    let len = (seq % 97) as u8;
    let mut m = vec![t];
    m.extend_from_slice(&seq.to_be_bytes());
    m.push(len);
    m.extend(pattern(len as usize, t.wrapping_mul(31) ^ seq as u8));
    m
}

fn send_from_four_threads_in_order_per_thread(engine: Engine, _: &str) {
    let s = start_hub(engine, 2);
    let (mut c, sender) = s.connect();
    let total: usize = (0..THREADS)
        .flat_map(|t| (0..MSGS).map(move |seq| message(t, seq).len()))
        .sum();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let sender = sender.clone();
            thread::spawn(move || {
                for seq in 0..MSGS {
                    sender
                        .send(&message(t, seq))
                        .expect("send to an open connection");
                }
            })
        })
        .collect();
    drop(sender);
    let mut got = vec![0u8; total];
    c.read_exact(&mut got).expect("every message arrives");
    for t in threads {
        t.join().unwrap();
    }

    let mut next = [0u32; THREADS as usize];
    let mut at = 0;
    while at < got.len() {
        let t = got[at];
        assert!(t < THREADS, "message header at {at}: sender {t}");
        let seq = u32::from_be_bytes(got[at + 1..at + 5].try_into().unwrap());
        assert_eq!(seq, next[t as usize], "sender {t}: in order, none missing");
        let m = message(t, seq);
        assert_eq!(
            &got[at..at + m.len()],
            &m[..],
            "message {t}/{seq} arrives whole"
        );
        next[t as usize] += 1;
        at += m.len();
    }
    assert_eq!(next, [MSGS; THREADS as usize]);
    drop(c);
    assert!(s.closed.recv_timeout(TIMEOUT).expect("closed").is_none());
}

// ---------------------------------------------------------------------------------------
// Post

fn post_runs_once_with_none_when_the_connection_closed_first(engine: Engine, _: &str) {
    let s = start_hub(engine, 1);
    let (c, sender) = s.connect();
    drop(c);
    assert!(s.closed.recv_timeout(TIMEOUT).expect("closed").is_none());

    let ran = Arc::new(AtomicUsize::new(0));
    let saw = Arc::new(Mutex::new(Vec::new()));
    let (r2, s2) = (ran.clone(), saw.clone());
    let e = sender
        .post(move |conn| {
            r2.fetch_add(1, Ordering::SeqCst);
            s2.lock().unwrap().push(conn.is_some());
        })
        .expect_err("post to a closed connection");
    assert_eq!(e.code(), EVIO_ENOTCONN, "{e}");
    assert!(e.is_not_connected());
    assert_eq!(
        ran.load(Ordering::SeqCst),
        1,
        "ran once, before post returned"
    );
    assert_eq!(*saw.lock().unwrap(), [false], "told the connection is gone");

    let e = sender
        .send(b"late")
        .expect_err("send to a closed connection");
    assert_eq!(e.code(), EVIO_ENOTCONN, "{e}");

    s.server.stop(Duration::ZERO);
    s.server.wait().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1, "and never again");
}

fn posts_racing_a_close_run_exactly_once_and_drop_what_they_own(engine: Engine, _: &str) {
    const PER_THREAD: usize = 500;
    let s = start_hub(engine, 2);
    let (c, sender) = s.connect();
    let ran = Arc::new(AtomicUsize::new(0));
    let while_open = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(THREADS as usize + 1));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (sender, ran, while_open, drops, start) = (
                sender.clone(),
                ran.clone(),
                while_open.clone(),
                drops.clone(),
                start.clone(),
            );
            thread::spawn(move || {
                start.wait();
                let mut refused_seen = false;
                for _ in 0..PER_THREAD {
                    let owned = DropCount(drops.clone());
                    let (ran, while_open) = (ran.clone(), while_open.clone());
                    let r = sender.post(move |conn| {
                        let _owned = owned;
                        ran.fetch_add(1, Ordering::SeqCst);
                        if let Some(conn) = conn {
                            *conn.context_mut().expect("context") += 1;
                            while_open.fetch_add(1, Ordering::SeqCst);
                        }
                    });
                    match r {
                        Ok(()) => assert!(!refused_seen, "Ok after ENOTCONN"),
                        Err(e) => {
                            assert_eq!(e.code(), EVIO_ENOTCONN, "{e}");
                            refused_seen = true;
                        }
                    }
                }
            })
        })
        .collect();
    start.wait();
    drop(c); // the client closes while the posts come in
    for t in threads {
        t.join().unwrap();
    }
    s.closed.recv_timeout(TIMEOUT).expect("closed");
    s.server.stop(Duration::ZERO);
    s.server.wait().unwrap();
    // Every function ran exactly once (queued ones before wait returned, refused ones
    // inside post), and dropped what it owned.
    let total = THREADS as usize * PER_THREAD;
    assert_eq!(ran.load(Ordering::SeqCst), total);
    assert_eq!(drops.load(Ordering::SeqCst), total);
    assert!(while_open.load(Ordering::SeqCst) <= total);
}

fn post_sees_the_connection_and_its_context_in_order_with_sends(engine: Engine, _: &str) {
    let s = start_hub(engine, 2);
    let (mut c, sender) = s.connect();
    let (tx, rx) = channel();
    sender.send(b"A").unwrap();
    sender
        .post(|conn| {
            let conn = conn.expect("open");
            *conn.context_mut().unwrap() += 41;
            conn.write(b"B").unwrap();
            conn.pending()
                .expect("loop-thread calls work in a posted function");
        })
        .unwrap();
    sender.send(b"C").unwrap();
    sender
        .post(move |conn| {
            let conn = conn.expect("open");
            *conn.context_mut().unwrap() += 1;
            tx.send(*conn.context().unwrap()).unwrap();
        })
        .unwrap();
    let mut buf = [0u8; 3];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ABC", "sends and posts of one thread in order");
    assert_eq!(rx.recv_timeout(TIMEOUT), Ok(42));
    drop(c);
    s.closed.recv_timeout(TIMEOUT).expect("closed");
}

fn panic_in_a_posted_function_stops_a_started_server(engine: Engine, _: &str) {
    quiet_expected_panics();
    let s = start_hub(engine, 2);
    let (mut c, sender) = s.connect();
    sender
        .post(|_| panic!("boom in post"))
        .expect("posted to an open connection");
    let r = catch_unwind(AssertUnwindSafe(|| s.server.wait()));
    assert_eq!(panic_message(r.expect_err("panic resumed")), "boom in post");
    assert_eq!(read_to_eof(&mut c), b"", "the server shut down");
}

/// For `serve`: hands out senders; the control connection shuts the server down.
struct ServedHub {
    ctl: Control,
    senders: Sender<ConnSender<()>>,
}

impl Handler for ServedHub {
    type Context = ();

    fn serving(&self, s: &ServerInfo<'_>) -> Action {
        self.ctl.serving(s)
    }

    fn opened(&self, conn: &mut Conn<()>) -> Action {
        if self.ctl.is_control(conn) {
            return Action::Shutdown;
        }
        self.senders.send(conn.sender().unwrap()).unwrap();
        Action::None
    }
}

fn panic_in_a_posted_function_stops_a_served_server(engine: Engine, _: &str) {
    quiet_expected_panics();
    let (ctl, rx) = Control::new();
    let (stx, srx) = channel();
    let srv = start_with(
        Arc::new(ServedHub { ctl, senders: stx }),
        rx,
        Opts::loops(1).engine(engine),
        &["tcp://127.0.0.1:0"],
    );
    let mut c = tcp(srv.ip(0));
    let sender = srx.recv_timeout(TIMEOUT).expect("opened");
    sender.post(|_| panic!("boom in post")).unwrap();
    let payload = srv.wait().expect_err("serve resumes the panic");
    assert_eq!(panic_message(payload), "boom in post");
    assert_eq!(read_to_eof(&mut c), b"");
    // The sender outlives the server, memory-safely.
    assert_eq!(sender.send(b"x").unwrap_err().code(), EVIO_ENOTCONN);
}
