package evio

import (
	"bufio"
	"net"
	"testing"
)

func TestSmoke(t *testing.T) {
	var ev Events
	ev.Serving = func(s Server) Action {
		t.Logf("serving %v loops=%d", s.Addrs, s.NumLoops)
		go func() {
			c, err := net.Dial("tcp", s.Addrs[0].String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.Write([]byte("hello\n"))
			line, err := bufio.NewReader(c).ReadString('\n')
			t.Logf("got %q %v", line, err)
		}()
		return None
	}
	ev.Opened = func(c Conn) ([]byte, Options, Action) {
		t.Logf("opened %v %v %d", c.LocalAddr(), c.RemoteAddr(), c.AddrIndex())
		return nil, Options{}, None
	}
	ev.Data = func(c Conn, in []byte) ([]byte, Action) {
		return in, None
	}
	ev.Closed = func(c Conn, err error) Action {
		t.Logf("closed %v", err)
		return Shutdown
	}
	err := Serve(ev, "tcp://127.0.0.1:0")
	t.Log("serve:", err)
}
