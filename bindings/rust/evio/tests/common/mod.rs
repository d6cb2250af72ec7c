//! Helpers shared by the integration tests.
//!
//! Every server is started on kernel-chosen ports / fresh unix paths, and learns its real
//! addresses in `serving`. The last address of every test server is a TCP "control"
//! address: a connection to it makes the handler return `Action::Shutdown` from `opened`,
//! which is how tests stop servers without sleeping or polling.
#![allow(dead_code)]

use std::any::Any;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use evio::{Action, Addr, Conn, Engine, Error, Handler, LoadBalance, ServerInfo};

/// Timeout for every client socket and every wait in the tests.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Both engines, with the name `ServerInfo::engine_name` gives for each.
pub const ENGINES: [(Engine, &str); 2] = [(Engine::Native, "epoll"), (Engine::Std, "libuv")];

/// Makes tests `NAME::native` and `NAME::std` calling `fn NAME(engine: Engine, name: &str)`.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn native() {
                super::$name(evio::Engine::Native, "epoll")
            }
            #[test]
            fn std() {
                super::$name(evio::Engine::Std, "libuv")
            }
        }
    )*};
}

/// What `serving` reports to the test.
pub struct Served {
    pub addrs: Vec<Addr>,
    pub engine: &'static str,
}

/// The control address appended to every test server's addresses.
pub const CONTROL: &str = "tcp://127.0.0.1:0";

/// Records the bound addresses in `serving` and recognises the control connection.
pub struct Control {
    tx: Mutex<Option<Sender<Served>>>,
    index: AtomicUsize,
}

impl Control {
    pub fn new() -> (Control, Receiver<Served>) {
        let (tx, rx) = channel();
        (
            Control {
                tx: Mutex::new(Some(tx)),
                index: AtomicUsize::new(usize::MAX),
            },
            rx,
        )
    }

    /// Call from `Handler::serving`.
    pub fn serving(&self, server: &ServerInfo<'_>) -> Action {
        let addrs = server.addrs();
        assert_eq!(addrs.len(), server.num_addrs());
        self.index.store(server.num_addrs() - 1, Ordering::SeqCst);
        if let Some(tx) = self.tx.lock().unwrap().take() {
            tx.send(Served {
                addrs,
                engine: server.engine_name(),
            })
            .unwrap();
        }
        Action::None
    }

    /// Whether `conn` came in on the control address.
    pub fn is_control<C>(&self, conn: &Conn<C>) -> bool {
        conn.addr_index() == self.index.load(Ordering::SeqCst)
    }
}

pub type ServeResult = thread::Result<Result<(), Error>>;

/// A server running on its own thread.
pub struct Running {
    result: Receiver<ServeResult>,
    /// The bound addresses (without the control address).
    pub addrs: Vec<Addr>,
    /// The engine's name.
    pub engine: &'static str,
    control: SocketAddr,
}

/// How to run a test server.
#[derive(Clone, Copy, Debug)]
pub struct Opts {
    pub loops: usize,
    pub lb: LoadBalance,
    pub engine: Engine,
}

impl Opts {
    pub fn loops(loops: usize) -> Opts {
        Opts {
            loops,
            lb: LoadBalance::Random,
            engine: Engine::Default,
        }
    }

    pub fn engine(self, engine: Engine) -> Opts {
        Opts { engine, ..self }
    }

    pub fn lb(self, lb: LoadBalance) -> Opts {
        Opts { lb, ..self }
    }
}

/// Starts `handler` on `loops` loops on `addrs` + the control address.
pub fn start<H>(handler: Arc<H>, rx: Receiver<Served>, loops: usize, addrs: &[&str]) -> Running
where
    H: Handler + Send + Sync + 'static,
{
    start_with(handler, rx, Opts::loops(loops), addrs)
}

/// [`start`] with all options.
pub fn start_with<H>(handler: Arc<H>, rx: Receiver<Served>, opts: Opts, addrs: &[&str]) -> Running
where
    H: Handler + Send + Sync + 'static,
{
    let mut all: Vec<String> = addrs.iter().map(|s| s.to_string()).collect();
    all.push(CONTROL.to_string());
    let (tx, result) = channel();
    thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            evio::Server::new()
                .loops(opts.loops)
                .load_balance(opts.lb)
                .engine(opts.engine)
                .serve(&*handler, &all)
        }));
        let _ = tx.send(r);
    });
    let served = match rx.recv_timeout(TIMEOUT) {
        Ok(a) => a,
        Err(_) => match result.recv_timeout(TIMEOUT) {
            Ok(r) => panic!("server did not start: {:?}", r.map_err(panic_message)),
            Err(_) => panic!("server did not start in time"),
        },
    };
    let mut bound = served.addrs;
    let control = bound.pop().unwrap().as_socket_addr().unwrap();
    Running {
        result,
        addrs: bound,
        engine: served.engine,
        control,
    }
}

impl Running {
    /// The IP address `i`.
    pub fn ip(&self, i: usize) -> SocketAddr {
        self.addrs[i].as_socket_addr().expect("an IP address")
    }

    /// The unix path `i`.
    pub fn path(&self, i: usize) -> PathBuf {
        self.addrs[i]
            .as_unix_path()
            .expect("a unix path")
            .to_path_buf()
    }

    /// Stops the server through the control address; returns what `serve` returned.
    pub fn stop(self) -> Result<(), Error> {
        let c = TcpStream::connect_timeout(&self.control, TIMEOUT);
        match self.wait() {
            Ok(r) => {
                drop(c);
                r
            }
            Err(p) => panic!("server panicked: {}", panic_message(p)),
        }
    }

    /// Waits for `serve` to return (or panic).
    pub fn wait(self) -> ServeResult {
        self.result
            .recv_timeout(TIMEOUT)
            .expect("server did not stop in time")
    }
}

/// Keeps the panics the tests provoke on purpose (messages starting with "boom") out of the
/// output; every other panic is reported as usual.
pub fn quiet_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let p = info.payload();
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !msg.starts_with("boom") {
                default(info);
            }
        }));
    });
}

/// The text of a panic payload.
pub fn panic_message(p: Box<dyn Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic)".to_string()
    }
}

pub fn tcp(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

pub fn unix(path: &std::path::Path) -> UnixStream {
    let s = UnixStream::connect(path).expect("connect unix");
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    s
}

/// A fresh unix socket path in the temp directory.
pub fn temp_sock(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    std::env::temp_dir().join(format!("evio-rs-{}-{tag}-{n}.sock", std::process::id()))
}

/// Deterministic test bytes.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31).wrapping_add(seed as usize) % 251) as u8)
        .collect()
}

/// Sends `msg` and reads exactly as many bytes back (writing on another thread, so large
/// messages cannot deadlock on full socket buffers).
pub fn round_trip<S>(stream: &mut S, msg: &[u8]) -> Vec<u8>
where
    S: Read + Write + TryCloneStream,
{
    let mut w = stream.try_clone_stream();
    let out = msg.to_vec();
    let writer = thread::spawn(move || w.write_all(&out).map(|_| w));
    let mut back = vec![0u8; msg.len()];
    stream.read_exact(&mut back).expect("read echo");
    writer.join().unwrap().expect("write");
    back
}

/// `try_clone` of the std stream types.
pub trait TryCloneStream {
    type Clone: Write + Send + 'static;
    fn try_clone_stream(&self) -> Self::Clone;
}

impl TryCloneStream for TcpStream {
    type Clone = TcpStream;
    fn try_clone_stream(&self) -> TcpStream {
        self.try_clone().unwrap()
    }
}

impl TryCloneStream for UnixStream {
    type Clone = UnixStream;
    fn try_clone_stream(&self) -> UnixStream {
        self.try_clone().unwrap()
    }
}

/// Reads until EOF; returns what was read (an error such as a reset ends it too).
pub fn read_to_eof<S: Read>(s: &mut S) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return buf,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                panic!("no EOF within the timeout")
            }
            Err(_) => return buf,
        }
    }
}

/// A context that counts its drops.
pub struct DropCount(pub Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// An echo handler that counts events.
pub struct Echo {
    pub ctl: Control,
    pub opened: AtomicUsize,
    pub closed: AtomicUsize,
    pub closed_err: AtomicUsize,
    pub drops: Arc<AtomicUsize>,
    pub threads: Mutex<std::collections::HashSet<thread::ThreadId>>,
}

impl Echo {
    pub fn new() -> (Arc<Echo>, Receiver<Served>) {
        let (ctl, rx) = Control::new();
        let h = Echo {
            ctl,
            opened: AtomicUsize::new(0),
            closed: AtomicUsize::new(0),
            closed_err: AtomicUsize::new(0),
            drops: Arc::new(AtomicUsize::new(0)),
            threads: Mutex::new(Default::default()),
        };
        (Arc::new(h), rx)
    }
}

impl Handler for Echo {
    type Context = DropCount;

    fn serving(&self, server: &ServerInfo<'_>) -> Action {
        self.ctl.serving(server)
    }

    fn opened(&self, conn: &mut Conn<DropCount>) -> Action {
        if self.ctl.is_control(conn) {
            return Action::Shutdown;
        }
        self.opened.fetch_add(1, Ordering::SeqCst);
        conn.set_context(DropCount(self.drops.clone()));
        Action::None
    }

    fn closed(&self, conn: &mut Conn<DropCount>, err: Option<Error>) -> Action {
        if !self.ctl.is_control(conn) {
            assert!(conn.context().is_some(), "context still there in closed");
            self.closed.fetch_add(1, Ordering::SeqCst);
            if err.is_some() {
                self.closed_err.fetch_add(1, Ordering::SeqCst);
            }
        }
        Action::None
    }

    fn data(&self, conn: &mut Conn<DropCount>, input: &[u8]) -> Action {
        self.threads.lock().unwrap().insert(thread::current().id());
        conn.write(input).unwrap();
        Action::None
    }
}
