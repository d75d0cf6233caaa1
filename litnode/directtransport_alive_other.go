//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package litnode

import (
	"net"
	"syscall"
)

func rawConn(net.Conn) syscall.RawConn { return nil }

// connAlive cannot peek on this platform: an idle connection the server
// closed fails the request that reuses it, and the caller retries.
func connAlive(syscall.RawConn) bool { return true }
