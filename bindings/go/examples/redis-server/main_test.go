package main

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	evio "github.com/evio/evio/bindings/go"
)

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		in   string
		args []string // nil: incomplete
		rest string
		err  bool
	}{
		{in: "*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nX", args: []string{"ECHO", "hi"}, rest: "X"},
		{in: "*2\r\n$4\r\nECHO\r\n$2\r\nh", args: nil, rest: "*2\r\n$4\r\nECHO\r\n$2\r\nh"},
		{in: "*1\r\n$4\r\nPI", args: nil, rest: "*1\r\n$4\r\nPI"},
		{in: "*1", args: nil, rest: "*1"},
		{in: "PING\r\nPING", args: []string{"PING"}, rest: "PING"},
		{in: "set a  b\n", args: []string{"set", "a", "b"}, rest: ""},
		{in: "\r\n", args: []string{}, rest: ""},
		{in: "*x\r\n", err: true},
		{in: "*1\r\n+OK\r\n", err: true},
		{in: "*1\r\n$2\r\nabcd\r\n", err: true},
	} {
		args, rest, err := parseCommand([]byte(tc.in))
		if (err != nil) != tc.err {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		if tc.err {
			continue
		}
		if (args == nil) != (tc.args == nil) || len(args) != len(tc.args) || string(rest) != tc.rest {
			t.Errorf("%q: got %q, rest %q", tc.in, args, rest)
			continue
		}
		for i := range args {
			if string(args[i]) != tc.args[i] {
				t.Errorf("%q: got %q", tc.in, args)
			}
		}
	}
}

func TestServer(t *testing.T) {
	events := newEvents(&store{keys: map[string]string{}})
	events.NumLoops = 2
	ready := make(chan net.Addr, 1)
	events.Serving = func(srv evio.Server) evio.Action {
		ready <- srv.Addrs[0]
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
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		return c, bufio.NewReader(c)
	}
	expect := func(rd *bufio.Reader, want string) {
		t.Helper()
		got := make([]byte, len(want))
		if _, err := io.ReadFull(rd, got); err != nil || string(got) != want {
			t.Fatalf("got %q (%v), want %q", got, err, want)
		}
	}

	c, rd := dial()
	defer c.Close()
	// Pipelined, and a command split over two writes.
	c.Write([]byte("PING\r\n*3\r\n$3\r\nSET\r\n$5\r\nhello\r\n$5\r\nworld\r\n*2\r\n$3\r\nGET\r\n$5\r\nhel"))
	expect(rd, "+PONG\r\n+OK\r\n")
	c.Write([]byte("lo\r\n"))
	expect(rd, "$5\r\nworld\r\n")
	c.Write([]byte("ECHO hi\r\nDEL hello nope\r\nGET hello\r\nPING a b\r\nNOPE\r\n"))
	expect(rd, "$2\r\nhi\r\n:1\r\n$-1\r\n-ERR wrong number of arguments for 'PING' command\r\n-ERR unknown command 'NOPE'\r\n")

	// WAKE: the wake-up closes the connection.
	w, wrd := dial()
	defer w.Close()
	w.Write([]byte("WAKE\r\n"))
	expect(wrd, "+OK\r\n")
	if rest, _ := io.ReadAll(wrd); len(rest) != 0 {
		t.Fatalf("got %q after WAKE", rest)
	}

	// QUIT closes, SHUTDOWN stops the server.
	q, qrd := dial()
	defer q.Close()
	q.Write([]byte("QUIT\r\n"))
	expect(qrd, "+OK\r\n")
	c.Write([]byte("*1\r\n$8\r\nSHUTDOWN\r\n"))
	expect(rd, "+OK\r\n")
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no shutdown")
	}
}
