// Command echo-server is an echo server on evio: every byte received is sent back.
//
//	go run ./examples/echo-server --port 5000 [--loops N] [--udp] [--reuseport] [--stdlib] [--trace]
package main

import (
	"flag"
	"fmt"
	"log"
	"strings"

	evio "github.com/evio/evio/bindings/go"
)

func main() {
	var (
		port      = flag.Int("port", 5000, "server port")
		udp       = flag.Bool("udp", false, "listen on udp")
		reuseport = flag.Bool("reuseport", false, "reuseport (SO_REUSEPORT)")
		trace     = flag.Bool("trace", false, "print packets to console")
		loops     = flag.Int("loops", 0, "num loops")
		stdlib    = flag.Bool("stdlib", false, "use the portable (-net) engine")
	)
	flag.Parse()

	var events evio.Events
	events.NumLoops = *loops
	events.Serving = func(srv evio.Server) (action evio.Action) {
		log.Printf("echo server started on %v (loops: %d)", srv.Addrs, srv.NumLoops)
		if *reuseport {
			log.Printf("reuseport")
		}
		if *stdlib {
			log.Printf("stdlib")
		}
		return
	}
	events.Data = func(c evio.Conn, in []byte) (out []byte, action evio.Action) {
		if *trace {
			log.Printf("%s", strings.TrimSpace(string(in)))
		}
		return in, evio.None
	}

	scheme := "tcp"
	if *udp {
		scheme = "udp"
	}
	if *stdlib {
		scheme += "-net"
	}
	log.Fatal(evio.Serve(events, fmt.Sprintf("%s://:%d?reuseport=%t", scheme, *port, *reuseport)))
}
