package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/internal/natstest"
	"github.com/litsignd/litsignd/litnode/devnet"
)

// litsign audit --pkp prints that PKP's records, and only its.
func TestAuditCommand(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	topo := consumer.DefaultTopology()
	ctx := context.Background()
	if err := topo.EnsureAudit(ctx, js, 0); err != nil {
		t.Fatal(err)
	}
	n, err := devnet.Start(devnet.Config{Nodes: 3, Threshold: 2, PKPs: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	a, b := n.PKPs()[0].PublicKey.Hex(), n.PKPs()[1].PublicKey.Hex()
	done := make(chan error, 8)
	aud := &consumer.NATSAudit{JS: js, Topology: topo, OnError: func(_ consumer.AuditRecord, err error) { done <- err }}
	for _, r := range []consumer.AuditRecord{
		{JobID: "job-a1", Producer: "billing", PKP: a, Kind: consumer.KindPKPSign, Digest: "0x" + strings.Repeat("11", 32), Chain: "ethereum", Outcome: "ok", Nodes: 2, At: time.Now()},
		{JobID: "job-b1", Producer: "billing", PKP: b, Kind: consumer.KindPKPSign, Outcome: "ok", At: time.Now()},
		{JobID: "job-a2", Producer: "payroll", PKP: a, Kind: consumer.KindExecuteJS, CID: "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", Outcome: "policy_denied", Nodes: 2, At: time.Now()},
	} {
		if err := aud.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, _ := js.Stream(ctx, topo.AuditStreamName())
		info, _ := s.Info(ctx)
		if info.State.Msgs == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit stream holds %d records", info.State.Msgs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, code, err := litsign(t, "", "audit", "--nats-url", url, "--pkp", a)
	if err != nil || code != 0 {
		t.Fatalf("audit: %d %v", code, err)
	}
	for _, want := range []string{"job-a1", "job-a2", "policy_denied", "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", "(ethereum)"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "job-b1") {
		t.Errorf("audit --pkp A printed B's record:\n%s", out)
	}
	out, _, _ = litsign(t, "", "audit", "--nats-url", url, "--pkp", a, "--producer", "payroll", "--json")
	if strings.Contains(out, "job-a1") || !strings.Contains(out, `"jobId":"job-a2"`) {
		t.Errorf("audit --producer payroll --json:\n%s", out)
	}
	select {
	case err := <-done:
		t.Fatalf("async audit publish failed: %v", err)
	default:
	}
}
