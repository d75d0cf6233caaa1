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
// (Rocket's keep_alive, the devnet's KeepAlive), here sooner than the
// client's own idle timeout; a client whose connections sat idle past the
// nodes' keep-alive signs on without a single failed node request, and so
// without a retry. The keep-alive is long enough that no node closes a
// connection between the requests of one operation, even under the race
// detector on a loaded machine: a close that crosses a request on the wire
// fails that request by design (directIdleTimeout).
func TestNodesClosingIdleConnections(t *testing.T) {
	const keepAlive = 800 * time.Millisecond
	n, err := devnet.Start(devnet.Config{Nodes: 4, Threshold: 3, PKPs: 1, KeepAlive: keepAlive})
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
	for i := range 3 {
		if err := sign(t, c, p, auth(key, a), fmt.Sprint("after idle ", i)); err != nil {
			t.Fatalf("sign %d: %v", i, err)
		}
		time.Sleep(keepAlive + 400*time.Millisecond) // past the nodes' keep-alive: they close the connections
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failed) != 0 {
		t.Fatalf("node requests failed on connections the nodes had closed: %q", failed)
	}
}
