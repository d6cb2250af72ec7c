#!/usr/bin/env python3
"""An example server under a client that pipelines requests for large answers and never
reads them: the server's memory must stay bounded (it stops parsing once 1 MiB of output
is pending and pauses reading), instead of growing by the size of every answer.

    examples/backpressure-test.py BUILD_DIR [redis|http]

  redis  (ctest examples.backpressure)       redis-server; GETs of a 256 KiB value
  http   (ctest examples.http_backpressure)  http-server --body-size 262144; GET /

Then it checks that the server still serves: the answers arrive once the client reads,
another client is served meanwhile, and (http) 200 pipelined requests get their 200
answers, complete and in order, across the pauses. Loopback only, a port from the kernel,
every wait bounded; prints the RSS it saw and "N passed, N failed".
"""
import os, re, select, socket, subprocess, sys, time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
which = sys.argv[2] if len(sys.argv) > 2 else "redis"
BIG = 256 * 1024  # the size of one answer
passed = failed = 0


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
        b = s.recv(min(1 << 20, n - len(got)))
        if not b:
            break
        got += b
    return got


def flood(server, s, chunk, what):
    """Sends `chunk` (pipelined requests, each asking for BIG bytes) until the server
    stops taking them for a second; checks how much it took and how its RSS grew."""
    base = rss_kib(server.pid)
    s.setblocking(False)
    sent, deadline = 0, time.monotonic() + 15
    while time.monotonic() < deadline:
        _, w, _ = select.select([], [s], [], 1.0)
        if not w:
            break  # the server pushes back: it stopped reading
        try:
            sent += s.send(chunk)
        except BlockingIOError:
            pass
    peak = rss_kib(server.pid)
    s.setblocking(True)
    asked = sent // what[1]
    detail = (f"({asked} {what[0]} sent = {asked * BIG // (1 << 20)} MiB of answers asked; "
              f"RSS {base} -> {peak} KiB)")
    check(f"server pushes back before 16 MiB of {what[0]}", sent < 16 * 1024 * 1024, detail)
    check("server RSS grows by less than 32 MiB", peak - base < 32 * 1024, detail)


def redis_case(port, server):
    value = b"v" * BIG
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n%s\r\n" % (len(value), value))
    assert s.recv(16).startswith(b"+OK")
    get = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
    flood(server, s, get * 3000, ("GETs", len(get)))  # one 63 KiB read: 3000 GETs
    check("replies arrive once the client reads", s.recv(65536).startswith(b"$262144\r\n"))
    t = socket.create_connection(("127.0.0.1", port), timeout=10)
    t.sendall(b"PING\r\n")
    check("another client is served meanwhile", t.recv(16).startswith(b"+PONG"))
    t.close()
    s.close()


def read_answers(s):
    """Reads HTTP answers until EOF; returns (statuses, the body lengths, all complete)."""
    data = b""
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        data += b
    statuses, lengths, pos = [], [], 0
    while pos < len(data):
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            return statuses, lengths, False
        head = data[pos:end].decode("latin-1")
        m = re.search(r"\r\nContent-Length: (\d+)", head)
        n = int(m.group(1)) if m else 0
        if end + 4 + n > len(data):
            return statuses, lengths, False
        statuses.append(head.split("\r\n")[0])
        lengths.append(n)
        pos = end + 4 + n
    return statuses, lengths, True


def http_case(port, server):
    get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(get)
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    check("a GET is answered with --body-size bytes",
          head.startswith(b"HTTP/1.1 200 OK") and b"Content-Length: 262144\r\n" in head
          and recv_exactly(s, BIG) == b"x" * BIG)
    flood(server, s, get * 2400, ("GETs", len(get)))  # one 63 KiB read: 2400 GETs
    check("answers arrive once the client reads", s.recv(65536).startswith(b"HTTP/1.1 200 OK"))
    t = socket.create_connection(("127.0.0.1", port), timeout=10)
    t.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check("another client is served meanwhile", t.recv(64).startswith(b"HTTP/1.1 200 OK"))
    t.close()
    s.close()
    # 200 pipelined requests, the last one closing: 50 MiB of answers, so the server
    # pauses and goes on (`drained`) many times; every answer must come, whole, in order.
    u = socket.create_connection(("127.0.0.1", port), timeout=20)
    u.sendall(get * 199 + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    statuses, lengths, whole = read_answers(u)
    check("200 pipelined requests: 200 whole answers of 256 KiB, then the close",
          whole and len(statuses) == 200 and set(statuses) == {"HTTP/1.1 200 OK"}
          and set(lengths) == {BIG}, f"({len(statuses)} answers)")
    u.close()


name = {"redis": "redis-server", "http": "http-server"}[which]
args = [os.path.join(build, "examples", name), "tcp://127.0.0.1:0"]
if which == "http":
    args += ["--body-size", str(BIG)]
server = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
try:
    line = server.stdout.readline()
    port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
    (redis_case if which == "redis" else http_case)(port, server)
finally:
    server.terminate()
    try:
        rc = server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        rc = -9
    check(f"{name} exits with status 0 after SIGTERM", rc == 0, f"(status {rc})")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
