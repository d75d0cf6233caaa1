package consumer

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/litsignd/litsignd/internal/natstest"
)

// An audit record the server never stores (here: no audit stream) reaches
// OnError with its job, and no goroutine per record is left waiting on an
// acknowledgement that will not come.
func TestNATSAuditReportsLostRecords(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	topo := DefaultTopology() // EnsureAudit not called: no stream captures the records
	failed := make(chan AuditRecord, 64)
	a := &NATSAudit{JS: js, Topology: topo, OnError: func(rec AuditRecord, err error) {
		if err == nil {
			t.Error("OnError without an error")
		}
		failed <- rec
	}}
	before := runtime.NumGoroutine()
	const n = 40
	for i := range n {
		if err := a.Record(context.Background(), AuditRecord{JobID: "job-" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Producer: "billing", Kind: KindPKPSign, Outcome: StatusOK, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if g := runtime.NumGoroutine(); g >= before+n {
		t.Errorf("%d goroutines after %d records (from %d): one per record", g, n, before)
	}
	seen := map[string]bool{}
	deadline := time.After(20 * time.Second)
	for len(seen) < n {
		select {
		case rec := <-failed:
			if rec.Producer != "billing" || rec.JobID == "" {
				t.Fatalf("OnError got record %+v", rec)
			}
			seen[rec.JobID] = true
		case <-deadline:
			t.Fatalf("OnError reported %d of %d lost records", len(seen), n)
		}
	}
}
