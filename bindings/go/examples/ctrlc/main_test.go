package main

import (
	"bufio"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	evio "github.com/evio/evio/bindings/go"
)

// TestRun: a signal stops the server: its connection is closed, and run returns.
func TestRun(t *testing.T) {
	sigs := make(chan os.Signal, 1)
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run("tcp://127.0.0.1:0", 1, 30*time.Second, sigs, func(srv *evio.Started) { addrs <- srv.Addrs[0] })
	}()
	var addr net.Addr
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", addr.String(), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	rd := bufio.NewReader(c)
	if line, err := rd.ReadString('\n'); err != nil || line != "hello: every line is echoed\r\n" {
		t.Fatalf("greeting %q, %v", line, err)
	}
	c.Write([]byte("ping\n"))
	if line, err := rd.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("echo %q, %v", line, err)
	}
	sigs <- syscall.SIGINT
	if _, err := rd.ReadString('\n'); err == nil {
		t.Fatalf("the connection is still open after the stop")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return")
	}
}
