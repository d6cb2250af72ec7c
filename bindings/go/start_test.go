package evio_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	evio "github.com/evio/evio/bindings/go"
)

// engines are the address suffixes that pick each engine of the library.
var engines = []string{"", "-net"}

// start runs evio.Start and stops the server at the end of the test (with a deadline,
// so that a broken test cannot hang there).
func start(t *testing.T, ev evio.Events, addrs ...string) *evio.Started {
	t.Helper()
	st, err := evio.Start(ev, addrs...)
	if err != nil {
		t.Fatalf("Start(%q): %v", addrs, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := st.Stop(ctx); err != nil {
			t.Errorf("Stop at the end of the test: %v", err)
		}
	})
	return st
}

// waitStarted waits for Wait with a bound.
func waitStarted(t *testing.T, st *evio.Started) error {
	t.Helper()
	select {
	case <-st.Done():
		return st.Wait()
	case <-time.After(timeout):
		t.Fatalf("the server did not end")
		return nil
	}
}

// pattern is n bytes that show where a loss or reordering happened (a block of a prime
// length, repeated: quick to make under the race detector).
func pattern(n int) []byte {
	block := make([]byte, 251)
	for i := range block {
		block[i] = byte(i)
	}
	return bytes.Repeat(block, n/len(block)+1)[:n]
}

// pendingSize is more output than the kernel holds for a client that reads nothing (a
// few MiB of socket buffers on loopback): some of it is still pending in the server.
const pendingSize = 16 << 20

// TestStartStop stops a server from another goroutine while a connection still has
// megabytes of output pending: the drain delivers all of it, then closes the connection
// (Closed with nil), and Stop returns once the server has ended.
func TestStartStop(t *testing.T) {
	for _, suffix := range engines {
		suffix := suffix
		t.Run("tcp"+suffix, func(t *testing.T) {
			big := pattern(pendingSize)
			replied := make(chan struct{})
			closed := make(chan error, 1)
			var ev evio.Events
			ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
				close(replied)
				return big, evio.None
			}
			ev.Closed = func(c evio.Conn, err error) evio.Action {
				closed <- err
				return evio.None
			}
			st := start(t, ev, "tcp"+suffix+"://127.0.0.1:0")
			if len(st.Addrs) != 1 || st.NumLoops != 1 {
				t.Fatalf("Addrs %v, NumLoops %d", st.Addrs, st.NumLoops)
			}
			if a, ok := st.Addrs[0].(*net.TCPAddr); !ok || a.Port == 0 {
				t.Fatalf("Addrs[0] %#v", st.Addrs[0])
			}
			c := dialAddr(t, st.Addrs[0])
			defer c.Close()
			c.Write([]byte("get\n"))
			recv(t, replied, "Data")

			stopped := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				stopped <- st.Stop(ctx)
			}()
			got, err := io.ReadAll(c) // the whole output, then the end of the stream
			if err != nil {
				t.Fatalf("read: %v after %d bytes", err, len(got))
			}
			if !bytes.Equal(got, big) {
				t.Fatalf("got %d bytes, want the %d bytes pending at Stop", len(got), len(big))
			}
			if err := recv(t, stopped, "Stop"); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if err := recv(t, closed, "Closed"); err != nil {
				t.Fatalf("Closed: %v", err)
			}
			select {
			case <-st.Done():
			default:
				t.Fatalf("Done not closed after Stop returned")
			}
			if err := st.Wait(); err != nil {
				t.Fatalf("Wait: %v", err)
			}
			if _, err := net.DialTimeout("tcp", st.Addrs[0].String(), timeout); err == nil {
				t.Fatalf("the listener is still open after Stop")
			}
		})
	}
}

// TestStopDeadline: output still pending at the deadline is given up: the connection
// is closed with ETIMEDOUT.
func TestStopDeadline(t *testing.T) {
	for _, suffix := range engines {
		suffix := suffix
		t.Run("tcp"+suffix, func(t *testing.T) {
			big := pattern(pendingSize)
			replied := make(chan struct{})
			closed := make(chan error, 1)
			var ev evio.Events
			ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
				close(replied)
				return big, evio.None
			}
			ev.Closed = func(c evio.Conn, err error) evio.Action {
				closed <- err
				return evio.None
			}
			st := start(t, ev, "tcp"+suffix+"://127.0.0.1:0")
			c := dialAddr(t, st.Addrs[0])
			defer c.Close()
			c.Write([]byte("get\n"))
			recv(t, replied, "Data")
			// The client reads nothing: the drain cannot end before the deadline.
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if err := st.Stop(ctx); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if err := recv(t, closed, "Closed"); !errors.Is(err, syscall.ETIMEDOUT) {
				t.Fatalf("Closed: %v, want ETIMEDOUT", err)
			}
		})
	}
}

// TestStopCancel: a context without a deadline that is cancelled makes Stop return its
// error at once; the drain goes on, and Wait sees the end once the client has read
// everything.
func TestStopCancel(t *testing.T) {
	big := pattern(pendingSize)
	replied := make(chan struct{})
	closed := make(chan error, 1)
	var ev evio.Events
	ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
		close(replied)
		return big, evio.None
	}
	ev.Closed = func(c evio.Conn, err error) evio.Action {
		closed <- err
		return evio.None
	}
	st := start(t, ev, "tcp://127.0.0.1:0")
	c := dialAddr(t, st.Addrs[0])
	defer c.Close()
	c.Write([]byte("get\n"))
	recv(t, replied, "Data")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// The output cannot have left: the client has not read it.
	if err := st.Stop(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop: %v, want context.Canceled", err)
	}
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("read %d of %d bytes: %v", len(got), len(big), err)
	}
	if err := waitStarted(t, st); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if err := recv(t, closed, "Closed"); err != nil {
		t.Fatalf("Closed: %v", err)
	}
	if err := st.Stop(context.Background()); err != nil {
		t.Fatalf("Stop after the end: %v", err)
	}
}

// TestStartNoAddress: a server without addresses runs its Tick until stopped.
func TestStartNoAddress(t *testing.T) {
	ticks := make(chan struct{}, 1)
	var ev evio.Events
	ev.Tick = func() (time.Duration, evio.Action) {
		select {
		case ticks <- struct{}{}:
		default:
		}
		return time.Millisecond, evio.None
	}
	st, err := evio.Start(ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Addrs) != 0 || st.NumLoops != 1 {
		t.Fatalf("Addrs %v, NumLoops %d", st.Addrs, st.NumLoops)
	}
	recv(t, ticks, "Tick")
	recv(t, ticks, "Tick")
	if err := st.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestStartShutdown: a server started with Start ends with a Shutdown action, and
// with a panic (which Wait reports); Serving runs inside Start.
func TestStartShutdown(t *testing.T) {
	t.Run("Serving", func(t *testing.T) {
		var ev evio.Events
		served := false
		ev.Serving = func(srv evio.Server) evio.Action {
			served = len(srv.Addrs) == 1
			return evio.Shutdown
		}
		st, err := evio.Start(ev, "tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if !served {
			t.Fatalf("Serving did not run in Start")
		}
		if err := waitStarted(t, st); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Data", func(t *testing.T) {
		var ev evio.Events
		ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) { return []byte("bye\n"), evio.Shutdown }
		st, err := evio.Start(ev, "tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c := dialAddr(t, st.Addrs[0])
		defer c.Close()
		c.Write([]byte("x"))
		if err := waitStarted(t, st); err != nil {
			t.Fatal(err)
		}
		rd := bufio.NewReader(c)
		if line := readLine(t, rd); line != "bye\n" {
			t.Fatalf("got %q", line)
		}
	})
	t.Run("panic", func(t *testing.T) {
		var ev evio.Events
		ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) { panic(io.ErrUnexpectedEOF) }
		st, err := evio.Start(ev, "tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c := dialAddr(t, st.Addrs[0])
		defer c.Close()
		c.Write([]byte("x"))
		err = waitStarted(t, st)
		if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "panic in Data event") {
			t.Fatalf("Wait: %v", err)
		}
		if err2 := st.Stop(context.Background()); err2 != err {
			t.Fatalf("Stop after the end: %v, want Wait's error", err2)
		}
	})
}

// TestStopFromEvent: Stop called in an event starts the stop and returns at once
// (waiting there would wait for itself); Wait there refuses with EPERM.
func TestStopFromEvent(t *testing.T) {
	servers := make(chan *evio.Started, 1)
	results := make(chan error, 2)
	var ev evio.Events
	ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
		st := <-servers
		results <- st.Wait()
		results <- st.Stop(context.Background())
		return []byte("stopping\n"), evio.None
	}
	st, err := evio.Start(ev, "tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	servers <- st
	c := dialAddr(t, st.Addrs[0])
	defer c.Close()
	c.Write([]byte("stop\n"))
	if err := recv(t, results, "Wait in Data"); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("Wait in an event: %v, want EPERM", err)
	}
	if err := recv(t, results, "Stop in Data"); err != nil {
		t.Fatalf("Stop in an event: %v", err)
	}
	rd := bufio.NewReader(c)
	if line := readLine(t, rd); line != "stopping\n" {
		t.Fatalf("got %q", line)
	}
	expectEOF(t, rd)
	if err := waitStarted(t, st); err != nil {
		t.Fatal(err)
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := evio.Start(evio.Events{}, "tcp://:99999"); err == nil || !strings.Contains(err.Error(), "99999") {
		t.Fatalf("a bad address: %v", err)
	}
	st := start(t, evio.Events{}, "tcp://127.0.0.1:0")
	_, err := evio.Start(evio.Events{}, st.Addrs[0].String())
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("an address in use: %v", err)
	}
	for _, ev := range []evio.Events{{OutputLimit: -1}, {LowWatermark: -1}, {HighWatermark: -2}} {
		if _, err := evio.Start(ev, "tcp://127.0.0.1:0"); !errors.Is(err, syscall.EINVAL) {
			t.Fatalf("%+v: %v, want EINVAL", ev, err)
		}
		if err := serveTimeout(t, ev, "tcp://127.0.0.1:0"); !errors.Is(err, syscall.EINVAL) {
			t.Fatalf("Serve %+v: %v, want EINVAL", ev, err)
		}
	}
	if _, err := evio.Start(evio.Events{}, "tcp://127.0.0.1:0", "bogus://x"); err == nil {
		t.Fatalf("a bad second address: no error")
	}
}
