package evio

/*
#include "evio_go.h"
*/
import "C"

import (
	"runtime/cgo"
	"sync/atomic"
	"time"
	"unsafe"
)

// Timers and timeouts (evio_timer_start and the connection timeouts). A timer crosses to
// C as the cgo.Handle of its Timer. The library hands the argument back exactly once when
// the timer fires or ends (its connection closed, or the server stopped), and then
// evioGoTimer deletes the handle; a timer cancelled in C is never handed back, so the
// cancel deletes it (Timer.Stop on the timer's loop). A Stop elsewhere only marks the
// timer: the library still holds it, and evioGoTimer drops it, without running it, when
// it comes due or ends.

// The states of a Timer: it moves once from timerPending to one of the others.
const (
	timerPending int32 = iota
	timerFired
	timerStopped
	timerEnded // its connection closed, or the server stopped, before it was due
)

// liveTimers counts the timer handles not yet deleted (for the tests).
var liveTimers int64

// Timer is a timer started by StreamConn.AfterFunc or AfterFunc: its function runs once,
// on the loop that started it, unless Stop stops it first.
type Timer struct {
	state int32 // timerPending, …; atomic
	s     *server
	c     *conn // nil for a loop timer
	// Loop thread only: the function to run (cleared once it has run or ended), the handle
	// C knows the timer by, and what the library holds for it.
	connFn func(c StreamConn) (out []byte, action Action)
	loopFn func() Action
	h      cgo.Handle
	id     C.int64_t
	arg    unsafe.Pointer
}

// Stop prevents the timer's function from running. It returns true if the call stopped
// the timer, false if the function has run (or is running), the timer was stopped
// already, or it ended with its connection or server. It may be called from any
// goroutine. On the timer's own loop (in an event, a posted function or another timer
// of that loop) it also frees the timer at once; elsewhere the loop lets go of it when it
// comes due.
func (t *Timer) Stop() bool {
	if !atomic.CompareAndSwapInt32(&t.state, timerPending, timerStopped) {
		return false
	}
	// The library cancels only on the timer's own loop thread (elsewhere EVIO_EPERM, or
	// EVIO_ENOENT on another loop), where evioGoTimer cannot run at the same time.
	if C.evio_go_timer_cancel(t.id, t.arg) == 0 {
		t.release()
	}
	return true
}

// start arms the timer on cc (nil: a timer of the calling loop), on a loop thread.
func (t *Timer) start(cc *C.evio_conn, d time.Duration) C.int {
	if d < 0 {
		d = 0 // as time.AfterFunc: a negative delay runs it as soon as it can
	}
	t.h = cgo.NewHandle(t)
	atomic.AddInt64(&liveTimers, 1)
	var arg unsafe.Pointer
	id := C.evio_go_timer_start(cc, C.int64_t(d), C.uintptr_t(t.h), C.uintptr_t(t.s.h), &arg)
	if id < 0 {
		t.release()
		return C.int(id)
	}
	t.id, t.arg = id, arg
	return 0
}

// release forgets the timer on its loop: C no longer holds it.
func (t *Timer) release() {
	t.h.Delete()
	atomic.AddInt64(&liveTimers, -1)
	t.connFn, t.loopFn = nil, nil
}

// AfterFunc starts a timer of the loop running the calling event: f runs once on that
// loop after d (as soon as it can for d <= 0), unless the returned Timer is stopped
// first. Of the Action f returns only Shutdown has an effect (it shuts the server down).
// A timer not yet due when the server stops never runs. A panic in f is recovered and
// shuts the server down, as a panic in an event does.
//
// It works only on a loop: in an event (Opened, Data, Closed, Tick, Drained,
// InputClosed, but not Serving), a function given to StreamConn.Post, or another timer's
// function. Elsewhere it returns an error matching syscall.EPERM; a nil f gives one
// matching syscall.EINVAL.
func AfterFunc(d time.Duration, f func() Action) (*Timer, error) {
	if f == nil {
		return nil, opErr("AfterFunc", C.EVIO_EINVAL)
	}
	h := C.evio_go_current()
	if h == 0 {
		return nil, opErr("AfterFunc", C.EVIO_EPERM)
	}
	t := &Timer{s: cgo.Handle(h).Value().(*server), loopFn: f}
	if rc := t.start(nil, d); rc < 0 {
		return nil, opErr("AfterFunc", rc)
	}
	return t, nil
}

func (c *conn) AfterFunc(d time.Duration, f func(c StreamConn) (out []byte, action Action)) (*Timer, error) {
	if f == nil {
		return nil, opErr("AfterFunc", C.EVIO_EINVAL)
	}
	t := &Timer{s: c.s, c: c, connFn: f}
	if err := c.loopCall("AfterFunc", func(cc *C.evio_conn) C.int { return t.start(cc, d) }); err != nil {
		return nil, err
	}
	return t, nil
}

//export evioGoTimer
func evioGoTimer(cc *C.evio_conn, status C.int, th C.uintptr_t) (action C.evio_action) {
	t := cgo.Handle(th).Value().(*Timer)
	connFn, loopFn, s, c := t.connFn, t.loopFn, t.s, t.c
	t.release() // C hands the timer over only this once
	if status != 0 {
		atomic.CompareAndSwapInt32(&t.state, timerPending, timerEnded)
		return C.EVIO_NONE // the library ignores it
	}
	if !atomic.CompareAndSwapInt32(&t.state, timerPending, timerFired) {
		return C.EVIO_NONE // stopped from another goroutine
	}
	defer func() {
		if r := recover(); r != nil {
			if c != nil {
				c.inEvent, c.shutWrite = false, false
			}
			s.fail("Timer", r)
			action = C.EVIO_SHUTDOWN
		}
	}()
	if s.failed.Load() {
		return C.EVIO_SHUTDOWN
	}
	if c == nil {
		return s.result(loopFn(), false)
	}
	c.inEvent = true
	out, a := connFn(c)
	c.inEvent = false
	write(cc, out)
	c.shutdownAfterOutput(cc)
	return s.result(a, true)
}

// setTimeout runs one of the connection timeout setters: d in nanoseconds, 0 turns the
// timeout off, negative is EINVAL.
func (c *conn) setTimeout(op string, d time.Duration, set func(cc *C.evio_conn, ns C.int64_t) C.int) error {
	if d < 0 {
		return opErr(op, C.EVIO_EINVAL)
	}
	return c.loopCall(op, func(cc *C.evio_conn) C.int { return set(cc, C.int64_t(d)) })
}

func (c *conn) SetIdleTimeout(d time.Duration) error {
	return c.setTimeout("SetIdleTimeout", d, func(cc *C.evio_conn, ns C.int64_t) C.int {
		return C.evio_conn_set_idle_timeout(cc, ns)
	})
}

func (c *conn) SetReadTimeout(d time.Duration) error {
	return c.setTimeout("SetReadTimeout", d, func(cc *C.evio_conn, ns C.int64_t) C.int {
		return C.evio_conn_set_read_timeout(cc, ns)
	})
}

func (c *conn) SetWriteTimeout(d time.Duration) error {
	return c.setTimeout("SetWriteTimeout", d, func(cc *C.evio_conn, ns C.int64_t) C.int {
		return C.evio_conn_set_write_timeout(cc, ns)
	})
}
