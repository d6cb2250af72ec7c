package evio

/*
#include "evio_go.h"
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// The methods of StreamConn (see evio.go). Each one reads c.cptr under c.mu, as Wake
// does: the C connection is referenced until its Closed or Detached event, which clears
// cptr under the same lock before the reference is dropped, so a call that races the
// close reaches either a live connection (which then answers EVIO_ENOTCONN once it is
// closed) or nil, never freed memory. Send and Post call C under c.mu (the library only
// queues there); the loop-thread methods hold a reference of their own instead (see
// loopCall).

// opError is the error of a connection method: the method and the library's code.
// errors.Is matches the code's syscall.Errno.
type opError struct {
	op   string
	code int
}

func (e *opError) Error() string { return "evio: " + e.op + ": " + strerror(e.code) }
func (e *opError) Unwrap() error { return codeError(e.code) }

func opErr(op string, rc C.int) error {
	if rc >= 0 {
		return nil
	}
	return &opError{op: op, code: int(rc)}
}

// noBytes stands in for the buffer of an empty Send: the library wants a pointer.
var noBytes [1]byte

func (c *conn) Send(b []byte) error {
	if c.nw == "udp" {
		return opErr("Send", C.EVIO_ENOTSUP)
	}
	p := unsafe.Pointer(&noBytes[0])
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cptr == nil {
		return opErr("Send", C.EVIO_ENOTCONN)
	}
	return opErr("Send", C.evio_conn_send(c.cptr, p, C.size_t(len(b))))
}

// posted is a function given to Post, known to C by its handle until it runs.
type posted struct {
	c  *conn
	fn func(c StreamConn, err error)
}

func (c *conn) Post(fn func(c StreamConn, err error)) {
	if fn == nil {
		return
	}
	if c.nw == "udp" {
		go fn(c, opErr("Post", C.EVIO_ENOTSUP))
		return
	}
	if rc := c.post(fn); rc < 0 { // the library will not run it: we do, once
		go fn(c, opErr("Post", rc))
	}
}

// post hands fn to the connection's loop; on failure (a negative code) it never runs.
func (c *conn) post(fn func(c StreamConn, err error)) C.int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cptr == nil {
		return C.EVIO_ENOTCONN
	}
	h := cgo.NewHandle(&posted{c: c, fn: fn})
	rc := C.evio_go_conn_post(c.cptr, C.uintptr_t(h), C.uintptr_t(c.s.h))
	if rc < 0 {
		h.Delete()
	}
	return rc
}

func (c *conn) Close() error {
	closeNow := func(cc *C.evio_conn) C.int { return C.evio_conn_close(cc) }
	err := c.loopCall("Close", closeNow)
	if e, ok := err.(*opError); !ok || e.code != C.EVIO_EPERM {
		return err
	}
	// Not on the connection's loop: close from there, after this goroutine's Sends.
	return opErr("Close", c.post(func(sc StreamConn, err error) {
		if err == nil {
			sc.(*conn).loopCall("Close", closeNow)
		}
	}))
}

//export evioGoPosted
func evioGoPosted(cc *C.evio_conn, status C.int, ph C.uintptr_t) {
	h := cgo.Handle(ph)
	p := h.Value().(*posted)
	h.Delete()
	c, s := p.c, p.c.s
	err := opErr("Post", status)
	if err == nil && s.failed.Load() { // an event panicked: the server is going down
		err = opErr("Post", C.EVIO_ENOTCONN)
	}
	defer func() {
		if r := recover(); r != nil {
			c.inEvent, c.shutWrite = false, false
			s.fail("Post", r)
			if status == 0 {
				// No action to return: the connection's next Data event (or the server's
				// next event of any kind) shuts the server down. A server run by Start
				// was stopped by fail already.
				C.evio_conn_wake(cc)
			}
		}
	}()
	if err != nil {
		p.fn(c, err)
		return
	}
	c.inEvent = true
	p.fn(c, nil)
	c.inEvent = false
	c.shutdownAfterOutput(cc) // C flushes the output once we return
}

//export evioGoConnEvent
func evioGoConnEvent(kind C.int, cc *C.evio_conn, ctx C.uintptr_t, info *C.evio_go_conn_info,
	outbuf unsafe.Pointer, outlen *C.size_t, h C.uintptr_t) (action C.evio_action) {
	name := "Drained"
	if kind == C.EVIO_GO_EV_INPUT_CLOSED {
		name = "InputClosed"
	}
	defer catch(h, name, &action)
	s := cgo.Handle(h).Value().(*server)
	if s.failed.Load() {
		return C.EVIO_SHUTDOWN
	}
	var c *conn
	if ctx != 0 {
		c = cgo.Handle(ctx).Value().(*conn)
	} else {
		c = s.newConn(cc, info, true)
	}
	event := s.events.Drained
	if kind == C.EVIO_GO_EV_INPUT_CLOSED {
		event = s.events.InputClosed
	}
	c.inEvent = true
	out, a := event(c)
	c.inEvent = false
	c.emit(cc, out, outbuf, outlen)
	return s.result(a, true)
}

// loopCall runs a loop-thread-only C function on the connection: the library checks
// the thread (EVIO_EPERM elsewhere) and the state. c.mu is not held during the call,
// which may close the connection and run its Closed event (forget takes c.mu): a
// reference taken under c.mu keeps the C connection valid instead.
func (c *conn) loopCall(op string, f func(cc *C.evio_conn) C.int) error {
	if c.nw == "udp" {
		return opErr(op, C.EVIO_ENOTSUP)
	}
	c.mu.Lock()
	cc := c.cptr
	if cc == nil {
		c.mu.Unlock()
		return opErr(op, C.EVIO_ENOTCONN)
	}
	C.evio_conn_ref(cc)
	c.mu.Unlock()
	rc := f(cc)
	C.evio_conn_unref(cc)
	return opErr(op, rc)
}

func (c *conn) PauseRead() error {
	return c.loopCall("PauseRead", func(cc *C.evio_conn) C.int { return C.evio_conn_pause_read(cc) })
}

func (c *conn) SetReadBackpressure(on bool) error {
	v := C.int(0)
	if on {
		v = 1
	}
	return c.loopCall("SetReadBackpressure", func(cc *C.evio_conn) C.int {
		return C.evio_conn_set_read_backpressure(cc, v)
	})
}

func (c *conn) ResumeRead() error {
	return c.loopCall("ResumeRead", func(cc *C.evio_conn) C.int { return C.evio_conn_resume_read(cc) })
}

func (c *conn) Pending() (int, error) {
	var n C.size_t
	err := c.loopCall("Pending", func(cc *C.evio_conn) C.int { return C.evio_conn_pending(cc, &n) })
	return int(n), err
}

func (c *conn) SetWatermarks(low, high int) error {
	if low < 0 || high <= 0 || low > high {
		return opErr("SetWatermarks", C.EVIO_EINVAL)
	}
	return c.loopCall("SetWatermarks", func(cc *C.evio_conn) C.int {
		return C.evio_conn_set_watermarks(cc, C.size_t(low), C.size_t(high))
	})
}

func (c *conn) SetOutputLimit(limit int) error {
	if limit < 0 {
		return opErr("SetOutputLimit", C.EVIO_EINVAL)
	}
	return c.loopCall("SetOutputLimit", func(cc *C.evio_conn) C.int {
		return C.evio_conn_set_output_limit(cc, C.size_t(limit))
	})
}

func (c *conn) SetNoDelay(on bool) error {
	v := C.int(0)
	if on {
		v = 1
	}
	return c.loopCall("SetNoDelay", func(cc *C.evio_conn) C.int { return C.evio_conn_set_nodelay(cc, v) })
}

func (c *conn) ShutdownWrite() error {
	return c.loopCall("ShutdownWrite", func(cc *C.evio_conn) C.int {
		// Checks the thread and the state first: c.inEvent is the loop thread's.
		var n C.size_t
		if rc := C.evio_conn_pending(cc, &n); rc < 0 {
			return rc
		}
		if c.inEvent {
			// The library refuses output written after the shutdown, and the event's out
			// is written once it returns: the shutdown waits for that.
			c.shutWrite = true
			return 0
		}
		return C.evio_conn_shutdown_write(cc)
	})
}

var _ StreamConn = (*conn)(nil)
