package evio_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"time"

	evio "github.com/evio/evio/bindings/go"
)

// A connection timer: the server nags a client that says nothing, then closes the
// connection (the timer's out and action apply as for Data). A read timeout would close
// it with syscall.ETIMEDOUT instead.
func ExampleStreamConn_AfterFunc() {
	var events evio.Events
	events.Opened = func(c evio.Conn) (out []byte, opts evio.Options, action evio.Action) {
		c.(evio.StreamConn).AfterFunc(10*time.Millisecond, func(c evio.StreamConn) ([]byte, evio.Action) {
			return []byte("still there?\n"), evio.Close
		})
		return
	}
	srv, err := evio.Start(events, "tcp://127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	c, err := net.Dial("tcp", srv.Addrs[0].String())
	if err != nil {
		log.Fatal(err)
	}
	said, _ := io.ReadAll(c) // until the server closes
	fmt.Print(string(said))
	c.Close()
	srv.Stop(context.Background())
	// Output: still there?
}
