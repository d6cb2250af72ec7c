package evio_test

import (
	"fmt"
	"io"
	"net"
	"testing"

	evio "github.com/evio/evio/bindings/go"
)

// BenchmarkEcho measures round trips through an echo server over loopback TCP: one
// client, one message in flight. Mostly syscalls and scheduling; compare variants
// side by side (go test -bench Echo -count 5), not with other machines.
func BenchmarkEcho(b *testing.B) {
	for _, size := range []int{64, 4096, 32768} {
		for _, reuse := range []bool{false, true} {
			size, reuse := size, reuse
			b.Run(fmt.Sprintf("%dB/reuse=%v", size, reuse), func(b *testing.B) {
				var ev evio.Events
				ready := make(chan net.Addr, 1)
				done := make(chan error, 1)
				ev.Serving = func(s evio.Server) evio.Action { ready <- s.Addrs[0]; return evio.None }
				ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
					return nil, evio.Options{ReuseInputBuffer: reuse}, evio.None
				}
				ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) { return in, evio.None }
				ev.Closed = func(evio.Conn, error) evio.Action { return evio.Shutdown }
				go func() { done <- evio.Serve(ev, "tcp://127.0.0.1:0") }()
				c := dialAddr(b, recv(b, ready, "Serving"))
				msg := make([]byte, size)
				buf := make([]byte, size)
				b.SetBytes(int64(size))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := c.Write(msg); err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(c, buf); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				c.Close()
				if err := recv(b, done, "Serve"); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}
