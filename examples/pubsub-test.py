#!/usr/bin/env python3
"""The pub/sub example on two loops, driven by redis-cli and by raw sockets.

    examples/pubsub-test.py BUILD_DIR      (ctest examples.pubsub; needs redis-cli)

pubsub-server runs with --loops 2 --balance round-robin, so consecutive connections land
on alternate loops: of the four redis-cli subscribers two share the publisher's loop
(evio_conn_write) and two are on the other one (evio_conn_send).

  - redis-cli: four `subscribe news` get their confirmation; `publish news hello` answers
    4 and every subscriber prints the message; a channel nobody hears answers 0.
  - The bytes, exactly: a scripted session (SUBSCRIBE, UNSUBSCRIBE with and without
    channels, PING in and out of subscribed mode, PUBLISH, RESET, QUIT, the errors) gets
    the bytes Redis 7 sends; when redis-server is installed the same script runs against
    it too, so the expected bytes are Redis's own.
  - A subscriber that QUITs is gone from the count (its `closed` ran before its socket
    closed); subscribers that reset while 2000 PUBLISHes fan out to them never make the
    count go up or the server fail (ASAN builds check the lifetimes).
  - Slow subscribers (one on each loop, never reading) are dropped at the output limit
    (--output-limit 1 MiB here) while a subscriber that reads gets all 400 messages of
    64 KiB, and the server's RSS grows by less than 16 MiB (50 MiB would be queued for
    the two without the limit).
  - Ctrl-C (SIGINT) stops it with status 0.

Loopback only, ports from the kernel, every wait bounded (socket timeouts of 10 s);
prints "N passed, N failed"; exit status 77 (skipped) without redis-cli.
"""
import os, re, select, shutil, signal, socket, struct, subprocess, sys, tempfile, time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
passed = failed = 0
LIMIT = 1 << 20


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok  ", name, detail)
    else:
        failed += 1
        print("FAIL", name, detail)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def recv_exactly(s, n):
    got = b""
    while len(got) < n:
        b = s.recv(n - len(got))
        if not b:
            break
        got += b
    return got


def recv_until_eof(s, most):
    """Reads until EOF (or a reset), at most `most` bytes; returns (bytes read, ended)."""
    total = 0
    try:
        while total < most:
            b = s.recv(1 << 16)
            if not b:
                return total, True
            total += len(b)
    except ConnectionResetError:
        return total, True
    except socket.timeout:
        pass
    return total, False


class Lines:
    """The lines a child prints, each read within a deadline (a child that says nothing
    must not hang the test)."""

    def __init__(self, proc):
        self.fd, self.buf = proc.stdout.fileno(), b""

    def read(self, timeout=10):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return None
            b = os.read(self.fd, 4096)
            if not b:
                return None
            self.buf += b
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace").strip()


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def confirm(kind, chan, count):
    c = b"$-1\r\n" if chan is None else b"$%d\r\n%s\r\n" % (len(chan), chan)
    return b"*3\r\n$%d\r\n%s\r\n" % (len(kind), kind) + c + b":%d\r\n" % count


def message(chan, msg):
    return b"*3\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(chan), chan, len(msg), msg)


CONTEXT = (b"-ERR Can't execute 'publish': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
           b"QUIT / RESET are allowed in this context\r\n")

# (client, what it sends, what it gets). A and B subscribe, P publishes. Every step's
# answer is read whole before the next step, so the transcript is deterministic.
SCRIPT = [
    ("A", b"SUBSCRIBE\r\n", b"-ERR wrong number of arguments for 'subscribe' command\r\n"),
    ("A", resp("SUBSCRIBE", "a", "b", "a"),
     confirm(b"subscribe", b"a", 1) + confirm(b"subscribe", b"b", 2) + confirm(b"subscribe", b"a", 2)),
    ("A", b"PING\r\n", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"),
    ("A", resp("PING", "hi"), b"*2\r\n$4\r\npong\r\n$2\r\nhi\r\n"),
    ("A", b"PING a b\r\n", b"-ERR wrong number of arguments for 'ping' command\r\n"),
    ("A", resp("PUBLISH", "a", "x"), CONTEXT),
    ("B", resp("SUBSCRIBE", "a"), confirm(b"subscribe", b"a", 1)),
    ("P", resp("PUBLISH", "a", "hello"), b":2\r\n"),
    ("A", b"", message(b"a", b"hello")),
    ("B", b"", message(b"a", b"hello")),
    ("P", resp("PUBLISH", "zz", "hello"), b":0\r\n"),
    ("P", b"PUBLISH a\r\n", b"-ERR wrong number of arguments for 'publish' command\r\n"),
    ("P", b"FOO bar baz\r\n", b"-ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' \r\n"),
    ("P", b"UNSUBSCRIBE\r\n", confirm(b"unsubscribe", None, 0)),
    ("P", b"PING\r\n", b"+PONG\r\n"),
    ("A", resp("UNSUBSCRIBE", "b", "c"), confirm(b"unsubscribe", b"b", 1) + confirm(b"unsubscribe", b"c", 1)),
    ("P", resp("PUBLISH", "b", "nobody"), b":0\r\n"),
    ("P", resp("PUBLISH", "a", "\r\nbinary\x00"), b":2\r\n"),
    ("A", b"", message(b"a", b"\r\nbinary\x00")),
    ("B", b"", message(b"a", b"\r\nbinary\x00")),
    ("A", b"UNSUBSCRIBE\r\n", confirm(b"unsubscribe", b"a", 0)),
    ("A", b"UNSUBSCRIBE\r\n", confirm(b"unsubscribe", None, 0)),
    ("P", resp("PUBLISH", "a", "only B"), b":1\r\n"),
    ("B", b"", message(b"a", b"only B")),
    ("A", b"PING\r\n", b"+PONG\r\n"),  # A got no message: it unsubscribed
    ("B", resp("SUBSCRIBE", "c", "d"), confirm(b"subscribe", b"c", 2) + confirm(b"subscribe", b"d", 3)),
    ("B", b"RESET\r\n", b"+RESET\r\n"),
    ("P", resp("PUBLISH", "a", "nobody"), b":0\r\n"),
    ("B", b"*0\r\n\r\nPING\r\n", b"+PONG\r\n"),  # empty commands get no answer
    ("A", b"QUIT\r\n", b"+OK\r\n"),
]


def run_script(connect):
    """Runs SCRIPT on three connections; returns the first mismatch, or None."""
    socks = {k: connect() for k in "ABP"}
    try:
        for who, send, want in SCRIPT:
            s = socks[who]
            if send:
                s.sendall(send)
            got = recv_exactly(s, len(want))
            if got != want:
                return f"{who} {send!r}: got {got!r}, want {want!r}"
        if socks["A"].recv(16) != b"":
            return "A: no EOF after QUIT"
        return None
    finally:
        for s in socks.values():
            s.close()


def real_redis_script():
    """The same script against redis-server itself (on a unix socket in a fresh
    directory), if installed; returns None (same bytes), a mismatch, or "missing"."""
    exe = shutil.which("redis-server")
    if not exe:
        return "missing"
    d = tempfile.mkdtemp()
    path = os.path.join(d, "redis.sock")
    p = subprocess.Popen([exe, "--port", "0", "--unixsocket", path, "--save", "",
                          "--appendonly", "no", "--dir", d], stdout=subprocess.PIPE, bufsize=0)
    try:
        log = Lines(p)
        while True:  # its log says when it listens
            line = log.read()
            if line is None:
                return "redis-server did not start"
            if "ready to accept connections" in line:
                break

        def connect():
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(10)
            s.connect(path)
            return s
        return run_script(connect)
    finally:
        p.kill()
        p.wait(timeout=10)
        shutil.rmtree(d, ignore_errors=True)


def redis_cli_case(port):
    cli = ["redis-cli", "-h", "127.0.0.1", "-p", str(port)]
    subs = []
    for i in range(4):  # one at a time, so that round-robin alternates their loops
        p = subprocess.Popen(cli + ["subscribe", "news"], stdout=subprocess.PIPE, bufsize=0)
        subs.append((p, Lines(p)))
        lines = [subs[-1][1].read() for _ in range(3)]
        check(f"redis-cli subscriber {i + 1} is confirmed", lines == ["subscribe", "news", "1"], str(lines))
    try:
        out = subprocess.run(cli + ["publish", "news", "hello"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        check("redis-cli publish reaches 4 subscribers on both loops", out == "4", f"(answered {out})")
        for i, (p, out) in enumerate(subs):
            lines = [out.read() for _ in range(3)]
            check(f"subscriber {i + 1} got the message", lines == ["message", "news", "hello"], str(lines))
        out = subprocess.run(cli + ["publish", "nobody", "x"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        check("redis-cli publish to a channel nobody hears answers 0", out == "0", f"(answered {out})")
    finally:
        for p, _ in subs:
            p.kill()
            p.wait(timeout=10)


def connect_to(port, rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def publish(p, chan, msg):
    p.sendall(resp("PUBLISH", chan, msg))
    line = b""
    while not line.endswith(b"\r\n"):
        b = p.recv(1)
        if not b:
            return -1
        line += b
    return int(line[1:-2])


def subscribe(port, chan, rcvbuf=None):
    s = connect_to(port, rcvbuf)
    s.sendall(resp("SUBSCRIBE", chan))
    want = confirm(b"subscribe", chan.encode(), 1)
    assert recv_exactly(s, len(want)) == want
    return s


def quit_case(port):
    s1, s2, p = subscribe(port, "q"), subscribe(port, "q"), connect_to(port)
    check("PUBLISH counts 2 subscribers", publish(p, "q", "1") == 2)
    s1.sendall(b"QUIT\r\n")
    got, ended = recv_until_eof(s1, 1 << 16)
    check("a subscriber that QUITs gets its message, +OK, then EOF", ended and got == len(message(b"q", b"1")) + 5)
    check("then PUBLISH counts 1", publish(p, "q", "2") == 1)
    for s in (s1, s2, p):
        s.close()


def reset_race_case(port):
    subs = [subscribe(port, "race") for _ in range(20)]
    p = connect_to(port)
    p.sendall(resp("PUBLISH", "race", "m" * 100) * 2000)
    for s in subs:  # reset (RST) while the publishes fan out to them
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    counts = []
    buf = b""
    while len(counts) < 2000:
        b = p.recv(1 << 16)
        if not b:
            break
        buf += b
        *lines, buf = buf.split(b"\r\n")
        counts += [int(x[1:]) for x in lines]
    check("2000 PUBLISHes racing 20 resets: every one answered, the count never goes up",
          len(counts) == 2000 and counts[0] <= 20 and all(a >= b for a, b in zip(counts, counts[1:])),
          f"(first {counts[:1]}, last {counts[-1:]})")
    p.close()


def slow_subscriber_case(port, server):
    # Two slow ones next to each other: on different loops whatever the balancer's turn.
    slow = [subscribe(port, "big", rcvbuf=4096) for _ in range(2)]
    fast = subscribe(port, "big")
    p = connect_to(port)
    base = rss_kib(server.pid)
    counts, got_all, peak = [], True, base
    for i in range(400):  # 25 MiB each; lock-step, so the fast one never lags
        msg = b"%06d" % i + b"z" * (64 * 1024 - 6)
        counts.append(publish(p, "big", msg))
        want = message(b"big", msg)
        got_all = got_all and recv_exactly(fast, len(want)) == want
        if i % 20 == 0:
            peak = max(peak, rss_kib(server.pid))
    peak = max(peak, rss_kib(server.pid))
    check("the subscriber that reads gets all 400 messages of 64 KiB", got_all)
    check("the two slow subscribers are dropped: PUBLISH counts 3, then 1",
          counts[0] == 3 and counts[-1] == 1, f"(counts {counts[0]} -> {counts[-1]})")
    ended = [recv_until_eof(s, 64 << 20) for s in slow]
    check("each slow subscriber is closed after less than its limit + socket buffers",
          all(e for _, e in ended) and all(n < LIMIT + (8 << 20) for n, _ in ended),
          f"(they got {[n >> 10 for n, _ in ended]} KiB)")
    check("server RSS grows by less than 16 MiB (50 MiB published to the slow ones)",
          peak - base < 16 * 1024, f"(RSS {base} -> {peak} KiB)")
    for s in slow + [fast, p]:
        s.close()


if not shutil.which("redis-cli"):
    print("SKIP: no redis-cli (scripts/deps installs redis-tools)")
    sys.exit(77)
server = subprocess.Popen([os.path.join(build, "examples", "pubsub-server"), "tcp://127.0.0.1:0",
                           "--loops", "2", "--balance", "round-robin", "--output-limit", str(LIMIT)],
                          stdout=subprocess.PIPE, text=True)
try:
    line = server.stdout.readline()
    port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
    check("pubsub-server serves on 2 loops", "loops: 2" in line, line.strip())
    redis_cli_case(port)
    mismatch = run_script(lambda: connect_to(port))
    check("the scripted session gets Redis's bytes", mismatch is None, mismatch or "")
    real = real_redis_script()
    if real == "missing":
        print("SKIP the script against redis-server: not installed (scripts/deps installs it)")
    else:
        check("redis-server itself answers the script with the same bytes", real is None, real or "")
    quit_case(port)
    reset_race_case(port)
    slow_subscriber_case(port, server)
finally:
    server.send_signal(signal.SIGINT)
    try:
        rc = server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        rc = -9
    check("pubsub-server exits with status 0 after Ctrl-C (SIGINT)", rc == 0, f"(status {rc})")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
