package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/nats-io/nats.go"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/litv3"
	"github.com/litsignd/litsignd/litv3/v3fake"
)

// v3Service starts a v3 fake with one funded account: a group open to any
// action (the CID wildcard) holding one wallet, and a usage key for it.
func v3Service(t *testing.T) (*v3fake.Server, litv3.UsageKey, common.Address, uint64) {
	t.Helper()
	fake, err := v3fake.Start(v3fake.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	acct, err := fake.NewAccount(1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	w, err := fake.CreateWallet(acct.APIKey)
	if err != nil {
		t.Fatal(err)
	}
	gid, err := fake.AddGroup(acct.APIKey, "kill", []common.Address{w}, []string{"0"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := fake.AddUsageKey(acct.APIKey, "kill", v3fake.Scopes{ExecuteInGroups: []uint64{gid}})
	if err != nil {
		t.Fatal(err)
	}
	return fake, key, w, gid
}

// handOffV3 hands a v3 credential to the daemons on h and waits for stored.
func (h *daemonHarness) handOffV3(addr string, key litv3.UsageKey, group uint64) {
	h.t.Helper()
	ctx := context.Background()
	kv, err := h.js.KeyValue(ctx, "lit_daemon")
	if err != nil {
		h.t.Fatal(err)
	}
	e, err := kv.Get(ctx, consumer.SealingKeyKV)
	if err != nil {
		h.t.Fatal(err)
	}
	pub, _ := consumer.ParseSealingPublicKey(string(e.Value()))
	p, _ := json.Marshal(map[string]any{"usageKey": key.Reveal(), "groupId": fmt.Sprint(group)})
	sealed, _ := consumer.Seal(pub, p)
	body, _ := json.Marshal(map[string]string{"backend": "lit-v3", "pkp": addr, "sealedPayload": base64.RawURLEncoding.EncodeToString(sealed)})
	stored := make(chan *nats.Msg, 1)
	sub, _ := h.nc.ChanSubscribe("lit.events.delegation.*."+addr, stored)
	defer sub.Unsubscribe()
	if _, err := h.js.Publish(ctx, "lit.delegations", body); err != nil {
		h.t.Fatal(err)
	}
	select {
	case m := <-stored:
		if !strings.Contains(m.Subject, ".stored.") {
			h.t.Fatalf("hand-off: %s %s", m.Subject, m.Data)
		}
	case <-time.After(20 * time.Second):
		h.t.Fatal("v3 credential not stored")
	}
}

// A daemon killed (SIGKILL) mid-load on v3: every job gets exactly one
// result, and no at-most-once action runs twice (each job runs its own
// action, so the fake's run count per CID is per job).
func TestV3KilledMidLoad(t *testing.T) {
	h := newDaemonHarness(t)
	fake, key, w, gid := v3Service(t)
	addr := strings.ToLower(w.Hex())
	flags := []string{"--job-ack-wait", "3s", "--lit-v3-url", fake.URL(), "--lit-v3-grant-window", "0", "--lit-v3-max-per-credential", "16"}
	a, _ := h.start(flags...)
	h.handOffV3(addr, key, gid)

	const n = 80
	codes := map[string]string{} // job id → its action's CID
	for i := range n {
		id := fmt.Sprintf("v3kill-%04d", i)
		// Some work, so jobs are in flight at the kill.
		code := fmt.Sprintf("// %s\nasync function main(p) { let x = 0; for (let i = 0; i < 2e6; i++) { x += i %% 7; } return {job: %q, pkp: p.pkpId, x}; }", id, id)
		cid, _ := litv3.CID(code)
		codes[id] = cid
		body, _ := json.Marshal(map[string]any{"id": id, "pkpPublicKey": addr, "code": code, "jsParams": map[string]any{"pkpId": addr}})
		m := nats.NewMsg("lit.jobs.kill.execute-js")
		m.Header.Set("Nats-Msg-Id", id)
		m.Data = body
		if _, err := h.js.PublishMsgAsync(m); err != nil {
			t.Fatal(err)
		}
	}
	<-h.js.PublishAsyncComplete()
	waitFor := func(what string, ok func() bool) {
		deadline := time.Now().Add(120 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out: %s (%d results)", what, len(h.results()))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("some results", func() bool { return h.resultCount() >= n/6 })
	t.Logf("before the kill: %v; actions run: %d", v3ResultCodes(t, h), fake.TotalRuns())
	_ = a.Process.Signal(syscall.SIGKILL)
	_, _ = a.Process.Wait()
	h.start(flags...)
	waitFor("every job", func() bool { return h.resultCount() >= n })
	time.Sleep(2 * time.Second) // nothing more may arrive

	res := h.results()
	for id, cid := range codes {
		runs := fake.Runs(cid)
		if len(res[id]) != 1 {
			t.Errorf("job %s: results %v, want exactly one", id, res[id])
			continue
		}
		if runs > 1 {
			t.Errorf("job %s: at-most-once action ran %d times", id, runs)
		}
		if res[id][0] == "ok" && runs != 1 {
			t.Errorf("job %s: ok, but the action ran %d times", id, runs)
		}
	}
	if len(res) != n {
		t.Errorf("%d distinct results, want %d", len(res), n)
	}
	t.Logf("results by status and code: %v; actions run: %d", v3ResultCodes(t, h), fake.TotalRuns())
}

// v3ResultCodes counts the results in LIT_RESULTS by status and error code.
func v3ResultCodes(t *testing.T, h *daemonHarness) map[string]int {
	out := map[string]int{}
	s, err := h.js.Stream(context.Background(), "LIT_RESULTS")
	if err != nil {
		return out
	}
	info, _ := s.Info(context.Background())
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			continue
		}
		var r consumer.Result
		_ = json.Unmarshal(m.Data, &r)
		k := r.Status
		if r.Error != nil {
			k += ":" + r.Error.Code
			if out[k] == 0 {
				t.Logf("sample error: %s", r.Error.Message)
			}
		}
		out[k]++
	}
	return out
}
