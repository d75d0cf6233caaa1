package delegationstore

import (
	"testing"
	"time"

	"github.com/litsignd/litsignd/internal/natstest"
)

// A delegation stored through another replica is found at once, before this
// replica's watch delivers it: Get reads the bucket on a miss. A removal the
// watch saw wins over an older fetched revision.
func TestGetFallsBackToBucketOnMiss(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	ctx := t.Context()
	ring := newTestKeyring(t, "k1")
	writer, err := Open(ctx, js, Config{KEK: ring})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := Open(ctx, js, Config{KEK: ring})
	if err != nil {
		t.Fatal(err)
	}
	close(reader.ready) // its watch is not running: only the fallback can find it
	now := time.Now()
	h := newTestHandOff(t, newTestPKP(t), newTestSessionKey(t), now.Add(-time.Minute), now.Add(time.Hour))
	if _, err := writer.Put(ctx, h); err != nil {
		t.Fatal(err)
	}
	d, err := reader.Get(ctx, h.PKP)
	if err != nil || !d.SessionKey.Equal(h.SessionKey) {
		t.Fatalf("Get on a cache miss = %v, %v; want the stored delegation", d, err)
	}
	reader.cache.remove(h.PKP, now)
	reader.cache.tombstone(h.PKP, d.Revision+1)
	if e := reader.cache.putIfAbsent(h.PKP, &entry{revision: d.Revision}); e != nil {
		t.Fatal("a revoked delegation came back through the miss fallback")
	}
}
