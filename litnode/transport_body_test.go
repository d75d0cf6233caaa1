package litnode

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// A request body goes back to the pool only when nothing can still read
// it once Do has returned: directTransport's plain http:// requests
// answered without a redirect. A node that redirects (to http or https),
// an https node (http.Transport may write the body after the response) and
// a caller's own client keep their bodies.
func TestRequestBodyPooledOnlyWhenNothingHoldsIt(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(echo))
	defer plain.Close()
	tlsNode := httptest.NewTLSServer(http.HandlerFunc(echo))
	defer tlsNode.Close()
	redirectTo := func(target string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target+r.URL.Path, http.StatusTemporaryRedirect)
		}))
	}
	toPlain, toTLS := redirectTo(plain.URL), redirectTo(tlsNode.URL)
	defer toPlain.Close()
	defer toTLS.Close()
	direct := newDirectTransport(tlsNode.Client().Transport) // trusts the TLS node
	defer direct.CloseIdleConnections()
	withDirect := &Client{HTTPClient: &http.Client{Transport: direct}}
	withNetHTTP := &Client{HTTPClient: plain.Client()}

	for _, tc := range []struct {
		name string
		c    *Client
		url  string
		want bool
	}{
		{"plain http, direct", withDirect, plain.URL, true},
		{"redirect to plain http", withDirect, toPlain.URL, false},
		{"redirect to https", withDirect, toTLS.URL, false},
		{"https", withDirect, tlsNode.URL, false},
		{"caller's own client", withNetHTTP, plain.URL, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, tc.url+"/web/pkp/sign/v2", bytes.NewReader([]byte(`{"x":1}`)))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := tc.c.httpClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := tc.c.bodyDoneOnReturn(req, resp); got != tc.want {
				t.Fatalf("bodyDoneOnReturn = %v, want %v", got, tc.want)
			}
		})
	}
}
