//! The proxy example (`examples/proxy.rs`) end to end: MiBs of random bytes in random chunks
//! both ways through it, byte-exact, with half-close in each direction, backpressure on
//! small watermarks, and a refused upstream closing the client.

mod common;

#[allow(dead_code)] // the example's `main` is not used here
#[path = "../examples/proxy.rs"]
mod proxy;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use common::TIMEOUT;
use evio::{Engine, Server, ServerHandle};
use proxy::{Pauses, Proxy};
use std::sync::Arc;

on_both_engines!(
    mibs_both_ways_byte_exact_with_half_close,
    a_refused_upstream_closes_the_client,
);

const REQUEST: usize = 8 << 20;
const RESPONSE: usize = 10 << 20;
const HIGH: usize = 64 << 10;

/// Deterministic pseudo-random bytes (xorshift64*), from `seed`.
fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Writes `data` in pseudo-random chunks of 1 byte … 64 KiB.
fn write_chunked(s: &mut TcpStream, data: &[u8], seed: u64) {
    let sizes = random_bytes(seed, data.len() / 1024 + 16);
    let mut at = 0;
    let mut k = 0;
    while at < data.len() {
        let n = (usize::from(sizes[k % sizes.len()]) << 8 | 1).min(data.len() - at);
        s.write_all(&data[at..at + n]).unwrap();
        at += n;
        k += 1;
    }
}

fn read_to_end(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    got
}

fn start_proxy(engine: Engine, upstream: String) -> (ServerHandle, SocketAddr, Arc<Pauses>) {
    let pauses = Arc::new(Pauses::default());
    let proxy = Proxy {
        upstream,
        high_watermark: HIGH,
        connect_timeout: TIMEOUT,
        pauses: pauses.clone(),
    };
    let server = Server::new()
        .loops(2)
        .engine(engine)
        .watermarks(HIGH / 4, HIGH)
        .start(proxy, &["tcp://127.0.0.1:0"])
        .expect("start the proxy");
    let addr = server.addr(0).unwrap().as_socket_addr().unwrap();
    (server, addr, pauses)
}

/// A TCP socket on 127.0.0.1 with a small fixed receive buffer (set before the handshake,
/// so the window stays small): a reader behind it fills up quickly, and the proxy's other
/// side must wait for it (backpressure). `port` 0 makes a listener, else a connected socket.
fn small_window_socket(port: u16) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    let v: libc::c_int = 16 << 10;
    // SAFETY: plain socket calls on an fd we own; valid option and address buffers.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let owned = std::os::fd::OwnedFd::from_raw_fd(fd);
        let vp = &v as *const _ as *const libc::c_void;
        let vlen = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, vp, vlen);
        let mut a: libc::sockaddr_in = std::mem::zeroed();
        a.sin_family = libc::AF_INET as libc::sa_family_t;
        a.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
        a.sin_port = port.to_be();
        let ap = &a as *const _ as *const libc::sockaddr;
        let alen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        if port == 0 {
            assert_eq!(libc::bind(fd, ap, alen), 0);
            assert_eq!(libc::listen(fd, 16), 0);
        } else {
            assert_eq!(libc::connect(fd, ap, alen), 0);
        }
        owned
    }
}

fn counts(p: &Pauses) -> [usize; 2] {
    [p[0].load(Ordering::SeqCst), p[1].load(Ordering::SeqCst)]
}

/// Waits (bounded) until the proxy has paused a side of kind `which` (see `Pauses`). The kernel's send buffers hold at most 4 MiB each on Linux and the readers'
/// windows are 16 KiB, so the MiBs sent cannot all fit: the proxy must pause.
fn wait_for_pause(pauses: &Pauses, which: usize) {
    let deadline = Instant::now() + TIMEOUT;
    while pauses[which].load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
}

fn mibs_both_ways_byte_exact_with_half_close(engine: Engine, _: &str) {
    let request = random_bytes(1, REQUEST);
    let response = random_bytes(2, RESPONSE);
    let backend = TcpListener::from(small_window_socket(0));
    let upstream = format!("tcp://{}", backend.local_addr().unwrap());
    let (server, addr, pauses) = start_proxy(engine, upstream);

    // The backend reads the whole request (to the forwarded FIN), then answers and closes.
    let backend_side = {
        let response = response.clone();
        let pauses = pauses.clone();
        thread::spawn(move || {
            let (mut s, _) = backend.accept().unwrap();
            // A slow consumer: read nothing until the proxy has paused the client because
            // this side is full.
            wait_for_pause(&pauses, 0);
            s.set_read_timeout(Some(TIMEOUT)).unwrap();
            s.set_write_timeout(Some(TIMEOUT)).unwrap();
            let got = read_to_end(&mut s);
            write_chunked(&mut s, &response, 3);
            got
        })
    };
    let mut client = TcpStream::from(small_window_socket(addr.port()));
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    client.set_write_timeout(Some(TIMEOUT)).unwrap();
    let writer = {
        let mut w = client.try_clone().unwrap();
        thread::spawn(move || {
            write_chunked(&mut w, &request, 4);
            w.shutdown(Shutdown::Write).unwrap(); // half-close: the answer still comes
            request
        })
    };
    wait_for_pause(&pauses, 1); // the same for the response
    let got = read_to_end(&mut client);
    let request = writer.join().unwrap();
    let backend_got = backend_side.join().unwrap();
    assert_eq!(backend_got.len(), request.len());
    assert!(backend_got == request, "the request arrived byte-exact");
    assert_eq!(got.len(), response.len());
    assert!(
        got == response,
        "the response arrived byte-exact after the half-close"
    );
    let n = counts(&pauses);
    assert!(
        n[0] > 0 && n[1] > 0,
        "a full side paused the other, both ways: {n:?}"
    );
    server.stop(Duration::from_secs(5));
    server.wait().unwrap();
}

fn a_refused_upstream_closes_the_client(engine: Engine, _: &str) {
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = format!("tcp://{}", dead.local_addr().unwrap());
    drop(dead);
    let (server, addr, _) = start_proxy(engine, upstream);
    let mut client = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap();
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    client.write_all(b"lost").unwrap();
    // Closed without an answer: an end of stream, or a reset (the proxy never read "lost").
    let mut buf = [0u8; 16];
    match client.read(&mut buf) {
        Ok(n) => assert_eq!(n, 0, "closed without an answer"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    server.stop(Duration::ZERO);
    server.wait().unwrap();
}
