#!/usr/bin/env python3
"""The tcp-proxy example end to end, in front of the echo example (and of redis-server and
the http example when they are installed), with a refused upstream listed first so every
client also exercises "a failed upstream is skipped":

- 1 GiB of random bytes (PROXY_TEST_BYTES to change it) through the proxy and back,
  byte-exact, written and read in random chunk sizes;
- a slow consumer (it stops reading while 64 MiB are sent) keeps the proxy's RSS bounded,
  then reads every byte;
- half-close: a client sends 4 MiB then its FIN; the whole echo comes back, then the end;
- 10,000 proxied connections opened and closed: no fd and no memory left behind;
- echo-load (the client built on evio's dial) through it; redis-cli and redis-benchmark
  through it to a real redis-server; curl through it to the http example.

    examples/proxy-test.py BUILD_DIR        (ctest examples.proxy)

Loopback only, ports from the kernel, every wait bounded; "N passed, N failed" at the end.
"""
import os, random, re, select, shutil, socket, subprocess, sys, time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
# Under ASAN freed memory waits in a quarantine (256 MiB by default) instead of being
# reused, which the RSS bounds below would count as growth: no quarantine for them. Set
# whether or not the caller set ASAN_OPTIONS (a build without ASAN ignores it).
_asan = os.environ.get("ASAN_OPTIONS", "")
os.environ["ASAN_OPTIONS"] = (_asan + ":" if _asan else "") + \
    "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
ex = os.path.join(build, "examples")
total_bytes = int(os.environ.get("PROXY_TEST_BYTES", str(1 << 30)))
passed = failed = 0
procs = []


def check(name, ok, detail=""):
    global passed, failed
    passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
    print("ok  " if ok else "FAIL", name, detail, flush=True)


def start(args, pattern=r"serving on tcp://127\.0\.0\.1:(\d+)"):
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    procs.append(p)
    r, _, _ = select.select([p.stdout], [], [], 10)
    line = p.stdout.readline() if r else ""
    m = re.search(pattern, line)
    if not m:
        raise RuntimeError(f"{args[0]} did not start: {line!r}")
    return p, int(m.group(1))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def nfds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def refused_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens there now
    return port


def proxy_for(upstream_port, loops=2):
    return start([os.path.join(ex, "tcp-proxy"), "tcp://127.0.0.1:0",
                  "--upstream", f"tcp://127.0.0.1:{refused_port()}",
                  "--upstream", f"tcp://127.0.0.1:{upstream_port}",
                  "--connect-timeout", "2000", "--loops", str(loops)])


def pump(s, out, total, rng, read_pause=None, deadline_s=120):
    """Writes `total` bytes of `out` (cycled) in random chunks while reading the echo;
    returns (bytes verified, first mismatch offset or -1). read_pause: (start, stop)
    offsets of the written stream between which nothing is read."""
    s.setblocking(False)
    sent = got = 0
    bad = -1
    n = len(out)
    deadline = time.monotonic() + deadline_s
    while got < total and time.monotonic() < deadline:
        reading = read_pause is None or not (read_pause[0] <= sent < read_pause[1])
        want_w = [s] if sent < total else []
        r, w, _ = select.select([s] if reading else [], want_w, [], 1.0)
        if w:
            k = min(rng.randint(1, 256 * 1024), total - sent)
            off = sent % n
            chunk = out[off:off + k] if off + k <= n else (out[off:] + out[:off + k - n])
            try:
                sent += s.send(chunk)
            except BlockingIOError:
                pass
        if r:
            try:
                data = s.recv(rng.randint(1, 256 * 1024))
            except BlockingIOError:
                continue
            if not data:
                break
            off = got % n
            exp = out[off:off + len(data)] if off + len(data) <= n else \
                (out[off:] + out[:off + len(data) - n])
            if bad < 0 and data != exp:
                bad = got + next(i for i in range(len(data)) if data[i] != exp[i])
            got += len(data)
        if read_pause and read_pause[0] <= sent < read_pause[1] and not w:
            read_pause = None  # the proxy stopped taking bytes: it pushes back; read again
    return got, bad


try:
    echo, echo_port = start([os.path.join(ex, "echo-server"), "tcp://127.0.0.1:0", "--loops", "1"])
    proxy, port = proxy_for(echo_port)
    rng = random.Random(int(os.environ.get("TS_SEED", "0")) or time.time_ns())
    pattern = os.urandom(4 << 20)

    # 1. Byte-exact, random chunking.
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    got, bad = pump(s, pattern, total_bytes, rng)
    s.close()
    secs = time.monotonic() - t0
    check("random bytes through the proxy, byte-exact", got == total_bytes and bad < 0,
          f"({got >> 20} of {total_bytes >> 20} MiB in {secs:.1f} s, first mismatch {bad})")

    # 2. A slow consumer: the proxy's RSS stays bounded while the client does not read.
    base = rss_kib(proxy.pid)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setblocking(False)
    sent, deadline = 0, time.monotonic() + 20
    while sent < (64 << 20) and time.monotonic() < deadline:
        _, w, _ = select.select([], [s], [], 1.0)
        if not w:
            break  # pushed back all the way to the client
        try:
            sent += s.send(pattern[: 256 * 1024])
        except BlockingIOError:
            pass
    peak = rss_kib(proxy.pid)
    check("a slow consumer is pushed back before 64 MiB", sent < (64 << 20),
          f"({sent >> 10} KiB taken before the client was blocked)")
    check("proxy RSS grows by less than 16 MiB with a slow consumer", peak - base < 16 * 1024,
          f"(RSS {base} -> {peak} KiB)")
    s.setblocking(True)
    s.settimeout(10)
    got = 0
    want = sent
    while got < want:
        data = s.recv(1 << 20)
        if not data:
            break
        got += len(data)
    check("the slow consumer then reads every byte", got == want, f"({got} of {want})")
    s.close()

    # 3. Half-close: the whole response arrives after the client's FIN.
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    body = pattern[: 8 << 20]
    s.sendall(body)
    s.shutdown(socket.SHUT_WR)
    chunks, got = [], 0
    while True:
        data = s.recv(1 << 20)
        if not data:
            break
        chunks.append(data)
        got += len(data)
    s.close()
    check("half-close: every byte of the response, then the end", b"".join(chunks) == body,
          f"({got} of {len(body)} bytes)")

    # 4. 10,000 connections opened and closed: no fd or memory left behind.
    def churn(n):
        for i in range(n):
            c = socket.create_connection(("127.0.0.1", port), timeout=10)
            c.sendall(b"x")
            c.recv(1)
            c.close()

    cproxy, port = proxy_for(echo_port)  # a fresh proxy: its fds before any client
    fd0 = nfds(cproxy.pid)

    def settle():  # polls (bounded) until every pair's sockets are closed
        deadline = time.monotonic() + 10
        while nfds(cproxy.pid) > fd0 and time.monotonic() < deadline:
            time.sleep(0.02)

    churn(500)  # warm up: buffers, the allocator's arenas
    settle()
    rss0 = rss_kib(cproxy.pid)
    churn(10000)
    settle()
    fd1, rss1 = nfds(cproxy.pid), rss_kib(cproxy.pid)
    check("10,000 proxied connections: no fd left", fd1 <= fd0, f"(fds {fd0} -> {fd1})")
    check("10,000 proxied connections: RSS grows < 2 MiB", rss1 - rss0 < 2048,
          f"(RSS {rss0} -> {rss1} KiB)")

    # 5. Real tools through it, and evio's own client (it dials on 2 loops).
    el = subprocess.run([os.path.join(ex, "echo-load"), f"tcp://127.0.0.1:{port}", "--conns", "40",
                         "--requests", "500", "--size", "1000", "--loops", "2"],
                        capture_output=True, text=True, timeout=60)
    check("echo-load (dialing on 2 loops) through the proxy, every byte checked",
          el.returncode == 0, f"({(el.stdout + el.stderr).strip()[:120]})")

    if shutil.which("redis-server") and shutil.which("redis-cli"):
        rport = refused_port()
        rs = subprocess.Popen(["redis-server", "--port", str(rport), "--save", "",
                               "--appendonly", "no"], stdout=subprocess.DEVNULL)
        procs.append(rs)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", rport), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)  # polling until redis-server listens
        rp, rpport = proxy_for(rport, loops=1)
        out = subprocess.run(["redis-cli", "-p", str(rpport), "set", "k", "through"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        out2 = subprocess.run(["redis-cli", "-p", str(rpport), "get", "k"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        check("redis-cli through the proxy", out == "OK" and out2 == "through", f"({out}, {out2})")
        b = subprocess.run(["redis-benchmark", "-p", str(rpport), "-t", "ping_inline", "-n",
                            "20000", "-P", "16", "-q"], capture_output=True, text=True, timeout=60)
        rps = re.search(r"PING_INLINE: ([\d.]+) requests per second", b.stdout.replace("\r", "\n"))
        check("redis-benchmark through the proxy", b.returncode == 0 and rps is not None,
              f"({rps.group(1) if rps else b.stdout[-200:]} requests/s)")
    else:
        check("redis-server is installed (scripts/deps)", False)
    if shutil.which("curl"):
        http, hport = start([os.path.join(ex, "http-server"), "tcp://127.0.0.1:0"])
        hp, hpport = proxy_for(hport, loops=1)
        c = subprocess.run(["curl", "-s", "-m", "10", f"http://127.0.0.1:{hpport}/"],
                           capture_output=True, text=True, timeout=20)
        check("curl through the proxy to the http example", c.returncode == 0 and c.stdout != "",
              f"({c.stdout.strip()[:40]!r})")
finally:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    rc = [p.returncode for p in procs[:2]]
    check("echo and proxy stop cleanly on SIGTERM", all(r == 0 for r in rc), f"(exit {rc})")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
