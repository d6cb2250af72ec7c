package evio_test

import (
	"bufio"
	"io"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	evio "github.com/evio/evio/bindings/go"
)

// timeout bounds every wait of the tests: a broken server fails a test, it never hangs.
const timeout = 30 * time.Second

// testServer is a server started by startServer.
type testServer struct {
	t        *testing.T
	addrs    []net.Addr
	numLoops int
	done     chan error
	stop     int32 // set by shutdown; the Tick event added by startServer watches it
}

// startServer runs Serve in a goroutine and returns once Serving has fired, with the
// real addresses. Unless ev has its own Tick, a Tick is added that shuts the server
// down once shutdown is called.
func startServer(t *testing.T, ev evio.Events, addrs ...string) *testServer {
	t.Helper()
	s := &testServer{t: t, done: make(chan error, 1)}
	ready := make(chan struct{})
	serving := ev.Serving
	ev.Serving = func(srv evio.Server) evio.Action {
		s.addrs = srv.Addrs
		s.numLoops = srv.NumLoops
		close(ready)
		if serving != nil {
			return serving(srv)
		}
		return evio.None
	}
	if ev.Tick == nil {
		ev.Tick = func() (time.Duration, evio.Action) {
			if atomic.LoadInt32(&s.stop) != 0 {
				return 0, evio.Shutdown
			}
			return 5 * time.Millisecond, evio.None
		}
	}
	go func() { s.done <- evio.Serve(ev, addrs...) }()
	select {
	case <-ready:
	case err := <-s.done:
		t.Fatalf("Serve(%q) returned before serving: %v", addrs, err)
	case <-time.After(timeout):
		t.Fatalf("Serve(%q): no Serving event", addrs)
	}
	return s
}

// shutdown asks the added Tick event to shut the server down and waits for Serve.
func (s *testServer) shutdown() error {
	atomic.StoreInt32(&s.stop, 1)
	return s.wait()
}

// wait waits for Serve to return.
func (s *testServer) wait() error {
	s.t.Helper()
	select {
	case err := <-s.done:
		return err
	case <-time.After(timeout):
		s.t.Fatalf("Serve did not return")
		return nil
	}
}

// dial connects to the server's address i.
func (s *testServer) dial(i int) net.Conn {
	s.t.Helper()
	return dialAddr(s.t, s.addrs[i])
}

func dialAddr(t testing.TB, a net.Addr) net.Conn {
	t.Helper()
	c, err := net.DialTimeout(a.Network(), a.String(), timeout)
	if err != nil {
		t.Fatalf("dial %v: %v", a, err)
	}
	c.SetDeadline(time.Now().Add(timeout))
	return c
}

// serveTimeout runs Serve and fails the test if it does not return in time.
func serveTimeout(t *testing.T, ev evio.Events, addrs ...string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- evio.Serve(ev, addrs...) }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		t.Fatalf("Serve(%q) did not return", addrs)
		return nil
	}
}

// sockPath returns a unix socket path short enough for sun_path, removed at the end.
func sockPath(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "evio")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s.sock")
}

// readLine reads one '\n'-terminated line.
func readLine(t testing.TB, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read line: %v (got %q)", err, line)
	}
	return line
}

// expectEOF checks that the peer closed the connection (after any bytes in r).
func expectEOF(t testing.TB, r io.Reader) {
	t.Helper()
	rest, err := io.ReadAll(r)
	if err != nil && !isReset(err) {
		t.Fatalf("expected EOF, got %v", err)
	}
	if len(rest) != 0 {
		t.Fatalf("expected EOF, got %q", rest)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	rng.Read(b)
	return b
}

// recv waits for a value on ch.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// scheme returns the scheme of an address, for test names.
func scheme(addr string) string {
	if i := strings.Index(addr, "://"); i >= 0 {
		return addr[:i]
	}
	return "tcp"
}
