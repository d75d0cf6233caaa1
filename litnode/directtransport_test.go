package litnode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// connCountingServer is an httptest server that counts the connections
// clients opened.
func connCountingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func echo(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"echo":%q,"id":%q}`, b, r.Header.Get("X-Request-Id"))
}

// post sends one POST through the transport and reads the whole answer.
func postDirect(t *testing.T, c *http.Client, ctx context.Context, url, body string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Request-Id", "r-"+body)
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func newDirectClient(t *testing.T) (*http.Client, *directTransport) {
	tr := newDirectTransport(http.DefaultTransport)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}, tr
}

// TestDirectTransportKeepAlive: sequential requests share one connection,
// concurrent ones get one each and never see each other's answers, and a
// chunked answer reads whole and keeps its connection.
func TestDirectTransportKeepAlive(t *testing.T) {
	srv, conns := connCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/empty" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.URL.Path == "/chunked" {
			io.WriteString(w, `{"part":1,`)
			w.(http.Flusher).Flush()
			io.WriteString(w, `"part2":2}`)
			return
		}
		echo(w, r)
	})
	c, _ := newDirectClient(t)
	for i := range 10 {
		status, body, err := postDirect(t, c, context.Background(), srv.URL+"/x", fmt.Sprint(i))
		if err != nil || status != 200 || body != fmt.Sprintf(`{"echo":"%d","id":"r-%d"}`, i, i) {
			t.Fatalf("request %d: %d %q %v", i, status, body, err)
		}
	}
	status, body, err := postDirect(t, c, context.Background(), srv.URL+"/chunked", "c")
	if err != nil || status != 200 || body != `{"part":1,"part2":2}` {
		t.Fatalf("chunked: %d %q %v", status, body, err)
	}
	// An empty answer closed unread keeps its connection too.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/empty", strings.NewReader("e"))
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("empty: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, _, err := postDirect(t, c, context.Background(), srv.URL, "after-empty"); err != nil {
		t.Fatal(err)
	}
	// A request's deadline passing while its connection is idle does not
	// make the connection unusable.
	dctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, _, err = postDirect(t, c, dctx, srv.URL, "short-deadline")
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(80 * time.Millisecond) // past that deadline
	if _, _, err := postDirect(t, c, context.Background(), srv.URL, "after-deadline"); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("15 sequential requests opened %d connections, want 1", n)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			want := fmt.Sprintf(`{"echo":"p%d","id":"r-p%d"}`, i, i)
			if _, body, err := postDirect(t, c, context.Background(), srv.URL, fmt.Sprint("p", i)); err != nil || body != want {
				t.Errorf("concurrent %d: %q %v, want %s", i, body, err, want)
			}
		})
	}
	wg.Wait()
	if n := conns.Load(); n > 17 {
		t.Errorf("16 concurrent requests opened %d connections", n)
	}
}

// TestDirectTransportDropsUnusableConnections: a connection is not reused
// after the server closed it while idle (the next request still works),
// after "Connection: close", after a body left unread, after unasked
// bytes following an answer, or after its request's context ended.
func TestDirectTransportDropsUnusableConnections(t *testing.T) {
	var mode atomic.Value
	mode.Store("")
	release := make(chan struct{})
	srv, conns := connCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch mode.Load().(string) {
		case "close":
			w.Header().Set("Connection", "close")
		case "big":
			io.WriteString(w, strings.Repeat("x", 256<<10))
			return
		case "extra":
			conn, bw, _ := w.(http.Hijacker).Hijack()
			bw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n")
			bw.Flush()
			defer conn.Close()
			time.Sleep(100 * time.Millisecond) // keep it open: the client must drop it itself
			return
		case "block":
			<-release
		}
		echo(w, r)
	})
	var once sync.Once
	closeRelease := func() { once.Do(func() { close(release) }) }
	t.Cleanup(closeRelease) // before the server's Close, which waits for handlers
	c, tr := newDirectClient(t)
	ctx := context.Background()
	opened := func() int32 { return conns.Load() }
	must := func(what string) {
		t.Helper()
		if _, body, err := postDirect(t, c, ctx, srv.URL, what); err != nil || !strings.Contains(body, what) {
			t.Fatalf("%s: %q %v", what, body, err)
		}
	}
	must("first")

	// The server closes the idle connection: the next request opens another.
	srv.CloseClientConnections()
	waitClosed(t, tr)
	must("after-idle-close")
	if opened() != 2 {
		t.Fatalf("after an idle close: %d connections, want 2", opened())
	}

	mode.Store("close")
	must("conn-close")
	mode.Store("")
	must("after-conn-close")
	if opened() != 3 {
		t.Fatalf("after Connection: close: %d connections, want 3", opened())
	}

	mode.Store("big")
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("big"))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(resp.Body, make([]byte, 10))
	resp.Body.Close()
	mode.Store("")
	must("after-unread-body")
	if opened() != 4 {
		t.Fatalf("after an unread body: %d connections, want 4", opened())
	}

	mode.Store("extra")
	if status, body, err := postDirect(t, c, ctx, srv.URL, "extra"); err != nil || status != 200 || body != "ok" {
		t.Fatalf("extra: %d %q %v", status, body, err)
	}
	mode.Store("")
	must("after-extra-bytes")
	if opened() != 5 {
		t.Fatalf("after unasked bytes: %d connections, want 5", opened())
	}

	mode.Store("block")
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, _, err := postDirect(t, c, cctx, srv.URL, "blocked"); done <- err }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v, want context.Canceled", err)
	}
	dctx, dcancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer dcancel()
	if _, _, err := postDirect(t, c, dctx, srv.URL, "deadline"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("request past its deadline: %v, want context.DeadlineExceeded", err)
	}
	closeRelease()
	mode.Store("")
	before := opened()
	must("after-cancel")
	if opened() != before+1 {
		t.Fatalf("a connection whose request was cancelled was reused (%d -> %d connections)", before, opened())
	}
}

// waitClosed waits until the transport's idle connections see the server's
// close (loopback delivers it at once; this only absorbs scheduling).
func waitClosed(t *testing.T, tr *directTransport) {
	t.Helper()
	for range 1000 {
		tr.mu.Lock()
		alive := false
		for _, conns := range tr.idle {
			for _, pc := range conns {
				alive = alive || connAlive(pc.raw)
			}
		}
		tr.mu.Unlock()
		if !alive {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the server's close never reached the idle connection")
}

// TestDirectTransportFallback: https (and any other scheme) goes to the
// fallback transport untouched.
func TestDirectTransportFallback(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(echo))
	defer srv.Close()
	tr := newDirectTransport(srv.Client().Transport)
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	if _, body, err := postDirect(t, c, context.Background(), srv.URL, "tls"); err != nil || !strings.Contains(body, `"echo":"tls"`) {
		t.Fatalf("https through the fallback: %q %v", body, err)
	}
	tr.mu.Lock()
	n := len(tr.idle)
	tr.mu.Unlock()
	if n != 0 {
		t.Fatalf("an https request left %d hosts in the direct transport's idle set", n)
	}
}

// TestDirectTransportAnswersMatchNetHTTP: the same requests through
// http.Transport and directTransport give the same statuses, headers the
// caller reads, and bodies.
func TestDirectTransportAnswersMatchNetHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/err" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
		}
		echo(w, r)
	}))
	defer srv.Close()
	direct, _ := newDirectClient(t)
	for _, path := range []string{"/ok", "/err"} {
		var got [2]string
		for i, c := range []*http.Client{srv.Client(), direct} {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader([]byte(`{"a":1}`)))
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got[i] = fmt.Sprint(resp.StatusCode, resp.Header.Get("Content-Type"), resp.ContentLength, string(b))
		}
		if got[0] != got[1] {
			t.Errorf("%s: net/http %q, direct %q", path, got[0], got[1])
		}
	}
}

// TestDirectTransportClosesExpiredIdleConnections: idle connections are
// closed once idle for the idle timeout, with no request to trigger it (a
// node that left the network must not keep descriptors open for ever).
func TestDirectTransportClosesExpiredIdleConnections(t *testing.T) {
	var closed atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(echo))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	tr := newDirectTransport(http.DefaultTransport)
	tr.idleTimeout = 50 * time.Millisecond
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			if _, _, err := postDirect(t, c, context.Background(), srv.URL, fmt.Sprint(i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	tr.mu.Lock()
	idle := len(tr.idle[hostPort(mustURL(t, srv.URL))])
	tr.mu.Unlock()
	if idle == 0 {
		t.Fatal("no idle connection after the requests")
	}
	deadline := time.Now().Add(20 * time.Second) // a hang guard, not a timing target
	for closed.Load() < int32(idle) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := closed.Load(); n < int32(idle) {
		t.Fatalf("%d of %d idle connections closed by the server's count", n, idle)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.idle) != 0 || tr.sweep != nil {
		t.Fatalf("after the sweep: %d hosts idle, sweep pending %v", len(tr.idle), tr.sweep != nil)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
