// gnet-redis: a minimal Redis-protocol server on panjf2000/gnet (gnet ships no redis
// example): PING [msg] and ECHO msg, inline ("PING\r\n") and RESP arrays, pipelined
// answers written together. For redis-benchmark's PING_INLINE and ECHO tests.
// One event loop (multicore off); run with GOMAXPROCS=1.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"strconv"

	"github.com/panjf2000/gnet/v2"
)

type redisServer struct {
	gnet.BuiltinEventEngine
	out  []byte
	args [][]byte
}

// parse reads one command from b: the arguments, the bytes used (0: incomplete), or -1.
func parse(b []byte, args [][]byte) ([][]byte, int) {
	args = args[:0]
	if len(b) == 0 {
		return args, 0
	}
	if b[0] != '*' {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return args, 0
		}
		return append(args, bytes.Fields(b[:i])...), i + 1
	}
	i := bytes.Index(b, []byte("\r\n"))
	if i < 0 {
		return args, 0
	}
	n, err := strconv.Atoi(string(b[1:i]))
	if err != nil {
		return args, -1
	}
	pos := i + 2
	for k := 0; k < n; k++ {
		if pos >= len(b) {
			return args, 0
		}
		if b[pos] != '$' {
			return args, -1
		}
		j := bytes.Index(b[pos:], []byte("\r\n"))
		if j < 0 {
			return args, 0
		}
		l, err := strconv.Atoi(string(b[pos+1 : pos+j]))
		if err != nil || l < 0 {
			return args, -1
		}
		pos += j + 2
		if len(b)-pos < l+2 {
			return args, 0
		}
		args = append(args, b[pos:pos+l])
		pos += l + 2
	}
	return args, pos
}

func (rs *redisServer) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Peek(-1)
	used := 0
	rs.out = rs.out[:0]
	action := gnet.None
	for used < len(buf) {
		var n int
		rs.args, n = parse(buf[used:], rs.args)
		if n == 0 {
			break
		}
		if n < 0 {
			rs.out = append(rs.out, "-ERR Protocol error\r\n"...)
			action = gnet.Close
			used = len(buf)
			break
		}
		used += n
		if len(rs.args) == 0 {
			continue
		}
		switch string(bytes.ToUpper(rs.args[0])) {
		case "PING":
			if len(rs.args) > 1 {
				rs.out = append(rs.out, '$')
				rs.out = strconv.AppendInt(rs.out, int64(len(rs.args[1])), 10)
				rs.out = append(rs.out, "\r\n"...)
				rs.out = append(rs.out, rs.args[1]...)
				rs.out = append(rs.out, "\r\n"...)
			} else {
				rs.out = append(rs.out, "+PONG\r\n"...)
			}
		case "ECHO":
			if len(rs.args) != 2 {
				rs.out = append(rs.out, "-ERR wrong number of arguments for 'echo' command\r\n"...)
				break
			}
			rs.out = append(rs.out, '$')
			rs.out = strconv.AppendInt(rs.out, int64(len(rs.args[1])), 10)
			rs.out = append(rs.out, "\r\n"...)
			rs.out = append(rs.out, rs.args[1]...)
			rs.out = append(rs.out, "\r\n"...)
		default:
			rs.out = append(rs.out, "-ERR unknown command\r\n"...)
		}
	}
	if used > 0 {
		c.Discard(used)
	}
	if len(rs.out) > 0 {
		c.Write(rs.out)
	}
	return action
}

func main() {
	port := flag.Int("port", 6380, "server port")
	flag.Parse()
	log.Fatal(gnet.Run(&redisServer{}, fmt.Sprintf("tcp://127.0.0.1:%d", *port), gnet.WithMulticore(false)))
}
