//! An echo server.
//!
//! ```text
//! cargo run --example echo -- tcp://127.0.0.1:5000
//! cargo run --example echo -- --loops 4 --lb round-robin tcp://127.0.0.1:5000 udp://127.0.0.1:5000 unix:///tmp/echo.sock
//! ```
//!
//! Every byte received is sent back (for UDP: each datagram, as one datagram).

use std::process::ExitCode;

use evio::{Action, Conn, Handler, LoadBalance, ServerInfo};

struct Echo;

impl Handler for Echo {
    type Context = ();

    fn serving(&self, server: &ServerInfo<'_>) -> Action {
        for i in 0..server.num_addrs() {
            if let Some(addr) = server.addr_string(i) {
                println!(
                    "echo server listening on {addr} ({} loops)",
                    server.num_loops()
                );
            }
        }
        Action::None
    }

    fn data(&self, conn: &mut Conn<()>, input: &[u8]) -> Action {
        if conn.write(input).is_err() {
            return Action::Close;
        }
        Action::None
    }
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: echo [--loops N] [--lb random|round-robin|least-connections|source-hash] ADDRESS...\n\
         e.g.   echo --loops 4 tcp://127.0.0.1:5000"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut loops = 1usize;
    let mut lb = LoadBalance::Random;
    let mut addrs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--loops" | "-l" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) => loops = n,
                None => return usage(),
            },
            "--lb" => {
                lb = match args.next().as_deref() {
                    Some("random") => LoadBalance::Random,
                    Some("round-robin") => LoadBalance::RoundRobin,
                    Some("least-connections") => LoadBalance::LeastConnections,
                    Some("source-hash") => LoadBalance::SourceHash,
                    _ => return usage(),
                }
            }
            "-h" | "--help" => return usage(),
            _ => addrs.push(arg),
        }
    }
    if addrs.is_empty() {
        return usage();
    }
    match evio::Server::new()
        .loops(loops)
        .load_balance(lb)
        .serve(&Echo, &addrs)
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo: {e}");
            ExitCode::FAILURE
        }
    }
}
