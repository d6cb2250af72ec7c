// gnet-echo: panjf2000/gnet's TCP echo example, in the shape of gnet-examples/echo_tcp
// (that repository is not served by the Go module proxy, so the bench keeps this copy).
// One event loop (multicore off); run with GOMAXPROCS=1.
package main

import (
	"flag"
	"fmt"
	"log"

	"github.com/panjf2000/gnet/v2"
)

type echoServer struct {
	gnet.BuiltinEventEngine
}

func (es *echoServer) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	c.Write(buf)
	return gnet.None
}

func main() {
	port := flag.Int("port", 9000, "server port")
	flag.Parse()
	log.Fatal(gnet.Run(&echoServer{}, fmt.Sprintf("tcp://127.0.0.1:%d", *port), gnet.WithMulticore(false)))
}
