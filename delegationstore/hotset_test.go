package delegationstore

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/litsignd/litsignd/internal/natstest"
	"github.com/litsignd/litsignd/litnode"
)

// runStore opens a store and runs it until the test ends, waiting for Ready.
func runStore(t *testing.T, cfg Config) (*Store, *prometheus.Registry) {
	t.Helper()
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	s, err := Open(t.Context(), js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-s.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("store not ready")
	}
	return s, reg
}

// The hot set holds at most HotDelegations unsealed delegations; every
// stored one stays usable (read from the bucket and unsealed on a miss),
// and a replaced or revoked delegation leaves the hot set with its secret.
func TestHotSetBounded(t *testing.T) {
	s, reg := runStore(t, Config{KEK: newTestKeyring(t, "k1"), HotDelegations: 2})
	now := time.Now()
	var hs []*litnode.HandOff
	for range 5 {
		h := newTestHandOff(t, newTestPKP(t), newTestSessionKey(t), now.Add(-time.Minute), now.Add(time.Hour))
		if _, err := s.Put(t.Context(), h); err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	for round := range 2 {
		for i, h := range hs {
			d, err := s.Get(t.Context(), h.PKP)
			if err != nil || !d.SessionKey.Equal(h.SessionKey) || d.Parsed == nil {
				t.Fatalf("round %d: Get #%d = %v, %v", round, i, d, err)
			}
			if n := s.cache.hotLen(); n > 2 {
				t.Fatalf("hot set holds %d delegations, more than 2", n)
			}
		}
	}
	if got := testutil.ToFloat64(s.metrics.unseals); got != 10 {
		t.Errorf("unseals = %v; want 10 (5 delegations, 2 rounds, cycling through a hot set of 2)", got)
	}
	// Hits of a hot delegation cost no unseal.
	last := hs[len(hs)-1]
	for range 3 {
		if _, err := s.Get(t.Context(), last.PKP); err != nil {
			t.Fatal(err)
		}
	}
	if got := testutil.ToFloat64(s.metrics.unseals); got != 10 {
		t.Errorf("unseals after hits = %v; want still 10", got)
	}
	if n, err := testutil.GatherAndCount(reg, "litsignd_delegations_unsealed"); err != nil || n != 1 {
		t.Errorf("litsignd_delegations_unsealed: %d series, %v", n, err)
	}
	// Revoking a hot delegation drops its secret from memory and Get
	// refuses it.
	if ok, err := s.Revoke(t.Context(), last.PKP, nil); !ok || err != nil {
		t.Fatal(ok, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := s.Get(t.Context(), last.PKP)
		if errors.Is(err, ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Get after Revoke = %v; want ErrNotFound", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.cache.hotMu.Lock()
	_, still := s.cache.hot[last.PKP]
	s.cache.hotMu.Unlock()
	if still {
		t.Error("a revoked delegation's secret stayed in the hot set")
	}
}

// The tracker's heap emits exactly the due events, in time order, for many
// entries with random expirations, and nothing twice.
func TestCacheDueHeapMatchesScan(t *testing.T) {
	const lead = time.Minute
	c := newCache()
	r := rand.New(rand.NewPCG(1, 2))
	exps := map[litnode.PKPPublicKey]time.Time{}
	for i := range 500 {
		var pkp litnode.PKPPublicKey
		pkp[0], pkp[1], pkp[2] = 4, byte(i), byte(i>>8)
		exp := t0.Add(time.Duration(r.IntN(3600)) * time.Second)
		exps[pkp] = exp
		c.put(pkp, &entry{revision: uint64(i + 1), session: litnode.SessionPublicKey{1}, issuedAt: t0.Add(-time.Hour), expiration: exp, heapIndex: -1})
	}
	// Replace a tenth with later expirations: their old deadlines must not fire.
	i := 0
	for pkp := range exps {
		if i++; i%10 != 0 {
			continue
		}
		exps[pkp] = exps[pkp].Add(2 * time.Hour)
		c.put(pkp, &entry{revision: 1000 + uint64(i), session: litnode.SessionPublicKey{2}, issuedAt: t0, expiration: exps[pkp], heapIndex: -1})
	}
	seen := map[string]bool{}
	var lastExp time.Time
	for now := t0.Add(-2 * time.Minute); now.Before(t0.Add(4 * time.Hour)); now = now.Add(17 * time.Second) {
		evs, next := c.due(now, lead)
		for _, ev := range evs {
			k := ev.Type + ev.PKP.Hex()
			if seen[k] {
				t.Fatalf("%s emitted twice", k)
			}
			seen[k] = true
			exp := exps[ev.PKP]
			switch ev.Type {
			case EventExpiring:
				if now.Before(exp.Add(-lead)) || !now.Before(exp) {
					t.Fatalf("expiring for %v emitted at %v", exp, now)
				}
			case EventExpired:
				if now.Before(exp) {
					t.Fatalf("expired for %v emitted at %v", exp, now)
				}
			}
			if ev.Expiration.Before(lastExp) && ev.Type == EventExpired {
				t.Fatalf("expired events out of order")
			}
		}
		if !next.IsZero() && !next.After(now) {
			t.Fatalf("next %v not after now %v", next, now)
		}
	}
	if len(seen) != 2*len(exps) {
		t.Errorf("%d events for %d delegations; want an expiring and an expired event each", len(seen), len(exps))
	}
}
