//! Flow control and half-close: pause/resume, read backpressure off, pending + watermarks +
//! `drained`, the output limit, `shutdown_write`, `input_closed`, `fd`/`set_nodelay`, and
//! source-hash balancing.

mod common;

use std::ffi::{c_int, c_void};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use evio::sys::{EVIO_EINVAL, EVIO_ENOBUFS, EVIO_ENOTCONN, EVIO_ENOTSUP, EVIO_EPIPE};
use evio::{Action, Conn, ConnSender, Engine, Error, Handler, LoadBalance, Server, ServerHandle};

on_both_engines!(
    pause_and_resume_read,
    read_backpressure_off_reads_past_the_high_watermark,
    shutdown_write_half_closes_and_keeps_reading,
    input_closed_keeps_the_connection_open_for_the_reply,
    input_closed_is_opt_in,
    output_limit_closes_with_enobufs,
    watermarks_pending_and_drained_stream_a_large_reply,
    a_low_watermark_of_zero,
    fd_and_nodelay,
    udp_senders_have_no_flow_control,
    source_hash_puts_one_client_address_on_one_loop,
);

fn start<H: Handler + Send + Sync + 'static>(
    server: Server,
    engine: Engine,
    loops: usize,
    handler: H,
    addrs: &[&str],
) -> ServerHandle {
    server
        .loops(loops)
        .engine(engine)
        .start(handler, addrs)
        .expect("start")
}

fn ip(server: &ServerHandle, i: usize) -> std::net::SocketAddr {
    server.addr(i).unwrap().as_socket_addr().unwrap()
}

fn stop(server: ServerHandle) {
    server.stop(Duration::ZERO);
    server.wait().expect("wait");
}

fn sockopt(fd: RawFd, level: c_int, name: c_int) -> c_int {
    let mut v: c_int = -1;
    let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: a valid socket (borrowed during the callback) and option buffer.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            &mut v as *mut c_int as *mut c_void,
            &mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt");
    v
}

// ---------------------------------------------------------------------------------------
// Pause and resume

struct Pausing {
    senders: Sender<ConnSender<()>>,
    data: Sender<Vec<u8>>,
    closed: Sender<i32>,
}

impl Handler for Pausing {
    type Context = ();

    fn opened(&self, conn: &mut Conn<()>) -> Action {
        conn.pause_read().unwrap();
        self.senders.send(conn.sender().unwrap()).unwrap();
        Action::None
    }

    fn data(&self, _: &mut Conn<()>, input: &[u8]) -> Action {
        if !input.is_empty() {
            self.data.send(input.to_vec()).unwrap();
        }
        Action::None
    }

    fn closed(&self, conn: &mut Conn<()>, _: Option<Error>) -> Action {
        self.closed
            .send(conn.pause_read().unwrap_err().code())
            .unwrap();
        Action::None
    }
}

fn pause_and_resume_read(engine: Engine, _: &str) {
    let (stx, srx) = channel();
    let (dtx, drx) = channel();
    let (ctx, crx) = channel();
    let h = Pausing {
        senders: stx,
        data: dtx,
        closed: ctx,
    };
    let server = start(Server::new(), engine, 1, h, &["tcp://127.0.0.1:0"]);
    let mut c = tcp(ip(&server, 0));
    let sender = srx.recv_timeout(TIMEOUT).expect("opened");
    c.write_all(b"hello").unwrap();

    // Ask the loop (a posted function) until the bytes wait in the kernel, unread.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (tx, rx) = channel();
        sender
            .post(move |conn| {
                let fd = conn.expect("open").fd().unwrap();
                let mut n: c_int = 0;
                // SAFETY: a valid socket; FIONREAD only reports the queued byte count.
                unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
                tx.send(n).unwrap();
            })
            .unwrap();
        if rx.recv_timeout(TIMEOUT).expect("posted function ran") >= 5 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the input never reached the socket"
        );
    }
    assert!(drx.try_recv().is_err(), "no data while paused");

    sender
        .post(|conn| conn.expect("open").resume_read().unwrap())
        .unwrap();
    let mut got = Vec::new();
    while got.len() < 5 {
        got.extend(drx.recv_timeout(TIMEOUT).expect("data after resume"));
    }
    assert_eq!(got, b"hello");

    drop(c);
    assert_eq!(
        crx.recv_timeout(TIMEOUT),
        Ok(EVIO_ENOTCONN),
        "flow control on a closed conn"
    );
    stop(server);
}

// ---------------------------------------------------------------------------------------
// Read backpressure

/// What the client sends without reading anything.
const RB_INPUT: usize = 8 << 20;
/// Every `RB_STEP` bytes of input ask for `RB_ANSWER` bytes of output: 128 MiB in all, far
/// above the default high watermark (1 MiB) and what the kernel holds.
const RB_STEP: usize = 64 << 10;
const RB_ANSWER: usize = 1 << 20;

/// Turns the connection's read backpressure off in `opened`, answers each `RB_STEP` of
/// input with `RB_ANSWER` bytes, and signals `all_read` once the whole input was seen.
struct Amplifier {
    answer: Vec<u8>,
    seen: AtomicUsize,
    all_read: Sender<()>,
}

impl Handler for Amplifier {
    type Context = ();

    fn opened(&self, conn: &mut Conn<()>) -> Action {
        conn.set_read_backpressure(false).unwrap();
        Action::None
    }

    fn data(&self, conn: &mut Conn<()>, input: &[u8]) -> Action {
        let before = self.seen.fetch_add(input.len(), Ordering::SeqCst);
        let after = before + input.len();
        for _ in before / RB_STEP..after / RB_STEP {
            conn.write(&self.answer).unwrap();
        }
        if before < RB_INPUT && after >= RB_INPUT {
            self.all_read.send(()).unwrap();
        }
        Action::None
    }
}

/// Sets the socket's receive buffer (the kernel doubles it).
fn set_rcvbuf(s: &TcpStream, bytes: c_int) {
    let len = std::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: a valid socket and option buffer.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &bytes as *const c_int as *const c_void,
            len,
        )
    };
    assert_eq!(rc, 0, "setsockopt SO_RCVBUF");
}

/// The C test `test_read_backpressure_off` through the binding: a client sends 8 MiB and
/// never reads; with read backpressure off its whole input reaches `data` although the
/// output owed to it is far above the high watermark. (On, the default, reading stops
/// after a few hundred KiB: this test then fails on its timeout.)
fn read_backpressure_off_reads_past_the_high_watermark(engine: Engine, _: &str) {
    let (tx, rx) = channel();
    let h = Arc::new(Amplifier {
        answer: vec![b'a'; RB_ANSWER],
        seen: AtomicUsize::new(0),
        all_read: tx,
    });
    let server = start(Server::new(), engine, 1, h.clone(), &["tcp://127.0.0.1:0"]);
    let mut c = tcp(ip(&server, 0));
    set_rcvbuf(&c, 64 << 10); // it never reads: keep what the kernel takes small
    let writer = thread::spawn(move || c.write_all(&vec![b'i'; RB_INPUT]).map(|()| c));
    let done = rx.recv_timeout(TIMEOUT);
    let seen = h.seen.load(Ordering::SeqCst);
    assert!(
        done.is_ok(),
        "read backpressure off: data saw {seen} of {RB_INPUT} bytes in {TIMEOUT:?}"
    );
    assert_eq!(seen, RB_INPUT);
    let c = writer.join().unwrap().expect("the whole input was taken");
    stop(server);
    drop(c);
}

// ---------------------------------------------------------------------------------------
// Half-close

struct Half {
    data: Sender<Vec<u8>>,
    epipe: Sender<i32>,
    closed: Sender<Option<Error>>,
}

impl Handler for Half {
    type Context = ();

    fn data(&self, conn: &mut Conn<()>, input: &[u8]) -> Action {
        if input == b"half" {
            conn.write(b"bye").unwrap();
            conn.shutdown_write().unwrap();
            conn.shutdown_write()
                .expect("a second shutdown_write is a no-op");
            self.epipe
                .send(conn.write(b"x").unwrap_err().code())
                .unwrap();
        } else {
            self.data.send(input.to_vec()).unwrap();
        }
        Action::None
    }

    fn closed(&self, _: &mut Conn<()>, err: Option<Error>) -> Action {
        self.closed.send(err).unwrap();
        Action::None
    }
}

fn shutdown_write_half_closes_and_keeps_reading(engine: Engine, _: &str) {
    let (dtx, drx) = channel();
    let (etx, erx) = channel();
    let (ctx, crx) = channel();
    let h = Half {
        data: dtx,
        epipe: etx,
        closed: ctx,
    };
    let server = start(Server::new(), engine, 1, h, &["tcp://127.0.0.1:0"]);
    let mut c = tcp(ip(&server, 0));
    c.write_all(b"half").unwrap();
    assert_eq!(
        read_to_eof(&mut c),
        b"bye",
        "the reply, then the end of the stream"
    );
    assert_eq!(
        erx.recv_timeout(TIMEOUT),
        Ok(EVIO_EPIPE),
        "writes after shutdown_write"
    );
    // The server still reads.
    c.write_all(b"more").unwrap();
    let mut got = Vec::new();
    while got.len() < 4 {
        got.extend(
            drx.recv_timeout(TIMEOUT)
                .expect("data after the half-close"),
        );
    }
    assert_eq!(got, b"more");
    drop(c);
    assert!(crx.recv_timeout(TIMEOUT).expect("closed").is_none());
    stop(server);
}

/// Collects the input; answers when it ends.
struct Replier {
    input_closed: AtomicUsize,
    closed: Sender<Option<Error>>,
}

const REPLY_FILL: usize = 300_000;

fn reply_for(n: usize) -> Vec<u8> {
    let mut r = format!("got {n} bytes\n").into_bytes();
    r.extend(std::iter::repeat(b'r').take(REPLY_FILL));
    r
}

impl Handler for Replier {
    type Context = Vec<u8>;
    const INPUT_CLOSED: bool = true;

    fn opened(&self, conn: &mut Conn<Vec<u8>>) -> Action {
        conn.set_context(Vec::new());
        Action::None
    }

    fn data(&self, conn: &mut Conn<Vec<u8>>, input: &[u8]) -> Action {
        conn.context_mut().unwrap().extend_from_slice(input);
        Action::None
    }

    fn input_closed(&self, conn: &mut Conn<Vec<u8>>) -> Action {
        self.input_closed.fetch_add(1, Ordering::SeqCst);
        let (input, out) = conn.split();
        let input = input.unwrap();
        out.write(&reply_for(input.len())).unwrap();
        let shut = input.starts_with(b"shut");
        if shut {
            // Both directions ended: it closes by itself once the reply has left.
            conn.shutdown_write().unwrap();
            Action::None
        } else {
            Action::Close
        }
    }

    fn closed(&self, _: &mut Conn<Vec<u8>>, err: Option<Error>) -> Action {
        self.closed.send(err).unwrap();
        Action::None
    }
}

fn input_closed_keeps_the_connection_open_for_the_reply(engine: Engine, _: &str) {
    let (ctx, crx) = channel();
    let h = Arc::new(Replier {
        input_closed: AtomicUsize::new(0),
        closed: ctx,
    });
    let server = start(Server::new(), engine, 2, h.clone(), &["tcp://127.0.0.1:0"]);
    for first in [&b"a"[..], b"shut"] {
        let mut c = tcp(ip(&server, 0));
        let mut msg = first.to_vec();
        msg.extend(pattern(1000, 5));
        c.write_all(&msg).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        assert!(
            read_to_eof(&mut c) == reply_for(msg.len()),
            "the whole reply written after the end of input arrives"
        );
        assert!(crx.recv_timeout(TIMEOUT).expect("closed").is_none());
    }
    assert_eq!(h.input_closed.load(Ordering::SeqCst), 2);
    stop(server);
}

struct NotOptedIn {
    closed: Sender<Option<Error>>,
}

impl Handler for NotOptedIn {
    type Context = ();

    fn input_closed(&self, _: &mut Conn<()>) -> Action {
        panic!("input_closed called although INPUT_CLOSED is false");
    }

    fn data(&self, conn: &mut Conn<()>, input: &[u8]) -> Action {
        conn.write(input).unwrap();
        Action::None
    }

    fn closed(&self, _: &mut Conn<()>, err: Option<Error>) -> Action {
        self.closed.send(err).unwrap();
        Action::None
    }
}

fn input_closed_is_opt_in(engine: Engine, _: &str) {
    let (ctx, crx) = channel();
    let server = start(
        Server::new(),
        engine,
        1,
        NotOptedIn { closed: ctx },
        &["tcp://127.0.0.1:0"],
    );
    let mut c = tcp(ip(&server, 0));
    c.write_all(b"owed").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    // As in 1.0: the end of input closes the connection once the output owed has left.
    assert_eq!(read_to_eof(&mut c), b"owed");
    assert!(crx.recv_timeout(TIMEOUT).expect("closed").is_none());
    server.stop(Duration::ZERO);
    server
        .wait()
        .expect("no panic: input_closed was not registered");
}

// ---------------------------------------------------------------------------------------
// Output limit

const LIMIT: usize = 64 << 10;

struct Limited {
    senders: Sender<ConnSender<()>>,
    write_err: Sender<Error>,
    closed: Sender<Option<Error>>,
}

impl Handler for Limited {
    type Context = ();

    fn opened(&self, conn: &mut Conn<()>) -> Action {
        self.senders.send(conn.sender().unwrap()).unwrap();
        Action::None
    }

    fn data(&self, conn: &mut Conn<()>, input: &[u8]) -> Action {
        let chunk = [b'w'; 1024];
        if input == b"go" {
            // A writer that ignores `pending`: its output passes the limit in this call.
            for _ in 0..2 * LIMIT / chunk.len() {
                if let Err(e) = conn.write(&chunk) {
                    self.write_err.send(e).unwrap();
                    break;
                }
            }
        } else if input == b"unlimited" {
            assert_eq!(
                conn.set_output_limit(Some(0)).unwrap_err().code(),
                EVIO_EINVAL
            );
            conn.set_output_limit(None).unwrap();
            for _ in 0..2 * LIMIT / chunk.len() {
                conn.write(&chunk).unwrap();
            }
        }
        Action::None
    }

    fn closed(&self, _: &mut Conn<()>, err: Option<Error>) -> Action {
        self.closed.send(err).unwrap();
        Action::None
    }
}

fn output_limit_closes_with_enobufs(engine: Engine, _: &str) {
    let (stx, srx) = channel();
    let (wtx, wrx) = channel();
    let (ctx, crx) = channel();
    let h = Limited {
        senders: stx,
        write_err: wtx,
        closed: ctx,
    };
    let server = start(
        Server::new().output_limit(Some(LIMIT)),
        engine,
        1,
        h,
        &["tcp://127.0.0.1:0"],
    );

    let mut c = tcp(ip(&server, 0));
    let sender = srx.recv_timeout(TIMEOUT).expect("opened");
    // A send past the limit is refused, and the connection stays open.
    let e = sender
        .send(&vec![0u8; LIMIT + 1])
        .expect_err("a send past the limit");
    assert_eq!(e.code(), EVIO_ENOBUFS, "{e}");
    assert!(e.is_output_limit());
    assert_eq!(e.kind(), std::io::ErrorKind::OutOfMemory);
    sender.send(b"ok").unwrap();
    let mut buf = [0u8; 2];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ok");

    // A write past the limit fails, and closes the connection after the callback.
    c.write_all(b"go").unwrap();
    let e = wrx.recv_timeout(TIMEOUT).expect("the write failed");
    assert!(e.is_output_limit(), "{e:?}");
    let e = crx
        .recv_timeout(TIMEOUT)
        .expect("closed")
        .expect("closed with an error");
    assert_eq!(e.code(), EVIO_ENOBUFS, "{e:?}");
    read_to_eof(&mut c);
    assert_eq!(sender.send(b"x").unwrap_err().code(), EVIO_ENOTCONN);

    // One connection can lift its own limit.
    let mut c = tcp(ip(&server, 0));
    srx.recv_timeout(TIMEOUT).expect("opened");
    c.write_all(b"unlimited").unwrap();
    let mut got = vec![0u8; 2 * LIMIT];
    c.read_exact(&mut got).unwrap();
    assert!(got.iter().all(|&b| b == b'w'));
    drop(c);
    assert!(crx.recv_timeout(TIMEOUT).expect("closed").is_none());
    stop(server);
}

// ---------------------------------------------------------------------------------------
// Watermarks, pending, drained

const CHUNK: usize = 16 << 10;
const HIGH: usize = 64 << 10;
const TOTAL: usize = 4 << 20;

/// Streams `payload`, stopping while `pending` is above the high watermark and going on
/// in `drained`. Context: the bytes written so far.
struct Streamer {
    payload: Vec<u8>,
    low: usize,
    drained: AtomicUsize,
    max_pending: AtomicUsize,
    drained_above_low: AtomicUsize,
}

impl Streamer {
    fn write_some(&self, conn: &mut Conn<usize>) {
        loop {
            let written = *conn.context().unwrap();
            if written == TOTAL {
                return;
            }
            let pending = conn.pending().unwrap();
            self.max_pending.fetch_max(pending, Ordering::SeqCst);
            if pending > HIGH {
                return; // `drained` goes on
            }
            let end = (written + CHUNK).min(TOTAL);
            conn.write(&self.payload[written..end]).unwrap();
            *conn.context_mut().unwrap() = end;
        }
    }
}

impl Handler for Streamer {
    type Context = usize;

    fn opened(&self, conn: &mut Conn<usize>) -> Action {
        conn.set_context(0);
        self.write_some(conn);
        Action::None
    }

    fn drained(&self, conn: &mut Conn<usize>) -> Action {
        self.drained.fetch_add(1, Ordering::SeqCst);
        if conn.pending().unwrap() > self.low {
            self.drained_above_low.fetch_add(1, Ordering::SeqCst);
        }
        self.write_some(conn);
        Action::None
    }
}

fn stream_with_watermarks(engine: Engine, low: usize) {
    let h = Arc::new(Streamer {
        payload: pattern(TOTAL, 7),
        low,
        drained: AtomicUsize::new(0),
        max_pending: AtomicUsize::new(0),
        drained_above_low: AtomicUsize::new(0),
    });
    let server = start(
        Server::new().watermarks(low, HIGH),
        engine,
        1,
        h.clone(),
        &["tcp://127.0.0.1:0"],
    );
    let mut c = tcp(ip(&server, 0));
    let mut got = vec![0u8; TOTAL];
    c.read_exact(&mut got).expect("the whole stream");
    assert!(got == h.payload, "in order and unchanged");
    stop(server);
    assert!(h.drained.load(Ordering::SeqCst) >= 1, "drained called");
    assert_eq!(
        h.drained_above_low.load(Ordering::SeqCst),
        0,
        "drained at the low watermark"
    );
    let max = h.max_pending.load(Ordering::SeqCst);
    assert!(max <= HIGH + CHUNK, "pending stayed bounded: {max}");
}

fn watermarks_pending_and_drained_stream_a_large_reply(engine: Engine, _: &str) {
    stream_with_watermarks(engine, 16 << 10);
}

fn a_low_watermark_of_zero(engine: Engine, _: &str) {
    // evio_events reads a 0 as "the default"; the binding sets it on each connection.
    stream_with_watermarks(engine, 0);
}

#[test]
fn set_watermarks_checks_its_arguments() {
    struct H(Sender<(i32, i32, bool)>);
    impl Handler for H {
        type Context = ();
        fn opened(&self, conn: &mut Conn<()>) -> Action {
            let bad = conn.set_watermarks(10, 5).unwrap_err().code();
            let zero = conn.set_watermarks(0, 0).unwrap_err().code();
            let ok = conn.set_watermarks(0, 1).is_ok();
            self.0.send((bad, zero, ok)).unwrap();
            Action::None
        }
    }
    let (tx, rx) = channel();
    let server = Server::new().start(H(tx), &["tcp://127.0.0.1:0"]).unwrap();
    let _c = tcp(ip(&server, 0));
    assert_eq!(
        rx.recv_timeout(TIMEOUT),
        Ok((EVIO_EINVAL, EVIO_EINVAL, true))
    );
    stop(server);
}

// ---------------------------------------------------------------------------------------
// Socket options

#[derive(Debug, PartialEq)]
enum Sockopt {
    Tcp {
        sock_type: c_int,
        nodelay_default: c_int,
        nodelay_off: c_int,
        nodelay_on: c_int,
    },
    Unix {
        sock_type: c_int,
        nodelay: i32,
    },
}

struct Sockopts(Sender<Sockopt>);

impl Handler for Sockopts {
    type Context = ();

    fn opened(&self, conn: &mut Conn<()>) -> Action {
        let fd = conn.fd().expect("fd");
        let sock_type = sockopt(fd, libc::SOL_SOCKET, libc::SO_TYPE);
        let opts = if conn.addr_index() == 0 {
            let nodelay_default = sockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY);
            conn.set_nodelay(false).unwrap();
            let nodelay_off = sockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY);
            conn.set_nodelay(true).unwrap();
            let nodelay_on = sockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY);
            Sockopt::Tcp {
                sock_type,
                nodelay_default,
                nodelay_off,
                nodelay_on,
            }
        } else {
            Sockopt::Unix {
                sock_type,
                nodelay: conn.set_nodelay(true).unwrap_err().code(),
            }
        };
        self.0.send(opts).unwrap();
        Action::None
    }
}

fn fd_and_nodelay(engine: Engine, _: &str) {
    let path = temp_sock("sockopt");
    let unix_addr = format!("unix://{}", path.display());
    let (tx, rx) = channel();
    let server = start(
        Server::new(),
        engine,
        1,
        Sockopts(tx),
        &["tcp://127.0.0.1:0", &unix_addr],
    );
    let _c = tcp(ip(&server, 0));
    assert_eq!(
        rx.recv_timeout(TIMEOUT),
        Ok(Sockopt::Tcp {
            sock_type: libc::SOCK_STREAM,
            nodelay_default: 1,
            nodelay_off: 0,
            nodelay_on: 1,
        })
    );
    let _u = unix(&path);
    assert_eq!(
        rx.recv_timeout(TIMEOUT),
        Ok(Sockopt::Unix {
            sock_type: libc::SOCK_STREAM,
            nodelay: EVIO_ENOTSUP,
        })
    );
    stop(server);
}

struct UdpCheck(Sender<Vec<i32>>);

impl Handler for UdpCheck {
    type Context = ();

    fn data(&self, conn: &mut Conn<()>, input: &[u8]) -> Action {
        assert!(conn.is_udp());
        let codes = vec![
            conn.fd().unwrap_err().code(),
            conn.pause_read().unwrap_err().code(),
            conn.set_read_backpressure(false).unwrap_err().code(),
            conn.pending().unwrap_err().code(),
            conn.shutdown_write().unwrap_err().code(),
            conn.sender().unwrap_err().code(),
        ];
        self.0.send(codes).unwrap();
        conn.write(input).unwrap();
        Action::None
    }
}

fn udp_senders_have_no_flow_control(engine: Engine, _: &str) {
    let (tx, rx) = channel();
    let server = start(
        Server::new(),
        engine,
        1,
        UdpCheck(tx),
        &["udp://127.0.0.1:0"],
    );
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(TIMEOUT)).unwrap();
    sock.send_to(b"ping", ip(&server, 0)).unwrap();
    assert_eq!(rx.recv_timeout(TIMEOUT), Ok(vec![EVIO_ENOTSUP; 6]));
    let mut buf = [0u8; 16];
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");
    stop(server);
}

// ---------------------------------------------------------------------------------------
// Source-hash balancing

struct Where(Sender<thread::ThreadId>);

impl Handler for Where {
    type Context = ();

    fn opened(&self, _: &mut Conn<()>) -> Action {
        self.0.send(thread::current().id()).unwrap();
        Action::None
    }
}

fn source_hash_puts_one_client_address_on_one_loop(engine: Engine, _: &str) {
    let (tx, rx) = channel();
    let server = start(
        Server::new().load_balance(LoadBalance::SourceHash),
        engine,
        4,
        Where(tx),
        &["tcp://127.0.0.1:0"],
    );
    let clients: Vec<_> = (0..8).map(|_| tcp(ip(&server, 0))).collect();
    let loops: std::collections::HashSet<_> = (0..clients.len())
        .map(|_| rx.recv_timeout(TIMEOUT).expect("opened"))
        .collect();
    assert_eq!(
        loops.len(),
        1,
        "every connection from 127.0.0.1 on one loop"
    );
    stop(server);
}
