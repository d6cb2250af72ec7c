package evio_test

import (
	"bufio"
	"bytes"
	"fmt"
	"log"
	"net"

	evio "github.com/evio/evio/bindings/go"
)

// An echo server. The client in this example says hello; the server stops when the
// client leaves.
func ExampleServe() {
	var events evio.Events
	events.Serving = func(srv evio.Server) (action evio.Action) {
		go func() { // a client
			c, err := net.Dial("tcp", srv.Addrs[0].String())
			if err != nil {
				log.Fatal(err)
			}
			fmt.Fprintf(c, "hello\n")
			line, _ := bufio.NewReader(c).ReadString('\n')
			fmt.Print(line)
			c.Close()
		}()
		return
	}
	events.Data = func(c evio.Conn, in []byte) (out []byte, action evio.Action) {
		out = in
		return
	}
	events.Closed = func(c evio.Conn, err error) (action evio.Action) {
		return evio.Shutdown
	}
	if err := evio.Serve(events, "tcp://127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	// Output: hello
}

// Wake lets any goroutine make the server write to a connection: here a worker
// finishes a job and the Data event that Wake triggers (with a nil in) sends the result.
func ExampleConn_Wake() {
	type job struct {
		result chan string
	}
	var events evio.Events
	events.Serving = func(srv evio.Server) (action evio.Action) {
		go func() {
			c, err := net.Dial("tcp", srv.Addrs[0].String())
			if err != nil {
				log.Fatal(err)
			}
			line, _ := bufio.NewReader(c).ReadString('\n')
			fmt.Print(line)
			c.Close()
		}()
		return
	}
	events.Opened = func(c evio.Conn) (out []byte, opts evio.Options, action evio.Action) {
		j := &job{result: make(chan string, 1)}
		c.SetContext(j)
		go func() { // the worker
			j.result <- "the answer is 42\n"
			c.Wake()
		}()
		return
	}
	events.Data = func(c evio.Conn, in []byte) (out []byte, action evio.Action) {
		if in == nil { // woken
			select {
			case res := <-c.Context().(*job).result:
				out = []byte(res)
			default:
			}
		}
		return
	}
	events.Closed = func(c evio.Conn, err error) (action evio.Action) {
		return evio.Shutdown
	}
	if err := evio.Serve(events, "tcp://127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	// Output: the answer is 42
}

// InputStream keeps the bytes of a message that is not complete yet, for the next
// Data event: here, lines of text.
func ExampleInputStream() {
	var is evio.InputStream
	for _, packet := range []string{"GET a\nGE", "T b", "\nGET c\n"} {
		data := is.Begin([]byte(packet))
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break
			}
			fmt.Printf("line %q\n", data[:i])
			data = data[i+1:]
		}
		is.End(data)
	}
	// Output:
	// line "GET a"
	// line "GET b"
	// line "GET c"
}
