package evio

// #include "evio_go.h"
import "C"

import (
	"net"
	"strconv"
	"unsafe"
)

// toAddr converts an address decoded by the C glue into the net.Addr type of the
// network: *net.TCPAddr, *net.UDPAddr or *net.UnixAddr. It never returns nil: an
// address C could not give is the zero address of that type.
func toAddr(nw string, a *C.evio_go_addr) net.Addr {
	switch a.family {
	case C.EVIO_GO_AF_INET, C.EVIO_GO_AF_INET6:
		n := 4
		if a.family == C.EVIO_GO_AF_INET6 {
			n = 16
		}
		ip := make(net.IP, n)
		copy(ip, unsafe.Slice((*byte)(unsafe.Pointer(&a.ip[0])), n))
		port := int(a.port)
		zone := ""
		if a.scope_id != 0 {
			zone = zoneName(int(a.scope_id))
		}
		if nw == "udp" {
			return &net.UDPAddr{IP: ip, Port: port, Zone: zone}
		}
		return &net.TCPAddr{IP: ip, Port: port, Zone: zone}
	case C.EVIO_GO_AF_UNIX:
		path := C.GoStringN(&a.path[0], a.path_len)
		return &net.UnixAddr{Name: path, Net: "unix"}
	}
	switch nw {
	case "udp":
		return &net.UDPAddr{}
	case "unix":
		return &net.UnixAddr{Net: "unix"}
	}
	return &net.TCPAddr{}
}

func zoneName(index int) string {
	if ifi, err := net.InterfaceByIndex(index); err == nil {
		return ifi.Name
	}
	return strconv.Itoa(index)
}
