package evio_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	evio "github.com/evio/evio/bindings/go"
)

// dialTag is a dial's value in the tests: which dial it was, and the loop thread that
// dialed (0: a foreign goroutine).
type dialTag struct {
	id  int
	tid int
}

// dialLog records the outcome of every dial, by tag id.
type dialLog struct {
	mu       sync.Mutex
	dialed   map[int]int
	failed   map[int]error
	sameLoop map[int]bool
	events   chan string
}

func newDialLog() *dialLog {
	return &dialLog{dialed: map[int]int{}, failed: map[int]error{}, sameLoop: map[int]bool{},
		events: make(chan string, 64)}
}

// events are the Dialed and DialFailed events that record into the log; a dialed
// connection sends "hello" and reports the first input it gets.
func (l *dialLog) eventsFor(ev evio.Events) evio.Events {
	ev.Dialed = func(c evio.Conn, value interface{}) ([]byte, evio.Options, evio.Action) {
		tag := value.(*dialTag)
		l.mu.Lock()
		l.dialed[tag.id]++
		l.sameLoop[tag.id] = tag.tid == 0 || tag.tid == syscall.Gettid()
		l.mu.Unlock()
		if c.AddrIndex() != -1 || c.Context() != nil {
			l.events <- fmt.Sprintf("bad dialed conn: index %d, context %v", c.AddrIndex(), c.Context())
		}
		c.SetContext(tag) // the binding's own context works on a dialed connection
		l.events <- fmt.Sprintf("dialed %d", tag.id)
		return []byte("hello"), evio.Options{}, evio.None
	}
	ev.DialFailed = func(value interface{}, err error) evio.Action {
		tag := value.(*dialTag)
		l.mu.Lock()
		l.failed[tag.id] = err
		l.mu.Unlock()
		l.events <- fmt.Sprintf("failed %d", tag.id)
		return evio.None
	}
	return ev
}

func (l *dialLog) next(t *testing.T) string {
	t.Helper()
	select {
	case e := <-l.events:
		return e
	case <-time.After(timeout):
		t.Fatal("no dial event in time")
		return ""
	}
}

func stopStarted(t *testing.T, st *evio.Started) {
	t.Helper()
	if err := st.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func checkNoLiveDials(t *testing.T) {
	t.Helper()
	if n := evio.LiveDials(); n != 0 {
		t.Fatalf("%d dial handles left over", n)
	}
}

func TestDialFromStarted(t *testing.T) {
	peer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	l := newDialLog()
	ev := l.eventsFor(evio.Events{})
	ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
		if c.Context().(*dialTag).id == 7 {
			l.events <- "data " + string(in)
		}
		return nil, evio.Close
	}
	ev.Closed = func(c evio.Conn, err error) evio.Action {
		l.events <- fmt.Sprintf("closed %d", c.Context().(*dialTag).id)
		return evio.None
	}
	st, err := evio.Start(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Dial("tcp://"+peer.Addr().String(), evio.DialOptions{}, &dialTag{id: 7}); err != nil {
		t.Fatal(err)
	}
	c, err := peer.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	buf := make([]byte, 5)
	if _, err := c.Read(buf); err != nil || string(buf) != "hello" {
		t.Fatalf("read %q, %v: want the Dialed event's output", buf, err)
	}
	if e := l.next(t); e != "dialed 7" {
		t.Fatal(e)
	}
	c.Write([]byte("world"))
	for _, want := range []string{"data world", "closed 7"} {
		if e := l.next(t); e != want {
			t.Fatalf("got %q, want %q", e, want)
		}
	}
	stopStarted(t, st)
	if l.dialed[7] != 1 || len(l.failed) != 0 {
		t.Fatalf("dialed %v, failed %v: want one Dialed", l.dialed, l.failed)
	}
	checkNoLiveDials(t)
}

// fullListener is a listening socket (backlog 0) whose backlog is full, so that a
// connect to it hangs; close() closes it and its fillers.
func fullListener(t *testing.T) (addr string, close func()) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	fds := []int{fd}
	close = func() {
		for _, f := range fds {
			syscall.Close(f)
		}
	}
	sa := &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if err := syscall.Bind(fd, sa); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	got, _ := syscall.Getsockname(fd)
	sa.Port = got.(*syscall.SockaddrInet4).Port
	for i := 0; i < 16; i++ {
		s, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, s)
		if err := syscall.Connect(s, sa); errors.Is(err, syscall.EINPROGRESS) {
			break // not answered at once: the backlog is full
		}
	}
	return fmt.Sprintf("tcp://127.0.0.1:%d", sa.Port), close
}

func TestDialFailures(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := "tcp://" + dead.Addr().String()
	dead.Close()
	full, closeFull := fullListener(t)
	defer closeFull()
	l := newDialLog()
	st, err := evio.Start(l.eventsFor(evio.Events{}))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	dials := []struct {
		addr string
		opts evio.DialOptions
	}{
		{deadAddr, evio.DialOptions{}},
		{full, evio.DialOptions{Timeout: 100 * time.Millisecond}},
		{"tcp://nosuch-host.invalid:80", evio.DialOptions{}},
	}
	for i, d := range dials {
		if err := st.Dial(d.addr, d.opts, &dialTag{id: i}); err != nil {
			t.Fatal(err)
		}
	}
	for range dials {
		if e := l.next(t); !strings.HasPrefix(e, "failed") {
			t.Fatal(e)
		}
	}
	waited := time.Since(t0)
	// The last one never connects: the stop cancels it.
	if err := st.Dial(full, evio.DialOptions{Timeout: time.Duration(1<<63 - 1)}, &dialTag{id: 3}); err != nil {
		t.Fatal(err)
	}
	stopStarted(t, st)
	want := []syscall.Errno{syscall.ECONNREFUSED, syscall.ETIMEDOUT, syscall.ENOENT, syscall.ECANCELED}
	for i, errno := range want {
		if err := l.failed[i]; !errors.Is(err, errno) {
			t.Errorf("dial %d: %v, want %v", i, err, errno)
		}
	}
	if len(l.failed) != 4 || len(l.dialed) != 0 {
		t.Fatalf("failed %v, dialed %v", l.failed, l.dialed)
	}
	if waited < 90*time.Millisecond || waited > 10*time.Second {
		t.Fatalf("the timeout fired after %v", waited)
	}
	checkNoLiveDials(t)
}

func TestDialRefused(t *testing.T) {
	l := newDialLog()
	if err := evio.Dial("tcp://127.0.0.1:1", evio.DialOptions{}, &dialTag{}); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("Dial off a loop: %v, want EPERM", err)
	}
	st, err := evio.Start(l.eventsFor(evio.Events{}))
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		addr string
		opts evio.DialOptions
	}{
		{"tcp://127.0.0.1:0", evio.DialOptions{}},
		{"bogus://x:1", evio.DialOptions{}},
		{"tcp://127.0.0.1:1", evio.DialOptions{Timeout: -1}},
	}
	for _, b := range bad {
		if err := st.Dial(b.addr, b.opts, &dialTag{}); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Dial(%q, %+v): %v, want EINVAL", b.addr, b.opts, err)
		}
	}
	stopStarted(t, st)
	if err := st.Dial("tcp://127.0.0.1:1", evio.DialOptions{}, &dialTag{}); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("Dial after Stop: %v, want ENOTCONN", err)
	}
	select {
	case e := <-l.events:
		t.Fatalf("an event for a refused dial: %s", e)
	default:
	}
	checkNoLiveDials(t)
}

func TestDialFromEventLandsOnItsLoop(t *testing.T) {
	const n = 4
	peer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	target := "tcp://" + peer.Addr().String()
	l := newDialLog()
	ev := l.eventsFor(evio.Events{NumLoops: 2, LoadBalance: evio.RoundRobin})
	ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
		if c.AddrIndex() == -1 {
			return nil, evio.None
		}
		var id int
		fmt.Sscan(string(in), &id)
		if err := evio.Dial(target, evio.DialOptions{}, &dialTag{id: id, tid: syscall.Gettid()}); err != nil {
			l.events <- "Dial: " + err.Error()
		}
		return []byte("ok"), evio.None
	}
	st, err := evio.Start(ev, "tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var clients []net.Conn
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", st.Addrs[0].String(), timeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		fmt.Fprintf(c, "%d", i)
		ok := make([]byte, 2)
		if _, err := c.Read(ok); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	for i := 0; i < n; i++ {
		c, err := peer.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	for i := 0; i < n; i++ {
		if e := l.next(t); !strings.HasPrefix(e, "dialed") {
			t.Fatal(e)
		}
	}
	stopStarted(t, st)
	for i := 0; i < n; i++ {
		if l.dialed[i] != 1 || !l.sameLoop[i] {
			t.Errorf("dial %d: dialed %d times, on the dialing loop: %v", i, l.dialed[i], l.sameLoop[i])
		}
	}
	checkNoLiveDials(t)
}

// Without Dialed, Opened fires for a dialed connection, and without any open event the
// dial's handle still goes.
func TestDialWithoutDialedEvent(t *testing.T) {
	peer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	for _, withOpened := range []bool{true, false} {
		opened := make(chan int, 1)
		ev := evio.Events{}
		if withOpened {
			ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
				opened <- c.AddrIndex()
				return nil, evio.Options{}, evio.None
			}
		}
		st, err := evio.Start(ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Dial("tcp://"+peer.Addr().String(), evio.DialOptions{}, "v"); err != nil {
			t.Fatal(err)
		}
		c, err := peer.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if withOpened {
			select {
			case i := <-opened:
				if i != -1 {
					t.Fatalf("AddrIndex %d, want -1", i)
				}
			case <-time.After(timeout):
				t.Fatal("no Opened event")
			}
		}
		stopStarted(t, st)
		c.Close()
		checkNoLiveDials(t)
	}
}
