package litnode

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"
)

// directTransport is the default transport for node requests over plain
// http:// (self-run networks, docs/naga-wire.md §2.1 naga-local): HTTP/1.1
// with keep-alive, each exchange done on the caller's goroutine. Parsing
// and writing are net/http's own (Request.Write, ReadResponse); what
// differs from http.Transport is only who runs them. http.Transport hands
// every request to a per-connection writer goroutine and every response
// back from a reader goroutine, two goroutine switches and their futex
// wake-ups per request, about a tenth of the daemon's CPU per pkp-sign job
// at 3 nodes (README "Performance"). Everything else (https, a proxy) goes
// to the fallback transport.
//
// What it keeps from http.Transport: idle connections per host (at most
// maxIdlePerHost, none older than idleTimeout), the context's deadline and
// cancellation on every read and write, a connection dropped on any error,
// on a response that closes it or whose body was not read to the end.
// Without a reader goroutine watching idle connections, a connection is
// checked just before reuse instead: one that the server closed (or that
// holds unread bytes) is discarded; and none is kept longer than a node
// keeps it (directIdleTimeout), so a node's keep-alive timeout does not
// fail a request. As http.Transport does for a POST, a request that was
// written is never sent again: a failure after the write is the caller's
// to retry (litnode's per-operation retries, docs/naga-wire.md §11).
type directTransport struct {
	fallback       http.RoundTripper
	dialer         net.Dialer
	maxIdlePerHost int
	idleTimeout    time.Duration
	bufferSize     int

	mu    sync.Mutex
	idle  map[string][]*directConn
	sweep *time.Timer // pending sweep of expired idle connections; nil: none
}

// directIdleTimeout is how long an idle connection is kept for reuse: less
// than a Lit node's own keep-alive (Rocket's keep_alive, 5 s by default),
// so that the node never closes a connection just as a request goes out on
// it. The peek before reuse covers a node that closes sooner, except for a
// close that crosses the request on the wire; that request fails and the
// operation's retries take over (docs/naga-wire.md §3).
const directIdleTimeout = 4 * time.Second

func newDirectTransport(fallback http.RoundTripper) *directTransport {
	return &directTransport{
		fallback:       fallback,
		dialer:         net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second},
		maxIdlePerHost: 64,
		idleTimeout:    directIdleTimeout,
		// A request (hex ciphertext of a few KiB) and its answer each fit
		// one buffer.
		bufferSize: 32 << 10,
		idle:       map[string][]*directConn{},
	}
}

// directConn is one HTTP/1.1 connection, used by one request at a time.
type directConn struct {
	t         *directTransport
	key       string
	conn      net.Conn
	raw       syscall.RawConn // for connAlive; nil: no peek
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
}

// RoundTrip implements http.RoundTripper.
func (t *directTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" || req.URL.Host == "" {
		return t.fallback.RoundTrip(req)
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		closeBody(req)
		return nil, err
	}
	pc, err := t.get(ctx, hostPort(req.URL))
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := pc.roundTrip(req)
	if err != nil {
		pc.close()
		return nil, err
	}
	return resp, nil
}

// CloseIdleConnections closes the idle connections (http.Client calls it).
func (t *directTransport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*directConn{}
	if t.sweep != nil {
		t.sweep.Stop()
		t.sweep = nil
	}
	t.mu.Unlock()
	for _, conns := range idle {
		for _, pc := range conns {
			pc.close()
		}
	}
	if c, ok := t.fallback.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// get returns a live idle connection to key, most recently used first, or
// dials one.
func (t *directTransport) get(ctx context.Context, key string) (*directConn, error) {
	now := time.Now()
	for {
		t.mu.Lock()
		conns := t.idle[key]
		if len(conns) == 0 {
			t.mu.Unlock()
			break
		}
		pc := conns[len(conns)-1]
		conns[len(conns)-1] = nil
		t.idle[key] = conns[:len(conns)-1]
		t.mu.Unlock()
		if now.Sub(pc.idleSince) < t.idleTimeout && pc.br.Buffered() == 0 && connAlive(pc.raw) {
			return pc, nil
		}
		pc.close()
	}
	conn, err := t.dialer.DialContext(ctx, "tcp", key)
	if err != nil {
		return nil, err
	}
	return &directConn{t: t, key: key, conn: conn, raw: rawConn(conn), br: bufio.NewReaderSize(conn, t.bufferSize), bw: bufio.NewWriterSize(conn, t.bufferSize)}, nil
}

// put returns a connection whose exchange completed to the idle set.
func (t *directTransport) put(pc *directConn) {
	// An idle connection carries no deadline: the last request's would
	// fail the peek before reuse once it passed.
	if err := pc.conn.SetDeadline(time.Time{}); err != nil {
		pc.close()
		return
	}
	pc.idleSince = time.Now()
	t.mu.Lock()
	if len(t.idle[pc.key]) < t.maxIdlePerHost {
		t.idle[pc.key] = append(t.idle[pc.key], pc)
		pc = nil
		if t.sweep == nil {
			t.sweep = time.AfterFunc(t.idleTimeout, t.sweepIdle)
		}
	}
	t.mu.Unlock()
	if pc != nil {
		pc.close()
	}
}

// sweepIdle closes the connections idle for idleTimeout or longer (a node
// that left the network, a quiet period), as http.Transport's idle timers
// do, and runs again while any are left.
func (t *directTransport) sweepIdle() {
	cutoff := time.Now().Add(-t.idleTimeout)
	var expired []*directConn
	t.mu.Lock()
	oldest := time.Time{}
	for key, conns := range t.idle {
		kept := conns[:0]
		for _, pc := range conns {
			if pc.idleSince.After(cutoff) {
				kept = append(kept, pc)
				if oldest.IsZero() || pc.idleSince.Before(oldest) {
					oldest = pc.idleSince
				}
			} else {
				expired = append(expired, pc)
			}
		}
		clear(conns[len(kept):])
		if len(kept) == 0 {
			delete(t.idle, key)
		} else {
			t.idle[key] = kept
		}
	}
	t.sweep = nil
	if !oldest.IsZero() {
		t.sweep = time.AfterFunc(time.Until(oldest.Add(t.idleTimeout)), t.sweepIdle)
	}
	t.mu.Unlock()
	for _, pc := range expired {
		pc.close()
	}
}

// aLongTimeAgo is a deadline in the past: it aborts a blocked read or
// write at once.
var aLongTimeAgo = time.Unix(1, 0)

// roundTrip writes req and reads the response head. The response body
// reads from the connection; its Close returns the connection to the idle
// set when the exchange completed cleanly.
func (pc *directConn) roundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	deadline, _ := ctx.Deadline() // zero: none
	if err := pc.conn.SetDeadline(deadline); err != nil {
		closeBody(req)
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = pc.conn.SetDeadline(aLongTimeAgo) })
	err := req.Write(pc.bw)
	if err == nil {
		err = pc.bw.Flush()
	}
	var resp *http.Response
	for err == nil {
		resp, err = http.ReadResponse(pc.br, req)
		// 1xx answers other than 101 are interim: the final one follows.
		if err != nil || resp.StatusCode < 100 || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	if err != nil {
		stop()
		return nil, contextError(ctx, err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		stop()
		return nil, fmt.Errorf("litnode: unexpected %s from %s", resp.Status, pc.key)
	}
	// An empty body (Content-Length: 0, 204, 304) is complete unread.
	resp.Body = &directBody{pc: pc, ctx: ctx, body: resp.Body, stop: stop, reusable: !resp.Close && !req.Close, eof: resp.Body == http.NoBody}
	return resp, nil
}

func (pc *directConn) close() { _ = pc.conn.Close() }

// directBody is a response body on a directConn.
type directBody struct {
	pc       *directConn
	ctx      context.Context
	body     io.ReadCloser
	stop     func() bool
	reusable bool
	eof      bool
	closed   bool
}

func (b *directBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, errors.New("litnode: read on a closed response body")
	}
	n, err := b.body.Read(p)
	switch {
	case err == io.EOF:
		b.eof = true
	case err != nil:
		err = contextError(b.ctx, err)
	}
	return n, err
}

// Close hands the connection back for reuse if the body was read to its
// end, the response allows keep-alive and the context never aborted the
// connection's deadline; otherwise it closes the connection.
func (b *directBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	stopped := b.stop() // false: the context's abort ran (or is running)
	if b.eof && b.reusable && stopped {
		b.pc.t.put(b.pc)
	} else {
		b.pc.close()
	}
	return nil
}

// contextError reports a failure caused by the context's end as the
// context's error, as http.Transport does.
func contextError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	// The connection's deadline is the context's: it can fire a moment
	// before the context's own timer does.
	var ne net.Error
	if d, ok := ctx.Deadline(); ok && errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(d) {
		return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return err
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// hostPort is the URL's host and port, the http port when it names none.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
	}
	return net.JoinHostPort(u.Hostname(), port)
}
