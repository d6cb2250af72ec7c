package evio_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"

	evio "github.com/evio/evio/bindings/go"
)

func TestInputStream(t *testing.T) {
	var s evio.InputStream
	in := []byte("HELLO")
	if data := s.Begin(in); string(data) != "HELLO" {
		t.Fatalf("got %q", data)
	}
	s.End(in[3:])
	in[3] = 'X' // End kept a copy
	if data := s.Begin([]byte("WLY")); string(data) != "LOWLY" {
		t.Fatalf("got %q", data)
	}
	s.End(nil)
	if data := s.Begin([]byte("PLAYER")); string(data) != "PLAYER" {
		t.Fatalf("got %q", data)
	}
	// End with a tail of the data Begin returned from the kept bytes.
	s.End([]byte("PL"))
	data := s.Begin([]byte("AYS"))
	if string(data) != "PLAYS" {
		t.Fatalf("got %q", data)
	}
	s.End(data[2:])
	if data := s.Begin([]byte("!")); string(data) != "AYS!" {
		t.Fatalf("got %q", data)
	}
	// Nothing consumed: everything is kept.
	data = s.Begin(nil)
	s.End(data)
	if data := s.Begin([]byte("?")); string(data) != "AYS!?" {
		t.Fatalf("got %q", data)
	}
	s.End(nil)
	if data := s.Begin(nil); len(data) != 0 {
		t.Fatalf("got %q", data)
	}
}

// TestInputStreamServer parses '\n'-terminated messages that arrive split over several
// Data events, with and without ReuseInputBuffer.
func TestInputStreamServer(t *testing.T) {
	for _, reuse := range []bool{false, true} {
		reuse := reuse
		t.Run(fmt.Sprintf("reuse=%v", reuse), func(t *testing.T) {
			events := make(chan struct{}, 16)
			var ev evio.Events
			ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
				c.SetContext(new(evio.InputStream))
				return nil, evio.Options{ReuseInputBuffer: reuse}, evio.None
			}
			ev.Data = func(c evio.Conn, in []byte) (out []byte, action evio.Action) {
				is := c.Context().(*evio.InputStream)
				data := is.Begin(in)
				for {
					i := bytes.IndexByte(data, '\n')
					if i < 0 {
						break
					}
					out = append(out, "got:"...)
					out = append(out, data[:i+1]...)
					data = data[i+1:]
				}
				is.End(data)
				events <- struct{}{}
				return out, evio.None
			}
			s := startServer(t, ev, "tcp://127.0.0.1:0")
			defer s.shutdown()
			c := s.dial(0)
			defer c.Close()
			rd := bufio.NewReader(c)
			// Each piece is written once the previous one reached Data.
			for _, piece := range []string{"hel", "lo\nwor", "ld", "\n", "a\nb\nc"} {
				c.Write([]byte(piece))
				recv(t, events, "Data")
			}
			for _, want := range []string{"got:hello\n", "got:world\n", "got:a\n", "got:b\n"} {
				if line := readLine(t, rd); line != want {
					t.Fatalf("got %q, want %q", line, want)
				}
			}
		})
	}
}

// TestReuseInputBuffer: with ReuseInputBuffer the input of one Data event is
// overwritten by the next read; without it, every input is a fresh slice that stays
// as it was.
func TestReuseInputBuffer(t *testing.T) {
	for _, suffix := range []string{"", "-net"} {
		for _, reuse := range []bool{true, false} {
			suffix, reuse := suffix, reuse
			t.Run(fmt.Sprintf("tcp%s/reuse=%v", suffix, reuse), func(t *testing.T) {
				var mu sync.Mutex
				var kept [][]byte
				var ev evio.Events
				ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
					return nil, evio.Options{ReuseInputBuffer: reuse}, evio.None
				}
				ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
					mu.Lock()
					defer mu.Unlock()
					kept = append(kept, in)
					reused := len(kept) > 1 && string(kept[0]) == string(in)
					return []byte(fmt.Sprintf("%v\n", reused)), evio.None
				}
				s := startServer(t, ev, "tcp"+suffix+"://127.0.0.1:0")
				defer s.shutdown()
				c := s.dial(0)
				defer c.Close()
				rd := bufio.NewReader(c)
				c.Write([]byte("packet1"))
				readLine(t, rd)
				c.Write([]byte("packet2"))
				if line := readLine(t, rd); line != fmt.Sprintf("%v\n", reuse) {
					t.Fatalf("reused: got %q, want %v", line, reuse)
				}
				if !reuse {
					mu.Lock()
					defer mu.Unlock()
					if string(kept[0]) != "packet1" || string(kept[1]) != "packet2" {
						t.Fatalf("kept inputs changed: %q", kept)
					}
				}
			})
		}
	}
}

// TestInputOwned: without ReuseInputBuffer the callee owns in: it may keep it and
// write to it, even return it as out and change it afterwards.
func TestInputOwned(t *testing.T) {
	var all [][]byte
	done := make(chan []byte, 1)
	var ev evio.Events
	ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
		all = append(all, in)
		if bytes.HasSuffix(in, []byte("$")) {
			done <- bytes.Join(all, nil)
		}
		return []byte{byte(len(in))}, evio.None
	}
	s := startServer(t, ev, "tcp://127.0.0.1:0")
	defer s.shutdown()
	c := s.dial(0)
	defer c.Close()
	var sent []byte
	for i := 0; i < 50; i++ {
		msg := bytes.Repeat([]byte{byte('a' + i%26)}, 1+i*37)
		if i == 49 {
			msg = append(msg, '$')
		}
		sent = append(sent, msg...)
		c.Write(msg)
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if got := recv(t, done, "last Data"); !bytes.Equal(got, sent) {
		t.Fatalf("kept inputs differ from what was sent (%d vs %d bytes)", len(got), len(sent))
	}
}
