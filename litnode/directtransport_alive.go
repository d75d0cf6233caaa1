//go:build linux || darwin || freebsd || netbsd || openbsd

package litnode

import (
	"errors"
	"net"
	"syscall"
)

// rawConn is the connection's descriptor access, for connAlive; nil
// when the connection has none (connAlive then assumes it alive).
func rawConn(c net.Conn) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// connAlive reports whether an idle connection can carry a request: the
// peer has not closed it and sent nothing unasked. One non-blocking peek.
func connAlive(rc syscall.RawConn) bool {
	if rc == nil {
		return true
	}
	alive := false
	err := rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Only "would block" means open and quiet. No error means the
		// peer closed (0 bytes) or sent bytes nobody asked for; any
		// other error, a broken connection.
		alive = errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK)
		return true
	})
	return err == nil && alive
}
