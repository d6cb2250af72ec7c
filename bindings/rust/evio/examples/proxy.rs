//! A TCP proxy: each client connection is paired with a connection dialed to the upstream
//! from the client's callback, so both live on one loop, and bytes are copied both ways.
//!
//! ```text
//! cargo run --example proxy -- [LISTEN] UPSTREAM [--loops N]
//! cargo run --example proxy -- tcp://127.0.0.1:7000 tcp://127.0.0.1:6379 --loops 2
//! ```
//!
//! - The client is not read until its upstream is connected (`pause_read` in `opened`).
//! - Backpressure both ways: after copying input to the other side, the reading side is
//!   paused if the other side's pending output passed the high watermark; the other
//!   side's `drained` resumes it.
//! - Half-close: one side's end of input shuts down the other side's sending direction
//!   after its pending output (`input_closed` → `shutdown_write`), so a client that sends a
//!   request and its FIN still gets the whole answer.
//! - A side that closes closes the other once its output has left.
//!
//! Each side's context holds a `ConnSender` of the other: its loop-local methods
//! (`write`, `pending`, `pause_read`, …) act on the peer at once, with no lock, because
//! both are on this loop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use evio::{Action, Conn, ConnSender, DialOptions, DialValue, Error, Handler, ServerInfo};

/// The default high watermark (evio's).
pub const HIGH_WATERMARK: usize = 1 << 20;

/// How often a side was paused because the other was full: `[0]` clients (their
/// upstream was full), `[1]` upstreams (their client was full).
pub type Pauses = [AtomicUsize; 2];

/// The proxy: where to dial, and when to pause a reading side.
pub struct Proxy {
    pub upstream: String,
    pub high_watermark: usize,
    pub connect_timeout: Duration,
    pub pauses: Arc<Pauses>,
}

/// A side's context: the other side, once there is one.
pub struct Side {
    peer: Option<ConnSender<Side>>,
}

impl Proxy {
    fn peer(conn: &Conn<Side>) -> Option<&ConnSender<Side>> {
        conn.context().and_then(|s| s.peer.as_ref())
    }
}

impl Handler for Proxy {
    type Context = Side;
    const INPUT_CLOSED: bool = true;

    fn serving(&self, server: &ServerInfo<'_>) -> Action {
        for i in 0..server.num_addrs() {
            eprintln!(
                "proxy: serving on {}",
                server.addr_string(i).unwrap_or_default()
            );
        }
        Action::None
    }

    /// A client: wait (unread) for its upstream, dialed from this loop.
    fn opened(&self, conn: &mut Conn<Side>) -> Action {
        conn.set_context(Side { peer: None });
        // Each half is paused for the other half's output, never for its own (that can
        // deadlock with an upstream that answers while it reads).
        conn.set_read_backpressure(false).ok();
        let (Ok(()), Ok(me)) = (conn.pause_read(), conn.sender()) else {
            return Action::Close;
        };
        let opts = DialOptions::new().timeout(self.connect_timeout);
        match evio::dial(&self.upstream, &opts, me) {
            Ok(()) => Action::None,
            Err(e) => {
                eprintln!("proxy: {e}");
                Action::Close
            }
        }
    }

    /// The upstream of the client in `value`: pair them, and start reading the client.
    fn dialed(&self, conn: &mut Conn<Side>, value: DialValue) -> Action {
        let Ok(client) = value.downcast::<ConnSender<Side>>() else {
            return Action::Close;
        };
        let Ok(upstream) = conn.sender() else {
            return Action::Close;
        };
        conn.set_read_backpressure(false).ok();
        // The client's context is reached from its own loop turn (it runs next, before
        // any input of the client, which is paused). If the client left meanwhile the
        // closure gets None, and the upstream goes too.
        let posted = client.post(move |c| match c {
            Some(c) => {
                c.set_context(Side {
                    peer: Some(upstream),
                });
                c.resume_read().ok();
            }
            None => {
                upstream.close().ok();
            }
        });
        conn.set_context(Side {
            peer: Some(*client),
        });
        if posted.is_err() {
            return Action::Close;
        }
        Action::None
    }

    fn dial_failed(&self, value: DialValue, err: Error) -> Action {
        eprintln!("proxy: upstream {}: {err}", self.upstream);
        if let Ok(client) = value.downcast::<ConnSender<Side>>() {
            client.close().ok();
        }
        Action::None
    }

    /// Copies input to the other side; pauses this side while the other is full.
    fn data(&self, conn: &mut Conn<Side>, input: &[u8]) -> Action {
        if input.is_empty() {
            return Action::None;
        }
        let Some(peer) = Proxy::peer(conn) else {
            return Action::Close;
        };
        if peer.write(input).is_err() {
            return Action::Close;
        }
        if peer.pending().is_ok_and(|n| n > self.high_watermark) {
            self.pauses[usize::from(conn.is_dialed())].fetch_add(1, Ordering::Relaxed);
            conn.pause_read().ok(); // resumed by the peer's `drained`
        }
        Action::None
    }

    /// This side has room again: the other may be read.
    fn drained(&self, conn: &mut Conn<Side>) -> Action {
        if let Some(peer) = Proxy::peer(conn) {
            peer.resume_read().ok();
        }
        Action::None
    }

    /// This side's input ended: pass the end on, after the other side's pending output.
    fn input_closed(&self, conn: &mut Conn<Side>) -> Action {
        match Proxy::peer(conn) {
            Some(peer) if peer.shutdown_write().is_ok() => Action::None,
            _ => Action::Close,
        }
    }

    fn closed(&self, conn: &mut Conn<Side>, _err: Option<Error>) -> Action {
        if let Some(peer) = Proxy::peer(conn) {
            peer.close().ok(); // after its pending output; ENOTCONN if gone already
        }
        Action::None
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut loops = 1;
    if let Some(i) = args.iter().position(|a| a == "--loops") {
        loops = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(0);
        args.drain(i..(i + 2).min(args.len()));
    }
    let (listen, upstream) = match args.as_slice() {
        [up] => ("tcp://127.0.0.1:7000".to_string(), up.clone()),
        [listen, up] => (listen.clone(), up.clone()),
        _ => {
            eprintln!("usage: proxy [LISTEN] UPSTREAM [--loops N]");
            std::process::exit(2);
        }
    };
    if loops == 0 {
        eprintln!("proxy: --loops wants a positive number");
        std::process::exit(2);
    }
    let proxy = Proxy {
        upstream,
        high_watermark: HIGH_WATERMARK,
        connect_timeout: Duration::from_secs(3),
        pauses: Arc::default(),
    };
    if let Err(e) = evio::Server::new().loops(loops).serve(&proxy, &[listen]) {
        eprintln!("proxy: {e}");
        std::process::exit(1);
    }
}
