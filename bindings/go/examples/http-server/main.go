// Command http-server is a minimal HTTP/1.1 server on evio that answers every request
// with a fixed body. It handles pipelined requests and requests split over several
// reads (with evio.InputStream).
//
//	go run ./examples/http-server --port 8080 [--loops N] [--unixsocket path] [--aaaa] [--noparse=false] [--stdlib]
//	curl http://127.0.0.1:8080/
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log"
	"strconv"
	"strings"
	"time"

	evio "github.com/evio/evio/bindings/go"
)

// request is what the server keeps of a parsed request.
type request struct {
	method, path, query, proto string
	head, body                 []byte
}

func main() {
	var (
		port       = flag.Int("port", 8080, "server port")
		loops      = flag.Int("loops", 0, "num loops")
		unixsocket = flag.String("unixsocket", "", "unix socket")
		aaaa       = flag.Bool("aaaa", false, "answer with 1 KiB of 'a'")
		noparse    = flag.Bool("noparse", true, "do not parse requests, only find their end")
		stdlib     = flag.Bool("stdlib", false, "use the portable (-net) engine")
	)
	flag.Parse()

	body := "Hello World!\r\n"
	if *aaaa {
		body = strings.Repeat("a", 1024)
	}
	events := newEvents(body, *noparse)
	events.NumLoops = *loops
	events.Serving = func(srv evio.Server) (action evio.Action) {
		log.Printf("http server started on %v (loops: %d)", srv.Addrs, srv.NumLoops)
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
	log.Fatal(evio.Serve(events, addrs...))
}

// newEvents returns the server's events (without Serving): every request gets body.
// With noparse, a request is anything up to an empty line (no request body).
func newEvents(body string, noparse bool) evio.Events {
	var events evio.Events
	events.Opened = func(c evio.Conn) (out []byte, opts evio.Options, action evio.Action) {
		c.SetContext(new(evio.InputStream))
		return
	}
	events.Data = func(c evio.Conn, in []byte) (out []byte, action evio.Action) {
		if in == nil {
			return
		}
		is := c.Context().(*evio.InputStream)
		data := is.Begin(in)
		for len(data) > 0 {
			var n int
			var err error
			if noparse {
				if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
					n = i + 4
				}
			} else {
				var req request
				n, err = parseRequest(data, &req)
			}
			if err != nil {
				out = appendResponse(out, "400 Bad Request", err.Error()+"\n")
				action = evio.Close
				break
			}
			if n == 0 { // the rest of the request has not arrived yet
				break
			}
			out = appendResponse(out, "200 OK", body)
			data = data[n:]
		}
		is.End(data)
		return
	}
	return events
}

// appendResponse appends an HTTP response with status and body to b.
func appendResponse(b []byte, status, body string) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = append(b, status...)
	b = append(b, "\r\nServer: evio\r\nDate: "...)
	b = time.Now().UTC().AppendFormat(b, "Mon, 02 Jan 2006 15:04:05 GMT")
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}

var errMalformed = errors.New("malformed request")

// parseRequest parses the request at the start of data into req and returns its
// length, or 0 if data does not hold all of it yet.
func parseRequest(data []byte, req *request) (int, error) {
	lineEnd := bytes.Index(data, []byte("\r\n"))
	if lineEnd < 0 {
		return 0, nil
	}
	parts := strings.Split(string(data[:lineEnd]), " ")
	if len(parts) != 3 || !strings.HasPrefix(parts[2], "HTTP/") {
		return 0, errMalformed
	}
	end := bytes.Index(data, []byte("\r\n\r\n"))
	if end < 0 {
		return 0, nil
	}
	req.method, req.path, req.proto = parts[0], parts[1], parts[2]
	if i := strings.IndexByte(req.path, '?'); i >= 0 {
		req.path, req.query = req.path[:i], req.path[i+1:]
	}
	req.head = data[lineEnd+2 : end+2]
	n := end + 4
	length := 0
	for _, line := range bytes.Split(req.head, []byte("\r\n")) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && strings.EqualFold(string(name), "Content-Length") {
			v, err := strconv.Atoi(string(bytes.TrimSpace(value)))
			if err != nil || v < 0 {
				return 0, errMalformed
			}
			length = v
		}
	}
	if len(data) < n+length {
		return 0, nil
	}
	req.body = data[n : n+length]
	return n + length, nil
}
