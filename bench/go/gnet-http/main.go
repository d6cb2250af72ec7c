// gnet-http: an HTTP/1.1 "Hello, World!" server on panjf2000/gnet, in the shape of
// gnet-examples/http (which is not served by the Go module proxy): every complete request
// head ("\r\n\r\n") in the inbound buffer gets the fixed answer, pipelined answers are
// written together. Same response bytes as evio's http-server example (Server: gnet).
// One event loop (multicore off); run with GOMAXPROCS=1.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/panjf2000/gnet/v2"
)

type httpServer struct {
	gnet.BuiltinEventEngine
	out []byte
}

var crlf2 = []byte("\r\n\r\n")

func (hs *httpServer) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Peek(-1)
	used := 0
	hs.out = hs.out[:0]
	for {
		i := bytes.Index(buf[used:], crlf2)
		if i < 0 {
			break
		}
		used += i + 4
		hs.out = append(hs.out, "HTTP/1.1 200 OK\r\nServer: gnet\r\nDate: "...)
		hs.out = time.Now().UTC().AppendFormat(hs.out, "Mon, 02 Jan 2006 15:04:05 GMT")
		hs.out = append(hs.out, "\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!"...)
	}
	if used > 0 {
		c.Discard(used)
		c.Write(hs.out)
	}
	return gnet.None
}

func main() {
	port := flag.Int("port", 8080, "server port")
	flag.Parse()
	log.Fatal(gnet.Run(&httpServer{}, fmt.Sprintf("tcp://127.0.0.1:%d", *port), gnet.WithMulticore(false)))
}
