package evio

/*
#cgo pkg-config: evio
#include <stdlib.h>
#include "evio_go.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/cgo"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// server is the Go side of one Serve or Start call. C knows it only by its cgo.Handle
// (h), which travels in evio_events.udata.
type server struct {
	events Events
	addrs  []string // as given to C
	nets   []string // "tcp", "udp" or "unix" for each address index
	h      cgo.Handle
	st     *Started // the handle of a server run by Start; nil for Serve

	failed   atomic.Bool // an event panicked; every later event returns Shutdown
	mu       sync.Mutex
	panicErr error
}

// conn is the Go side of a connection. Its cgo.Handle is the C connection's context.
type conn struct {
	s     *server
	ctx   interface{}
	index int
	laddr net.Addr
	raddr net.Addr
	nw    string // "tcp", "udp" or "unix"
	reuse bool   // Options.ReuseInputBuffer (never set for UDP, which has no Opened)
	h     cgo.Handle

	// Loop thread only: an event of this connection is running (Go code called from
	// one of its callbacks), and ShutdownWrite was called in it, to be applied after
	// the event's output is written.
	inEvent   bool
	shutWrite bool

	mu   sync.Mutex
	cptr *C.evio_conn // referenced (evio_conn_ref) until closed/detached; nil after
}

func (c *conn) Context() interface{}       { return c.ctx }
func (c *conn) SetContext(ctx interface{}) { c.ctx = ctx }
func (c *conn) AddrIndex() int             { return c.index }
func (c *conn) LocalAddr() net.Addr        { return c.laddr }
func (c *conn) RemoteAddr() net.Addr       { return c.raddr }

func (c *conn) Wake() {
	c.mu.Lock()
	if c.cptr != nil {
		C.evio_conn_wake(c.cptr)
	}
	c.mu.Unlock()
}

// forget is called when the C connection goes away (closed or detached): later Wake
// calls do nothing, and the C side drops its reference once the event returns.
func (c *conn) forget() {
	c.mu.Lock()
	c.cptr = nil
	c.mu.Unlock()
	c.h.Delete()
}

// newServer checks what Serve and Start were given and makes the Go server, with its
// handle (the caller deletes it once C is done with the server).
func newServer(events Events, addrs []string) (*server, error) {
	for _, o := range []struct {
		name string
		v    int
	}{{"LowWatermark", events.LowWatermark}, {"HighWatermark", events.HighWatermark}, {"OutputLimit", events.OutputLimit}} {
		if o.v < 0 {
			return nil, &serveError{msg: fmt.Sprintf("Events.%s is negative (%d)", o.name, o.v), err: syscall.EINVAL}
		}
	}
	if events.IdleTimeout < 0 {
		return nil, &serveError{msg: fmt.Sprintf("Events.IdleTimeout is negative (%v)", events.IdleTimeout), err: syscall.EINVAL}
	}
	s := &server{events: events, addrs: make([]string, len(addrs)), nets: make([]string, len(addrs))}
	for i, a := range addrs {
		s.addrs[i] = normalizeQuery(a)
		s.nets[i] = network(a)
	}
	s.h = cgo.NewHandle(s)
	return s, nil
}

// settings says which trampolines C registers (only those of the events that are set)
// and the other fields of evio_events.
func (s *server) settings() C.evio_go_settings {
	events := &s.events
	var flags C.uint
	if events.Serving != nil {
		flags |= C.EVIO_GO_SERVING
	}
	if events.Dialed != nil {
		flags |= C.EVIO_GO_DIALED
	}
	if events.Opened != nil {
		flags |= C.EVIO_GO_OPENED
	} else if events.Data != nil {
		flags |= C.EVIO_GO_OPENED_PLAIN
	}
	// Data is also needed with PreWrite alone: a panicking PreWrite wakes its
	// connection so that the next Data event can shut the server down.
	if events.Data != nil || events.PreWrite != nil {
		flags |= C.EVIO_GO_DATA
	}
	if events.Closed != nil {
		flags |= C.EVIO_GO_CLOSED
	} else if events.Opened != nil || events.Dialed != nil || events.Data != nil || events.Drained != nil || events.InputClosed != nil {
		flags |= C.EVIO_GO_CLOSED_CLEANUP
	}
	if events.Detached != nil {
		flags |= C.EVIO_GO_DETACHED
	}
	if events.PreWrite != nil {
		flags |= C.EVIO_GO_PREWRITE
	}
	if events.Tick != nil {
		flags |= C.EVIO_GO_TICK
	}
	if events.Drained != nil {
		flags |= C.EVIO_GO_DRAINED
	}
	if events.InputClosed != nil {
		flags |= C.EVIO_GO_INPUT_CLOSED
	}
	numLoops := events.NumLoops
	if numLoops < 0 {
		numLoops = -1 // tidwall/evio: any negative number is one loop per CPU
	}
	return C.evio_go_settings{
		handle:         C.uintptr_t(s.h),
		flags:          flags,
		num_loops:      C.int(numLoops),
		load_balance:   C.int(events.LoadBalance),
		low_watermark:  C.size_t(events.LowWatermark),
		high_watermark: C.size_t(events.HighWatermark),
		output_limit:   C.size_t(events.OutputLimit),
		// 0: none (newServer refused a negative one)
		idle_timeout_ns: C.int64_t(events.IdleTimeout),
	}
}

// cAddrs copies the addresses into C memory, freed by the returned function; nil for
// none.
func cAddrs(addrs []string) (**C.char, func()) {
	if len(addrs) == 0 {
		return nil, func() {}
	}
	caddrs := (**C.char)(C.malloc(C.size_t(len(addrs)) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	list := unsafe.Slice(caddrs, len(addrs))
	for i, a := range addrs {
		list[i] = C.CString(a)
	}
	return caddrs, func() {
		for _, p := range list {
			C.free(unsafe.Pointer(p))
		}
		C.free(unsafe.Pointer(caddrs))
	}
}

// errBuf receives evio_last_error() from the C call that failed.
type errBuf [512]byte

func (b *errBuf) ptr() *C.char   { return (*C.char)(unsafe.Pointer(&b[0])) }
func (b *errBuf) size() C.size_t { return C.size_t(len(b)) }

// outcome is what a server run ends with: the panic of an event, if one panicked, else
// the library's error (rc, with its message in msg), else nil.
func (s *server) outcome(rc C.int, msg *errBuf) error {
	s.mu.Lock()
	err := s.panicErr
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if rc < 0 {
		return &serveError{msg: C.GoString(msg.ptr()), err: codeError(int(rc))}
	}
	return nil
}

func serve(events Events, addrs []string) error {
	if len(addrs) == 0 {
		return errors.New("evio: no address to serve")
	}
	s, err := newServer(events, addrs)
	if err != nil {
		return err
	}
	defer s.h.Delete()
	caddrs, free := cAddrs(s.addrs)
	defer free()
	set := s.settings()
	var msg errBuf
	rc := C.evio_go_serve(&set, caddrs, C.size_t(len(s.addrs)), msg.ptr(), msg.size())
	return s.outcome(rc, &msg)
}

// info is what the Serving event and Started tell of a server.
func (s *server) info(srv *C.evio_server) Server {
	n := int(C.evio_server_num_addrs(srv))
	if n < 0 {
		n = 0
	}
	info := Server{NumLoops: int(C.evio_server_num_loops(srv)), Addrs: make([]net.Addr, n)}
	var a C.evio_go_addr
	for i := 0; i < n; i++ {
		nw := "tcp"
		if i < len(s.nets) {
			nw = s.nets[i]
		}
		if C.evio_go_server_addr(srv, C.int(i), &a) == 0 {
			info.Addrs[i] = toAddr(nw, &a)
		}
	}
	return info
}

// network returns "tcp", "udp" or "unix" for an address given to Serve.
// normalizeQuery rewrites an address's query the way tidwall/evio reads it, for the
// C library's stricter parser: reuseport is on when its value starts with t, T, y, Y
// or 1-9 (so "True", "yes", "2"), anything else is off, and other keys are ignored.
func normalizeQuery(addr string) string {
	q := strings.IndexByte(addr, '?')
	if q < 0 {
		return addr
	}
	reuse := false
	for _, part := range strings.Split(addr[q+1:], "&") {
		kv := strings.Split(part, "=")
		if len(kv) == 2 && kv[0] == "reuseport" && len(kv[1]) > 0 {
			switch c := kv[1][0]; c {
			case 'T', 't', 'Y', 'y':
				reuse = true
			default:
				reuse = c >= '1' && c <= '9'
			}
		}
	}
	if reuse {
		return addr[:q] + "?reuseport=true"
	}
	return addr[:q]
}

func network(addr string) string {
	scheme := "tcp"
	if i := strings.Index(addr, "://"); i >= 0 {
		scheme = strings.TrimSuffix(addr[:i], "-net")
	}
	switch {
	case strings.HasPrefix(scheme, "udp"):
		return "udp"
	case scheme == "unix":
		return "unix"
	}
	return "tcp"
}

// serveError is the error of a server that could not start.
type serveError struct {
	msg string
	err error
}

func (e *serveError) Error() string {
	if e.msg == "" {
		return "evio: " + e.err.Error()
	}
	return "evio: " + e.msg
}

func (e *serveError) Unwrap() error { return e.err }

// codeError turns a negative EVIO_E… code into an error: a syscall.Errno where the
// platform has that errno, else evio's text for the code.
func codeError(code int) error {
	if code >= 0 {
		return nil
	}
	if errno, ok := errnos[code]; ok {
		return errno
	}
	return errors.New(strerror(code))
}

// strerror is evio_strerror: the text of a code's row in EVIO_ERRNO_MAP.
func strerror(code int) string {
	return C.GoString(C.evio_strerror(C.int(code)))
}

// errnos has one entry per row of EVIO_ERRNO_MAP in evio.h, the errno of the row's name
// (TestErrnoTableIsTheHeadersList checks it against the header).
var errnos = map[int]error{
	C.EVIO_EPERM:         syscall.EPERM,
	C.EVIO_ENOENT:        syscall.ENOENT,
	C.EVIO_EIO:           syscall.EIO,
	C.EVIO_EBADF:         syscall.EBADF,
	C.EVIO_ENOMEM:        syscall.ENOMEM,
	C.EVIO_EACCES:        syscall.EACCES,
	C.EVIO_EBUSY:         syscall.EBUSY,
	C.EVIO_EINVAL:        syscall.EINVAL,
	C.EVIO_ENFILE:        syscall.ENFILE,
	C.EVIO_EMFILE:        syscall.EMFILE,
	C.EVIO_EPIPE:         syscall.EPIPE,
	C.EVIO_ENAMETOOLONG:  syscall.ENAMETOOLONG,
	C.EVIO_ENOSYS:        syscall.ENOSYS,
	C.EVIO_ENOTSUP:       syscall.ENOTSUP,
	C.EVIO_EAFNOSUPPORT:  syscall.EAFNOSUPPORT,
	C.EVIO_EADDRINUSE:    syscall.EADDRINUSE,
	C.EVIO_EADDRNOTAVAIL: syscall.EADDRNOTAVAIL,
	C.EVIO_ENETUNREACH:   syscall.ENETUNREACH,
	C.EVIO_ECONNABORTED:  syscall.ECONNABORTED,
	C.EVIO_ECONNRESET:    syscall.ECONNRESET,
	C.EVIO_ENOBUFS:       syscall.ENOBUFS,
	C.EVIO_ENOTCONN:      syscall.ENOTCONN,
	C.EVIO_ETIMEDOUT:     syscall.ETIMEDOUT,
	C.EVIO_ECONNREFUSED:  syscall.ECONNREFUSED,
	C.EVIO_EHOSTUNREACH:  syscall.EHOSTUNREACH,
	C.EVIO_ECANCELED:     syscall.ECANCELED,
}

// panicError is what Serve returns when an event panicked.
type panicError struct {
	event string
	value interface{}
	stack []byte
}

func (e *panicError) Error() string {
	return fmt.Sprintf("evio: panic in %s event: %v\n\n%s", e.event, e.value, e.stack)
}

func (e *panicError) Unwrap() error {
	err, _ := e.value.(error)
	return err
}

// fail records the first panic and makes every later event shut the server down.
func (s *server) fail(event string, value interface{}) {
	s.mu.Lock()
	if s.panicErr == nil {
		s.panicErr = &panicError{event: event, value: value, stack: debug.Stack()}
	}
	s.mu.Unlock()
	s.failed.Store(true)
	if s.st != nil {
		s.st.stopAtOnce()
	}
}

// catch is deferred first by every exported event function, so that no panic unwinds
// through C frames: it records the panic and makes the event return EVIO_SHUTDOWN.
func catch(h C.uintptr_t, event string, action *C.evio_action) {
	if r := recover(); r != nil {
		s := cgo.Handle(h).Value().(*server)
		s.fail(event, r)
		*action = C.EVIO_SHUTDOWN
	}
}

// result maps the action an event returned to what C is told. A server that saw a
// panic shuts down. Detach without a Detached event closes the connection (as
// tidwall/evio does). For UDP, and for events where only Shutdown is meaningful
// (connOK false), everything else is None.
func (s *server) result(a Action, connOK bool) C.evio_action {
	if s.failed.Load() || a == Shutdown {
		return C.EVIO_SHUTDOWN
	}
	if !connOK {
		return C.EVIO_NONE
	}
	switch a {
	case Close:
		return C.EVIO_CLOSE
	case Detach:
		if s.events.Detached == nil {
			return C.EVIO_CLOSE
		}
		return C.EVIO_DETACH
	}
	return C.EVIO_NONE
}

// newConn makes the Go object of a connection C reports for the first time. For TCP
// and unix connections it also gets a handle, which info->ctx hands to C to store as
// the context (C takes a reference for Wake then).
func (s *server) newConn(c *C.evio_conn, info *C.evio_go_conn_info, keep bool) *conn {
	index := int(info.addr_index)
	nw := "tcp"
	if index >= 0 && index < len(s.nets) {
		nw = s.nets[index]
	}
	return s.newConnNet(c, info, keep, nw, nw)
}

// newConnNet is newConn with the connection's network given: nw for its behaviour
// ("udp": a UDP sender), addrNet for its addresses. A dialed connected-UDP socket is a
// stream-like connection (nw "tcp") with UDP addresses.
func (s *server) newConnNet(c *C.evio_conn, info *C.evio_go_conn_info, keep bool, nw, addrNet string) *conn {
	cn := &conn{
		s:     s,
		index: int(info.addr_index),
		nw:    nw,
		laddr: toAddr(addrNet, &info.local),
		raddr: toAddr(addrNet, &info.remote),
	}
	if keep && nw != "udp" {
		cn.cptr = c
		cn.h = cgo.NewHandle(cn)
		info.ctx = C.uintptr_t(cn.h)
	}
	return cn
}

// write queues out on the connection: one C call per event.
func write(c *C.evio_conn, out []byte) {
	if len(out) > 0 {
		C.evio_conn_write(c, unsafe.Pointer(&out[0]), C.size_t(len(out)))
	}
}

// emit hands the output of an event to C: up to EVIO_GO_OUTBUF bytes are copied into
// the trampoline's buffer, which C writes after we return (cheaper than a call into C
// from here); more is written now. A ShutdownWrite asked for during the event then
// takes effect, after that output.
func (c *conn) emit(cc *C.evio_conn, out []byte, outbuf unsafe.Pointer, outlen *C.size_t) {
	if c.shutWrite {
		write(cc, out)
		c.shutdownAfterOutput(cc)
		return
	}
	if len(out) <= C.EVIO_GO_OUTBUF {
		*outlen = C.size_t(copy(unsafe.Slice((*byte)(outbuf), len(out)), out))
	} else {
		write(cc, out)
	}
}

// shutdownAfterOutput applies a ShutdownWrite called during the event that has just
// returned, once its output is written (the library refuses output written after it).
func (c *conn) shutdownAfterOutput(cc *C.evio_conn) {
	if c.shutWrite {
		c.shutWrite = false
		C.evio_conn_shutdown_write(cc)
	}
}

//export evioGoServing
func evioGoServing(srv *C.evio_server, h C.uintptr_t) (action C.evio_action) {
	defer catch(h, "Serving", &action)
	s := cgo.Handle(h).Value().(*server)
	return s.result(s.events.Serving(s.info(srv)), false)
}

//export evioGoOpened
func evioGoOpened(c *C.evio_conn, info *C.evio_go_conn_info, dialH C.uintptr_t, h C.uintptr_t) (action C.evio_action) {
	event := "Opened"
	var d *dial
	if dialH != 0 { // a dialed connection: the library hands the dial back now
		d = takeDial(dialH)
		event = "Dialed"
	}
	defer catch(h, event, &action)
	s := cgo.Handle(h).Value().(*server)
	if s.failed.Load() { // an event panicked: the server is going down, run no more user code
		return C.EVIO_SHUTDOWN
	}
	var cn *conn
	if d != nil {
		nw := "tcp"
		if d.nw == "unix" {
			nw = "unix"
		}
		cn = s.newConnNet(c, info, true, nw, d.nw)
	} else {
		cn = s.newConn(c, info, true)
	}
	var out []byte
	var opts Options
	a := None
	cn.inEvent = true
	switch {
	case d != nil && s.events.Dialed != nil:
		out, opts, a = s.events.Dialed(cn, d.value)
	case s.events.Opened != nil:
		out, opts, a = s.events.Opened(cn)
	}
	cn.inEvent = false
	cn.reuse = opts.ReuseInputBuffer
	if opts.TCPKeepAlive > 0 && cn.nw == "tcp" {
		secs := opts.TCPKeepAlive / time.Second
		if secs < 1 {
			secs = 1
		}
		info.keepalive = C.int(secs)
	}
	write(c, out)
	cn.shutdownAfterOutput(c)
	return s.result(a, true)
}

//export evioGoData
func evioGoData(c *C.evio_conn, ctx C.uintptr_t, in unsafe.Pointer, n C.size_t, info *C.evio_go_conn_info,
	outbuf unsafe.Pointer, outlen *C.size_t, h C.uintptr_t) (action C.evio_action) {
	defer catch(h, "Data", &action)
	var s *server
	var cn *conn
	if ctx != 0 {
		cn = cgo.Handle(ctx).Value().(*conn)
		s = cn.s
	} else {
		s = cgo.Handle(h).Value().(*server)
	}
	if s.events.Data == nil || s.failed.Load() { // only for a panicking PreWrite, or after a panic
		return s.result(None, false)
	}
	if cn == nil {
		cn = s.newConn(c, info, true)
	}
	var buf []byte
	if in != nil {
		src := unsafe.Slice((*byte)(in), int(n))
		if cn.reuse {
			buf = src
		} else {
			buf = append([]byte(nil), src...)
		}
	}
	cn.inEvent = true
	out, a := s.events.Data(cn, buf)
	cn.inEvent = false
	cn.emit(c, out, outbuf, outlen)
	return s.result(a, cn.nw != "udp")
}

// lookup returns the Go object of a closing or detaching connection, which C then
// stops knowing (ctx != 0), or a stand-in for one Go never saw.
func lookup(c *C.evio_conn, ctx C.uintptr_t, info *C.evio_go_conn_info, h C.uintptr_t) *conn {
	if ctx != 0 {
		cn := cgo.Handle(ctx).Value().(*conn)
		cn.forget()
		return cn
	}
	s := cgo.Handle(h).Value().(*server)
	return s.newConn(c, info, false)
}

//export evioGoClosed
func evioGoClosed(c *C.evio_conn, ctx C.uintptr_t, cerr C.int, info *C.evio_go_conn_info, h C.uintptr_t) (action C.evio_action) {
	defer catch(h, "Closed", &action)
	cn := lookup(c, ctx, info, h)
	s := cn.s
	a := None
	if s.events.Closed != nil {
		a = s.events.Closed(cn, codeError(int(cerr)))
	}
	return s.result(a, false)
}

//export evioGoDetached
func evioGoDetached(c *C.evio_conn, ctx C.uintptr_t, fd C.int, info *C.evio_go_conn_info, h C.uintptr_t) (action C.evio_action) {
	// The descriptor is ours from here: own it before anything can panic.
	rwc := detachedFile(int(fd))
	defer catch(h, "Detached", &action)
	cn := lookup(c, ctx, info, h)
	return cn.s.result(cn.s.events.Detached(cn, rwc), false)
}

// detachedFile wraps a detached socket in an *os.File that owns it. The socket is
// made non-blocking first, so that the File is served by the Go runtime's poller (a
// blocked Read parks a goroutine, not a thread, and deadlines work). Unlike
// net.FileConn, this leaves the socket's options (keepalive, TCP_NODELAY) as they were.
func detachedFile(fd int) *os.File {
	syscall.SetNonblock(fd, true)
	return os.NewFile(uintptr(fd), "evio-detached")
}

//export evioGoPreWrite
func evioGoPreWrite(c *C.evio_conn, h C.uintptr_t) {
	var action C.evio_action
	defer func() {
		if action == C.EVIO_SHUTDOWN {
			// No action to return here: wake the connection so that its next Data
			// event shuts the server down (a no-op if it is closing; then its Closed
			// event does).
			C.evio_conn_wake(c)
		}
	}()
	defer catch(h, "PreWrite", &action)
	s := cgo.Handle(h).Value().(*server)
	if s.failed.Load() {
		return
	}
	s.events.PreWrite()
}

//export evioGoTick
func evioGoTick(delay *C.int64_t, h C.uintptr_t) (action C.evio_action) {
	defer catch(h, "Tick", &action)
	s := cgo.Handle(h).Value().(*server)
	if s.failed.Load() {
		return C.EVIO_SHUTDOWN
	}
	d, a := s.events.Tick()
	*delay = C.int64_t(d)
	return s.result(a, false)
}
