package evio_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	evio "github.com/evio/evio/bindings/go"
)

// closedAt is what a Closed event saw.
type closedAt struct {
	err error
	at  time.Time
}

// closedEvents returns events whose Closed reports to the channel.
func closedEvents() (evio.Events, chan closedAt) {
	closed := make(chan closedAt, 4)
	var ev evio.Events
	ev.Closed = func(c evio.Conn, err error) evio.Action {
		closed <- closedAt{err, time.Now()}
		return evio.None
	}
	return ev, closed
}

// expectTimedOut checks that the connection closed with ETIMEDOUT, no sooner than after.
func expectTimedOut(t *testing.T, cl closedAt, since time.Time, after time.Duration) {
	t.Helper()
	if !errors.Is(cl.err, syscall.ETIMEDOUT) {
		t.Fatalf("Closed with %v, want ETIMEDOUT", cl.err)
	}
	if took := cl.at.Sub(since); took < after {
		t.Fatalf("closed after %v, before %v", took, after)
	}
}

// stopNow stops a started server at once and waits for it.
func stopNow(t *testing.T, st *evio.Started) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := st.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

// expectNoLiveTimers checks that every timer's handle is gone.
func expectNoLiveTimers(t *testing.T) {
	t.Helper()
	if n := evio.LiveTimers(); n != 0 {
		t.Fatalf("%d timer handles left", n)
	}
}

// TestIdleTimeout: Events.IdleTimeout closes a silent connection with ETIMEDOUT.
func TestIdleTimeout(t *testing.T) {
	for _, suffix := range engines {
		t.Run("tcp"+suffix, func(t *testing.T) {
			ev, closed := closedEvents()
			ev.IdleTimeout = 40 * time.Millisecond
			st := start(t, ev, "tcp"+suffix+"://127.0.0.1:0")
			t0 := time.Now()
			c := dialAddr(t, st.Addrs[0])
			defer c.Close()
			expectEOF(t, c)
			expectTimedOut(t, recv(t, closed, "Closed"), t0, ev.IdleTimeout)
		})
	}
}

// TestReadWriteTimeout: a read timeout closes a connection without input, a write
// timeout one whose output does not leave (its client reads nothing).
func TestReadWriteTimeout(t *testing.T) {
	for _, suffix := range engines {
		t.Run("read"+suffix, func(t *testing.T) {
			ev, closed := closedEvents()
			ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
				if err := c.(evio.StreamConn).SetReadTimeout(40 * time.Millisecond); err != nil {
					t.Errorf("SetReadTimeout: %v", err)
				}
				return nil, evio.Options{}, evio.None
			}
			st := start(t, ev, "tcp"+suffix+"://127.0.0.1:0")
			t0 := time.Now()
			c := dialAddr(t, st.Addrs[0])
			defer c.Close()
			expectEOF(t, c)
			expectTimedOut(t, recv(t, closed, "Closed"), t0, 40*time.Millisecond)
		})
		t.Run("write"+suffix, func(t *testing.T) {
			ev, closed := closedEvents()
			big := make([]byte, 2*pendingSize)
			ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
				// Set once the output is pending (Opened's out is written after it returns).
				c.(evio.StreamConn).Post(func(c evio.StreamConn, err error) {
					if err == nil {
						err = c.SetWriteTimeout(50 * time.Millisecond)
					}
					if err != nil {
						t.Errorf("SetWriteTimeout: %v", err)
					}
				})
				return big, evio.Options{}, evio.None
			}
			st := start(t, ev, "tcp"+suffix+"://127.0.0.1:0")
			t0 := time.Now()
			c := dialAddr(t, st.Addrs[0])
			defer c.Close()
			expectTimedOut(t, recv(t, closed, "Closed"), t0, 50*time.Millisecond)
		})
	}
}

// TestTimeoutsCleared: the server's idle timeout and a read timeout turned off again, and
// a write timeout with nothing pending, do not fire; a timer closes the connection well
// after they would have.
func TestTimeoutsCleared(t *testing.T) {
	ev, closed := closedEvents()
	ev.IdleTimeout = 20 * time.Millisecond
	ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
		sc := c.(evio.StreamConn)
		for _, err := range []error{
			sc.SetIdleTimeout(0),
			sc.SetReadTimeout(20 * time.Millisecond),
			sc.SetReadTimeout(0),
			sc.SetWriteTimeout(20 * time.Millisecond),
		} {
			if err != nil {
				t.Errorf("setting a timeout: %v", err)
			}
		}
		_, err := sc.AfterFunc(150*time.Millisecond, func(c evio.StreamConn) ([]byte, evio.Action) {
			return []byte("bye"), evio.Close
		})
		if err != nil {
			t.Errorf("AfterFunc: %v", err)
		}
		return nil, evio.Options{}, evio.None
	}
	st := start(t, ev, "tcp://127.0.0.1:0")
	c := dialAddr(t, st.Addrs[0])
	defer c.Close()
	if b, err := io.ReadAll(c); err != nil || string(b) != "bye" {
		t.Fatalf("read %q, %v; want the timer's bye", b, err)
	}
	if cl := recv(t, closed, "Closed"); cl.err != nil {
		t.Fatalf("Closed with %v", cl.err)
	}
}

// TestConnAfterFunc: a connection timer runs once, on the loop (where the loop-only
// methods work), no sooner than its delay; its output is sent; Stop after it ran says
// false; a function that starts the next timer makes a periodic one.
func TestConnAfterFunc(t *testing.T) {
	for _, suffix := range engines {
		t.Run("tcp"+suffix, func(t *testing.T) {
			var fired int32
			timers := make(chan *evio.Timer, 1)
			late := make(chan time.Duration, 1)
			ev, closed := closedEvents()
			ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
				t0 := time.Now()
				tm, err := c.(evio.StreamConn).AfterFunc(30*time.Millisecond, func(c evio.StreamConn) ([]byte, evio.Action) {
					atomic.AddInt32(&fired, 1)
					late <- time.Since(t0)
					if _, err := c.Pending(); err != nil {
						t.Errorf("Pending in a timer: %v", err)
					}
					count(c, 1) // 1, 2, 3 on the next turns, then close
					return []byte("T"), evio.None
				})
				if err != nil {
					t.Errorf("AfterFunc: %v", err)
				}
				timers <- tm
				return nil, evio.Options{}, evio.None
			}
			st := start(t, ev, "tcp"+suffix+"://127.0.0.1:0")
			c := dialAddr(t, st.Addrs[0])
			defer c.Close()
			if b, err := io.ReadAll(c); err != nil || string(b) != "T123" {
				t.Fatalf("read %q, %v; want T123", b, err)
			}
			if d := recv(t, late, "the timer"); d < 30*time.Millisecond {
				t.Fatalf("the timer ran after %v, before its delay", d)
			}
			if cl := recv(t, closed, "Closed"); cl.err != nil {
				t.Fatalf("Closed with %v", cl.err)
			}
			if recv(t, timers, "Opened").Stop() {
				t.Fatalf("Stop of a timer that ran says it stopped it")
			}
			stopNow(t, st)
			if n := atomic.LoadInt32(&fired); n != 1 {
				t.Fatalf("the timer ran %d times", n)
			}
			expectNoLiveTimers(t)
		})
	}
}

// count writes n on the next loop turn, then n+1 … up to 3, then closes the connection.
func count(c evio.StreamConn, n byte) {
	c.AfterFunc(0, func(c evio.StreamConn) ([]byte, evio.Action) {
		if n == 3 {
			return []byte{'3'}, evio.Close
		}
		count(c, n+1)
		return []byte{'0' + n}, evio.None
	})
}

// TestTimerStop: Stop on the loop stops a timer and frees it at once; Stop from another
// goroutine stops one too (the loop drops it when it comes due); each says true once.
func TestTimerStop(t *testing.T) {
	for _, suffix := range engines {
		t.Run("tcp"+suffix, func(t *testing.T) {
			offLoop := make(chan *evio.Timer)
			stopped := make(chan bool)
			ev, closed := closedEvents()
			ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
				sc := c.(evio.StreamConn)
				write := func(s string, a evio.Action) func(evio.StreamConn) ([]byte, evio.Action) {
					return func(evio.StreamConn) ([]byte, evio.Action) { return []byte(s), a }
				}
				before := evio.LiveTimers()
				a, _ := sc.AfterFunc(time.Millisecond, write("A", evio.None))
				if !a.Stop() || a.Stop() {
					t.Errorf("Stop on the loop: want true, then false")
				}
				if n := evio.LiveTimers(); n != before {
					t.Errorf("a timer stopped on its loop is still held (%d, was %d)", n, before)
				}
				x, _ := sc.AfterFunc(time.Millisecond, write("X", evio.None))
				sc.AfterFunc(50*time.Millisecond, write("B", evio.Close))
				// The loop waits here for the other goroutine's Stop, so x cannot run first.
				offLoop <- x
				select {
				case ok := <-stopped:
					if !ok {
						t.Errorf("Stop from another goroutine: false")
					}
				case <-time.After(timeout):
					t.Errorf("no Stop from the test")
				}
				return nil, evio.Options{}, evio.None
			}
			st := start(t, ev, "tcp"+suffix+"://127.0.0.1:0")
			c := dialAddr(t, st.Addrs[0])
			defer c.Close()
			x := recv(t, offLoop, "Opened")
			stopped <- x.Stop()
			if x.Stop() {
				t.Fatalf("a second Stop says true")
			}
			if b, err := io.ReadAll(c); err != nil || string(b) != "B" {
				t.Fatalf("read %q, %v; want only B", b, err)
			}
			recv(t, closed, "Closed")
			stopNow(t, st)
			expectNoLiveTimers(t)
		})
	}
}

// TestTimersEndWithConn: a connection's timers end after its Closed event without
// running (Stop then says false); a timer cannot start on a closed connection.
func TestTimersEndWithConn(t *testing.T) {
	for _, suffix := range engines {
		t.Run("tcp"+suffix, func(t *testing.T) {
			var fired int32
			timers := make(chan *evio.Timer, 3)
			inClosed := make(chan [2]error, 1)
			var ev evio.Events
			ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
				for i := 0; i < 3; i++ {
					tm, err := c.(evio.StreamConn).AfterFunc(time.Hour, func(evio.StreamConn) ([]byte, evio.Action) {
						atomic.AddInt32(&fired, 1)
						return nil, evio.None
					})
					if err != nil {
						t.Errorf("AfterFunc: %v", err)
					}
					timers <- tm
				}
				return nil, evio.Options{}, evio.None
			}
			ev.Closed = func(c evio.Conn, err error) evio.Action {
				var live error
				if n := evio.LiveTimers(); n != 3 {
					live = errors.New("the timers ended before Closed")
				}
				_, err = c.(evio.StreamConn).AfterFunc(time.Millisecond, func(evio.StreamConn) ([]byte, evio.Action) {
					return nil, evio.None
				})
				inClosed <- [2]error{live, err}
				return evio.None
			}
			st := start(t, ev, "tcp"+suffix+"://127.0.0.1:0")
			dialAddr(t, st.Addrs[0]).Close()
			r := recv(t, inClosed, "Closed")
			if r[0] != nil {
				t.Fatal(r[0])
			}
			if !errors.Is(r[1], syscall.ENOTCONN) {
				t.Fatalf("AfterFunc in Closed: %v, want ENOTCONN", r[1])
			}
			stopNow(t, st)
			expectNoLiveTimers(t)
			for i := 0; i < 3; i++ {
				if recv(t, timers, "timer").Stop() {
					t.Fatalf("Stop of a timer that ended with its connection says true")
				}
			}
			if n := atomic.LoadInt32(&fired); n != 0 {
				t.Fatalf("%d timers ran after their connection closed", n)
			}
		})
	}
}

// TestLoopAfterFunc: a loop timer started in Tick runs on the loop; one stopped there
// never runs; one not due ends with the server; off a loop AfterFunc is EPERM.
func TestLoopAfterFunc(t *testing.T) {
	for _, suffix := range engines {
		t.Run("tick"+suffix, func(t *testing.T) {
			ran := make(chan string, 2)
			pending := make(chan *evio.Timer, 1)
			var ev evio.Events
			ev.Tick = func() (time.Duration, evio.Action) {
				t0 := time.Now()
				_, err := evio.AfterFunc(20*time.Millisecond, func() evio.Action {
					if time.Since(t0) < 20*time.Millisecond {
						ran <- "too early"
					}
					ran <- "fired"
					return evio.None
				})
				if err != nil {
					t.Errorf("AfterFunc in Tick: %v", err)
				}
				s, _ := evio.AfterFunc(time.Millisecond, func() evio.Action {
					ran <- "a stopped timer ran"
					return evio.None
				})
				if !s.Stop() {
					t.Errorf("Stop of a loop timer on its loop: false")
				}
				h, _ := evio.AfterFunc(time.Hour, func() evio.Action {
					ran <- "an hour-long timer ran"
					return evio.None
				})
				pending <- h
				return time.Hour, evio.None
			}
			st := start(t, ev, "tcp"+suffix+"://127.0.0.1:0")
			if got := recv(t, ran, "the loop timer"); got != "fired" {
				t.Fatal(got)
			}
			if _, err := evio.AfterFunc(time.Millisecond, func() evio.Action { return evio.None }); !errors.Is(err, syscall.EPERM) {
				t.Fatalf("AfterFunc off a loop: %v, want EPERM", err)
			}
			h := recv(t, pending, "Tick")
			stopNow(t, st)
			select {
			case got := <-ran:
				t.Fatal(got)
			default:
			}
			if h.Stop() {
				t.Fatalf("Stop of a timer that ended with the server says true")
			}
			expectNoLiveTimers(t)
		})
	}
	t.Run("shutdown", func(t *testing.T) {
		var ev evio.Events
		ev.Tick = func() (time.Duration, evio.Action) {
			evio.AfterFunc(10*time.Millisecond, func() evio.Action { return evio.Shutdown })
			return time.Hour, evio.None
		}
		if err := serveTimeout(t, ev, "tcp://127.0.0.1:0"); err != nil {
			t.Fatalf("Serve: %v", err)
		}
	})
}

// TestTimerPanic: a panic in a timer's function shuts the server down, and Wait reports
// it, as for a panic in an event.
func TestTimerPanic(t *testing.T) {
	t.Run("conn", func(t *testing.T) {
		var ev evio.Events
		ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
			c.(evio.StreamConn).AfterFunc(time.Millisecond, func(evio.StreamConn) ([]byte, evio.Action) {
				panic("boom in a connection timer")
			})
			return nil, evio.Options{}, evio.None
		}
		st, err := evio.Start(ev, "tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c := dialAddr(t, st.Addrs[0])
		defer c.Close()
		err = waitStarted(t, st)
		if err == nil || !strings.Contains(err.Error(), "panic in Timer event: boom in a connection timer") {
			t.Fatalf("Wait: %v", err)
		}
	})
	t.Run("loop", func(t *testing.T) {
		var ev evio.Events
		ev.Tick = func() (time.Duration, evio.Action) {
			evio.AfterFunc(time.Millisecond, func() evio.Action { panic("boom in a loop timer") })
			return time.Hour, evio.None
		}
		err := serveTimeout(t, ev, "tcp://127.0.0.1:0")
		if err == nil || !strings.Contains(err.Error(), "panic in Timer event: boom in a loop timer") {
			t.Fatalf("Serve: %v", err)
		}
	})
}

// TestClose: Close from a timer, and from another goroutine after a Send (which arrives
// first), closes after the output with a nil error; afterwards it is ENOTCONN.
func TestClose(t *testing.T) {
	for _, suffix := range engines {
		t.Run("tcp"+suffix, func(t *testing.T) {
			ev, closed := closedEvents()
			conns := make(chan evio.StreamConn, 2)
			var opened int32
			ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
				sc := c.(evio.StreamConn)
				if atomic.AddInt32(&opened, 1) == 1 {
					sc.AfterFunc(10*time.Millisecond, func(c evio.StreamConn) ([]byte, evio.Action) {
						if err := c.Close(); err != nil {
							t.Errorf("Close in a timer: %v", err)
						}
						return []byte("closed by a timer"), evio.None
					})
				}
				conns <- sc
				return nil, evio.Options{}, evio.None
			}
			st := start(t, ev, "tcp"+suffix+"://127.0.0.1:0")
			a := dialAddr(t, st.Addrs[0])
			defer a.Close()
			recv(t, conns, "Opened")
			if b, err := io.ReadAll(a); err != nil || string(b) != "closed by a timer" {
				t.Fatalf("read %q, %v", b, err)
			}
			if cl := recv(t, closed, "Closed"); cl.err != nil {
				t.Fatalf("Closed with %v", cl.err)
			}

			b := dialAddr(t, st.Addrs[0])
			defer b.Close()
			sc := recv(t, conns, "Opened")
			if err := sc.Send([]byte("sent before Close\n")); err != nil {
				t.Fatal(err)
			}
			if err := sc.Close(); err != nil {
				t.Fatalf("Close from another goroutine: %v", err)
			}
			rd := bufio.NewReader(b)
			if line := readLine(t, rd); line != "sent before Close\n" {
				t.Fatalf("got %q", line)
			}
			expectEOF(t, rd)
			if cl := recv(t, closed, "Closed"); cl.err != nil {
				t.Fatalf("Closed with %v", cl.err)
			}
			if err := sc.Close(); !errors.Is(err, syscall.ENOTCONN) {
				t.Fatalf("Close after close: %v, want ENOTCONN", err)
			}
		})
	}
}

// TestTimerErrors: bad timeouts and functions, the loop-only calls elsewhere, and UDP.
func TestTimerErrors(t *testing.T) {
	_, err := evio.Start(evio.Events{IdleTimeout: -time.Second}, "tcp://127.0.0.1:0")
	if !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("Start with a negative IdleTimeout: %v, want EINVAL", err)
	}

	noop := func(evio.StreamConn) ([]byte, evio.Action) { return nil, evio.None }
	inOpened := make(chan []error, 1)
	conns := make(chan evio.StreamConn, 1)
	inData := make(chan []error, 1)
	var ev evio.Events
	ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
		sc := c.(evio.StreamConn)
		_, nilFn := sc.AfterFunc(time.Millisecond, nil)
		_, nilLoopFn := evio.AfterFunc(time.Millisecond, nil)
		inOpened <- []error{
			sc.SetIdleTimeout(-1), sc.SetReadTimeout(-1), sc.SetWriteTimeout(-1), nilFn, nilLoopFn,
		}
		conns <- sc
		return nil, evio.Options{}, evio.None
	}
	ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
		sc := c.(evio.StreamConn) // a UDP sender
		_, timerErr := sc.AfterFunc(time.Millisecond, noop)
		inData <- []error{timerErr, sc.SetIdleTimeout(time.Second), sc.SetReadTimeout(time.Second),
			sc.SetWriteTimeout(time.Second), sc.Close()}
		return nil, evio.None
	}
	st := start(t, ev, "tcp://127.0.0.1:0", "udp://127.0.0.1:0")
	c := dialAddr(t, st.Addrs[0])
	defer c.Close()
	for i, err := range recv(t, inOpened, "Opened") {
		if !errors.Is(err, syscall.EINVAL) {
			t.Fatalf("bad argument %d: %v, want EINVAL", i, err)
		}
	}
	// Off the loop, the loop-only calls are EPERM (Close is not one of them).
	sc := recv(t, conns, "Opened")
	if _, err := sc.AfterFunc(time.Millisecond, noop); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("AfterFunc off the loop: %v, want EPERM", err)
	}
	if err := sc.SetIdleTimeout(time.Second); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("SetIdleTimeout off the loop: %v, want EPERM", err)
	}

	u, err := net.Dial("udp", st.Addrs[1].String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.Write([]byte("?"))
	for i, err := range recv(t, inData, "Data") {
		if !errors.Is(err, syscall.ENOTSUP) {
			t.Fatalf("UDP call %d: %v, want ENOTSUP", i, err)
		}
	}
	expectNoLiveTimers(t)
}
