package evio

/*
#include "evio_go.h"
*/
import "C"

import (
	"context"
	"errors"
	"math"
	"sync"
	"syscall"
	"time"
)

// Started is a server started by Start. It runs until Stop is called or an event
// returns Shutdown. Its methods may be called from any goroutine.
type Started struct {
	// Server holds the listening addresses (with the ports the system chose for port
	// 0) and the number of loops, as the Serving event sees them.
	Server

	s    *server
	done chan struct{} // closed once the server has ended and its handle is freed
	err  error         // what Wait returns; written before done is closed

	mu      sync.Mutex
	csrv    *C.evio_server // nil before evio_server_start returned and once freed
	freed   bool
	stopNow bool // an event panicked before csrv was known: stop once it is
}

// Start is Serve without blocking: it binds every address, fires Serving (on the
// calling goroutine), starts the loops, each on a thread of its own, and returns the
// running server. Unlike Serve, it accepts no address at all: such a server only runs
// its Tick event until it is stopped.
//
// The error is that of Serve when the server cannot start (naming the address and the
// reason; errors.Is matches the syscall.Errno). After a successful start, errors (an
// event that panicked, an engine that failed) are returned by Wait and Stop. If
// Serving returns Shutdown, the server is returned already ending.
func Start(events Events, addr ...string) (*Started, error) {
	s, err := newServer(events, addr)
	if err != nil {
		return nil, err
	}
	st := &Started{s: s, done: make(chan struct{})}
	s.st = st // a panic in an event stops the server (see fail)
	caddrs, free := cAddrs(s.addrs)
	defer free()
	set := s.settings()
	var msg errBuf
	var csrv *C.evio_server
	rc := C.evio_go_start(&set, caddrs, C.size_t(len(s.addrs)), &csrv, msg.ptr(), msg.size())
	if rc < 0 {
		s.h.Delete()
		return nil, s.outcome(rc, &msg)
	}
	st.Server = s.info(csrv)
	st.mu.Lock()
	st.csrv = csrv
	if st.stopNow {
		C.evio_server_stop(csrv, 0)
	}
	st.mu.Unlock()
	go st.wait(csrv)
	return st, nil
}

// wait is the one caller of evio_server_wait (the library allows one at a time); it
// frees the server once it has ended.
func (st *Started) wait(csrv *C.evio_server) {
	var msg errBuf
	rc := C.evio_go_wait(csrv, msg.ptr(), msg.size())
	st.mu.Lock()
	st.csrv, st.freed = nil, true
	st.mu.Unlock()
	C.evio_server_free(csrv)
	st.s.h.Delete() // no callback runs any more
	st.err = st.s.outcome(rc, &msg)
	close(st.done)
}

// stopAtOnce stops the server without a drain (an event panicked).
func (st *Started) stopAtOnce() {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case st.csrv != nil:
		C.evio_server_stop(st.csrv, 0)
	case !st.freed:
		st.stopNow = true
	}
}

// inEvent tells whether the calling goroutine runs an event of this server (which
// runs on one of its loops, or on the thread ending it).
func (st *Started) inEvent() bool {
	return C.evio_go_current() == C.uintptr_t(st.s.h)
}

// Stop stops the server gracefully, then waits for it to end and returns what Wait
// returns.
//
// At once the server stops accepting connections and reading input (Data no longer
// fires with input; Wake, Send and Post still work). Each connection closes, with a
// nil error in Closed, as soon as its pending output has been sent. If ctx has a
// deadline, the connections still open then are closed with an error matching
// syscall.ETIMEDOUT (a deadline already passed closes them at once, those with output
// still pending with ETIMEDOUT); without a deadline the server waits for every
// connection's output to leave, however long that takes.
//
// If ctx is cancelled before the server has ended (other than by reaching its
// deadline), Stop returns ctx.Err() at once, as net/http's Server.Shutdown does: the
// server goes on draining (until the deadline, if ctx had one), and Wait waits for
// its end.
//
// Only the first call's drain counts: a later Stop only waits (with its own ctx). On a
// server that has ended, Stop returns what Wait returns. Called from one of the
// server's own events, Stop only starts the stop and returns nil: waiting there
// would wait for itself (the server ends once the event has returned).
func (st *Started) Stop(ctx context.Context) error {
	drain := int64(math.MaxInt64)
	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline {
		drain = int64(time.Until(deadline))
		if drain < 1 {
			drain = 1 // 0 would close every connection at once, without ETIMEDOUT
		}
	}
	st.mu.Lock()
	if st.csrv != nil {
		C.evio_server_stop(st.csrv, C.int64_t(drain))
	}
	st.mu.Unlock()
	if st.inEvent() {
		return nil
	}
	select {
	case <-st.done:
		return st.err
	case <-ctx.Done():
		if hasDeadline && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			<-st.done // the library closes what is left at the same deadline
			return st.err
		}
		return ctx.Err()
	}
}

// Wait waits until the server has ended (after Stop, or an event that returned
// Shutdown): every loop has ended and Closed has fired for every connection. It
// returns nil after an orderly end, else the error that ended the server, as Serve
// would return it (an event that panicked, an engine that failed). It may be called
// any number of times, from any goroutine, but not from one of the server's own
// events: there it returns an error matching syscall.EPERM at once.
func (st *Started) Wait() error {
	if st.inEvent() {
		return &serveError{msg: "Wait called from an event of the server it waits for", err: syscall.EPERM}
	}
	<-st.done
	return st.err
}

// Done returns a channel that is closed once the server has ended, when Wait no longer
// blocks.
func (st *Started) Done() <-chan struct{} { return st.done }
