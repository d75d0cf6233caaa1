package devnet

import (
	"net"
	"net/http"
	"time"
)

// Fault is a failure injected into one node (docs/naga-wire.md §13 "Failure
// injection"). The zero Fault is a healthy node. Fields combine; Down and
// Hang take precedence over the rest.
type Fault struct {
	// Down makes every connection fail: the node accepts the TCP connection
	// and resets it without answering.
	Down bool
	// Delay holds every answer back this long. It counts against the node's
	// own timeout (Config.NodeTimeout): a longer delay is answered 408
	// request_timeout when the timeout fires.
	Delay time.Duration
	// Hang never answers: the request stays open until the client gives up
	// or the network closes. The node timeout does not apply.
	Hang bool
	// Timeout408 answers E2EE requests with the node's timeout response:
	// encrypted {ok:false, error:"Request timed out",
	// errorObject:"request_timeout"} with HTTP 408 (docs/naga-wire.md §11.1); the
	// handshake gets the plain form.
	Timeout408 bool
	// BadShare corrupts this node's ECDSA share (a wrong s), so the combined
	// signature does not verify.
	BadShare bool
	// WrongR makes this node sign with a different nonce, so its share
	// carries another R and the shares are incompatible.
	WrongR bool
	// CantDecrypt answers every E2EE request with the plain "can't decrypt"
	// 500, as a node whose identity keys rotated past the client's
	// (docs/naga-wire.md §5.5).
	CantDecrypt bool
}

// SetFault sets the node's fault; Fault{} heals it.
func (nd *Node) SetFault(f Fault) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	nd.fault = f
}

// Fault returns the node's current fault.
func (nd *Node) Fault() Fault {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.fault
}

// dropConnection resets the client's connection without an answer.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // RST, not FIN
	}
	conn.Close()
}
