//! Echo round trips over TCP, unix and UDP, on one and several loops.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::UdpSocket;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::thread;

use common::*;
use evio::{Action, Addr, Conn, Engine, Handler, LoadBalance, ServerInfo};

const SIZES: &[usize] = &[1, 7, 100, 4096, 65_536, 1 << 20];

on_both_engines!(
    tcp_echo_round_trips,
    unix_echo_round_trips,
    udp_echo_one_datagram_per_call,
    several_addresses_greeting_and_conn_addresses,
    multiple_loops_round_robin,
    multiple_loops_least_connections,
    multiple_loops_random,
);

fn tcp_echo_round_trips(engine: Engine, name: &str) {
    let (h, rx) = Echo::new();
    let srv = start_with(
        h.clone(),
        rx,
        Opts::loops(1).engine(engine),
        &["tcp://127.0.0.1:0"],
    );
    assert_eq!(srv.engine, name);
    let addr = srv.ip(0);
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0, "serving reports the kernel-chosen port");

    let mut c = tcp(addr);
    for (i, &n) in SIZES.iter().enumerate() {
        let msg = pattern(n, i as u8);
        assert_eq!(round_trip(&mut c, &msg), msg, "{n} bytes");
    }
    drop(c);

    srv.stop().expect("serve returns Ok after shutdown");
    assert_eq!(h.opened.load(Ordering::SeqCst), 1);
    assert_eq!(h.closed.load(Ordering::SeqCst), 1);
    assert_eq!(h.drops.load(Ordering::SeqCst), 1, "context dropped once");
}

fn unix_echo_round_trips(engine: Engine, name: &str) {
    let path = temp_sock("echo");
    let addr = format!("unix://{}", path.display());
    let (h, rx) = Echo::new();
    let srv = start_with(h.clone(), rx, Opts::loops(1).engine(engine), &[&addr]);
    assert_eq!(srv.engine, name);
    assert_eq!(srv.path(0), path);

    let mut c = unix(&path);
    for (i, &n) in SIZES.iter().enumerate() {
        let msg = pattern(n, i as u8);
        assert_eq!(round_trip(&mut c, &msg), msg, "{n} bytes");
    }
    drop(c);
    srv.stop().unwrap();
    assert!(!path.exists(), "the socket file is removed at shutdown");
    assert_eq!(h.closed.load(Ordering::SeqCst), 1);
}

fn udp_echo_one_datagram_per_call(engine: Engine, name: &str) {
    let (h, rx) = Echo::new();
    let srv = start_with(
        h.clone(),
        rx,
        Opts::loops(1).engine(engine),
        &["udp://127.0.0.1:0"],
    );
    assert_eq!(srv.engine, name);
    let server = srv.ip(0);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(TIMEOUT)).unwrap();
    sock.connect(server).unwrap();
    let mut buf = vec![0u8; 65_536];
    for (i, n) in [1usize, 5, 512, 1400, 8000].into_iter().enumerate() {
        let msg = pattern(n, i as u8);
        sock.send(&msg).unwrap();
        let got = sock.recv(&mut buf).expect("echo datagram");
        assert_eq!(&buf[..got], &msg[..], "datagram of {n} bytes");
    }
    srv.stop().unwrap();
    assert_eq!(h.opened.load(Ordering::SeqCst), 0, "no opened for UDP");
    assert_eq!(h.closed.load(Ordering::SeqCst), 0, "no closed for UDP");
}

/// (address index, local address, remote address, is UDP) of one `data` call.
type Seen = (usize, Option<Addr>, Option<Addr>, bool);

/// Handler that tags replies with the address index and records addresses.
struct Tagged {
    ctl: Control,
    seen: Mutex<Vec<Seen>>,
}

impl Handler for Tagged {
    type Context = ();

    fn serving(&self, server: &ServerInfo<'_>) -> Action {
        assert_eq!(server.num_loops(), 1);
        for i in 0..server.num_addrs() {
            let text = server.addr_string(i).expect("address text");
            assert!(text.contains("://"), "{text}");
        }
        assert!(server.addr(server.num_addrs()).is_none());
        assert!(server.addr_string(server.num_addrs()).is_none());
        self.ctl.serving(server)
    }

    fn opened(&self, conn: &mut Conn<()>) -> Action {
        if self.ctl.is_control(conn) {
            return Action::Shutdown;
        }
        // Through io::Write.
        let index = conn.addr_index();
        writeln!(conn, "hello {index}").unwrap();
        // Keepalive is for TCP only (index 0 is TCP, 1 is unix).
        let keepalive = conn.set_keepalive(Some(std::time::Duration::from_secs(30)));
        if index == 0 {
            keepalive.unwrap();
            conn.set_keepalive(None).unwrap();
        } else {
            assert_eq!(keepalive.unwrap_err().code(), evio::sys::EVIO_ENOTSUP);
        }
        Action::None
    }

    fn data(&self, conn: &mut Conn<()>, input: &[u8]) -> Action {
        self.seen.lock().unwrap().push((
            conn.addr_index(),
            conn.local_addr(),
            conn.remote_addr(),
            conn.is_udp(),
        ));
        let mut out = format!("{}:", conn.addr_index()).into_bytes();
        out.extend_from_slice(input);
        conn.write(&out).unwrap();
        if conn.is_udp() {
            let e = conn.waker().expect_err("no waker for a UDP sender");
            assert_eq!(e.code(), evio::sys::EVIO_ENOTSUP);
        }
        Action::None
    }
}

fn several_addresses_greeting_and_conn_addresses(engine: Engine, name: &str) {
    let path = temp_sock("multi");
    let unix_addr = format!("unix://{}", path.display());
    let (ctl, rx) = Control::new();
    let h = std::sync::Arc::new(Tagged {
        ctl,
        seen: Mutex::new(Vec::new()),
    });
    let srv = start_with(
        h.clone(),
        rx,
        Opts::loops(1).engine(engine),
        &["tcp://127.0.0.1:0", &unix_addr, "udp://127.0.0.1:0"],
    );
    assert_eq!(srv.engine, name);

    // TCP: greeting first, then tagged echo.
    let mut t = tcp(srv.ip(0));
    let mut greet = [0u8; 8];
    t.read_exact(&mut greet).unwrap();
    assert_eq!(&greet, b"hello 0\n");
    t.write_all(b"abc").unwrap();
    let mut back = [0u8; 5];
    t.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"0:abc");

    // Unix.
    let mut u = unix(&path);
    u.read_exact(&mut greet).unwrap();
    assert_eq!(&greet, b"hello 1\n");
    u.write_all(b"xyz").unwrap();
    u.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"1:xyz");

    // UDP.
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.send_to(b"dgram", srv.ip(2)).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = s.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"2:dgram");
    assert_eq!(from, srv.ip(2));

    let tcp_local = t.local_addr().unwrap();
    let tcp_server = srv.ip(0);
    drop((t, u));
    srv.stop().unwrap();

    let seen = h.seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        seen[0],
        (
            0,
            Some(Addr::Ip(tcp_server)),
            Some(Addr::Ip(tcp_local)),
            false
        )
    );
    assert_eq!(seen[1].0, 1);
    assert_eq!(seen[1].1, Some(Addr::Unix(Some(path.clone()))));
    assert_eq!(seen[1].2, Some(Addr::Unix(None)), "unnamed unix peer");
    assert!(!seen[1].3);
    assert_eq!(seen[2].0, 2);
    assert_eq!(seen[2].2, Some(Addr::Ip(s.local_addr().unwrap())));
    assert!(seen[2].3, "is_udp");
}

fn many_clients(loops: usize, lb: LoadBalance, engine: Engine) -> std::sync::Arc<Echo> {
    const CLIENTS: usize = 12;
    let (h, rx) = Echo::new();
    let opts = Opts::loops(loops).lb(lb).engine(engine);
    let srv = start_with(h.clone(), rx, opts, &["tcp://127.0.0.1:0"]);
    let addr = srv.ip(0);
    // Connect all first (so that every loop gets connections), then talk concurrently.
    let conns: Vec<_> = (0..CLIENTS).map(|_| tcp(addr)).collect();
    let workers: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            thread::spawn(move || {
                for round in 0..20u8 {
                    let msg = pattern(1000 + i * 37 + round as usize, round ^ i as u8);
                    assert_eq!(round_trip(&mut c, &msg), msg, "client {i} round {round}");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("client thread");
    }
    srv.stop().unwrap();
    assert_eq!(h.opened.load(Ordering::SeqCst), CLIENTS);
    assert_eq!(h.closed.load(Ordering::SeqCst), CLIENTS);
    assert_eq!(h.drops.load(Ordering::SeqCst), CLIENTS);
    h
}

fn multiple_loops_round_robin(engine: Engine, _: &str) {
    let h = many_clients(4, LoadBalance::RoundRobin, engine);
    let threads: HashSet<_> = h.threads.lock().unwrap().clone();
    assert_eq!(
        threads.len(),
        4,
        "round robin spreads 12 connections over 4 loop threads"
    );
    assert!(!threads.contains(&thread::current().id()));
}

fn multiple_loops_least_connections(engine: Engine, _: &str) {
    let h = many_clients(3, LoadBalance::LeastConnections, engine);
    assert!(
        h.threads.lock().unwrap().len() > 1,
        "connections spread over several loops"
    );
}

fn multiple_loops_random(engine: Engine, _: &str) {
    many_clients(2, LoadBalance::Random, engine);
}

#[test]
fn loops_per_cpu_reports_loop_count() {
    struct H(Mutex<usize>);
    impl Handler for H {
        type Context = ();
        fn serving(&self, s: &ServerInfo<'_>) -> Action {
            *self.0.lock().unwrap() = s.num_loops();
            Action::Shutdown
        }
    }
    let h = H(Mutex::new(0));
    evio::Server::new()
        .loops_per_cpu()
        .serve(&h, &["tcp://127.0.0.1:0"])
        .unwrap();
    // One per CPU: at least one (the core's idea of the CPU count may differ from std's).
    assert!(*h.0.lock().unwrap() >= 1);
}
