package litnode_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/litsignd/litsignd/litnode"
)

// keyRecorder records the verification_key (the client's X25519 public key)
// of every E2EE request per node.
type keyRecorder struct {
	mu   sync.Mutex
	keys map[string][]string // host → verification keys in order
}

func (k *keyRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.URL.Path != "/web/handshake" {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var env litnode.E2EEEnvelope
		if json.Unmarshal(body, &env) == nil && env.Payload.VerificationKey != "" {
			k.mu.Lock()
			k.keys[r.URL.Host] = append(k.keys[r.URL.Host], env.Payload.VerificationKey)
			k.mu.Unlock()
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (k *keyRecorder) take() map[string][]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := k.keys
	k.keys = map[string][]string{}
	return out
}

// TestE2EEKeyReusePerNodePerHandshake checks the default key lifetime of
// docs/e2ee-key-reuse.md: one client key pair per node, reused across
// requests until the next handshake, never shared between nodes; and with
// FreshE2EEKeys a new key pair for every request.
func TestE2EEKeyReusePerNodePerHandshake(t *testing.T) {
	n := startDevnet(t)
	p := n.PKPs()[0]
	for _, fresh := range []bool{false, true} {
		rec := &keyRecorder{keys: map[string][]string{}}
		c := newClient(t, n)
		c.HTTPClient = &http.Client{Transport: rec}
		c.FreshE2EEKeys = fresh
		key, a := delegate(t, c, p, "pkp-signing:*")
		sa := auth(key, a)
		rec.take()
		for i := range 3 {
			if err := sign(t, c, p, sa, "reuse "+string(rune('a'+i))); err != nil {
				t.Fatal(err)
			}
		}
		before := rec.take()
		if err := c.Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := sign(t, c, p, sa, "after refresh"); err != nil {
			t.Fatal(err)
		}
		after := rec.take()

		seen := map[string]string{} // key → node
		for node, keys := range before {
			for _, k := range keys {
				if other, ok := seen[k]; ok && other != node {
					t.Errorf("fresh=%v: key %s used for nodes %s and %s", fresh, k, node, other)
				}
				seen[k] = node
			}
			distinct := map[string]bool{}
			for _, k := range keys {
				distinct[k] = true
			}
			switch {
			case !fresh && len(distinct) != 1:
				t.Errorf("node %s: %d requests used %d key pairs; want 1 per handshake", node, len(keys), len(distinct))
			case fresh && len(distinct) != len(keys):
				t.Errorf("FreshE2EEKeys: node %s: %d requests used only %d key pairs", node, len(keys), len(distinct))
			}
		}
		for node, keys := range after {
			for _, k := range keys {
				if _, ok := seen[k]; ok {
					t.Errorf("fresh=%v: node %s: key %s survived the handshake", fresh, node, k)
				}
			}
		}
		if len(before) == 0 || len(after) == 0 {
			t.Fatalf("recorded no requests: %v %v", before, after)
		}
	}
}
