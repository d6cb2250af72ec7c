package evio

/*
#include <stdlib.h>
#include "evio_go.h"
*/
import "C"

import (
	"runtime/cgo"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// DialOptions are the options of a dial (Dial, Started.Dial). Not in tidwall/evio.
type DialOptions struct {
	// Timeout bounds resolving the host name and connecting; past it the dial fails
	// with an error matching syscall.ETIMEDOUT. 0 means the library's default, 30
	// seconds. Negative is an error matching syscall.EINVAL.
	Timeout time.Duration
}

// dial is what the library holds as a dial's ctx (by its cgo.Handle) until it hands
// it back, exactly once, to evioGoOpened / evioGoDialDone or to evioGoDialFailed.
type dial struct {
	value interface{}
	nw    string // network(addr): "tcp", "udp" or "unix"
}

// liveDials counts the dials whose handle is not deleted yet (see LiveDials in the tests).
var liveDials int64

// takeDial deletes the dial's handle (the library hands it back once) and returns it.
func takeDial(h C.uintptr_t) *dial {
	hd := cgo.Handle(h)
	d := hd.Value().(*dial)
	hd.Delete()
	atomic.AddInt64(&liveDials, -1)
	return d
}

// Dial opens a connection to addr from the calling loop: the new connection lives on
// the loop of the event that calls it, next to the connection whose event is running,
// so the two can use each other's StreamConn methods (Pending, PauseRead, …) without
// locks. It works inside an event of a connection (Opened, Data, Drained, InputClosed,
// Closed, Dialed, DialFailed), a function given to Post, or an AfterFunc timer;
// elsewhere it returns an error matching syscall.EPERM (see Started.Dial).
//
// addr uses Serve's syntax ("tcp://127.0.0.1:6379", "tcp6://[::1]:80",
// "unix:///tmp/s.sock", "udp://host:port" for a connected UDP socket); the port must
// not be 0, an empty host is this machine, and a host name is resolved off the loop.
//
// When Dial returns nil, exactly one of two events follows on this loop, never inside
// the call: Events.Dialed with the new connection and value (Events.Opened when
// Dialed is nil), or Events.DialFailed with value and an error matching the
// syscall.Errno of the reason (ECONNREFUSED, ETIMEDOUT after opts.Timeout, ENOENT for
// an unknown host, ECANCELED when the server stopped first, …). When it returns an
// error (a bad address or options: EINVAL; the server stopping: ENOTCONN) neither
// follows. A dialed connection is then like an accepted one, with an AddrIndex of -1.
// Not in tidwall/evio.
func Dial(addr string, opts DialOptions, value interface{}) error {
	if C.evio_go_current() == 0 {
		return opErr("Dial", C.EVIO_EPERM)
	}
	return dialOn(nil, -1, addr, opts, value)
}

// Dial opens a connection to addr on one of the server's loops, from any goroutine:
// the calling loop when called from one of the server's events, else the loops in
// turn. Otherwise it is the package's Dial: when it returns nil, exactly one of
// Events.Dialed (or Opened) and Events.DialFailed follows, with value; an error
// matching syscall.ENOTCONN once the server has stopped or is stopping.
func (st *Started) Dial(addr string, opts DialOptions, value interface{}) error {
	st.mu.Lock()
	defer st.mu.Unlock() // the handle is freed under mu, after the server has ended
	if st.csrv == nil {
		return opErr("Dial", C.EVIO_ENOTCONN)
	}
	return dialOn(st.csrv, -1, addr, opts, value)
}

// dialOn is evio_dial (srv nil) or evio_server_dial with value behind a new handle,
// deleted here when the library refuses the dial (it never hands the handle back then).
func dialOn(srv *C.evio_server, loop int, addr string, opts DialOptions, value interface{}) error {
	if opts.Timeout < 0 {
		return &serveError{msg: "Dial: negative DialOptions.Timeout", err: syscall.EINVAL}
	}
	caddr := C.CString(addr)
	defer C.free(unsafe.Pointer(caddr))
	h := cgo.NewHandle(&dial{value: value, nw: network(addr)})
	atomic.AddInt64(&liveDials, 1)
	var msg errBuf
	rc := C.evio_go_dial(srv, C.int(loop), caddr, C.int64_t(opts.Timeout), C.uintptr_t(h), msg.ptr(), msg.size())
	if rc < 0 {
		h.Delete()
		atomic.AddInt64(&liveDials, -1)
		return &serveError{msg: C.GoString(msg.ptr()), err: codeError(int(rc))}
	}
	return nil
}

//export evioGoDialFailed
func evioGoDialFailed(ctx C.uintptr_t, cerr C.int, h C.uintptr_t) (action C.evio_action) {
	defer catch(h, "DialFailed", &action)
	s := cgo.Handle(h).Value().(*server)
	d := takeDial(ctx)
	if s.failed.Load() || s.events.DialFailed == nil {
		return s.result(None, false)
	}
	return s.result(s.events.DialFailed(d.value, &opError{op: "Dial", code: int(cerr)}), false)
}

//export evioGoDialDone
func evioGoDialDone(ctx C.uintptr_t, h C.uintptr_t) (action C.evio_action) {
	defer catch(h, "Opened", &action)
	s := cgo.Handle(h).Value().(*server)
	takeDial(ctx)
	return s.result(None, false)
}
