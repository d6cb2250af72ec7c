//! Outbound connections: `evio::dial` from a loop and `ServerHandle::dial` from any thread,
//! the value handed back exactly once (to `dialed` or `dial_failed`), each failure kind,
//! dials refused at once, and a dial from a callback landing on the caller's loop.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use common::TIMEOUT;
use evio::sys::{
    EVIO_ECANCELED, EVIO_ECONNREFUSED, EVIO_EINVAL, EVIO_ENOENT, EVIO_ENOTCONN, EVIO_EPERM,
    EVIO_ETIMEDOUT,
};
use evio::{Action, Conn, DialOptions, DialValue, Engine, Error, Handler, Server, ServerHandle};

on_both_engines!(
    dial_hands_the_value_to_dialed_once,
    each_failure_reaches_dial_failed_once,
    refused_dials_call_nothing_and_drop_the_value,
    dial_from_a_callback_lands_on_the_callers_loop,
);

/// A dial's value: which dial it was, and a count of its drops.
struct Tag {
    id: usize,
    /// The thread that dialed (for the same-loop test).
    origin: Option<ThreadId>,
    drops: Arc<AtomicUsize>,
}

impl Drop for Tag {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Debug, PartialEq)]
enum Event {
    Dialed {
        id: usize,
        same_thread: bool,
        had_context: bool,
    },
    Failed {
        id: usize,
        code: i32,
    },
    Data(Vec<u8>),
    ContextDropped,
}

/// Counts drops of a dialed connection's own context.
struct Ctx(Sender<Event>);

impl Drop for Ctx {
    fn drop(&mut self) {
        let _ = self.0.send(Event::ContextDropped);
    }
}

/// Dials on request: an accepted connection's input is an address to dial from its
/// callback; every outcome is reported to the test.
struct Dialer {
    events: Mutex<Sender<Event>>,
    drops: Arc<AtomicUsize>,
}

impl Dialer {
    fn new() -> (Dialer, Receiver<Event>, Arc<AtomicUsize>) {
        let (tx, rx) = channel();
        let drops = Arc::new(AtomicUsize::new(0));
        let d = Dialer {
            events: Mutex::new(tx),
            drops: drops.clone(),
        };
        (d, rx, drops)
    }

    fn report(&self, e: Event) {
        let _ = self.events.lock().unwrap().send(e);
    }

    fn tag(&self, id: usize, origin: Option<ThreadId>) -> Tag {
        Tag {
            id,
            origin,
            drops: self.drops.clone(),
        }
    }
}

impl Handler for Dialer {
    type Context = Ctx;

    fn data(&self, conn: &mut Conn<Ctx>, input: &[u8]) -> Action {
        if conn.is_dialed() {
            self.report(Event::Data(input.to_vec()));
            return Action::Close;
        }
        // An accepted connection: "ID ADDR" asks for a dial from this callback.
        let text = String::from_utf8_lossy(input).into_owned();
        let (id, addr) = text.trim().split_once(' ').unwrap();
        let tag = self.tag(id.parse().unwrap(), Some(thread::current().id()));
        evio::dial(addr, &DialOptions::new(), tag).expect("dial from a callback");
        conn.write(b"ok").ok();
        Action::None
    }

    fn dialed(&self, conn: &mut Conn<Ctx>, value: DialValue) -> Action {
        let tag = value.downcast::<Tag>().expect("a Tag");
        let same_thread = tag.origin.map_or(true, |t| t == thread::current().id());
        let had_context = conn.context().is_some();
        // The binding's own context works on a dialed connection, and goes in `closed`.
        conn.set_context(Ctx(self.events.lock().unwrap().clone()));
        self.report(Event::Dialed {
            id: tag.id,
            same_thread,
            had_context,
        });
        conn.write(b"hello").ok();
        Action::None
    }

    fn dial_failed(&self, value: DialValue, err: Error) -> Action {
        let tag = value.downcast::<Tag>().expect("a Tag");
        self.report(Event::Failed {
            id: tag.id,
            code: err.code(),
        });
        Action::None
    }
}

fn start(engine: Engine, loops: usize, handler: Dialer, addrs: &[&str]) -> ServerHandle {
    Server::new()
        .loops(loops)
        .engine(engine)
        .load_balance(evio::LoadBalance::RoundRobin)
        .start(handler, addrs)
        .expect("start")
}

fn next(rx: &Receiver<Event>) -> Event {
    rx.recv_timeout(TIMEOUT).expect("an event in time")
}

fn tcp(addr: SocketAddr) -> String {
    format!("tcp://{addr}")
}

fn dial_hands_the_value_to_dialed_once(engine: Engine, _: &str) {
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = tcp(peer.local_addr().unwrap());
    let (dialer, rx, drops) = Dialer::new();
    let tag = dialer.tag(7, None);
    let no_addrs: [&str; 0] = [];
    let server = start(engine, 1, dialer, &no_addrs);
    server
        .dial(Some(0), &target, &DialOptions::new(), tag)
        .expect("dial");

    let (mut s, _) = peer.accept().unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut hello = [0u8; 5];
    s.read_exact(&mut hello).unwrap();
    assert_eq!(&hello, b"hello", "output written in dialed is sent");
    assert_eq!(
        next(&rx),
        Event::Dialed {
            id: 7,
            same_thread: true,
            had_context: false
        }
    );
    s.write_all(b"world").unwrap();
    assert_eq!(next(&rx), Event::Data(b"world".to_vec()));
    assert_eq!(next(&rx), Event::ContextDropped);
    server.stop(Duration::ZERO);
    server.wait().unwrap();
    drop(server);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the value is dropped once");
    assert!(rx.try_recv().is_err(), "nothing else: {:?}", rx.try_recv());
}

/// A listening socket (backlog 0) whose backlog is full, so a connect to it hangs; with
/// the sockets that fill it.
fn full_listener() -> (OwnedFd, Vec<OwnedFd>, SocketAddr) {
    // SAFETY: plain socket calls on fds we own; the addresses are valid sockaddr_in.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let listener = OwnedFd::from_raw_fd(fd);
        let mut a: libc::sockaddr_in = std::mem::zeroed();
        a.sin_family = libc::AF_INET as libc::sa_family_t;
        a.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(
            libc::bind(fd, &a as *const _ as *const libc::sockaddr, len),
            0
        );
        assert_eq!(libc::listen(fd, 0), 0);
        let mut got_len = len;
        libc::getsockname(fd, &mut a as *mut _ as *mut libc::sockaddr, &mut got_len);
        let port = u16::from_be(a.sin_port);
        let mut fillers = Vec::new();
        for _ in 0..16 {
            let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0);
            assert!(s >= 0);
            fillers.push(OwnedFd::from_raw_fd(s));
            let rc = libc::connect(s, &a as *const _ as *const libc::sockaddr, len);
            if rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINPROGRESS)
            {
                break; // not answered at once: the backlog is full
            }
        }
        (listener, fillers, SocketAddr::from(([127, 0, 0, 1], port)))
    }
}

fn each_failure_reaches_dial_failed_once(engine: Engine, _: &str) {
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = tcp(dead.local_addr().unwrap());
    drop(dead);
    let (_listener, _fillers, full) = full_listener();
    let (dialer, rx, drops) = Dialer::new();
    let tags: Vec<Tag> = (0..4).map(|i| dialer.tag(i, None)).collect();
    let no_addrs: [&str; 0] = [];
    let server = start(engine, 1, dialer, &no_addrs);
    let mut tags = tags.into_iter();
    let short = DialOptions::new().timeout(Duration::from_millis(100));
    let t0 = Instant::now();
    server
        .dial(None, &dead_addr, &DialOptions::new(), tags.next().unwrap())
        .unwrap();
    server
        .dial(None, &tcp(full), &short, tags.next().unwrap())
        .unwrap();
    server
        .dial(
            None,
            "tcp://nosuch-host.invalid:80",
            &DialOptions::new(),
            tags.next().unwrap(),
        )
        .unwrap();
    let mut failed = vec![next(&rx), next(&rx), next(&rx)];
    let waited = t0.elapsed();
    // The last one never connects: the stop cancels it.
    let forever = DialOptions::new().timeout(Duration::MAX);
    server
        .dial(None, &tcp(full), &forever, tags.next().unwrap())
        .unwrap();
    server.stop(Duration::ZERO);
    server.wait().unwrap();
    failed.push(next(&rx));
    failed.sort_by_key(|e| match e {
        Event::Failed { id, .. } => *id,
        other => panic!("unexpected {other:?}"),
    });
    let want = [
        EVIO_ECONNREFUSED,
        EVIO_ETIMEDOUT,
        EVIO_ENOENT,
        EVIO_ECANCELED,
    ];
    for (id, code) in want.into_iter().enumerate() {
        assert_eq!(failed[id], Event::Failed { id, code });
    }
    assert!(
        waited >= Duration::from_millis(90) && waited < Duration::from_secs(10),
        "the timeout fired after {waited:?}"
    );
    drop(server);
    assert_eq!(drops.load(Ordering::SeqCst), 4, "each value dropped once");
    assert!(rx.try_recv().is_err(), "nothing else: {:?}", rx.try_recv());
}

fn refused_dials_call_nothing_and_drop_the_value(engine: Engine, _: &str) {
    let (dialer, rx, drops) = Dialer::new();
    let t = |i| dialer.tag(i, None);
    let tags: Vec<Tag> = (0..7).map(t).collect();
    let mut tags = tags.into_iter();
    let mut tag = || tags.next().unwrap();
    let err = |r: Result<(), Error>| r.unwrap_err().code();
    // Off a loop: evio::dial refuses.
    let opts = DialOptions::new();
    assert_eq!(
        err(evio::dial("tcp://127.0.0.1:1", &opts, tag())),
        EVIO_EPERM
    );
    let no_addrs: [&str; 0] = [];
    let server = start(engine, 1, dialer, &no_addrs);
    let zero = DialOptions::new().timeout(Duration::ZERO);
    assert_eq!(
        err(server.dial(None, "tcp://127.0.0.1:0", &opts, tag())),
        EVIO_EINVAL
    );
    assert_eq!(
        err(server.dial(None, "tcp://1.2\0:80", &opts, tag())),
        EVIO_EINVAL
    );
    assert_eq!(
        err(server.dial(None, "tcp://127.0.0.1:1", &zero, tag())),
        EVIO_EINVAL
    );
    assert_eq!(
        err(server.dial(Some(1), "tcp://127.0.0.1:1", &opts, tag())),
        EVIO_EINVAL
    );
    assert_eq!(drops.load(Ordering::SeqCst), 5, "dropped at once");
    server.stop(Duration::ZERO);
    server.wait().unwrap();
    assert_eq!(
        err(server.dial(None, "tcp://127.0.0.1:1", &opts, tag())),
        EVIO_ENOTCONN
    );
    assert_eq!(
        err(server.dial(Some(usize::MAX), "x:1", &opts, tag())),
        EVIO_EINVAL
    );
    drop(server);
    assert_eq!(drops.load(Ordering::SeqCst), 7);
    assert!(rx.try_recv().is_err(), "no callback: {:?}", rx.try_recv());
}

fn dial_from_a_callback_lands_on_the_callers_loop(engine: Engine, _: &str) {
    const N: usize = 4;
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = tcp(peer.local_addr().unwrap());
    let (dialer, rx, drops) = Dialer::new();
    let server = start(engine, 2, dialer, &["tcp://127.0.0.1:0"]);
    let addr = server.addr(0).unwrap().as_socket_addr().unwrap();
    let mut clients = Vec::new();
    for id in 0..N {
        let mut c = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap();
        c.set_read_timeout(Some(TIMEOUT)).unwrap();
        c.write_all(format!("{id} {target}").as_bytes()).unwrap();
        let mut ok = [0u8; 2];
        c.read_exact(&mut ok).unwrap();
        clients.push(c);
    }
    let mut dialed = Vec::new();
    for _ in 0..N {
        let (s, _) = peer.accept().unwrap();
        dialed.push(s); // kept open so that the dialed connections stay
    }
    let mut seen = vec![0; N];
    for _ in 0..N {
        match next(&rx) {
            Event::Dialed {
                id,
                same_thread,
                had_context,
            } => {
                assert!(same_thread, "dial {id} landed on another loop");
                assert!(!had_context);
                seen[id] += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, vec![1; N]);
    server.stop(Duration::ZERO);
    server.wait().unwrap();
    drop(server);
    assert_eq!(drops.load(Ordering::SeqCst), N);
}
