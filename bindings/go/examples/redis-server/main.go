// Command redis-server is a tiny in-memory key/value server that speaks the Redis
// protocol (RESP), on evio. Commands: PING, ECHO, SET, GET, DEL, FLUSHDB, QUIT,
// SHUTDOWN and WAKE (which wakes the connection; the wake closes it).
//
//	go run ./examples/redis-server --port 6380 [--loops N] [--balance random|round-robin|least-connections] [--unixsocket socket] [--stdlib]
//	redis-cli -p 6380 set hello world
package main

import (
	"flag"
	"fmt"
	"log"
	"strconv"
	"strings"
	"sync"

	evio "github.com/evio/evio/bindings/go"
)

// client is the state of one connection: input that holds no whole command yet.
type client struct {
	is evio.InputStream
}

// store is the key space, shared by every loop.
type store struct {
	mu   sync.RWMutex
	keys map[string]string
}

func main() {
	var (
		port       = flag.Int("port", 6380, "server port")
		loops      = flag.Int("loops", 0, "num loops")
		unixsocket = flag.String("unixsocket", "socket", "unix socket")
		balance    = flag.String("balance", "random", "random, round-robin, least-connections")
		stdlib     = flag.Bool("stdlib", false, "use the portable (-net) engine")
	)
	flag.Parse()

	events := newEvents(&store{keys: map[string]string{}})
	switch *balance {
	case "random":
		events.LoadBalance = evio.Random
	case "round-robin":
		events.LoadBalance = evio.RoundRobin
	case "least-connections":
		events.LoadBalance = evio.LeastConnections
	default:
		log.Fatalf("invalid --balance flag: %q", *balance)
	}
	events.NumLoops = *loops
	events.Serving = func(srv evio.Server) (action evio.Action) {
		log.Printf("redis server started on %v (loops: %d)", srv.Addrs, srv.NumLoops)
		if *stdlib {
			log.Printf("stdlib")
		}
		return
	}

	suffix := ""
	if *stdlib {
		suffix = "-net"
	}
	addrs := []string{fmt.Sprintf("tcp%s://:%d", suffix, *port)}
	if *unixsocket != "" {
		addrs = append(addrs, fmt.Sprintf("unix%s://%s", suffix, *unixsocket))
	}
	if err := evio.Serve(events, addrs...); err != nil {
		log.Fatal(err)
	}
}

// newEvents returns the events of the server (without Serving), on db.
func newEvents(db *store) evio.Events {
	var events evio.Events
	events.Opened = func(c evio.Conn) (out []byte, opts evio.Options, action evio.Action) {
		c.SetContext(&client{})
		return
	}
	events.Data = func(c evio.Conn, in []byte) (out []byte, action evio.Action) {
		if in == nil { // woken up by the WAKE command
			log.Printf("wake from %s", c.RemoteAddr())
			return nil, evio.Close
		}
		cl := c.Context().(*client)
		data := cl.is.Begin(in)
		for action == evio.None {
			args, rest, err := parseCommand(data)
			if err != nil {
				out = appendError(out, "ERR "+err.Error())
				action = evio.Close
				break
			}
			if args == nil { // incomplete: wait for more input
				break
			}
			data = rest
			if len(args) > 0 {
				out, action = db.exec(c, out, args)
			}
		}
		cl.is.End(data)
		return
	}
	return events
}

// exec runs one command and appends its reply to out.
func (db *store) exec(c evio.Conn, out []byte, args [][]byte) ([]byte, evio.Action) {
	arity := func(ok bool) bool {
		if !ok {
			out = appendError(out, "ERR wrong number of arguments for '"+string(args[0])+"' command")
		}
		return ok
	}
	switch strings.ToUpper(string(args[0])) {
	case "PING":
		if arity(len(args) <= 2) {
			if len(args) == 2 {
				out = appendBulk(out, args[1])
			} else {
				out = appendSimple(out, "PONG")
			}
		}
	case "ECHO":
		if arity(len(args) == 2) {
			out = appendBulk(out, args[1])
		}
	case "SET":
		if arity(len(args) == 3) {
			db.mu.Lock()
			db.keys[string(args[1])] = string(args[2])
			db.mu.Unlock()
			out = appendSimple(out, "OK")
		}
	case "GET":
		if arity(len(args) == 2) {
			db.mu.RLock()
			val, ok := db.keys[string(args[1])]
			db.mu.RUnlock()
			if ok {
				out = appendBulk(out, []byte(val))
			} else {
				out = append(out, "$-1\r\n"...)
			}
		}
	case "DEL":
		if arity(len(args) >= 2) {
			n := 0
			db.mu.Lock()
			for _, key := range args[1:] {
				if _, ok := db.keys[string(key)]; ok {
					delete(db.keys, string(key))
					n++
				}
			}
			db.mu.Unlock()
			out = appendInt(out, n)
		}
	case "FLUSHDB":
		db.mu.Lock()
		db.keys = map[string]string{}
		db.mu.Unlock()
		out = appendSimple(out, "OK")
	case "WAKE":
		go c.Wake()
		out = appendSimple(out, "OK")
	case "QUIT":
		return appendSimple(out, "OK"), evio.Close
	case "SHUTDOWN":
		return appendSimple(out, "OK"), evio.Shutdown
	default:
		out = appendError(out, "ERR unknown command '"+string(args[0])+"'")
	}
	return out, evio.None
}

func appendSimple(b []byte, s string) []byte {
	return append(append(append(b, '+'), s...), '\r', '\n')
}

func appendError(b []byte, s string) []byte {
	return append(append(append(b, '-'), s...), '\r', '\n')
}

func appendInt(b []byte, n int) []byte {
	return append(strconv.AppendInt(append(b, ':'), int64(n), 10), '\r', '\n')
}

func appendBulk(b []byte, s []byte) []byte {
	b = strconv.AppendInt(append(b, '$'), int64(len(s)), 10)
	return append(append(append(b, '\r', '\n'), s...), '\r', '\n')
}
