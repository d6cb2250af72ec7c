package evio_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	evio "github.com/evio/evio/bindings/go"
)

func TestBadAddresses(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var served int32
	var ev evio.Events
	ev.Serving = func(evio.Server) evio.Action {
		atomic.AddInt32(&served, 1)
		return evio.Shutdown
	}
	for _, addr := range []string{
		"tulip://howdy",
		"howdy",
		"tcp://:99999",
		"tcp://127.0.0.1:port",
		"unix:///nonexistent-evio-dir/s.sock",
		"unix://" + file,
		"unix://" + strings.Repeat("x", 200),
	} {
		err := serveTimeout(t, ev, addr)
		if err == nil {
			t.Errorf("Serve(%q): no error", addr)
			continue
		}
		if !strings.HasPrefix(err.Error(), "evio: ") || len(err.Error()) <= len("evio: ") {
			t.Errorf("Serve(%q): error %q", addr, err)
		}
		t.Logf("Serve(%q): %v", addr, err)
	}
	if err := serveTimeout(t, ev, "tcp://127.0.0.1:0", "bogus://x"); err == nil {
		t.Errorf("a bad second address: no error")
	}
	if err := evio.Serve(ev); err == nil {
		t.Errorf("no address: no error")
	}
	if served != 0 {
		t.Fatalf("Serving fired for a server that failed")
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("a file that is not a socket was removed: %v", err)
	}
	// The error names the address and matches the errno.
	err := serveTimeout(t, ev, "tcp://:99999")
	if !strings.Contains(err.Error(), "99999") {
		t.Errorf("error %q does not name the port", err)
	}
}

// TestEmptyTCPAddress: as with tidwall/evio (net.Listen), "tcp://" listens on a port
// the system chooses.
func TestEmptyTCPAddress(t *testing.T) {
	var ev evio.Events
	var port int
	ev.Serving = func(s evio.Server) evio.Action {
		if len(s.Addrs) == 1 {
			if a, ok := s.Addrs[0].(*net.TCPAddr); ok {
				port = a.Port
			}
		}
		return evio.Shutdown
	}
	if err := serveTimeout(t, ev, "tcp://"); err != nil {
		t.Fatalf("expected nil, got %v", err)
	}
	if port == 0 {
		t.Fatalf("Serving did not see a TCP address with a real port")
	}
}

func TestAddressInUse(t *testing.T) {
	s := startServer(t, evio.Events{}, "tcp://127.0.0.1:0")
	defer s.shutdown()
	var ev evio.Events
	ev.Serving = func(evio.Server) evio.Action { return evio.Shutdown }
	err := serveTimeout(t, ev, "tcp://"+s.addrs[0].String())
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("got %v, want EADDRINUSE", err)
	}
}

func TestReuseport(t *testing.T) {
	var ev evio.Events
	ev.Serving = func(s evio.Server) evio.Action { return evio.Shutdown }
	// Every spelling tidwall/evio accepts (and keys it ignores) serves.
	for _, v := range []string{"true", "1", "yes", "false", "True", "YES", "2", "no", "", "true&foo=bar"} {
		if err := serveTimeout(t, ev, "tcp://127.0.0.1:0?reuseport="+v); err != nil {
			t.Fatalf("reuseport=%s: %v", v, err)
		}
	}
	// Two servers share a port with reuseport.
	s1 := startServer(t, evio.Events{}, "tcp://127.0.0.1:0?reuseport=true")
	defer s1.shutdown()
	s2 := startServer(t, evio.Events{}, "tcp://"+s1.addrs[0].String()+"?foo=1&reuseport=Yes")
	if err := s2.shutdown(); err != nil {
		t.Fatal(err)
	}
}

// TestPanic checks that a panic in any event shuts the server down and makes Serve
// return an error that describes it, instead of crashing the program.
func TestPanic(t *testing.T) {
	sentinel := errors.New("sentinel")
	for _, event := range []string{"Serving", "Opened", "Data", "Closed", "Detached", "PreWrite", "Tick"} {
		for _, loops := range []int{1, 3} {
			event, loops := event, loops
			t.Run(event+"/loops="+string(rune('0'+loops)), func(t *testing.T) {
				boom := func(e string) {
					if e == event {
						if e == "Data" {
							panic(sentinel)
						}
						panic("boom in " + e)
					}
				}
				var closed int32
				var ev evio.Events
				ev.NumLoops = loops
				ev.Serving = func(evio.Server) evio.Action { boom("Serving"); return evio.None }
				ev.Tick = func() (time.Duration, evio.Action) {
					boom("Tick")
					return 10 * time.Millisecond, evio.None
				}
				ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
					boom("Opened")
					return []byte("hi\n"), evio.Options{}, evio.None
				}
				ev.PreWrite = func() { boom("PreWrite") }
				ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
					boom("Data")
					if string(in) == "detach\n" {
						return nil, evio.Detach
					}
					return in, evio.None
				}
				ev.Detached = func(c evio.Conn, rwc io.ReadWriteCloser) evio.Action {
					rwc.Close()
					boom("Detached")
					return evio.None
				}
				ev.Closed = func(c evio.Conn, err error) evio.Action {
					atomic.AddInt32(&closed, 1)
					boom("Closed")
					return evio.None
				}
				done := make(chan error, 1)
				ready := make(chan string, 1)
				serving := ev.Serving
				ev.Serving = func(s evio.Server) evio.Action {
					ready <- s.Addrs[0].String()
					return serving(s)
				}
				go func() { done <- evio.Serve(ev, "tcp://127.0.0.1:0") }()
				addr := recv(t, ready, "Serving")
				switch event {
				case "Opened", "PreWrite": // the first connection (its greeting) panics
					c := dialAddr(t, tcpAddr(addr))
					defer c.Close()
				case "Data", "Detached", "Closed":
					// A connection that stays open, to see it closed at shutdown.
					idle := dialAddr(t, tcpAddr(addr))
					defer idle.Close()
					readLine(t, bufio.NewReader(idle))
					c := dialAddr(t, tcpAddr(addr))
					defer c.Close()
					switch event {
					case "Data":
						c.Write([]byte("x\n"))
					case "Detached":
						c.Write([]byte("detach\n"))
					case "Closed":
						c.Close()
					}
				}
				err := recv(t, done, "Serve")
				if err == nil {
					t.Fatalf("Serve returned nil after a panic in %s", event)
				}
				if !strings.Contains(err.Error(), "panic in "+event+" event") {
					t.Fatalf("error %q does not name the %s event", firstLine(err), event)
				}
				if event == "Data" {
					if !errors.Is(err, sentinel) {
						t.Fatalf("errors.Is(err, sentinel) is false for %q", firstLine(err))
					}
				} else if !strings.Contains(err.Error(), "boom in "+event) {
					t.Fatalf("error %q does not hold the panic value", firstLine(err))
				}
				if event != "Serving" && event != "Tick" && atomic.LoadInt32(&closed) == 0 {
					t.Fatalf("no Closed event at shutdown")
				}
			})
		}
	}
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

type tcpAddr string

func (a tcpAddr) Network() string { return "tcp" }
func (a tcpAddr) String() string  { return string(a) }
