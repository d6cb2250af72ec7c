package evio_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	evio "github.com/evio/evio/bindings/go"
)

func TestWake(t *testing.T) {
	for _, suffix := range []string{"", "-net"} {
		suffix := suffix
		t.Run("tcp"+suffix, func(t *testing.T) {
			conns := make(chan evio.Conn, 1)
			closed := make(chan struct{})
			var afterClose int32
			var ev evio.Events
			ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
				conns <- c
				return nil, evio.Options{}, evio.None
			}
			ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
				select {
				case <-closed:
					atomic.AddInt32(&afterClose, 1)
				default:
				}
				if in == nil {
					return []byte("wake\n"), evio.None
				}
				if len(in) == 0 {
					t.Errorf("Data with empty non-nil input")
				}
				return in, evio.None
			}
			ev.Closed = func(c evio.Conn, err error) evio.Action {
				close(closed)
				return evio.None
			}
			s := startServer(t, ev, "tcp"+suffix+"://127.0.0.1:0")
			c := s.dial(0)
			rd := bufio.NewReader(c)
			conn := recv(t, conns, "Opened")

			// Each Wake, from another goroutine, is followed by a Data event with nil input.
			for i := 0; i < 5; i++ {
				go conn.Wake()
				if line := readLine(t, rd); line != "wake\n" {
					t.Fatalf("got %q", line)
				}
			}
			// Wakes from many goroutines at once: at least one Data event.
			var wg sync.WaitGroup
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := 0; j < 100; j++ {
						conn.Wake()
					}
				}()
			}
			wg.Wait()
			if line := readLine(t, rd); line != "wake\n" {
				t.Fatalf("got %q", line)
			}
			// Input still echoes (wakes may be interleaved).
			c.Write([]byte("echo\n"))
			for {
				line := readLine(t, rd)
				if line == "echo\n" {
					break
				}
				if line != "wake\n" {
					t.Fatalf("got %q", line)
				}
			}

			// After the connection is closed, Wake does nothing.
			c.Close()
			recv(t, closed, "Closed")
			for i := 0; i < 10; i++ {
				conn.Wake()
			}
			if err := s.shutdown(); err != nil {
				t.Fatal(err)
			}
			if n := atomic.LoadInt32(&afterClose); n != 0 {
				t.Fatalf("%d Data events after Closed", n)
			}
			conn.Wake() // after Serve returned
		})
	}
}

// TestWakeRace calls Wake from several goroutines while connections close and the
// server shuts down; run with -race.
func TestWakeRace(t *testing.T) {
	const nconns = 8
	var mu sync.Mutex
	var conns []evio.Conn
	opened := make(chan struct{}, nconns)
	var ev evio.Events
	ev.NumLoops = 2
	ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
		c.SetContext(new(int32))
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		opened <- struct{}{}
		return nil, evio.Options{}, evio.None
	}
	ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
		if atomic.LoadInt32(c.Context().(*int32)) != 0 {
			t.Errorf("Data after Closed")
		}
		if in == nil {
			return []byte("w"), evio.None
		}
		return nil, evio.None
	}
	ev.Closed = func(c evio.Conn, err error) evio.Action {
		atomic.StoreInt32(c.Context().(*int32), 1)
		return evio.None
	}
	s := startServer(t, ev, "tcp://127.0.0.1:0")
	var clients []net.Conn
	for i := 0; i < nconns; i++ {
		clients = append(clients, s.dial(0))
		recv(t, opened, "Opened")
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				cs := append([]evio.Conn(nil), conns...)
				mu.Unlock()
				for _, c := range cs {
					c.Wake()
				}
			}
		}()
	}
	for i, c := range clients {
		if i%2 == 0 {
			c.Close()
		}
	}
	if err := s.shutdown(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	for _, c := range clients {
		c.Close()
	}
}

func TestDetach(t *testing.T) {
	for _, addr := range []string{"tcp://127.0.0.1:0", "tcp-net://127.0.0.1:0", "unix://" + sockPath(t), "unix-net://" + sockPath(t)} {
		addr := addr
		t.Run(scheme(addr), func(t *testing.T) {
			type detachment struct {
				c   evio.Conn
				rwc io.ReadWriteCloser
			}
			detached := make(chan detachment, 1)
			var closed int32
			var ev evio.Events
			ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
				c.SetContext("ctx")
				return nil, evio.Options{}, evio.None
			}
			ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
				if string(in) == "detach\n" {
					return []byte("detaching\n"), evio.Detach
				}
				return in, evio.None
			}
			ev.Detached = func(c evio.Conn, rwc io.ReadWriteCloser) evio.Action {
				detached <- detachment{c, rwc}
				return evio.None
			}
			ev.Closed = func(c evio.Conn, err error) evio.Action {
				atomic.AddInt32(&closed, 1)
				return evio.None
			}
			s := startServer(t, ev, addr)
			c := s.dial(0)
			defer c.Close()
			rd := bufio.NewReader(c)
			c.Write([]byte("hello\n"))
			readLine(t, rd)
			c.Write([]byte("detach\n"))
			if line := readLine(t, rd); line != "detaching\n" {
				t.Fatalf("got %q", line)
			}
			d := recv(t, detached, "Detached")
			if d.c.Context() != "ctx" {
				t.Fatalf("context %v in Detached", d.c.Context())
			}
			nc, ok := d.rwc.(interface {
				io.ReadWriteCloser
				SetDeadline(time.Time) error
			})
			if !ok {
				t.Fatalf("rwc is %T, it has no SetDeadline", d.rwc)
			}
			if err := nc.SetDeadline(time.Now().Add(timeout)); err != nil {
				t.Fatalf("SetDeadline: %v", err)
			}
			d.c.Wake() // a detached connection ignores Wake

			// The socket now talks to the detached side, both ways.
			c.Write([]byte("ping\n"))
			if line := readLine(t, bufio.NewReader(nc)); line != "ping\n" {
				t.Fatalf("detached side got %q", line)
			}
			nc.Write([]byte("pong\n"))
			if line := readLine(t, rd); line != "pong\n" {
				t.Fatalf("client got %q", line)
			}
			// Closing rwc closes the socket: no other descriptor of it is left open.
			nc.Close()
			expectEOF(t, rd)

			if err := s.shutdown(); err != nil {
				t.Fatal(err)
			}
			if closed != 0 {
				t.Fatalf("Closed fired for a detached connection")
			}
		})
	}
}

// TestDetachFromOpened detaches a connection as soon as it opens; the greeting is
// flushed first.
func TestDetachFromOpened(t *testing.T) {
	detached := make(chan io.ReadWriteCloser, 1)
	var ev evio.Events
	ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
		return []byte("hi\n"), evio.Options{}, evio.Detach
	}
	ev.Detached = func(c evio.Conn, rwc io.ReadWriteCloser) evio.Action {
		detached <- rwc
		return evio.None
	}
	s := startServer(t, ev, "tcp://127.0.0.1:0")
	c := s.dial(0)
	defer c.Close()
	rd := bufio.NewReader(c)
	if line := readLine(t, rd); line != "hi\n" {
		t.Fatalf("got %q", line)
	}
	rwc := recv(t, detached, "Detached")
	rwc.Write([]byte("direct\n"))
	if line := readLine(t, rd); line != "direct\n" {
		t.Fatalf("got %q", line)
	}
	rwc.Close()
	expectEOF(t, rd)
	if err := s.shutdown(); err != nil {
		t.Fatal(err)
	}
}

// TestDetachWithoutDetached: without a Detached event, Detach closes the connection.
func TestDetachWithoutDetached(t *testing.T) {
	closed := make(chan error, 1)
	var ev evio.Events
	ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
		return []byte("bye\n"), evio.Detach
	}
	ev.Closed = func(c evio.Conn, err error) evio.Action {
		closed <- err
		return evio.None
	}
	s := startServer(t, ev, "tcp://127.0.0.1:0")
	c := s.dial(0)
	defer c.Close()
	c.Write([]byte("detach\n"))
	rd := bufio.NewReader(c)
	if line := readLine(t, rd); line != "bye\n" {
		t.Fatalf("got %q", line)
	}
	expectEOF(t, rd)
	if err := recv(t, closed, "Closed"); err != nil {
		t.Fatal(err)
	}
	if err := s.shutdown(); err != nil {
		t.Fatal(err)
	}
}

func TestContext(t *testing.T) {
	type state struct{ n int }
	results := make(chan int, 1)
	var ev evio.Events
	ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
		if c.Context() != nil {
			t.Errorf("new connection has context %v", c.Context())
		}
		c.SetContext(&state{})
		return nil, evio.Options{}, evio.None
	}
	ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
		c.Context().(*state).n += len(in)
		return in, evio.None
	}
	ev.Closed = func(c evio.Conn, err error) evio.Action {
		results <- c.Context().(*state).n
		return evio.None
	}
	s := startServer(t, ev, "tcp://127.0.0.1:0")
	c := s.dial(0)
	for i := 0; i < 3; i++ {
		c.Write([]byte("abcd"))
		io.ReadFull(c, make([]byte, 4))
	}
	c.Close()
	if n := recv(t, results, "Closed"); n != 12 {
		t.Fatalf("context counted %d bytes, want 12", n)
	}
	if err := s.shutdown(); err != nil {
		t.Fatal(err)
	}
}

// TestContextWithoutOpened: a server with only Data (and Closed) still keeps a
// connection's context between events.
func TestContextWithoutOpened(t *testing.T) {
	results := make(chan interface{}, 1)
	var ev evio.Events
	ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
		if c.Context() == nil {
			c.SetContext(string(in))
		}
		return []byte(c.Context().(string)), evio.None
	}
	ev.Closed = func(c evio.Conn, err error) evio.Action {
		results <- c.Context()
		return evio.None
	}
	s := startServer(t, ev, "tcp://127.0.0.1:0")
	c := s.dial(0)
	buf := make([]byte, 5)
	c.Write([]byte("first"))
	io.ReadFull(c, buf)
	c.Write([]byte("later"))
	io.ReadFull(c, buf)
	if string(buf) != "first" {
		t.Fatalf("got %q", buf)
	}
	c.Close()
	if v := recv(t, results, "Closed"); v != "first" {
		t.Fatalf("context in Closed %v", v)
	}
	if err := s.shutdown(); err != nil {
		t.Fatal(err)
	}
}

// TestAddrs serves TCP, unix and UDP at once and checks Server.Addrs, AddrIndex and
// the connection addresses.
func TestAddrs(t *testing.T) {
	path := sockPath(t)
	type info struct {
		index         int
		local, remote net.Addr
	}
	infos := make(chan info, 3)
	var ev evio.Events
	ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
		infos <- info{c.AddrIndex(), c.LocalAddr(), c.RemoteAddr()}
		return in, evio.None
	}
	s := startServer(t, ev, "tcp://127.0.0.1:0", "unix://"+path, "udp://127.0.0.1:0")
	defer s.shutdown()
	if ta, ok := s.addrs[0].(*net.TCPAddr); !ok || !ta.IP.Equal(net.IPv4(127, 0, 0, 1)) || ta.Port == 0 {
		t.Fatalf("Addrs[0] %#v", s.addrs[0])
	}
	if ua, ok := s.addrs[1].(*net.UnixAddr); !ok || ua.Name != path || ua.Net != "unix" {
		t.Fatalf("Addrs[1] %#v", s.addrs[1])
	}
	if ua, ok := s.addrs[2].(*net.UDPAddr); !ok || ua.Port == 0 {
		t.Fatalf("Addrs[2] %#v", s.addrs[2])
	}
	for i := 0; i < 3; i++ {
		c := s.dial(i)
		c.Write([]byte("x"))
		io.ReadFull(c, make([]byte, 1))
		got := recv(t, infos, "Data")
		if got.index != i {
			t.Errorf("AddrIndex %d, want %d", got.index, i)
		}
		if got.local.Network() != s.addrs[i].Network() || got.remote.Network() != s.addrs[i].Network() {
			t.Errorf("address %d: networks %s, %s", i, got.local.Network(), got.remote.Network())
		}
		switch i {
		case 0, 2:
			if got.local.String() != s.addrs[i].String() {
				t.Errorf("local %v, want %v", got.local, s.addrs[i])
			}
			if got.remote.String() != c.LocalAddr().String() {
				t.Errorf("remote %v, want %v", got.remote, c.LocalAddr())
			}
		case 1:
			if got.local.(*net.UnixAddr).Name != path {
				t.Errorf("local %v, want %v", got.local, path)
			}
		}
		c.Close()
	}
}

func TestUDP(t *testing.T) {
	for _, suffix := range []string{"", "-net"} {
		for _, loops := range []int{1, 3} {
			suffix, loops := suffix, loops
			t.Run("udp"+suffix+"/loops="+string(rune('0'+loops)), func(t *testing.T) { testUDP(t, suffix, loops) })
		}
	}
}

func testUDP(t *testing.T, suffix string, loops int) {
	var mu sync.Mutex
	var kept [][]byte
	var others int32
	var ev evio.Events
	ev.NumLoops = loops
	ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
		atomic.AddInt32(&others, 1)
		return nil, evio.Options{ReuseInputBuffer: true}, evio.None
	}
	ev.Closed = func(c evio.Conn, err error) evio.Action {
		atomic.AddInt32(&others, 1)
		return evio.None
	}
	ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
		if in == nil {
			atomic.AddInt32(&others, 1)
			return nil, evio.None
		}
		if _, ok := c.RemoteAddr().(*net.UDPAddr); !ok {
			t.Errorf("remote addr %T", c.RemoteAddr())
		}
		if _, ok := c.LocalAddr().(*net.UDPAddr); !ok {
			t.Errorf("local addr %T", c.LocalAddr())
		}
		c.Wake() // no effect for UDP
		mu.Lock()
		kept = append(kept, in) // input is always a fresh slice for UDP
		mu.Unlock()
		out := append([]byte("echo:"), in...)
		switch string(in) {
		case "close":
			return out, evio.Close // only Shutdown has an effect for UDP
		case "detach":
			return out, evio.Detach
		case "shutdown":
			return out, evio.Shutdown
		}
		return out, evio.None
	}
	s := startServer(t, ev, "udp"+suffix+"://127.0.0.1:0")
	c := s.dial(0)
	defer c.Close()
	buf := make([]byte, 100)
	msgs := []string{"one", "close", "two", "detach", "three"}
	for _, m := range msgs {
		if _, err := c.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if string(buf[:n]) != "echo:"+m {
			t.Fatalf("got %q", buf[:n])
		}
	}
	c.Write([]byte("shutdown"))
	if err := s.wait(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range kept {
		got = append(got, string(k))
	}
	if want := append(msgs, "shutdown"); !equalStrings(got, want) {
		t.Fatalf("kept inputs %q, want %q", got, want)
	}
	if others != 0 {
		t.Fatalf("%d Opened/Closed/Wake events for UDP", others)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestClosedError: a connection reset by the peer reports the error in Closed.
func TestClosedError(t *testing.T) {
	closed := make(chan error, 1)
	opened := make(chan struct{}, 1)
	var ev evio.Events
	ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
		opened <- struct{}{}
		return nil, evio.Options{}, evio.None
	}
	ev.Closed = func(c evio.Conn, err error) evio.Action {
		closed <- err
		return evio.None
	}
	s := startServer(t, ev, "tcp://127.0.0.1:0")
	c := s.dial(0).(*net.TCPConn)
	recv(t, opened, "Opened")
	c.SetLinger(0) // close with RST
	c.Close()
	err := recv(t, closed, "Closed")
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Closed err %v, want ECONNRESET", err)
	}
	if err := s.shutdown(); err != nil {
		t.Fatal(err)
	}
}

// TestLargeOutput writes more than the socket buffers hold in one event; the library
// keeps it until the slow client has read it all.
func TestLargeOutput(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	var ev evio.Events
	ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
		return big, evio.Options{}, evio.Close
	}
	s := startServer(t, ev, "tcp://127.0.0.1:0")
	c := s.dial(0)
	defer c.Close()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, big) {
		t.Fatalf("got %d bytes, want %d", len(got), len(big))
	}
	if err := s.shutdown(); err != nil {
		t.Fatal(err)
	}
}
