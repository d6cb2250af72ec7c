//! The proxy example (`examples/proxy.rs`) end to end: MiBs of random bytes in random chunks
//! both ways through it, byte-exact, with half-close in each direction, backpressure on
//! small watermarks, an echo upstream that would wedge a proxy whose halves are paused for
//! their own output, and a refused upstream closing the client.

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
    a_late_echo_upstream_does_not_wedge_the_proxy,
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

/// Starts the proxy with the watermarks `high` / 4 and `high` (on its halves and its own).
fn start_proxy(
    engine: Engine,
    upstream: String,
    high: usize,
) -> (ServerHandle, SocketAddr, Arc<Pauses>) {
    let pauses = Arc::new(Pauses::default());
    let proxy = Proxy {
        upstream,
        high_watermark: high,
        connect_timeout: TIMEOUT,
        pauses: pauses.clone(),
    };
    let server = Server::new()
        .loops(2)
        .engine(engine)
        .watermarks(high / 4, high)
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
    let (server, addr, pauses) = start_proxy(engine, upstream, HIGH);

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

/// Sets a socket option of `s` to `bytes` (a buffer size; setting it stops autotuning).
fn set_buf(s: &TcpStream, opt: libc::c_int, bytes: libc::c_int) {
    use std::os::fd::AsRawFd;
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a valid socket and option buffer.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            &bytes as *const libc::c_int as *const libc::c_void,
            len,
        )
    };
    assert_eq!(rc, 0, "setsockopt");
}

/// Echoes `s` (read a chunk, write it back, blocking) until the end of its input, then
/// ends its output. While its answers wait unread it reads nothing either.
fn echo(mut s: TcpStream) -> usize {
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0;
    loop {
        let n = s.read(&mut buf).expect("the upstream's read");
        if n == 0 {
            s.shutdown(Shutdown::Write).unwrap();
            return total;
        }
        s.write_all(&buf[..n]).expect("the upstream's write");
        total += n;
    }
}

/// The proxy's halves must not be paused for their own output (the example turns read
/// backpressure off on both): an echo upstream that starts reading only once the proxy's
/// upstream half holds more than the high watermark would wedge it. That half would stop
/// reading until its output fell to the low watermark (768 KiB less), and the upstream
/// takes that output only while its answers are read: it stops after its send buffer (32
/// KiB here) and the half's receive window (the kernel's initial ~128 KiB) are full.
fn a_late_echo_upstream_does_not_wedge_the_proxy(engine: Engine, _: &str) {
    let high = 1 << 20; // the default (HIGH is too small to wedge it)
    const N: usize = 8 << 20;
    let request = random_bytes(5, N);
    let backend = TcpListener::from(small_window_socket(0));
    let upstream = format!("tcp://{}", backend.local_addr().unwrap());
    let (server, addr, pauses) = start_proxy(engine, upstream, high);
    let backend_side = {
        let pauses = pauses.clone();
        thread::spawn(move || {
            let (s, _) = backend.accept().unwrap();
            s.set_read_timeout(Some(TIMEOUT)).unwrap();
            s.set_write_timeout(Some(TIMEOUT)).unwrap();
            set_buf(&s, libc::SO_SNDBUF, 16 << 10);
            // Late: the proxy's upstream half first holds more than `high`, and the
            // client is paused for it.
            wait_for_pause(&pauses, 0);
            let late = pauses[0].load(Ordering::SeqCst) > 0;
            (late, echo(s))
        })
    };
    let mut client = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap();
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    client.set_write_timeout(Some(TIMEOUT)).unwrap();
    let writer = {
        let mut w = client.try_clone().unwrap();
        let request = request.clone();
        thread::spawn(move || {
            w.write_all(&request).unwrap();
            w.shutdown(Shutdown::Write).unwrap();
        })
    };
    let mut got = Vec::with_capacity(N);
    let read = (&mut client).take(N as u64 + 1).read_to_end(&mut got);
    assert!(
        read.is_ok(),
        "the echo stopped after {} of {N} bytes: {read:?}",
        got.len()
    );
    let (late, echoed) = backend_side.join().unwrap();
    assert!(late, "the client was never paused for the upstream half");
    writer.join().unwrap();
    assert_eq!(echoed, N);
    assert_eq!(got.len(), N);
    assert!(got == request, "the echo arrived byte-exact");
    server.stop(Duration::from_secs(5));
    server.wait().unwrap();
}

fn a_refused_upstream_closes_the_client(engine: Engine, _: &str) {
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = format!("tcp://{}", dead.local_addr().unwrap());
    drop(dead);
    let (server, addr, _) = start_proxy(engine, upstream, HIGH);
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
