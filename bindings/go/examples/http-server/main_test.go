package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	evio "github.com/evio/evio/bindings/go"
)

func TestParseRequest(t *testing.T) {
	var req request
	in := "POST /a?b=c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET"
	n, err := parseRequest([]byte(in), &req)
	if err != nil || n != len(in)-3 {
		t.Fatalf("n %d, err %v", n, err)
	}
	if req.method != "POST" || req.path != "/a" || req.query != "b=c" || req.proto != "HTTP/1.1" || string(req.body) != "abc" {
		t.Fatalf("%+v", req)
	}
	for _, partial := range []string{"GET / HTTP/1.1\r\nHost:", "GET / HTTP/1.1\r\n", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", "GET"} {
		if n, err := parseRequest([]byte(partial), &req); n != 0 || err != nil {
			t.Fatalf("%q: n %d, err %v", partial, n, err)
		}
	}
	for _, bad := range []string{"nonsense\r\n\r\n", "GET /\r\n", "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"} {
		if _, err := parseRequest([]byte(bad), &req); err == nil {
			t.Fatalf("%q: no error", bad)
		}
	}
}

func TestServer(t *testing.T) {
	for _, noparse := range []bool{true, false} {
		events := newEvents("Hello World!\r\n", noparse)
		ready := make(chan net.Addr, 1)
		events.Serving = func(srv evio.Server) evio.Action {
			ready <- srv.Addrs[0]
			return evio.None
		}
		var closed int32
		events.Closed = func(evio.Conn, error) evio.Action {
			closed++
			if closed == 2 {
				return evio.Shutdown
			}
			return evio.None
		}
		done := make(chan error, 1)
		go func() { done <- evio.Serve(events, "tcp://127.0.0.1:0") }()
		var addr net.Addr
		select {
		case addr = <-ready:
		case err := <-done:
			t.Fatal(err)
		}

		// net/http as the client.
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Get("http://" + addr.String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "Hello World!\r\n" || resp.Header.Get("Server") != "evio" {
			t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
		}
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()

		// Three pipelined requests, the last split over two writes.
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		c.Write([]byte("GET / HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\nGET /y HTTP/1.1\r\n"))
		rd := bufio.NewReader(c)
		for i := 0; i < 3; i++ {
			if i == 2 {
				c.Write([]byte("\r\n"))
			}
			resp, err := http.ReadResponse(rd, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "Hello") {
				t.Fatalf("response %d: %d %q", i, resp.StatusCode, b)
			}
		}
		c.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no shutdown")
		}
	}
}
