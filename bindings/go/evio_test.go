package evio_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	evio "github.com/evio/evio/bindings/go"
)

var balances = []evio.LoadBalance{evio.Random, evio.RoundRobin, evio.LeastConnections}

func balanceName(lb evio.LoadBalance) string {
	return [...]string{"random", "round-robin", "least-connections"}[lb]
}

// TestServe runs an echo server for each engine, with TCP alone and TCP plus unix,
// for each loop count and balancing mode; several clients send random data of random
// sizes and check the echo; the server shuts itself down from Closed when every client
// is gone.
func TestServe(t *testing.T) {
	for _, suffix := range []string{"", "-net"} {
		for _, unix := range []bool{false, true} {
			for _, loops := range []int{1, 5, -1, -3} { // any negative: one per CPU
				for _, lb := range balances {
					suffix, unix, loops, lb := suffix, unix, loops, lb
					name := fmt.Sprintf("tcp%s/unix=%v/loops=%d/%s", suffix, unix, loops, balanceName(lb))
					t.Run(name, func(t *testing.T) { testServe(t, suffix, unix, loops, lb) })
				}
			}
		}
	}
}

func testServe(t *testing.T, suffix string, unix bool, loops int, lb evio.LoadBalance) {
	const nclients = 4
	var connected, disconnected int32
	addrs := []string{"tcp" + suffix + "://127.0.0.1:0"}
	if unix {
		addrs = append(addrs, "unix"+suffix+"://"+sockPath(t))
	}
	var ev evio.Events
	ev.NumLoops = loops
	ev.LoadBalance = lb
	ev.Opened = func(c evio.Conn) (out []byte, opts evio.Options, action evio.Action) {
		c.SetContext(c)
		atomic.AddInt32(&connected, 1)
		opts.TCPKeepAlive = 5 * time.Minute
		switch c.AddrIndex() {
		case 0:
			if _, ok := c.LocalAddr().(*net.TCPAddr); !ok {
				t.Errorf("local addr %T, want *net.TCPAddr", c.LocalAddr())
			}
			if ra, ok := c.RemoteAddr().(*net.TCPAddr); !ok || ra.Port == 0 {
				t.Errorf("remote addr %#v, want a *net.TCPAddr with a port", c.RemoteAddr())
			}
		case 1:
			if _, ok := c.LocalAddr().(*net.UnixAddr); !ok {
				t.Errorf("local addr %T, want *net.UnixAddr", c.LocalAddr())
			}
			if _, ok := c.RemoteAddr().(*net.UnixAddr); !ok {
				t.Errorf("remote addr %T, want *net.UnixAddr", c.RemoteAddr())
			}
		default:
			t.Errorf("AddrIndex %d", c.AddrIndex())
		}
		return []byte("sweetness\r\n"), opts, evio.None
	}
	ev.Data = func(c evio.Conn, in []byte) (out []byte, action evio.Action) {
		if c.Context() != c {
			t.Errorf("Data: lost context")
		}
		return in, evio.None
	}
	ev.Closed = func(c evio.Conn, err error) (action evio.Action) {
		if c.Context() != c {
			t.Errorf("Closed: lost context")
		}
		if err != nil {
			t.Errorf("Closed: err %v", err)
		}
		if atomic.AddInt32(&disconnected, 1) == nclients {
			return evio.Shutdown
		}
		return evio.None
	}
	s := startServer(t, ev, addrs...)
	switch {
	case loops > 0 && s.numLoops != loops:
		t.Errorf("Server.NumLoops %d, want %d", s.numLoops, loops)
	case loops < 0 && s.numLoops != runtime.NumCPU():
		t.Errorf("NumLoops %d: Server.NumLoops %d, want one per CPU (%d)", loops, s.numLoops, runtime.NumCPU())
	case s.numLoops < 1:
		t.Errorf("Server.NumLoops %d", s.numLoops)
	}
	if len(s.addrs) != len(addrs) {
		t.Fatalf("Server.Addrs %v for %q", s.addrs, addrs)
	}
	errs := make(chan error, nclients)
	for i := 0; i < nclients; i++ {
		a := s.addrs[i%len(s.addrs)]
		seed := int64(i)
		go func() { errs <- echoClient(a, rand.New(rand.NewSource(seed))) }()
	}
	for i := 0; i < nclients; i++ {
		if err := recv(t, errs, "client"); err != nil {
			t.Error(err)
		}
	}
	if err := s.wait(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if connected != nclients || disconnected != nclients {
		t.Fatalf("connected %d, disconnected %d, want %d", connected, disconnected, nclients)
	}
}

func echoClient(a net.Addr, rng *rand.Rand) error {
	c, err := net.DialTimeout(a.Network(), a.String(), timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	rd := bufio.NewReader(c)
	greeting, err := rd.ReadString('\n')
	if err != nil || greeting != "sweetness\r\n" {
		return fmt.Errorf("greeting %q, %v", greeting, err)
	}
	for _, max := range []int{100, 4096, 256 << 10} {
		data := randBytes(rng, 1+rng.Intn(max))
		werr := make(chan error, 1)
		go func() { _, err := c.Write(data); werr <- err }()
		got := make([]byte, len(data))
		if _, err := io.ReadFull(rd, got); err != nil {
			return fmt.Errorf("read %d bytes: %v", len(data), err)
		}
		if err := <-werr; err != nil {
			return err
		}
		if !bytes.Equal(got, data) {
			return fmt.Errorf("echo of %d bytes differs", len(data))
		}
	}
	return nil
}

func TestTick(t *testing.T) {
	for _, addr := range []string{"tcp://127.0.0.1:0", "tcp-net://127.0.0.1:0", "unix://" + sockPath(t), "unix-net://" + sockPath(t)} {
		addr := addr
		t.Run(scheme(addr), func(t *testing.T) {
			var ev evio.Events
			count := 0
			var served, first time.Time
			ev.Serving = func(evio.Server) evio.Action {
				served = time.Now()
				return evio.None
			}
			ev.Tick = func() (time.Duration, evio.Action) {
				if count == 0 {
					first = time.Now()
				}
				if count == 25 {
					return 0, evio.Shutdown
				}
				count++
				return 10 * time.Millisecond, evio.None
			}
			if err := serveTimeout(t, ev, addr); err != nil {
				t.Fatal(err)
			}
			if count != 25 {
				t.Fatalf("%d ticks", count)
			}
			if served.IsZero() || first.Before(served) {
				t.Fatalf("first Tick not after Serving")
			}
			if d := time.Since(first); d < 250*time.Millisecond {
				t.Fatalf("25 ticks of 10ms took %v", d)
			}
		})
	}
}

func TestTickZeroDelay(t *testing.T) {
	var ev evio.Events
	count := 0
	ev.Tick = func() (time.Duration, evio.Action) {
		count++
		if count == 1000 {
			return 0, evio.Shutdown
		}
		return 0, evio.None
	}
	if err := serveTimeout(t, ev, "tcp://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if count != 1000 {
		t.Fatalf("%d ticks", count)
	}
}

func TestShutdown(t *testing.T) {
	for _, addr := range []string{"tcp://127.0.0.1:0", "tcp-net://127.0.0.1:0", "unix://" + sockPath(t), "unix-net://" + sockPath(t)} {
		addr := addr
		t.Run(scheme(addr), func(t *testing.T) {
			const n = 10
			var opened, closed int32
			allOpen := make(chan struct{})
			var ev evio.Events
			ev.NumLoops = 2
			ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
				if atomic.AddInt32(&opened, 1) == n {
					close(allOpen)
				}
				return nil, evio.Options{}, evio.None
			}
			ev.Closed = func(c evio.Conn, err error) evio.Action {
				if err != nil {
					t.Errorf("Closed: %v", err)
				}
				atomic.AddInt32(&closed, 1)
				return evio.None
			}
			s := startServer(t, ev, addr)
			var clients []net.Conn
			for i := 0; i < n; i++ {
				c := s.dial(0)
				defer c.Close()
				clients = append(clients, c)
			}
			recv(t, allOpen, "all connections opened")
			if err := s.shutdown(); err != nil {
				t.Fatal(err)
			}
			if closed != n {
				t.Fatalf("Closed fired %d times, want %d", closed, n)
			}
			for _, c := range clients {
				expectEOF(t, c)
			}
		})
	}
}

// TestShutdownFrom checks the Shutdown action of every event that returns one.
func TestShutdownFrom(t *testing.T) {
	t.Run("Serving", func(t *testing.T) {
		var ev evio.Events
		var events int32
		ev.Serving = func(evio.Server) evio.Action { return evio.Shutdown }
		ev.Tick = func() (time.Duration, evio.Action) {
			atomic.AddInt32(&events, 1)
			return time.Millisecond, evio.None
		}
		ev.Opened = func(evio.Conn) ([]byte, evio.Options, evio.Action) {
			atomic.AddInt32(&events, 1)
			return nil, evio.Options{}, evio.None
		}
		if err := serveTimeout(t, ev, "tcp://127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if events != 0 {
			t.Fatalf("%d events after Serving returned Shutdown", events)
		}
	})
	t.Run("Opened", func(t *testing.T) {
		var ev evio.Events
		closed := make(chan error, 1)
		ev.Opened = func(evio.Conn) ([]byte, evio.Options, evio.Action) {
			return nil, evio.Options{}, evio.Shutdown
		}
		ev.Closed = func(c evio.Conn, err error) evio.Action {
			closed <- err
			return evio.None
		}
		s := startServer(t, ev, "tcp://127.0.0.1:0")
		c := s.dial(0)
		defer c.Close()
		if err := s.wait(); err != nil {
			t.Fatal(err)
		}
		if err := recv(t, closed, "Closed"); err != nil {
			t.Fatal(err)
		}
		expectEOF(t, c)
	})
	t.Run("Data", func(t *testing.T) {
		var ev evio.Events
		ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
			return []byte("bye\n"), evio.Shutdown
		}
		s := startServer(t, ev, "tcp://127.0.0.1:0")
		c := s.dial(0)
		defer c.Close()
		c.Write([]byte("shutdown\n"))
		if err := s.wait(); err != nil {
			t.Fatal(err)
		}
		// The output of the event that shut the server down is sent (as tidwall/evio does).
		rd := bufio.NewReader(c)
		if line := readLine(t, rd); line != "bye\n" {
			t.Fatalf("got %q", line)
		}
		expectEOF(t, rd)
	})
	t.Run("Closed", func(t *testing.T) {
		var ev evio.Events
		ev.Closed = func(evio.Conn, error) evio.Action { return evio.Shutdown }
		s := startServer(t, ev, "tcp://127.0.0.1:0")
		s.dial(0).Close()
		if err := s.wait(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Detached", func(t *testing.T) {
		var ev evio.Events
		ev.Opened = func(evio.Conn) ([]byte, evio.Options, evio.Action) {
			return nil, evio.Options{}, evio.Detach
		}
		ev.Detached = func(c evio.Conn, rwc io.ReadWriteCloser) evio.Action {
			rwc.Close()
			return evio.Shutdown
		}
		s := startServer(t, ev, "tcp://127.0.0.1:0")
		c := s.dial(0)
		defer c.Close()
		if err := s.wait(); err != nil {
			t.Fatal(err)
		}
		expectEOF(t, c)
	})
	t.Run("Tick", func(t *testing.T) {
		var ev evio.Events
		ev.Tick = func() (time.Duration, evio.Action) { return time.Hour, evio.Shutdown }
		if err := serveTimeout(t, ev, "tcp://127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCloseAction(t *testing.T) {
	for _, suffix := range []string{"", "-net"} {
		suffix := suffix
		t.Run("tcp"+suffix, func(t *testing.T) {
			closed := make(chan error, 2)
			var ev evio.Events
			ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
				if c.AddrIndex() == 1 {
					return []byte("go away\n"), evio.Options{}, evio.Close
				}
				return []byte("hello\n"), evio.Options{}, evio.None
			}
			ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
				return []byte("bye\n"), evio.Close
			}
			ev.Closed = func(c evio.Conn, err error) evio.Action {
				closed <- err
				return evio.None
			}
			s := startServer(t, ev, "tcp"+suffix+"://127.0.0.1:0", "tcp"+suffix+"://127.0.0.1:0")
			defer s.shutdown()

			// Close from Opened: the greeting is flushed, then the connection closes.
			c := s.dial(1)
			defer c.Close()
			rd := bufio.NewReader(c)
			if line := readLine(t, rd); line != "go away\n" {
				t.Fatalf("got %q", line)
			}
			expectEOF(t, rd)
			if err := recv(t, closed, "Closed"); err != nil {
				t.Fatal(err)
			}

			// Close from Data: the reply is flushed, then the connection closes.
			c = s.dial(0)
			defer c.Close()
			rd = bufio.NewReader(c)
			if line := readLine(t, rd); line != "hello\n" {
				t.Fatalf("got %q", line)
			}
			c.Write([]byte("quit\n"))
			if line := readLine(t, rd); line != "bye\n" {
				t.Fatalf("got %q", line)
			}
			expectEOF(t, rd)
			if err := recv(t, closed, "Closed"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPreWrite(t *testing.T) {
	var writes int32
	var ev evio.Events
	ev.PreWrite = func() { atomic.AddInt32(&writes, 1) }
	ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
		return []byte("hi\n"), evio.Options{}, evio.None
	}
	ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
		if atomic.LoadInt32(&writes) < 1 {
			t.Errorf("no PreWrite before the greeting was sent")
		}
		return in, evio.None
	}
	s := startServer(t, ev, "tcp://127.0.0.1:0")
	c := s.dial(0)
	defer c.Close()
	rd := bufio.NewReader(c)
	readLine(t, rd)
	c.Write([]byte("echo\n"))
	readLine(t, rd)
	if err := s.shutdown(); err != nil {
		t.Fatal(err)
	}
	if n := atomic.LoadInt32(&writes); n < 2 {
		t.Fatalf("PreWrite fired %d times for 2 writes", n)
	}
}

// TestEvents checks that every event fires, in order, for one connection's life.
func TestEvents(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	add := func(e string) {
		mu.Lock()
		if len(seen) == 0 || seen[len(seen)-1] != e {
			seen = append(seen, e)
		}
		mu.Unlock()
	}
	detached := make(chan io.ReadWriteCloser, 1)
	firstTick := make(chan struct{})
	var ticked int32
	var ev evio.Events
	ev.Serving = func(evio.Server) evio.Action { add("Serving"); return evio.None }
	ev.Tick = func() (time.Duration, evio.Action) {
		if atomic.AddInt32(&ticked, 1) == 1 {
			add("Tick")
			close(firstTick)
		}
		return time.Millisecond, evio.None
	}
	ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
		add("Opened")
		return []byte("hi\n"), evio.Options{}, evio.None
	}
	ev.PreWrite = func() { add("PreWrite") }
	ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
		add("Data")
		if string(in) == "detach\n" {
			return []byte("ok\n"), evio.Detach
		}
		return in, evio.None
	}
	ev.Detached = func(c evio.Conn, rwc io.ReadWriteCloser) evio.Action {
		add("Detached")
		detached <- rwc
		return evio.None
	}
	ev.Closed = func(c evio.Conn, err error) evio.Action {
		add("Closed")
		return evio.Shutdown
	}
	s := startServer(t, ev, "tcp://127.0.0.1:0")
	recv(t, firstTick, "first Tick") // before connecting, so the order is fixed
	c := s.dial(0)
	rd := bufio.NewReader(c)
	readLine(t, rd)
	c.Write([]byte("detach\n"))
	if line := readLine(t, rd); line != "ok\n" {
		t.Fatalf("got %q", line)
	}
	recv(t, detached, "Detached").Close()
	c.Close()

	c = s.dial(0) // closed by the client: Closed shuts the server down
	readLine(t, bufio.NewReader(c))
	c.Close()
	if err := s.wait(); err != nil {
		t.Fatal(err)
	}
	want := "Serving Tick Opened PreWrite Data PreWrite Detached Opened PreWrite Closed"
	if got := fmt.Sprint(seen); got != "["+want+"]" {
		t.Fatalf("events %s, want [%s]", got, want)
	}
}

// TestConcurrentServers runs several servers at once in one process.
func TestConcurrentServers(t *testing.T) {
	const n = 4
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ev evio.Events
			ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) { return in, evio.None }
			ev.Closed = func(evio.Conn, error) evio.Action { return evio.Shutdown }
			ready := make(chan net.Addr, 1)
			ev.Serving = func(s evio.Server) evio.Action { ready <- s.Addrs[0]; return evio.None }
			done := make(chan error, 1)
			go func() { done <- evio.Serve(ev, "tcp://127.0.0.1:0") }()
			c := dialAddr(t, recv(t, ready, "Serving"))
			c.Write([]byte("x\n"))
			if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "x\n" {
				t.Errorf("got %q, %v", line, err)
			}
			c.Close()
			if err := recv(t, done, "Serve"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}
