// Package evio is the Go binding of evio, an event-loop networking library with a C++
// core behind a stable C API.
//
// Its API is the one of github.com/tidwall/evio: a program written for that package
// switches to this one by changing the import path. The event loops run in the C
// library (one OS thread each); the callbacks set in [Events] are called on those
// threads, one at a time for each connection.
//
// The package needs the C library at build time (cgo with pkg-config: `evio`); see
// the README for how to point pkg-config at a build tree.
package evio

import (
	"io"
	"net"
	"time"
)

// Action is an action that occurs after the completion of an event.
type Action int

const (
	// None indicates that no action should occur following an event.
	None Action = iota
	// Detach detaches a connection: its pending output is flushed, then the socket
	// is handed to the Detached event. Not available for UDP connections.
	Detach
	// Close closes the connection once its pending output is flushed.
	Close
	// Shutdown shuts the server down: every connection is closed (Closed fires for
	// each) and Serve returns.
	Shutdown
)

// Options are set when the connection opens, as a return value of the Opened event.
type Options struct {
	// TCPKeepAlive enables TCP keepalive (SO_KEEPALIVE) with this idle time, which
	// is also the interval between probes. It is rounded down to whole seconds (at
	// least one). Ignored for connections that are not TCP.
	TCPKeepAlive time.Duration
	// ReuseInputBuffer makes the connection share the loop's input buffer with all
	// other connections of that loop that also use this option: the in parameter of
	// the Data event is then valid only until Data returns.
	// The default, false, means that every in passed to Data is a freshly copied
	// []byte slice that the callee owns.
	ReuseInputBuffer bool
}

// Server represents a server context which provides information about the running
// server.
type Server struct {
	// Addrs are the listening addresses, in the order of the addr strings passed to
	// Serve. A port of 0 in an address is replaced by the port the system chose.
	Addrs []net.Addr
	// NumLoops is the number of loops that the server is using.
	NumLoops int
}

// Conn is an evio connection.
type Conn interface {
	// Context returns a user-defined context.
	Context() interface{}
	// SetContext sets a user-defined context.
	SetContext(interface{})
	// AddrIndex is the index of server address that was passed to the Serve call.
	AddrIndex() int
	// LocalAddr is the connection's local socket address.
	LocalAddr() net.Addr
	// RemoteAddr is the connection's remote peer address.
	RemoteAddr() net.Addr
	// Wake triggers a Data event for this connection, with a nil in parameter. It is
	// safe to call from any goroutine, and does nothing once the connection is
	// closed or detached, or for a UDP connection. Several Wake calls made before the
	// loop gets to them may result in a single Data event.
	Wake()
}

// LoadBalance sets the load balancing method.
type LoadBalance int

const (
	// Random requests that connections are randomly distributed.
	Random LoadBalance = iota
	// RoundRobin requests that connections are distributed to a loop in a
	// round-robin fashion.
	RoundRobin
	// LeastConnections assigns the next accepted connection to the loop with the
	// least number of active connections.
	LeastConnections
)

// Events represents the server events for the Serve call. Each event has an Action
// return value that is used to manage the state of the connection and server. Every
// event is optional.
//
// The events of one connection are called one at a time, on the thread of the loop
// that owns it. With NumLoops other than 0 or 1, events of different connections run
// in parallel, so state shared between them needs synchronisation.
//
// A panic in an event is recovered: the server shuts down (Closed fires for every open
// connection) and Serve returns an error that describes the panic.
type Events struct {
	// NumLoops sets the number of loops (threads) to use for the server. Setting this
	// to a value greater than 1 makes the server multithreaded, which means you must
	// take care with synchronizing memory between all event callbacks. Setting it to
	// 0 or 1 runs the server single-threaded. Setting it to -1 uses one loop per CPU.
	NumLoops int
	// LoadBalance sets the load balancing method. Load balancing is always a best
	// effort to distribute the incoming connections between multiple loops. This
	// option only matters when NumLoops is greater than 1.
	LoadBalance LoadBalance
	// Serving fires when the server can accept connections. The server parameter has
	// information about the server. It runs on the goroutine that called Serve.
	Serving func(server Server) (action Action)
	// Opened fires when a new connection has opened. Use the out return value to
	// write data to the connection (it is sent before any input is read). The opts
	// return value is used to set connection options.
	Opened func(c Conn) (out []byte, opts Options, action Action)
	// Closed fires when a connection has closed. The err parameter is the last known
	// connection error (a syscall.Errno), or nil for an orderly close. It does not
	// fire for a detached connection.
	Closed func(c Conn, err error) (action Action)
	// Detached fires when a connection has been detached with the Detach action,
	// after its pending output was flushed. Once detached it's up to the receiver of
	// this event to manage the state of the connection: the Closed event will not be
	// called for it, and rwc must be closed when it's no longer needed. rwc can be
	// freely used in goroutines. It is an *os.File that owns the socket, served by the
	// Go runtime's poller, so it also has SetDeadline (net.FileConn makes a net.Conn
	// of it). When Detached is nil, the Detach action closes the connection instead.
	Detached func(c Conn, rwc io.ReadWriteCloser) (action Action)
	// PreWrite fires just before any data is written to any client socket.
	PreWrite func()
	// Data fires when a connection sends the server data, or after a call to the
	// connection's Wake method, in which case in is nil. Use the out return value to
	// write data to the connection. Unless Options.ReuseInputBuffer was set, in is a
	// fresh slice owned by the callee. For UDP, Data fires once per datagram, in is
	// always a fresh slice, out is sent back as one datagram, and only the Shutdown
	// action has an effect.
	Data func(c Conn, in []byte) (out []byte, action Action)
	// Tick fires immediately after the server starts and will fire again following
	// the duration specified by the delay return value (at once again when delay is
	// zero or negative).
	Tick func() (delay time.Duration, action Action)
}

// Serve starts handling events for the specified addresses, and blocks until an
// event returns Shutdown.
//
// Addresses should use a scheme prefix and be formatted like
// `tcp://192.168.0.10:9851` or `unix://socket`. Valid network schemes:
//
//	tcp   - bind to both IPv4 and IPv6
//	tcp4  - IPv4
//	tcp6  - IPv6
//	udp   - bind to both IPv4 and IPv6
//	udp4  - IPv4
//	udp6  - IPv6
//	unix  - Unix Domain Socket
//
// The "tcp" network scheme is assumed when one is not specified. A "-net" suffix on
// the scheme (`tcp-net://:9851`) selects the library's portable engine instead of the
// native one. The query `?reuseport=true` sets SO_REUSEPORT on the listener. A port
// of 0 lets the system choose a free port; the Serving event tells which.
//
// Serve returns nil after an orderly shutdown, or an error if the server could not
// start (naming the address and the reason; errors.Is matches the syscall.Errno) or
// if an event panicked.
func Serve(events Events, addr ...string) error {
	return serve(events, addr)
}

// InputStream is a helper type for managing input streams from inside the Data
// event, for protocols whose messages can span several Data calls.
type InputStream struct{ b []byte }

// Begin accepts a new packet and returns a working sequence of unprocessed bytes:
// the packet itself when nothing was kept by End, else the kept bytes followed by
// the packet.
func (is *InputStream) Begin(packet []byte) (data []byte) {
	if len(is.b) == 0 {
		return packet
	}
	is.b = append(is.b, packet...)
	return is.b
}

// End shifts the stream to match the unprocessed data: the bytes of data (which may
// be a tail of what Begin returned) are kept for the next Begin. An empty data keeps
// nothing.
func (is *InputStream) End(data []byte) {
	if len(data) == 0 {
		is.b = is.b[:0]
		return
	}
	// copy (through append) handles data overlapping is.b.
	is.b = append(is.b[:0], data...)
}
