//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package litnode

import "net"

// connAlive cannot peek on this platform: an idle connection the server
// closed fails the request that reuses it, and the caller retries.
func connAlive(net.Conn) bool { return true }
