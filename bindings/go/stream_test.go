package evio_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	evio "github.com/evio/evio/bindings/go"
)

// openedConns returns events whose Opened hands every connection to the channel.
func openedConns() (evio.Events, chan evio.StreamConn) {
	conns := make(chan evio.StreamConn, 16)
	var ev evio.Events
	ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
		conns <- c.(evio.StreamConn)
		return nil, evio.Options{}, evio.None
	}
	return ev, conns
}

// TestSendOrder sends from 4 goroutines at once: each goroutine's messages arrive
// whole and in the order it sent them.
func TestSendOrder(t *testing.T) {
	for _, suffix := range engines {
		suffix := suffix
		t.Run("tcp"+suffix, func(t *testing.T) {
			const senders, msgs = 4, 2000
			ev, conns := openedConns()
			st := start(t, ev, "tcp"+suffix+"://127.0.0.1:0")
			c := dialAddr(t, st.Addrs[0])
			defer c.Close()
			sc := recv(t, conns, "Opened")
			errs := make(chan error, senders)
			for g := 0; g < senders; g++ {
				g := g
				go func() {
					for i := 0; i < msgs; i++ {
						if err := sc.Send([]byte(message(g, i))); err != nil {
							errs <- err
							return
						}
					}
					errs <- nil
				}()
			}
			next := make([]int, senders)
			rd := bufio.NewReader(c)
			for n := 0; n < senders*msgs; n++ {
				line := readLine(t, rd)
				f := strings.Fields(line)
				if len(f) < 2 || len(f) > 3 {
					t.Fatalf("line %d: %q", n, line)
				}
				g, _ := strconv.Atoi(f[0])
				i, _ := strconv.Atoi(f[1])
				if g < 0 || g >= senders || i != next[g] || line != message(g, i) {
					t.Fatalf("line %d: %q, want message %d of sender %d", n, line, next[g], g)
				}
				next[g]++
			}
			for g := 0; g < senders; g++ {
				if err := recv(t, errs, "sender"); err != nil {
					t.Fatalf("Send: %v", err)
				}
			}
		})
	}
}

// message is message i of sender g, of a length that changes, so that a torn one shows.
func message(g, i int) string {
	return fmt.Sprintf("%d %d %s\n", g, i, strings.Repeat(string(rune('a'+g)), i%50))
}

// TestSendAfterClose: once a connection has closed, Send returns ENOTCONN, Post runs its
// function once with ENOTCONN, and the loop-thread methods say ENOTCONN. While it is
// open, Post runs on the loop (where those methods work) and they refuse other
// goroutines with EPERM.
func TestSendAfterClose(t *testing.T) {
	closed := make(chan struct{})
	ev, conns := openedConns()
	ev.Closed = func(c evio.Conn, err error) evio.Action {
		if err := c.(evio.StreamConn).Send([]byte("x")); !errors.Is(err, syscall.ENOTCONN) {
			t.Errorf("Send in Closed: %v", err)
		}
		close(closed)
		return evio.None
	}
	st := start(t, ev, "tcp://127.0.0.1:0")
	c := dialAddr(t, st.Addrs[0])
	defer c.Close()
	sc := recv(t, conns, "Opened")

	if _, err := sc.Pending(); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("Pending from another goroutine: %v, want EPERM", err)
	}
	if err := sc.PauseRead(); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("PauseRead from another goroutine: %v, want EPERM", err)
	}
	ran := make(chan error, 2)
	sc.Post(func(c evio.StreamConn, err error) {
		if err == nil {
			_, err = c.Pending() // works here: the loop's thread
		}
		ran <- err
	})
	if err := recv(t, ran, "posted function"); err != nil {
		t.Fatalf("Post on an open connection: %v", err)
	}
	if err := sc.Send([]byte("hello\n")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if line := readLine(t, bufio.NewReader(c)); line != "hello\n" {
		t.Fatalf("got %q", line)
	}

	c.Close()
	recv(t, closed, "Closed")
	err := sc.Send([]byte("late"))
	if !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("Send after close: %v, want ENOTCONN", err)
	}
	t.Logf("Send after close: %v", err)
	if err := sc.Send(nil); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("empty Send after close: %v, want ENOTCONN", err)
	}
	sc.Post(func(c evio.StreamConn, err error) { ran <- err })
	if err := recv(t, ran, "posted function"); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("Post after close: fn got %v, want ENOTCONN", err)
	}
	select {
	case err := <-ran:
		t.Fatalf("a posted function ran twice (%v)", err)
	default:
	}
	if err := sc.ResumeRead(); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("ResumeRead after close: %v, want ENOTCONN", err)
	}
	if err := sc.ShutdownWrite(); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("ShutdownWrite after close: %v, want ENOTCONN", err)
	}
}

// TestSendRace sends and posts from several goroutines while connections close and the
// server stops; run with -race. Every posted function runs exactly once.
func TestSendRace(t *testing.T) {
	const nconns, senders, rounds = 8, 4, 300
	var mu sync.Mutex
	var conns []evio.StreamConn
	opened := make(chan struct{}, nconns)
	var ev evio.Events
	ev.NumLoops = 2
	ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
		mu.Lock()
		conns = append(conns, c.(evio.StreamConn))
		mu.Unlock()
		opened <- struct{}{}
		return nil, evio.Options{}, evio.None
	}
	st, err := evio.Start(ev, "tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var clients []net.Conn
	for i := 0; i < nconns; i++ {
		c := dialAddr(t, st.Addrs[0])
		defer c.Close()
		go io.Copy(io.Discard, c)
		clients = append(clients, c)
		recv(t, opened, "Opened")
	}
	var posts sync.WaitGroup
	var sendersDone sync.WaitGroup
	for g := 0; g < senders; g++ {
		sendersDone.Add(1)
		go func() {
			defer sendersDone.Done()
			mu.Lock()
			cs := append([]evio.StreamConn(nil), conns...)
			mu.Unlock()
			for r := 0; r < rounds; r++ {
				for _, c := range cs {
					c.Send([]byte("x"))
					posts.Add(1)
					var once int32
					c.Post(func(c evio.StreamConn, err error) {
						if atomic.AddInt32(&once, 1) != 1 {
							t.Errorf("a posted function ran twice")
						}
						if err == nil {
							c.Pending()
						}
						posts.Done()
					})
				}
			}
		}()
	}
	for i, c := range clients {
		if i%2 == 0 {
			c.Close()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := st.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	sendersDone.Wait()
	all := make(chan struct{})
	go func() { posts.Wait(); close(all) }()
	recv(t, all, "every posted function")
}

// TestPauseResume: input that arrives while reading is paused waits (the markers
// posted meanwhile see no Data), and comes once reading resumes. Unix sockets: a
// client's write is in the server's socket when Write returns.
func TestPauseResume(t *testing.T) {
	for _, suffix := range engines {
		suffix := suffix
		t.Run("unix"+suffix, func(t *testing.T) {
			var inputs int32
			conns := make(chan evio.StreamConn, 1)
			var ev evio.Events
			ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
				sc := c.(evio.StreamConn)
				if err := sc.PauseRead(); err != nil {
					t.Errorf("PauseRead: %v", err)
				}
				conns <- sc
				return nil, evio.Options{}, evio.None
			}
			ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
				atomic.AddInt32(&inputs, 1)
				return append([]byte("data:"), in...), evio.None
			}
			st := start(t, ev, "unix"+suffix+"://"+sockPath(t))
			c := dialAddr(t, st.Addrs[0])
			defer c.Close()
			sc := recv(t, conns, "Opened")
			if _, err := c.Write([]byte("abc\n")); err != nil {
				t.Fatal(err)
			}
			// Two posted functions, the second posted once the first ran: the loop has
			// polled the socket at least once in between.
			post := func(fn func(c evio.StreamConn)) {
				done := make(chan error, 1)
				sc.Post(func(c evio.StreamConn, err error) {
					if err == nil {
						fn(c)
					}
					done <- err
				})
				if err := recv(t, done, "posted function"); err != nil {
					t.Fatal(err)
				}
			}
			marker := func(c evio.StreamConn) {
				c.Send([]byte(fmt.Sprintf("marker %d\n", atomic.LoadInt32(&inputs))))
			}
			post(marker)
			post(marker)
			post(func(c evio.StreamConn) {
				if err := c.ResumeRead(); err != nil {
					t.Errorf("ResumeRead: %v", err)
				}
			})
			rd := bufio.NewReader(c)
			for _, want := range []string{"marker 0\n", "marker 0\n", "data:abc\n"} {
				if line := readLine(t, rd); line != want {
					t.Fatalf("got %q, want %q", line, want)
				}
			}
		})
	}
}

// TestReadBackpressureOff: with SetReadBackpressure(false), a client that sends 8 MiB
// and never reads has its whole input read, although the output owed to it (16 times
// the input) is far above the high watermark. With the default (on), reading stops
// after a few hundred KiB and the test fails on its timeout. The C test is
// tests/test_flow.c: test_read_backpressure_off.
func TestReadBackpressureOff(t *testing.T) {
	const input, step, answer = 8 << 20, 64 << 10, 1 << 20 // each step of input: 1 MiB out
	for _, suffix := range engines {
		suffix := suffix
		t.Run("tcp"+suffix, func(t *testing.T) {
			var seen int64
			allRead := make(chan struct{})
			var ev evio.Events
			ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
				if err := c.(evio.StreamConn).SetReadBackpressure(false); err != nil {
					t.Errorf("SetReadBackpressure: %v", err)
				}
				return nil, evio.Options{}, evio.None
			}
			ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
				after := atomic.AddInt64(&seen, int64(len(in)))
				before := after - int64(len(in))
				if before < input && after >= input {
					close(allRead)
				}
				if steps := after/step - before/step; steps > 0 {
					return make([]byte, steps*answer), evio.None
				}
				return nil, evio.None
			}
			st := start(t, ev, "tcp"+suffix+"://127.0.0.1:0")
			c := dialAddr(t, st.Addrs[0])
			defer c.Close() // before start's Stop: the output nobody reads is dropped
			if err := c.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
				t.Fatal(err) // it never reads: keep what the kernel takes small
			}
			written := make(chan error, 1)
			go func() {
				_, err := c.Write(make([]byte, input))
				written <- err
			}()
			select {
			case <-allRead:
			case <-time.After(timeout):
				t.Fatalf("read backpressure off: Data saw %d of %d bytes in %v",
					atomic.LoadInt64(&seen), input, timeout)
			}
			if err := recv(t, written, "the client's write"); err != nil {
				t.Fatalf("the client's write: %v", err)
			}
		})
	}
}

// closeWriter is a client connection that can half-close (*net.TCPConn, *net.UnixConn).
type closeWriter interface {
	net.Conn
	CloseWrite() error
}

// TestHalfClose: with InputClosed the end of the client's input keeps the connection
// open; the server answers, shuts down its own side, and the connection closes.
func TestHalfClose(t *testing.T) {
	for _, suffix := range engines {
		for _, nw := range []string{"tcp", "unix"} {
			addr := nw + suffix + "://127.0.0.1:0"
			if nw == "unix" {
				addr = nw + suffix + "://" + sockPath(t)
			}
			t.Run(nw+suffix, func(t *testing.T) {
				closed := make(chan error, 1)
				var ev evio.Events
				ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) { return in, evio.None }
				ev.InputClosed = func(c evio.Conn) ([]byte, evio.Action) {
					if err := c.(evio.StreamConn).ShutdownWrite(); err != nil {
						t.Errorf("ShutdownWrite: %v", err)
					}
					return []byte("bye\n"), evio.None // sent before the shutdown
				}
				ev.Closed = func(c evio.Conn, err error) evio.Action {
					closed <- err
					return evio.None
				}
				st := start(t, ev, addr)
				c := dialAddr(t, st.Addrs[0]).(closeWriter)
				defer c.Close()
				rd := bufio.NewReader(c)
				c.Write([]byte("hello\n"))
				if line := readLine(t, rd); line != "hello\n" {
					t.Fatalf("got %q", line)
				}
				if err := c.CloseWrite(); err != nil {
					t.Fatal(err)
				}
				if line := readLine(t, rd); line != "bye\n" {
					t.Fatalf("got %q", line)
				}
				expectEOF(t, rd)
				if err := recv(t, closed, "Closed"); err != nil {
					t.Fatalf("Closed: %v", err)
				}
			})
		}
	}
}

// TestShutdownWrite: ShutdownWrite in Data sends that event's output, then the end of
// the stream, and the server still reads what the client sends.
func TestShutdownWrite(t *testing.T) {
	for _, suffix := range engines {
		suffix := suffix
		t.Run("tcp"+suffix, func(t *testing.T) {
			inputs := make(chan string, 4)
			closed := make(chan error, 1)
			var ev evio.Events
			ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
				if string(in) == "end\n" {
					if err := c.(evio.StreamConn).ShutdownWrite(); err != nil {
						t.Errorf("ShutdownWrite: %v", err)
					}
					return []byte("last\n"), evio.None
				}
				inputs <- string(in)
				return []byte("dropped\n"), evio.None // after the shutdown
			}
			ev.Closed = func(c evio.Conn, err error) evio.Action {
				closed <- err
				return evio.None
			}
			st := start(t, ev, "tcp"+suffix+"://127.0.0.1:0")
			c := dialAddr(t, st.Addrs[0]).(closeWriter)
			defer c.Close()
			c.Write([]byte("end\n"))
			rd := bufio.NewReader(c)
			if line := readLine(t, rd); line != "last\n" {
				t.Fatalf("got %q", line)
			}
			expectEOF(t, rd)
			c.Write([]byte("after\n"))
			if in := recv(t, inputs, "Data after ShutdownWrite"); in != "after\n" {
				t.Fatalf("got %q", in)
			}
			c.CloseWrite() // the end of input closes it (no InputClosed)
			if err := recv(t, closed, "Closed"); err != nil {
				t.Fatalf("Closed: %v", err)
			}
		})
	}
}

// TestOutputLimit: output past the limit (Events.OutputLimit, or SetOutputLimit) closes
// the connection with ENOBUFS; a Send past it returns ENOBUFS.
func TestOutputLimit(t *testing.T) {
	for _, suffix := range engines {
		for _, perConn := range []bool{false, true} {
			suffix, perConn := suffix, perConn
			t.Run(fmt.Sprintf("tcp%s/perConn=%v", suffix, perConn), func(t *testing.T) {
				const limit = 64 << 10
				closed := make(chan error, 1)
				sendErr := make(chan error, 1)
				var ev evio.Events
				if !perConn {
					ev.OutputLimit = limit
				}
				ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
					sc := c.(evio.StreamConn)
					if perConn {
						if err := sc.SetOutputLimit(limit); err != nil {
							t.Errorf("SetOutputLimit: %v", err)
						}
					}
					sendErr <- sc.Send(make([]byte, limit+1))
					return nil, evio.Options{}, evio.None
				}
				ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
					return make([]byte, limit+1), evio.None
				}
				ev.Closed = func(c evio.Conn, err error) evio.Action {
					closed <- err
					return evio.None
				}
				st := start(t, ev, "tcp"+suffix+"://127.0.0.1:0")
				c := dialAddr(t, st.Addrs[0])
				defer c.Close()
				if err := recv(t, sendErr, "Opened"); !errors.Is(err, syscall.ENOBUFS) {
					t.Fatalf("Send past the limit: %v, want ENOBUFS", err)
				}
				c.Write([]byte("x"))
				err := recv(t, closed, "Closed")
				if !errors.Is(err, syscall.ENOBUFS) {
					t.Fatalf("Closed: %v, want ENOBUFS", err)
				}
				t.Logf("Closed: %v", err)
				expectEOF(t, c) // the output past the limit was dropped
			})
		}
	}
}

// TestDrained: a connection whose output passed the high watermark gets Drained once
// it has left; the producer writes more there.
func TestDrained(t *testing.T) {
	for _, suffix := range engines {
		suffix := suffix
		t.Run("tcp"+suffix, func(t *testing.T) {
			big := pattern(pendingSize)
			drained := make(chan int, 1)
			var ev evio.Events
			ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
				if err := c.(evio.StreamConn).SetWatermarks(0, 64<<10); err != nil {
					t.Errorf("SetWatermarks: %v", err)
				}
				return big, evio.Options{}, evio.None
			}
			ev.Drained = func(c evio.Conn) ([]byte, evio.Action) {
				n, err := c.(evio.StreamConn).Pending()
				if err != nil {
					t.Errorf("Pending: %v", err)
				}
				drained <- n
				return []byte("drained\n"), evio.Close
			}
			st := start(t, ev, "tcp"+suffix+"://127.0.0.1:0")
			c := dialAddr(t, st.Addrs[0])
			defer c.Close()
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, append(big, "drained\n"...)) {
				t.Fatalf("got %d bytes, want %d and \"drained\\n\"", len(got), len(big))
			}
			if n := recv(t, drained, "Drained"); n != 0 {
				t.Fatalf("Pending in Drained: %d, want 0 (the low watermark)", n)
			}
		})
	}
}

// TestStreamConnMisc: SetNoDelay and SetWatermarks check their arguments and the
// transport; a UDP sender refuses everything (SetReadBackpressure too) with ENOTSUP.
func TestStreamConnMisc(t *testing.T) {
	results := make(chan []error, 2)
	var ev evio.Events
	ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
		sc := c.(evio.StreamConn)
		results <- []error{sc.SetNoDelay(false), sc.SetNoDelay(true), sc.SetWatermarks(10, 5),
			sc.SetWatermarks(0, 0), sc.SetOutputLimit(-1), sc.SetWatermarks(1, 1)}
		return nil, evio.Options{}, evio.Close
	}
	ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
		sc := c.(evio.StreamConn)
		_, perr := sc.Pending()
		done := make(chan error, 1)
		sc.Post(func(c evio.StreamConn, err error) { done <- err })
		results <- []error{sc.Send(in), <-done, sc.PauseRead(), perr, sc.ShutdownWrite(), sc.SetNoDelay(true),
			sc.SetReadBackpressure(false)}
		return in, evio.None
	}
	st := start(t, ev, "tcp://127.0.0.1:0", "unix://"+sockPath(t), "udp://127.0.0.1:0")
	check := func(what string, got []error, want ...error) {
		t.Helper()
		for i := range want {
			if !errors.Is(got[i], want[i]) || (want[i] == nil) != (got[i] == nil) {
				t.Errorf("%s: call %d: %v, want %v", what, i, got[i], want[i])
			}
		}
	}
	c := dialAddr(t, st.Addrs[0])
	defer c.Close()
	check("tcp", recv(t, results, "Opened"), nil, nil, syscall.EINVAL, syscall.EINVAL, syscall.EINVAL, nil)
	u := dialAddr(t, st.Addrs[1])
	defer u.Close()
	check("unix", recv(t, results, "Opened"), syscall.ENOTSUP, syscall.ENOTSUP)
	d := dialAddr(t, st.Addrs[2])
	defer d.Close()
	d.Write([]byte("x"))
	e := syscall.ENOTSUP
	check("udp", recv(t, results, "Data"), e, e, e, e, e, e, e)
}

// TestPostPanic: a panic in a posted function stops a server run by Start, and Wait
// reports it.
func TestPostPanic(t *testing.T) {
	ev, conns := openedConns()
	st, err := evio.Start(ev, "tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := dialAddr(t, st.Addrs[0])
	defer c.Close()
	sc := recv(t, conns, "Opened")
	sc.Post(func(c evio.StreamConn, err error) { panic("posted") })
	select {
	case <-st.Done():
	case <-time.After(timeout):
		t.Fatal("the server did not end")
	}
	if err := st.Wait(); err == nil || !bytes.Contains([]byte(err.Error()), []byte("panic in Post event: posted")) {
		t.Fatalf("Wait: %v", err)
	}
}

// TestShutdownWriteFromTick: ShutdownWrite outside the connection's own events (here in
// Tick, on the same loop) may close the connection at once, running Closed inside the
// call.
func TestShutdownWriteFromTick(t *testing.T) {
	halfOpen := make(chan evio.StreamConn, 1)
	results := make(chan error, 1)
	closed := make(chan error, 1)
	var ev evio.Events
	ev.InputClosed = func(c evio.Conn) ([]byte, evio.Action) {
		halfOpen <- c.(evio.StreamConn)
		return nil, evio.None
	}
	ev.Closed = func(c evio.Conn, err error) evio.Action {
		closed <- err
		return evio.None
	}
	ev.Tick = func() (time.Duration, evio.Action) {
		select {
		case sc := <-halfOpen:
			results <- sc.ShutdownWrite() // both directions are shut now: it closes
		default:
		}
		return time.Millisecond, evio.None
	}
	st := start(t, ev, "tcp://127.0.0.1:0")
	c := dialAddr(t, st.Addrs[0]).(closeWriter)
	defer c.Close()
	c.CloseWrite()
	if err := recv(t, results, "ShutdownWrite in Tick"); err != nil {
		t.Fatalf("ShutdownWrite: %v", err)
	}
	if err := recv(t, closed, "Closed"); err != nil {
		t.Fatalf("Closed: %v", err)
	}
	expectEOF(t, c)
}
