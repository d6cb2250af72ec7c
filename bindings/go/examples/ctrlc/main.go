// Command ctrlc is an echo server that stops gracefully on Ctrl-C (SIGINT) or SIGTERM:
// it is started with evio.Start, and the signal makes it stop accepting and reading,
// lets every connection's pending output leave for up to --grace, then closes what is
// left. A second Ctrl-C during the grace period ends the process at once.
//
//	go run ./examples/ctrlc --port 5000 [--grace 10s] [--loops N] [--stdlib]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	evio "github.com/evio/evio/bindings/go"
)

func main() {
	var (
		port   = flag.Int("port", 5000, "server port")
		grace  = flag.Duration("grace", 10*time.Second, "how long pending output may take to leave once stopping")
		loops  = flag.Int("loops", 0, "num loops")
		stdlib = flag.Bool("stdlib", false, "use the portable (-net) engine")
	)
	flag.Parse()

	scheme := "tcp"
	if *stdlib {
		scheme += "-net"
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	err := run(fmt.Sprintf("%s://:%d", scheme, *port), *loops, *grace, sigs, func(srv *evio.Started) {
		log.Printf("echo server on %v (loops: %d); Ctrl-C stops it", srv.Addrs, srv.NumLoops)
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("stopped")
}

// run serves addr until a signal arrives on sigs (or an event shuts the server down),
// then stops it with a drain of at most grace.
func run(addr string, loops int, grace time.Duration, sigs chan os.Signal, started func(*evio.Started)) error {
	var events evio.Events
	events.NumLoops = loops
	events.Opened = func(c evio.Conn) (out []byte, opts evio.Options, action evio.Action) {
		return []byte("hello: every line is echoed\r\n"), opts, evio.None
	}
	events.Data = func(c evio.Conn, in []byte) (out []byte, action evio.Action) {
		return in, evio.None
	}
	events.Closed = func(c evio.Conn, err error) (action evio.Action) {
		if err != nil { // syscall.ETIMEDOUT: its output did not leave within the grace period
			log.Printf("%v closed: %v", c.RemoteAddr(), err)
		}
		return evio.None
	}

	srv, err := evio.Start(events, addr)
	if err != nil {
		return err
	}
	started(srv)
	select {
	case sig := <-sigs:
		log.Printf("%v: stopping (at most %v)", sig, grace)
	case <-srv.Done(): // ended by itself (an event returned Shutdown)
		return srv.Wait()
	}
	// A second signal now gets the default behaviour, which ends the process.
	signal.Stop(sigs)
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	return srv.Stop(ctx)
}
