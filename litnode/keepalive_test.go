package litnode_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/litnode/devnet"
)

// TestNodesClosingIdleConnections: nodes close idle keep-alive connections
// (Rocket's keep_alive, the devnet's KeepAlive); a client whose connections
// sat idle past that signs on without a single failed node request, and so
// without a retry.
func TestNodesClosingIdleConnections(t *testing.T) {
	n, err := devnet.Start(devnet.Config{Nodes: 4, Threshold: 3, PKPs: 1, KeepAlive: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	c := newClient(t, n)
	var mu sync.Mutex
	var failed []string
	c.Observe = func(o litnode.Observation) {
		if o.Err != nil && o.Node != "" {
			mu.Lock()
			failed = append(failed, o.Op+" "+o.Node+": "+o.Err.Error())
			mu.Unlock()
		}
	}
	p := n.PKPs()[0]
	key, a := delegate(t, c, p, "pkp-signing:*")
	for i := range 4 {
		if err := sign(t, c, p, auth(key, a), fmt.Sprint("after idle ", i)); err != nil {
			t.Fatalf("sign %d: %v", i, err)
		}
		time.Sleep(60 * time.Millisecond) // past the nodes' keep-alive: they close the connections
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failed) != 0 {
		t.Fatalf("node requests failed on connections the nodes had closed: %q", failed)
	}
}
