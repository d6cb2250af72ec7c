package main

import (
	"bytes"
	"errors"
	"strconv"
)

// parseCommand reads one command from data: a RESP array of bulk strings
// (`*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n`) or an inline command (`PING\r\n`). It returns
// the arguments (nil when data holds no whole command yet; empty for a blank line)
// and the bytes after the command. The arguments point into data.
func parseCommand(data []byte) (args [][]byte, rest []byte, err error) {
	if len(data) == 0 {
		return nil, data, nil
	}
	if data[0] != '*' {
		return parseInline(data)
	}
	line, after, ok := cutLine(data)
	if !ok {
		return nil, data, nil
	}
	n, err := strconv.Atoi(string(line[1:]))
	if err != nil || n > 1024*1024 {
		return nil, data, errors.New("Protocol error: invalid multibulk length")
	}
	args = make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		line, next, ok := cutLine(after)
		if !ok {
			return nil, data, nil
		}
		if len(line) == 0 || line[0] != '$' {
			return nil, data, errors.New("Protocol error: expected '$'")
		}
		size, err := strconv.Atoi(string(line[1:]))
		if err != nil || size < 0 || size > 512*1024*1024 {
			return nil, data, errors.New("Protocol error: invalid bulk length")
		}
		if len(next) < size+2 {
			return nil, data, nil
		}
		if next[size] != '\r' || next[size+1] != '\n' {
			return nil, data, errors.New("Protocol error: bulk string not terminated by CRLF")
		}
		args = append(args, next[:size])
		after = next[size+2:]
	}
	return args, after, nil
}

// parseInline reads a command written as space-separated words on one line.
func parseInline(data []byte) (args [][]byte, rest []byte, err error) {
	line, after, ok := cutLine(data)
	if !ok {
		return nil, data, nil
	}
	args = bytes.Fields(line)
	if args == nil {
		args = [][]byte{}
	}
	return args, after, nil
}

// cutLine splits data after the first "\n", without the line ending ("\r\n" or "\n").
func cutLine(data []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		return nil, data, false
	}
	line = data[:i]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, data[i+1:], true
}
