// Package evio is the Go binding of evio, an event-loop networking library with a C++
// core behind a stable C API.
//
// Its API is the one of github.com/tidwall/evio: a program written for that package
// switches to this one by changing the import path. The event loops run in the C
// library (one OS thread each); the callbacks set in [Events] are called on those
// threads, one at a time for each connection.
//
// Beyond tidwall/evio's API it has [Start], which runs a server without blocking and
// stops it gracefully ([Started.Stop]), [StreamConn] (implemented by every Conn the
// events receive: Send, Post and Close from any goroutine; flow control, half-close,
// timers and timeouts inside events), [AfterFunc] for timers of a loop, the Drained
// and InputClosed events, Events.IdleTimeout, and outbound connections: [Dial] from a
// loop and [Started.Dial] from any goroutine, with the Dialed and DialFailed events.
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

// StreamConn is what this package adds to Conn (which keeps tidwall/evio's method
// set, so that programs implementing Conn themselves still compile). Every Conn given
// to an event implements it:
//
//	sc := c.(evio.StreamConn)
//
// It is meant for TCP and unix connections: for a UDP sender every method returns an
// error matching syscall.ENOTSUP (Post runs fn with it). Errors match the
// syscall.Errno of the reason with errors.Is; once the connection has closed or was
// detached, that is syscall.ENOTCONN.
//
// Send, Post and Close may be called from any goroutine, at any time. The other methods
// work only inside an event of the connection (Opened, Data, Drained, InputClosed), or
// in a function given to Post or to AfterFunc; elsewhere they return an error matching
// syscall.EPERM (the events run on the loop's thread, and a goroutine started in an
// event does not).
type StreamConn interface {
	Conn

	// Send queues b to be sent on the connection, after the output already queued. b is
	// copied: it may be reused at once. The sends of one goroutine are sent in the
	// order it made them; sends of several goroutines interleave whole, never inside
	// one another. Bytes still queued when the connection closes are dropped. It
	// returns an error matching syscall.ENOTCONN once the connection has closed (or
	// the server has stopped), and syscall.ENOBUFS when the bytes sent but not yet
	// taken by the loop would pass the output limit (see SetOutputLimit); bytes that
	// pass it once the loop adds them to the output close the connection instead
	// (Closed gets syscall.ENOBUFS).
	Send(b []byte) error
	// Post runs fn on the connection's loop, one at a time with its events, exactly
	// once. err is nil while the connection is open: fn may then call the methods that
	// work inside events (its output goes through Send). Otherwise err matches
	// syscall.ENOTCONN: the connection closed (or the server stopped) before fn could
	// run; fn then runs on the loop or, when the connection had already closed when
	// Post was called, on a new goroutine. The functions one goroutine posts run in
	// the order posted, and in order with its Sends. A panic in fn is recovered and shuts the server down, as a panic in
	// an event does (for a server run by Serve: at its next event).
	Post(fn func(c StreamConn, err error))

	// PauseRead stops Data from firing with input until ResumeRead: input waits in the
	// kernel, and TCP slows the peer down. Wake, Send and Post still work.
	PauseRead() error
	// ResumeRead undoes PauseRead. Reading also waits for the pending output to fall
	// to the low watermark (see SetWatermarks).
	ResumeRead() error
	// SetReadBackpressure chooses whether the connection's own pending output above
	// its high watermark stops reading it (true, the default). A proxy sets false on
	// both halves and pauses the other half itself (PauseRead, resumed in Drained):
	// pausing a half for its own output can deadlock with an upstream that answers
	// while it reads.
	SetReadBackpressure(on bool) error
	// Pending returns how many bytes of output the socket has not taken yet (written by
	// events, and taken from Send): a producer can wait for the Drained event when it
	// is high.
	Pending() (int, error)
	// SetWatermarks sets the connection's watermarks (the defaults are
	// Events.LowWatermark and HighWatermark): with more than high bytes of output
	// pending the connection is not read, until at most low are pending, when Drained
	// fires. It needs 0 <= low <= high and high > 0.
	SetWatermarks(low, high int) error
	// SetOutputLimit sets a hard limit on the connection's pending output (the default
	// is Events.OutputLimit); 0 means none. Output that would pass it is dropped and
	// the connection is closed once the event returns: Closed gets an error matching
	// syscall.ENOBUFS.
	SetOutputLimit(limit int) error
	// ShutdownWrite shuts down the sending side (TCP's FIN; SHUT_WR) once the pending
	// output, including the out of the running event, has been sent, and keeps
	// reading: the peer reads the end of the stream. Output after it is dropped. See
	// Events.InputClosed for the other direction.
	ShutdownWrite() error
	// SetNoDelay switches TCP_NODELAY, which is on for accepted TCP connections; off
	// lets the kernel gather small writes (Nagle's algorithm). Only for TCP
	// (syscall.ENOTSUP otherwise).
	SetNoDelay(on bool) error

	// Close closes the connection once its pending output has been sent, as the Close
	// action does, for code that has no action to return for it: a timer, a posted
	// function, another connection's event. Closed then gets a nil error. Unlike the
	// methods above it may be called from any goroutine: on the connection's loop the
	// close happens after the running event or function returns; elsewhere it is posted
	// to the loop (as Post does), after the Sends the calling goroutine made before it.
	// It returns an error matching syscall.ENOTCONN once the connection has closed.
	Close() error
	// AfterFunc starts a timer of the connection: f runs once on its loop after d (as
	// soon as it can for d <= 0), unless the returned Timer is stopped first; out and
	// action apply as for Data, and the methods that work inside events work in f. When
	// the connection closes (or is detached) first, f never runs. A panic in f is
	// recovered and shuts the server down, as a panic in an event does. An f that starts
	// the next timer makes a periodic one. Loop only, as the methods above (a nil f gives
	// an error matching syscall.EINVAL).
	AfterFunc(d time.Duration, f func(c StreamConn) (out []byte, action Action)) (*Timer, error)
	// SetIdleTimeout closes the connection, with an error matching syscall.ETIMEDOUT in
	// Closed, once d passes without input arriving or output leaving; 0 turns it off (the
	// default is Events.IdleTimeout). A negative d gives an error matching syscall.EINVAL,
	// as for the other two timeouts.
	SetIdleTimeout(d time.Duration) error
	// SetReadTimeout closes the connection (Closed gets syscall.ETIMEDOUT) unless input
	// arrives within d from now; the next input clears it, so set it again for the next
	// request, as a read deadline. 0 clears it.
	SetReadTimeout(d time.Duration) error
	// SetWriteTimeout closes the connection (Closed gets syscall.ETIMEDOUT) unless all of
	// its pending output has been sent within d from now; it clears once the output has
	// left (at once when nothing is pending). 0 clears it.
	SetWriteTimeout(d time.Duration) error
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
	// SourceHash assigns a connection to a loop chosen by a hash of the client's IP
	// address (not its port): the connections of one client address land on the same
	// loop, as long as the number of loops stays. Not in tidwall/evio.
	SourceHash
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

	// The fields below are not in tidwall/evio.

	// Drained fires when a connection's pending output (StreamConn.Pending), after it
	// had passed the high watermark, has fallen to the low watermark: a producer that
	// paused because Pending was high may go on. out and action apply as for Data.
	Drained func(c Conn) (out []byte, action Action)
	// InputClosed, when set, fires when the peer has shut down its sending side (the
	// end of input; TCP's FIN) instead of the connection closing: it stays open for
	// output, so a server can still answer, or forward the end with
	// StreamConn.ShutdownWrite. Return Close to close it once its output has been sent.
	// A connection that has shut down both directions closes (Closed with a nil error)
	// once its output has been sent. When InputClosed is nil, the end of input closes
	// the connection once its output has been sent, as in tidwall/evio.
	InputClosed func(c Conn) (out []byte, action Action)
	// LowWatermark and HighWatermark are every connection's watermarks, in bytes (see
	// StreamConn.SetWatermarks): with more than HighWatermark bytes of output pending
	// a connection is not read, until at most LowWatermark are pending. 0 means the
	// library's defaults, 256 KiB and 1 MiB (a LowWatermark above HighWatermark is
	// lowered to it).
	LowWatermark int
	// HighWatermark: see LowWatermark.
	HighWatermark int
	// OutputLimit is every connection's hard limit on pending output, in bytes (see
	// StreamConn.SetOutputLimit): output that would pass it closes the connection,
	// and Closed gets an error matching syscall.ENOBUFS. 0 means no limit.
	OutputLimit int
	// IdleTimeout is every connection's idle timeout (see StreamConn.SetIdleTimeout): a
	// connection on which no input arrives and no output leaves for that long is closed,
	// and Closed gets an error matching syscall.ETIMEDOUT (a defence against clients that
	// connect and say nothing). 0 means none.
	IdleTimeout time.Duration
	// Dialed fires, instead of Opened, when a connection opened by Dial or Started.Dial
	// has connected, on the loop it was dialed on, with the value given to the dial:
	// exactly once per dial that succeeds. out, opts and action apply as for Opened;
	// from then on the connection is like an accepted one (AddrIndex is -1). When
	// Dialed is nil, Opened fires for dialed connections too.
	Dialed func(c Conn, value interface{}) (out []byte, opts Options, action Action)
	// DialFailed fires on the dialing loop when a dial fails, with the value given to
	// the dial and an error matching the syscall.Errno of the reason: ECONNREFUSED,
	// ETIMEDOUT (DialOptions.Timeout), ENOENT (an unknown host), ECANCELED (the server
	// stopped first), … Each dial that Dial accepted ends in exactly one of Dialed and
	// DialFailed. Only the Shutdown action has an effect.
	DialFailed func(value interface{}, err error) (action Action)
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
