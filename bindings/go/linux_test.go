//go:build linux

package evio_test

import (
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	evio "github.com/evio/evio/bindings/go"
)

// TestLoadBalance finds which loop (thread) runs each connection, from the thread id
// seen in Opened.
func TestLoadBalance(t *testing.T) {
	const loops = 5
	for _, suffix := range []string{"", "-net"} {
		for _, lb := range balances {
			suffix, lb := suffix, lb
			t.Run("tcp"+suffix+"/"+balanceName(lb), func(t *testing.T) {
				type event struct {
					opened bool
					tid    int
					c      evio.Conn
				}
				events := make(chan event, 16)
				var ev evio.Events
				ev.NumLoops = loops
				ev.LoadBalance = lb
				ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
					c.SetContext(syscall.Gettid())
					events <- event{true, syscall.Gettid(), c}
					return nil, evio.Options{}, evio.None
				}
				ev.Closed = func(c evio.Conn, err error) evio.Action {
					if tid := syscall.Gettid(); tid != c.Context().(int) {
						t.Errorf("Closed on thread %d, Opened on %d", tid, c.Context())
					}
					events <- event{false, syscall.Gettid(), c}
					return evio.None
				}
				ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
					if tid := syscall.Gettid(); tid != c.Context().(int) {
						t.Errorf("Data on thread %d, Opened on %d", tid, c.Context())
					}
					return in, evio.None
				}
				s := startServer(t, ev, "tcp"+suffix+"://127.0.0.1:0")
				defer s.shutdown()

				// Connections opened one after the other (each waits for the previous
				// one's Opened), all kept open.
				var clients []net.Conn
				var tids []int
				open := func() int {
					c := s.dial(0)
					clients = append(clients, c)
					e := recv(t, events, "Opened")
					c.Write([]byte("x"))
					io.ReadFull(c, make([]byte, 1))
					tids = append(tids, e.tid)
					return e.tid
				}
				defer func() {
					for _, c := range clients {
						c.Close()
					}
				}()
				for i := 0; i < loops; i++ {
					open()
				}
				distinct := map[int]bool{}
				for _, tid := range tids {
					distinct[tid] = true
				}
				switch lb {
				case evio.RoundRobin:
					if len(distinct) != loops {
						t.Fatalf("round-robin: %d connections on %d loops: threads %v", loops, len(distinct), tids)
					}
					if tid := open(); tid != tids[0] {
						t.Fatalf("round-robin: connection %d on thread %d, want %d (first)", loops+1, tid, tids[0])
					}
				case evio.LeastConnections:
					if len(distinct) != loops {
						t.Fatalf("least-connections: %d connections on %d loops: threads %v", loops, len(distinct), tids)
					}
					// Free the loop of connection 2: the next connection goes there.
					clients[2].Close()
					if e := recv(t, events, "Closed"); e.opened || e.tid != tids[2] {
						t.Fatalf("unexpected event %+v", e)
					}
					if tid := open(); tid != tids[2] {
						t.Fatalf("least-connections: new connection on thread %d, want %d", tid, tids[2])
					}
				default:
					if len(distinct) > loops {
						t.Fatalf("%d threads for %d loops", len(distinct), loops)
					}
				}
			})
		}
	}
}

// TestKeepAlive checks the socket options that Options.TCPKeepAlive sets, on the
// socket handed to Detached.
func TestKeepAlive(t *testing.T) {
	for _, suffix := range []string{"", "-net"} {
		for _, keepalive := range []time.Duration{0, 7 * time.Second, time.Millisecond} {
			suffix, keepalive := suffix, keepalive
			t.Run("tcp"+suffix+"/"+keepalive.String(), func(t *testing.T) { testKeepAlive(t, suffix, keepalive) })
		}
	}
}

func testKeepAlive(t *testing.T, suffix string, keepalive time.Duration) {
	detached := make(chan io.ReadWriteCloser, 1)
	var ev evio.Events
	ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
		return nil, evio.Options{TCPKeepAlive: keepalive}, evio.Detach
	}
	ev.Detached = func(c evio.Conn, rwc io.ReadWriteCloser) evio.Action {
		detached <- rwc
		return evio.None
	}
	s := startServer(t, ev, "tcp"+suffix+"://127.0.0.1:0", "unix"+suffix+"://"+sockPath(t))
	defer s.shutdown()
	c := s.dial(0)
	defer c.Close()
	rwc := recv(t, detached, "Detached")
	defer rwc.Close()
	on, idle := sockopts(t, rwc.(syscall.Conn))
	switch {
	case keepalive == 0 && on != 0:
		t.Fatalf("SO_KEEPALIVE on without TCPKeepAlive")
	case keepalive >= time.Second && (on == 0 || idle != int(keepalive/time.Second)):
		t.Fatalf("SO_KEEPALIVE %d, TCP_KEEPIDLE %d for %v", on, idle, keepalive)
	case keepalive > 0 && keepalive < time.Second && (on == 0 || idle != 1):
		t.Fatalf("SO_KEEPALIVE %d, TCP_KEEPIDLE %d for %v", on, idle, keepalive)
	}
	// Ignored for unix sockets.
	u := s.dial(1)
	defer u.Close()
	recv(t, detached, "Detached").Close()
}

func sockopts(t *testing.T, c syscall.Conn) (on, idle int) {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	raw.Control(func(fd uintptr) {
		once.Do(func() {
			on, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
			idle, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
		})
	})
	return on, idle
}

// TestSourceHash: with SourceHash, the connections of one client address (here all
// from 127.0.0.1, from different ports) land on the same loop.
func TestSourceHash(t *testing.T) {
	for _, suffix := range engines {
		suffix := suffix
		t.Run("tcp"+suffix, func(t *testing.T) {
			tids := make(chan int, 16)
			var ev evio.Events
			ev.NumLoops = 4
			ev.LoadBalance = evio.SourceHash
			ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
				tids <- syscall.Gettid()
				return nil, evio.Options{}, evio.None
			}
			st := start(t, ev, "tcp"+suffix+"://127.0.0.1:0")
			first := 0
			for i := 0; i < 8; i++ {
				c := dialAddr(t, st.Addrs[0])
				defer c.Close()
				tid := recv(t, tids, "Opened")
				if i == 0 {
					first = tid
				} else if tid != first {
					t.Fatalf("connection %d on thread %d, the first on %d", i, tid, first)
				}
			}
		})
	}
}

// TestNoDelay: TCP_NODELAY is on for accepted connections, and SetNoDelay(false) turns
// it off (seen on the socket handed to Detached).
func TestNoDelay(t *testing.T) {
	for _, suffix := range engines {
		suffix := suffix
		t.Run("tcp"+suffix, func(t *testing.T) {
			detached := make(chan io.ReadWriteCloser, 1)
			var ev evio.Events
			ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
				if c.AddrIndex() == 1 {
					if err := c.(evio.StreamConn).SetNoDelay(false); err != nil {
						t.Errorf("SetNoDelay: %v", err)
					}
				}
				return nil, evio.Options{}, evio.Detach
			}
			ev.Detached = func(c evio.Conn, rwc io.ReadWriteCloser) evio.Action {
				detached <- rwc
				return evio.None
			}
			st := start(t, ev, "tcp"+suffix+"://127.0.0.1:0", "tcp"+suffix+"://127.0.0.1:0")
			for i, want := range []int{1, 0} {
				c := dialAddr(t, st.Addrs[i])
				defer c.Close()
				rwc := recv(t, detached, "Detached")
				defer rwc.Close()
				raw, err := rwc.(syscall.Conn).SyscallConn()
				if err != nil {
					t.Fatal(err)
				}
				var on int
				raw.Control(func(fd uintptr) {
					on, err = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
				})
				if err != nil || on != want {
					t.Fatalf("address %d: TCP_NODELAY %d (%v), want %d", i, on, err, want)
				}
			}
		})
	}
}
