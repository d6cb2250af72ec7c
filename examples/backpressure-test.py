#!/usr/bin/env python3
"""The redis example under a client that pipelines GETs of a large value and never reads
the replies: the server's memory must stay bounded (it stops parsing once 1 MiB of output
is pending and pauses reading), instead of growing by the size of every reply.

    examples/backpressure-test.py BUILD_DIR      (ctest examples.backpressure)

Loopback only, a port from the kernel, every wait bounded; prints the RSS it saw and
"N passed, N failed".
"""
import os, re, select, socket, subprocess, sys, time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
server = subprocess.Popen([os.path.join(build, "examples", "redis-server"), "tcp://127.0.0.1:0"],
                          stdout=subprocess.PIPE, text=True)
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

try:
    line = server.stdout.readline()
    port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
    value = b"v" * (256 * 1024)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n%s\r\n" % (len(value), value))
    assert s.recv(16).startswith(b"+OK")
    base = rss_kib(server.pid)
    s.setblocking(False)
    get = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n" * 3000  # one 63 KiB read: 3000 GETs
    sent, deadline = 0, time.monotonic() + 15
    # Send GETs (each asks for 256 KiB) until the server stops taking them for a second.
    while time.monotonic() < deadline:
        _, w, _ = select.select([], [s], [], 1.0)
        if not w:
            break  # the server pushes back: it stopped reading
        try:
            sent += s.send(get)
        except BlockingIOError:
            pass
    peak = rss_kib(server.pid)
    gets = sent // 21
    detail = f"({gets} GETs sent = {gets * 256 // 1024} MiB of replies asked; RSS {base} -> {peak} KiB)"
    check("server pushes back before 16 MiB of GETs", sent < 16 * 1024 * 1024, detail)
    check("server RSS grows by less than 32 MiB", peak - base < 32 * 1024, detail)
    # It still serves: read some replies, and a new client gets an answer.
    s.setblocking(True)
    got = s.recv(65536)
    check("replies arrive once the client reads", got.startswith(b"$262144\r\n"))
    t = socket.create_connection(("127.0.0.1", port), timeout=10)
    t.sendall(b"PING\r\n")
    check("another client is served meanwhile", t.recv(16).startswith(b"+PONG"))
    t.close()
    s.close()
finally:
    server.terminate()
    try:
        rc = server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        rc = -9
    check("redis-server exits with status 0 after SIGTERM", rc == 0, f"(status {rc})")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
