package litnode_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/litnode/devnet"
)

// startDevnet runs a 4-node devnet (threshold 3) for one test.
func startDevnet(t testing.TB) *devnet.Network {
	t.Helper()
	n, err := devnet.Start(devnet.Config{Nodes: 4, Threshold: 3, PKPs: 2, NodeTimeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("devnet.Start: %v", err)
	}
	t.Cleanup(n.Close)
	return n
}

// newClient is a client of n. Its timeouts are far above what a request
// needs on a quiet machine: the race detector on a loaded 2-core machine
// makes node work (pairings, goja) many times slower, and a test that does
// not test timeouts must not fail on one. Tests of hung nodes set their own.
func newClient(t testing.TB, n *devnet.Network) *litnode.Client {
	t.Helper()
	c := &litnode.Client{
		Network:          n.NetworkConfig(),
		HandshakeTimeout: 15 * time.Second,
		RequestTimeout:   15 * time.Second,
		RetryBackoff:     10 * time.Millisecond,
		MaxAttempts:      5,
	}
	t.Cleanup(c.Close)
	return c
}

// delegate obtains a delegation for a fresh session key from the network,
// with the dev PKP's owner.
func delegate(t testing.TB, c *litnode.Client, p devnet.DevPKP, resources string) (*litnode.SessionKey, litnode.AuthSig) {
	t.Helper()
	key, err := litnode.GenerateSessionKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	reqs, err := litnode.ParseResourceShorthand(resources)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard
	defer cancel()
	a, err := c.SignSessionKey(ctx, litnode.SignSessionKeyRequest{
		PKP: p.PublicKey, SessionKey: key.PublicKey(), Owner: p.OwnerKey, Resources: reqs, Expiration: time.Now().Add(15 * time.Minute),
	})
	if err != nil {
		t.Fatalf("SignSessionKey: %v", err)
	}
	return key, a
}

func auth(key *litnode.SessionKey, a litnode.AuthSig) litnode.SessionAuth {
	return litnode.SessionAuth{Key: key, Delegation: a, Expiration: time.Now().Add(15 * time.Minute)}
}

// sign runs a pkpSign and checks the signature recovers to the PKP address
// over keccak256(msg).
func sign(t testing.TB, c *litnode.Client, p devnet.DevPKP, sa litnode.SessionAuth, msg string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard
	defer cancel()
	sig, err := c.PKPSign(ctx, litnode.PKPSignRequest{PKP: p.PublicKey, Message: []byte(msg), Chain: litnode.ChainEthereum, Auth: sa})
	if err != nil {
		return err
	}
	eth := sig.Ethereum()
	eth[64] -= 27
	pub, err := crypto.SigToPub(crypto.Keccak256([]byte(msg)), eth[:])
	if err != nil {
		t.Fatalf("ecrecover: %v", err)
	}
	if got := crypto.PubkeyToAddress(*pub); got != p.PublicKey.Address() {
		t.Fatalf("signature recovers to %s, want the PKP's %s", got.Hex(), p.PublicKey.Address().Hex())
	}
	return nil
}

func TestClientDiscoveryAndHandshake(t *testing.T) {
	n := startDevnet(t)
	c := newClient(t, n)
	if err := c.Connect(context.Background()); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	s, ok := c.State()
	if !ok {
		t.Fatal("no state after Connect")
	}
	if s.Threshold != 3 || len(s.Nodes) != 4 || s.Epoch != n.Epoch() || !s.NetworkPublicKey.Equal(n.NetworkPublicKey()) {
		t.Errorf("state = %+v; want threshold 3, 4 nodes, epoch %d and the devnet's key", s, n.Epoch())
	}
	for _, node := range n.Nodes() {
		var saw bool
		for _, r := range node.Requests() {
			if r.Path == "/web/handshake/" {
				saw = true
			}
		}
		if !saw {
			t.Errorf("node %s saw no handshake", node.URL())
		}
	}
}

func TestClientSignSessionKeyAndPKPSign(t *testing.T) {
	n := startDevnet(t)
	c := newClient(t, n)
	p := n.PKPs()[0]
	key, a := delegate(t, c, p, "pkp-signing:*,lit-action-execution:*")
	// The network's delegation passes litsignd's node-equivalent check.
	d, err := litnode.Verify(a, litnode.VerifyOptions{NetworkKey: n.NetworkPublicKey(), SessionKey: key.PublicKey(), PKP: p.PublicKey})
	if err != nil {
		t.Fatalf("Verify(network delegation) = %v", err)
	}
	if !d.Grants(p.PublicKey.ResourceKey(), litnode.AbilityPKPSigning) {
		t.Error("delegation does not grant pkp-signing")
	}
	if err := sign(t, c, p, auth(key, a), "hello litsignd"); err != nil {
		t.Fatalf("PKPSign: %v", err)
	}
	// Other chains' hashing.
	for _, chain := range []litnode.SigningChain{litnode.ChainBitcoin, litnode.ChainRaw} {
		msg := []byte("bitcoin message")
		if chain == litnode.ChainRaw {
			msg = crypto.Keccak256([]byte("raw"))
		}
		sig, err := c.PKPSign(context.Background(), litnode.PKPSignRequest{PKP: p.PublicKey, Message: msg, Chain: chain, Auth: auth(key, a)})
		if err != nil {
			t.Fatalf("PKPSign(%s): %v", chain, err)
		}
		digest, _ := litnode.Digest(chain, msg)
		rs := sig.RS()
		if !crypto.VerifySignature(p.PublicKey[:], digest[:], rs[:]) {
			t.Errorf("PKPSign(%s): signature does not verify over the %s digest", chain, chain)
		}
	}
}

func TestClientRejections(t *testing.T) {
	n := startDevnet(t)
	c := newClient(t, n)
	p, q := n.PKPs()[0], n.PKPs()[1]
	key, a := delegate(t, c, p, "pkp-signing:*")

	t.Run("delegation for another session key", func(t *testing.T) {
		other, _ := litnode.GenerateSessionKey(nil)
		err := sign(t, c, p, auth(other, a), "x")
		if !errors.Is(err, litnode.ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
	})
	t.Run("delegation without pkp-signing", func(t *testing.T) {
		k2, a2 := delegate(t, c, p, "lit-action-execution:*")
		err := sign(t, c, p, auth(k2, a2), "x")
		if !errors.Is(err, litnode.ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
	})
	t.Run("PKP not owned by the EOA", func(t *testing.T) {
		k3, _ := litnode.GenerateSessionKey(nil)
		reqs, _ := litnode.ParseResourceShorthand("pkp-signing:*")
		_, err := c.SignSessionKey(context.Background(), litnode.SignSessionKeyRequest{
			PKP: p.PublicKey, SessionKey: k3.PublicKey(), Owner: q.OwnerKey, Resources: reqs, Expiration: time.Now().Add(time.Hour)})
		var ne *litnode.NodeError
		if !errors.Is(err, litnode.ErrUnauthorized) || !errors.As(err, &ne) || ne.Code != "NodePKPNotAuthorized" {
			t.Fatalf("err = %v, want NodePKPNotAuthorized", err)
		}
	})
	t.Run("expired session sig", func(t *testing.T) {
		old := &litnode.Client{Network: n.NetworkConfig(), RequestTimeout: 15 * time.Second, Now: func() time.Time { return time.Now().Add(-10 * time.Minute) }}
		defer old.Close()
		sa := auth(key, a)
		sa.TTL = time.Minute
		err := sign(t, old, p, sa, "x")
		var ne *litnode.NodeError
		if !errors.Is(err, litnode.ErrUnauthorized) || !errors.As(err, &ne) || ne.Code != "NodeExpWrongOrTooLarge" || ne.Status != 403 {
			t.Fatalf("err = %v, want NodeExpWrongOrTooLarge 403", err)
		}
	})
	t.Run("maxPrice below price", func(t *testing.T) {
		n.SetPrice(litnode.ProductSign, big.NewInt(1))
		cheap := &litnode.Client{Network: n.NetworkConfig(), RequestTimeout: 15 * time.Second, PriceTTL: time.Hour}
		defer cheap.Close()
		if err := sign(t, cheap, p, auth(key, a), "warm the price cache"); err != nil {
			t.Fatal(err)
		}
		// The price rises on chain; the client's cached prices and budget
		// give caps below it: the nodes refuse with 402.
		n.SetPrice(litnode.ProductSign, big.NewInt(1_000_000))
		defer n.SetPrice(litnode.ProductSign, big.NewInt(1))
		// The budget covers the cached prices (3 × 1) but gives each node a
		// cap of about 33 333, below the new on-chain price.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := cheap.PKPSign(ctx, litnode.PKPSignRequest{PKP: p.PublicKey, Message: []byte("x"), Auth: auth(key, a), UserMaxPrice: big.NewInt(100_000)})
		if !errors.Is(err, litnode.ErrPaymentFailed) {
			t.Fatalf("err = %v, want ErrPaymentFailed", err)
		}
	})
	t.Run("payment none", func(t *testing.T) {
		// Neither the PKP (self-pay) nor its owner (PKP owner pays) has funds.
		for _, addr := range []common.Address{p.PublicKey.Address(), p.OwnerAddress} {
			n.SetPayment(addr, devnet.PaymentNone)
			defer n.SetPayment(addr, devnet.PaymentUnlimited)
		}
		err := sign(t, c, p, auth(key, a), "x")
		var ne *litnode.NodeError
		if !errors.Is(err, litnode.ErrPaymentFailed) || !errors.As(err, &ne) || ne.Status != 402 || ne.Code != "PaymentFailed" {
			t.Fatalf("err = %v, want 402 PaymentFailed", err)
		}
	})
}

// Every single-node fault is survived: the client refreshes and retries on
// another node set.
func TestClientSurvivesSingleNodeFaults(t *testing.T) {
	n := startDevnet(t)
	c := newClient(t, n)
	p := n.PKPs()[0]
	key, a := delegate(t, c, p, "pkp-signing:*")
	// A hung node costs a request timeout per hit; a healthy answer slower
	// than this (a loaded machine) is retried like any failure.
	c.RequestTimeout = 5 * time.Second
	faults := map[string]devnet.Fault{
		"down":          {Down: true},
		"delay":         {Delay: 300 * time.Millisecond},
		"hang":          {Hang: true},
		"408":           {Timeout408: true},
		"bad share":     {BadShare: true},
		"wrong R":       {WrongR: true},
		"can't decrypt": {CantDecrypt: true},
	}
	for name, f := range faults {
		hit := 0
		for i := range n.Nodes() {
			t.Run(name+"/node"+string(rune('0'+i)), func(t *testing.T) {
				node := n.Nodes()[i]
				node.ResetRequests()
				node.SetFault(f)
				defer node.SetFault(devnet.Fault{})
				if err := sign(t, c, p, auth(key, a), "fault "+name); err != nil {
					t.Fatalf("PKPSign with %s on %s: %v", name, node.URL(), err)
				}
				for _, r := range node.Requests() {
					if r.Path == "/web/pkp/sign/v2" || (f.Down && r.Status == 0) {
						hit++
						break
					}
				}
			})
		}
		// The fault must really have been in the way, not merely on a node
		// the client never chose.
		if hit == 0 {
			t.Errorf("fault %q was never hit by a request", name)
		}
	}
}

func TestClientFailsFastWithoutThreshold(t *testing.T) {
	n := startDevnet(t)
	c := newClient(t, n)
	p := n.PKPs()[0]
	key, a := delegate(t, c, p, "pkp-signing:*")
	for _, node := range n.Nodes()[:2] {
		node.SetFault(devnet.Fault{Down: true})
	}
	for _, node := range n.Nodes()[2:] {
		node.ResetRequests()
	}
	err := sign(t, c, p, auth(key, a), "x")
	if !errors.Is(err, litnode.ErrNotEnoughNodes) && !errors.Is(err, litnode.ErrNodeUnavailable) {
		t.Fatalf("err = %v, want ErrNotEnoughNodes or ErrNodeUnavailable", err)
	}
	// Failing fast means no retry rounds against a network that cannot
	// reach its threshold: each node still up saw at most one sign request
	// (counted, not timed, so a loaded machine cannot make this flaky).
	for _, node := range n.Nodes()[2:] {
		signs := 0
		for _, r := range node.Requests() {
			if r.Path == "/web/pkp/sign/v2" {
				signs++
			}
		}
		if signs > 1 {
			t.Errorf("node %s got %d sign requests: the client retried a network below threshold", node.URL(), signs)
		}
	}
}

func TestClientSurvivesEpochAdvances(t *testing.T) {
	n := startDevnet(t)
	c := newClient(t, n)
	p := n.PKPs()[0]
	key, a := delegate(t, c, p, "pkp-signing:*")
	if err := sign(t, c, p, auth(key, a), "before"); err != nil {
		t.Fatal(err)
	}
	n.AdvanceEpoch()
	n.AdvanceEpoch() // the client's identity keys are now two rotations old
	if err := sign(t, c, p, auth(key, a), "after two epochs"); err != nil {
		t.Fatalf("PKPSign after two epoch advances: %v", err)
	}
	if s, _ := c.State(); s.Epoch != n.Epoch() {
		t.Errorf("client epoch %d, network %d", s.Epoch, n.Epoch())
	}
}

func BenchmarkPKPSignDevnet(b *testing.B) {
	n := startDevnet(b)
	c := newClient(b, n)
	p := n.PKPs()[0]
	key, a := delegate(b, c, p, "pkp-signing:*")
	sa := auth(key, a)
	ctx := context.Background()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.PKPSign(ctx, litnode.PKPSignRequest{PKP: p.PublicKey, Message: []byte("bench"), Auth: sa}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// A node leaving the validator set is dropped at the next refresh (the
// epoch watch or a failure); when it joins again it is used again.
func TestClientFollowsValidatorSet(t *testing.T) {
	n := startDevnet(t)
	c := newClient(t, n)
	p := n.PKPs()[0]
	key, a := delegate(t, c, p, "pkp-signing:*")
	leaving := n.Nodes()[0]
	n.RemoveValidator(0)
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.State(); len(s.Nodes) != 3 || slices.Contains(s.Nodes, leaving.URL()) {
		t.Fatalf("after the node left: nodes %v", s.Nodes)
	}
	leaving.ResetRequests()
	for i := range 3 {
		if err := sign(t, c, p, auth(key, a), fmt.Sprint("without node 0, ", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range leaving.Requests() {
		if r.Path == "/web/pkp/sign/v2" {
			t.Fatal("the client sent a request to a node that left the validator set")
		}
	}
	n.AddValidator(0)
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.State(); len(s.Nodes) != 4 {
		t.Fatalf("after the node joined: nodes %v", s.Nodes)
	}
	if err := sign(t, c, p, auth(key, a), "with node 0 back"); err != nil {
		t.Fatal(err)
	}
}

// WatchEpoch also re-handshakes a quiet connection older than MaxStateAge,
// so readiness ("handshake fresh") holds on an idle daemon.
func TestClientWatchRefreshesOldState(t *testing.T) {
	n := startDevnet(t)
	c := newClient(t, n)
	c.MaxStateAge = 50 * time.Millisecond
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	first, _ := c.State()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.WatchEpoch(ctx, 20*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if s, _ := c.State(); s.ConnectedAt.After(first.ConnectedAt) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no periodic refresh")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WatchEpoch notices an epoch change on chain and re-handshakes.
func TestClientWatchEpoch(t *testing.T) {
	n := startDevnet(t)
	c := newClient(t, n)
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.WatchEpoch(ctx, 20*time.Millisecond)
	n.AdvanceEpoch()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if s, _ := c.State(); s.Epoch == n.Epoch() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("WatchEpoch did not follow the epoch change")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
