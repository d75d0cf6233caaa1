package consumer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/internal/natstest"
	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/litnode/devnet"
)

// A pkp-sign job yields a signature by the PKP, on every kind of reply
// subject, and the result is kept in LIT_RESULTS.
func TestJobsPKPSign(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{})
	p := e.net.PKPs()[0]
	e.delegate(p, "pkp-signing:*")
	const msg = "hello litsignd"
	digest := crypto.Keccak256([]byte(msg))
	ctx := context.Background()
	results, err := e.js.Stream(ctx, e.topo.ResultsStream)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("default subject and LIT_RESULTS", func(t *testing.T) {
		id := e.newID("default")
		sub := e.subscribe(e.resultSubject(id))
		e.publish(KindPKPSign, jobBody(id, p, msg, nil), id, nil)
		r, m := awaitResult(t, sub, 20*time.Second)
		checkSignature(t, r, p, digest)
		if r.ID != id || r.Kind != KindPKPSign {
			t.Errorf("id, kind = %q, %q; want %q, %q", r.ID, r.Kind, id, KindPKPSign)
		}
		if got := m.Header.Get(jetstream.MsgIDHeader); got != LedgerKey(DefaultProducer, id) {
			t.Errorf("result Nats-Msg-Id = %q, want %q", got, LedgerKey(DefaultProducer, id))
		}
		// A live subscriber may see the result a moment before the
		// stream's read path does.
		var stored *jetstream.RawStreamMsg
		jWaitFor(t, "the result in "+e.topo.ResultsStream, func() bool {
			stored, err = results.GetLastMsgForSubject(ctx, e.resultSubject(id))
			return err == nil
		})
		if !bytes.Equal(stored.Data, m.Data) || stored.Header.Get(jetstream.MsgIDHeader) != LedgerKey(DefaultProducer, id) {
			t.Errorf("stored result %s differs from the published %s", stored.Data, m.Data)
		}
		var raw map[string]any
		if err := json.Unmarshal(m.Data, &raw); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"id", "status", "kind", "pkpPublicKey", "signature", "completedAt"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("result lacks %q: %s", k, m.Data)
			}
		}
		if _, ok := raw["error"]; ok {
			t.Errorf("ok result has an error field: %s", m.Data)
		}
		entry, err := e.ledger.Get(ctx, LedgerKey(DefaultProducer, id))
		if err != nil || entry == nil || entry.State != LedgerDone || !bytes.Equal(entry.Result, m.Data) || entry.Subject != e.resultSubject(id) {
			t.Errorf("ledger entry = %+v, %v; want done with the published result", entry, err)
		}
	})

	t.Run("replyTo field", func(t *testing.T) {
		id := e.newID("replyto")
		reply := "_INBOX.app." + id // captured by no stream: a plain publish
		sub := e.subscribe(reply)
		def := e.subscribe(e.resultSubject(id))
		e.publish(KindPKPSign, jobBody(id, p, msg, map[string]any{"replyTo": reply}), id, nil)
		r, m := awaitResult(t, sub, 20*time.Second)
		checkSignature(t, r, p, digest)
		if m.Header.Get(jetstream.MsgIDHeader) != LedgerKey(DefaultProducer, id) {
			t.Errorf("plain result lacks Nats-Msg-Id %q", LedgerKey(DefaultProducer, id))
		}
		expectNone(t, def, 100*time.Millisecond)
	})

	t.Run("Lit-Reply-To header to a waiting inbox", func(t *testing.T) {
		id := e.newID("inbox")
		inbox := e.nc.NewRespInbox()
		sub := e.subscribe(inbox)
		e.publish(KindPKPSign, jobBody(id, p, msg, nil), id, nats.Header{HeaderReplyTo: []string{inbox}})
		r, _ := awaitResult(t, sub, 20*time.Second)
		checkSignature(t, r, p, digest)
	})

	t.Run("reply subject of a producer's own stream", func(t *testing.T) {
		if _, err := e.js.CreateStream(ctx, jetstream.StreamConfig{Name: "APP_REPLIES", Subjects: []string{"app.captured.>"}, Duplicates: time.Minute}); err != nil {
			t.Fatal(err)
		}
		// Producer "captured" is configured with the inbox prefix
		// app.captured. (jobsEnv), which its own stream captures.
		id := e.newID("captured")
		reply := "app.captured." + id
		sub := e.subscribe(reply)
		e.publishAs("captured", KindPKPSign, jobBody(id, p, msg, map[string]any{"replyTo": reply}), id, nil)
		r, _ := awaitResult(t, sub, 20*time.Second)
		checkSignature(t, r, p, digest)
		if r.Producer != "captured" {
			t.Errorf("result producer = %q, want captured", r.Producer)
		}
		s, _ := e.js.Stream(ctx, "APP_REPLIES")
		stored, err := s.GetLastMsgForSubject(ctx, reply)
		if err != nil || stored.Header.Get(jetstream.MsgIDHeader) != LedgerKey("captured", id) {
			t.Errorf("result not stored in the producer's stream with Nats-Msg-Id: %v", err)
		}
	})

	t.Run("bitcoin chain, hex message", func(t *testing.T) {
		data := []byte("\x00bitcoin\xffmessage")
		id := e.newID("btc")
		r := e.runJob(jobBody(id, p, "", map[string]any{"toSign": nil, "toSignHex": "0x" + hex.EncodeToString(data), "chain": "bitcoin"}), id)
		d := sha256.Sum256(data)
		checkSignature(t, r, p, d[:])
	})

	t.Run("raw chain", func(t *testing.T) {
		d := crypto.Keccak256([]byte("a digest computed elsewhere"))
		id := e.newID("raw")
		r := e.runJob(jobBody(id, p, "", map[string]any{"toSign": nil, "toSignHex": "0x" + hex.EncodeToString(d), "chain": "raw"}), id)
		checkSignature(t, r, p, d)
	})

	jWaitFor(t, "every job acknowledged", func() bool {
		msgs, pending, ack := e.streamState()
		return msgs == 0 && pending == 0 && ack == 0
	})
	if got, cap := testutil.ToFloat64(e.metrics.jobs.WithLabelValues(KindPKPSign, outcomeOK, "", DefaultProducer)), testutil.ToFloat64(e.metrics.jobs.WithLabelValues(KindPKPSign, outcomeOK, "", "captured")); got != 5 || cap != 1 {
		t.Errorf("litsignd_jobs_total{ok} = %v (default), %v (captured); want 5, 1", got, cap)
	}
	if got := testutil.ToFloat64(e.metrics.sessionSigs); got < 6*3 {
		t.Errorf("litsignd_session_sigs_minted_total = %v, want at least 18 (6 jobs × threshold 3)", got)
	}
	if got := testutil.ToFloat64(e.metrics.lookups.WithLabelValues(lookupHit)); got != 6 {
		t.Errorf("delegation lookup hits = %v, want 6", got)
	}
	// The handler acks before its deferred in-flight decrement runs.
	jWaitFor(t, "jobs in flight back to 0", func() bool { return testutil.ToFloat64(e.metrics.inFlight) == 0 })
	if n, err := testutil.GatherAndCount(e.reg, "litsignd_lit_request_duration_seconds"); err != nil || n == 0 {
		t.Errorf("no Lit request durations recorded (%d, %v)", n, err)
	}
}

// Every malformed job gets one bad_request result on its reply subject and
// never reaches the network.
func TestJobsBadRequest(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{})
	p := e.net.PKPs()[0]
	e.delegate(p, "pkp-signing:*")
	before := e.signRequests()
	long := strings.Repeat("a", MaxJobIDLength+1)
	cases := []struct {
		name   string
		kind   string
		body   []byte
		wantID bool // the result echoes the id
	}{
		{name: "malformed JSON", body: []byte(`{"id":"x","pkpPublicKey":`)},
		{name: "not an object", body: []byte(`["x"]`)},
		{name: "missing id", body: jobBody("", p, "x", map[string]any{"id": nil})},
		{name: "empty id", body: jobBody("", p, "x", nil)},
		{name: "id longer than 128", body: jobBody(long, p, "x", nil)},
		{name: "id with a dot", body: jobBody("a.b", p, "x", nil)},
		{name: "both toSign and toSignHex", body: jobBody("both", p, "x", map[string]any{"toSignHex": "0x00"}), wantID: true},
		{name: "bad hex", body: jobBody("badhex", p, "", map[string]any{"toSign": nil, "toSignHex": "0xzz"}), wantID: true},
		{name: "odd hex", body: jobBody("oddhex", p, "", map[string]any{"toSign": nil, "toSignHex": "0xabc"}), wantID: true},
		{name: "hex without 0x", body: jobBody("no0x", p, "", map[string]any{"toSign": nil, "toSignHex": "abcd"}), wantID: true},
		{name: "raw not 32 bytes", body: jobBody("raw31", p, "", map[string]any{"toSign": nil, "toSignHex": "0x" + strings.Repeat("ab", 31), "chain": "raw"}), wantID: true},
		{name: "unknown chain", body: jobBody("solana", p, "x", map[string]any{"chain": "solana"}), wantID: true},
		{name: "missing message", body: jobBody("nomsg", p, "", map[string]any{"toSign": nil}), wantID: true},
		{name: "missing pkpPublicKey", body: jobBody("nopkp", p, "x", map[string]any{"pkpPublicKey": nil}), wantID: true},
		{name: "bad pkpPublicKey", body: jobBody("badpkp", p, "x", map[string]any{"pkpPublicKey": "0x04abcd"}), wantID: true},
		{name: "unknown field", body: jobBody("typo", p, "x", map[string]any{"replyto": "x"}), wantID: true},
		{name: "unsupported kind", kind: KindExecuteJS, body: jobBody("js", p, "x", nil), wantID: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			kind := tc.kind
			if kind == "" {
				kind = KindPKPSign
			}
			inbox := e.nc.NewRespInbox()
			sub := e.subscribe(inbox)
			e.publish(kind, tc.body, "", nats.Header{HeaderReplyTo: []string{inbox}})
			r, _ := awaitResult(t, sub, 10*time.Second)
			expectError(t, r, CodeBadRequest, false)
			if tc.wantID && r.ID == "" {
				t.Errorf("result does not echo the job id: %+v", r)
			}
			if kind != KindPKPSign && r.Kind != kind {
				t.Errorf("kind = %q, want %q", r.Kind, kind)
			}
			expectNone(t, sub, 50*time.Millisecond)
		})
	}

	t.Run("reply subject inside the jobs subjects", func(t *testing.T) {
		id := e.newID("loop")
		def := e.subscribe(e.resultSubject(id))
		jobs := e.subscribe(e.topo.JobsSubjects())
		e.publish(KindPKPSign, jobBody(id, p, "x", map[string]any{"replyTo": e.topo.JobSubject(KindPKPSign)}), id, nil)
		if _, err := jobs.NextMsg(5 * time.Second); err != nil { // the job itself
			t.Fatal(err)
		}
		r, _ := awaitResult(t, def, 10*time.Second)
		expectError(t, r, CodeBadRequest, false)
		expectNone(t, jobs, 100*time.Millisecond) // the result did not become a job
	})

	t.Run("no id and no reply subject: dropped", func(t *testing.T) {
		e.publish(KindPKPSign, []byte(`{}`), "", nil)
		jWaitFor(t, "the unanswerable job terminated", func() bool {
			return testutil.ToFloat64(e.metrics.jobs.WithLabelValues(KindPKPSign, outcomeDropped, CodeBadRequest, DefaultProducer)) == 1
		})
	})

	jWaitFor(t, "every job terminated", func() bool {
		msgs, pending, ack := e.streamState()
		return msgs == 0 && pending == 0 && ack == 0
	})
	if n := e.signRequests() - before; n != 0 {
		t.Errorf("bad requests caused %d pkp-sign node requests", n)
	}
}

// Jobs that cannot be signed for want of a usable delegation, scope or
// payment end with their own codes and, where the client must hand off a
// new delegation, a needed event.
func TestJobsDelegationErrors(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{})
	pkps := e.net.PKPs()

	neededEvent := func(t *testing.T, sub *nats.Subscription, id, code string) {
		t.Helper()
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("no needed event: %v", err)
		}
		var ev DelegationEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type != EventNeeded || ev.JobID != id || ev.Reason != code || ev.PKPPublicKey == "" || ev.Backend != "" {
			t.Errorf("event = %+v; want needed for job %s, reason %s", ev, id, code)
		}
	}
	needed := func(p devnet.DevPKP) *nats.Subscription {
		return e.subscribe(e.topo.EventSubject(EventNeeded, p.PublicKey.Hex()))
	}

	t.Run("delegation_not_found", func(t *testing.T) {
		p := pkps[1]
		ev := needed(p)
		id := e.newID("missing")
		expectError(t, e.runJob(jobBody(id, p, "x", nil), id), CodeDelegationNotFound, false)
		neededEvent(t, ev, id, CodeDelegationNotFound)
	})

	t.Run("delegation_expired", func(t *testing.T) {
		p := pkps[1]
		// Valid for 20 s: inside the 30 s expiry margin.
		e.put(e.store, e.delegation(p, nil, "pkp-signing:*", time.Now().Add(20*time.Second)))
		ev := needed(p)
		before := e.signRequests()
		id := e.newID("expired")
		expectError(t, e.runJob(jobBody(id, p, "x", nil), id), CodeDelegationExpired, false)
		neededEvent(t, ev, id, CodeDelegationExpired)
		if n := e.signRequests() - before; n != 0 {
			t.Errorf("an expired delegation caused %d pkp-sign requests", n)
		}
	})

	t.Run("scope_denied", func(t *testing.T) {
		p := pkps[2]
		e.put(e.store, e.delegation(p, nil, "lit-action-execution:*", time.Now().Add(15*time.Minute)))
		for _, nd := range e.net.Nodes() {
			nd.ResetRequests()
		}
		ev := needed(p)
		id := e.newID("scope")
		expectError(t, e.runJob(jobBody(id, p, "x", nil), id), CodeScopeDenied, false)
		neededEvent(t, ev, id, CodeScopeDenied)
		for _, nd := range e.net.Nodes() {
			for _, r := range nd.Requests() {
				if r.Path == "/web/pkp/sign/v2" {
					t.Errorf("node %s received a pkp-sign request for a job out of scope", nd.URL())
				}
			}
		}
	})

	t.Run("payment_failed", func(t *testing.T) {
		p := pkps[0]
		e.delegate(p, "pkp-signing:*")
		// Neither the PKP (self-pay) nor its owner can pay.
		for _, addr := range []common.Address{p.EthAddress, p.OwnerAddress} {
			e.net.SetPayment(addr, devnet.PaymentNone)
			defer e.net.SetPayment(addr, devnet.PaymentUnlimited)
		}
		id := e.newID("payment")
		expectError(t, e.runJob(jobBody(id, p, "x", nil), id), CodePaymentFailed, false)
	})

	t.Run("lit_auth_failed after the permission is revoked", func(t *testing.T) {
		p := pkps[3]
		eoa, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		addr := crypto.PubkeyToAddress(eoa.PublicKey)
		if err := e.net.PermitAddress(p.PublicKey, addr); err != nil {
			t.Fatal(err)
		}
		e.put(e.store, e.delegation(p, eoa, "pkp-signing:*", time.Now().Add(15*time.Minute)))
		id := e.newID("permitted")
		checkSignature(t, e.runJob(jobBody(id, p, "x", nil), id), p, crypto.Keccak256([]byte("x")))
		if err := e.net.RevokeAddress(p.PublicKey, addr); err != nil {
			t.Fatal(err)
		}
		ev := needed(p)
		id = e.newID("revoked")
		expectError(t, e.runJob(jobBody(id, p, "x", nil), id), CodeLitAuthFailed, false)
		neededEvent(t, ev, id, CodeLitAuthFailed)
	})

	// Metrics are recorded before the ack, which follows the result.
	jWaitFor(t, "every job terminated", func() bool {
		msgs, pending, ack := e.streamState()
		return msgs == 0 && pending == 0 && ack == 0
	})
	if got := testutil.ToFloat64(e.metrics.lookups.WithLabelValues(lookupNotFound)); got != 1 {
		t.Errorf("not_found lookups = %v, want 1", got)
	}
	for _, code := range []string{CodeDelegationNotFound, CodeDelegationExpired, CodeScopeDenied, CodePaymentFailed, CodeLitAuthFailed} {
		if got := testutil.ToFloat64(e.metrics.jobs.WithLabelValues(KindPKPSign, outcomeError, code, DefaultProducer)); got != 1 {
			t.Errorf("litsignd_jobs_total{error,%s} = %v, want 1", code, got)
		}
	}
}

// A stored secret the daemon's keyring cannot open is litsignd's failure:
// internal, not retryable, no network call.
func TestJobsInternalSealedSecret(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{sealedReader: true})
	p := e.net.PKPs()[0]
	e.put(e.writer, e.delegation(p, nil, "pkp-signing:*", time.Now().Add(15*time.Minute)))
	jWaitFor(t, "the reader's cache to hold the record", func() bool {
		_, err := e.store.Get(context.Background(), p.PublicKey)
		return errors.Is(err, delegationstore.ErrSealed)
	})
	before := e.signRequests()
	id := e.newID("sealed")
	expectError(t, e.runJob(jobBody(id, p, "x", nil), id), CodeInternal, false)
	if n := e.signRequests() - before; n != 0 {
		t.Errorf("%d pkp-sign requests for an unusable delegation", n)
	}
}

// With one node down, hanging, answering 408 or sending a bad share, jobs
// still succeed.
func TestJobsSurviveOneNodeFault(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{litTimeout: time.Second})
	p := e.net.PKPs()[0]
	e.delegate(p, "pkp-signing:*")
	faults := []struct {
		name string
		f    devnet.Fault
	}{
		{"down", devnet.Fault{Down: true}},
		{"hang", devnet.Fault{Hang: true}},
		{"408", devnet.Fault{Timeout408: true}},
		{"bad share", devnet.Fault{BadShare: true}},
	}
	for _, tc := range faults {
		t.Run(tc.name, func(t *testing.T) {
			hit := false
			// The client picks threshold nodes of four and avoids a node
			// that failed lately: move the fault until a job meets it.
			for i := 0; i < len(e.net.Nodes()) && !hit; i++ {
				nd := e.net.Nodes()[i]
				nd.ResetRequests()
				nd.SetFault(tc.f)
				id := e.newID("fault")
				r := e.runJob(jobBody(id, p, "fault "+tc.name, nil), id)
				nd.SetFault(devnet.Fault{})
				checkSignature(t, r, p, crypto.Keccak256([]byte("fault "+tc.name)))
				for _, rq := range nd.Requests() {
					if rq.Path == "/web/pkp/sign/v2" || (tc.f.Down && rq.Status == 0) {
						hit = true
					}
				}
			}
			if !hit {
				t.Errorf("fault %q never met a job", tc.name)
			}
		})
	}
}

// With every node down, every job ends with exactly one lit_unavailable
// result on its last delivery: none lost, none stuck. Healed, the network
// signs again.
func TestJobsAllNodesDown(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{maxDeliver: 2})
	p := e.net.PKPs()[0]
	e.delegate(p, "pkp-signing:*")
	id := e.newID("warm")
	checkSignature(t, e.runJob(jobBody(id, p, "warm", nil), id), p, crypto.Keccak256([]byte("warm")))

	for _, nd := range e.net.Nodes() {
		nd.SetFault(devnet.Fault{Down: true})
	}
	sub := e.subscribe(e.topo.ResultsSubjects())
	const n = 6
	want := map[string]bool{}
	for i := range n {
		id := e.newID(fmt.Sprintf("down%d", i))
		want[id] = true
		e.publish(KindPKPSign, jobBody(id, p, "x", nil), id, nil)
	}
	for range n {
		r, _ := awaitResult(t, sub, 20*time.Second)
		if !want[r.ID] {
			t.Fatalf("unexpected or duplicate result for %q", r.ID)
		}
		delete(want, r.ID)
		expectError(t, r, CodeLitUnavailable, true)
	}
	expectNone(t, sub, 500*time.Millisecond)
	jWaitFor(t, "no job left in the stream", func() bool {
		msgs, pending, ack := e.streamState()
		return msgs == 0 && pending == 0 && ack == 0
	})
	if got := testutil.ToFloat64(e.metrics.jobs.WithLabelValues(KindPKPSign, outcomeRetry, CodeLitUnavailable, DefaultProducer)); got != n {
		t.Errorf("retries = %v, want %d (one per job with MaxDeliver 2)", got, n)
	}

	for _, nd := range e.net.Nodes() {
		nd.SetFault(devnet.Fault{})
	}
	id = e.newID("healed")
	checkSignature(t, e.runJob(jobBody(id, p, "healed", nil), id), p, crypto.Keccak256([]byte("healed")))
}

// A job whose deliveries all time out (handlers stalled past AckWait with
// no heartbeat) is answered once, delivery_exhausted, by the max-deliveries
// advisory handler and removed from the work-queue stream; the stalled
// handlers publish nothing when they finally fail.
func TestJobsDeliveryExhausted(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{maxDeliver: 2, ackWait: 600 * time.Millisecond, heartbeat: -1, timeout: 1500 * time.Millisecond, litTimeout: time.Second})
	p := e.net.PKPs()[0]
	e.delegate(p, "pkp-signing:*")
	id := e.newID("warm")
	checkSignature(t, e.runJob(jobBody(id, p, "warm", nil), id), p, crypto.Keccak256([]byte("warm")))

	for _, nd := range e.net.Nodes() {
		nd.SetFault(devnet.Fault{Hang: true})
	}
	defer func() {
		for _, nd := range e.net.Nodes() {
			nd.SetFault(devnet.Fault{})
		}
	}()
	id = e.newID("stalled")
	sub := e.subscribe(e.resultSubject(id))
	e.publish(KindPKPSign, jobBody(id, p, "x", nil), id, nil)
	r, _ := awaitResult(t, sub, 10*time.Second)
	expectError(t, r, CodeDeliveryExhausted, true)
	// The stalled deliveries end meanwhile (1.5 s job timeout), the last
	// one with a lit_unavailable result that the ledger must suppress: it
	// may publish the recorded result again, the same bytes, never its own.
	first, _ := json.Marshal(r)
	for {
		m, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			break
		}
		var again Result
		_ = json.Unmarshal(m.Data, &again)
		if again2, _ := json.Marshal(again); !bytes.Equal(again2, first) {
			t.Errorf("a second, different result: %s", m.Data)
		}
	}
	jWaitFor(t, "the exhausted job removed", func() bool {
		msgs, _, _ := e.streamState()
		return msgs == 0
	})
	entry, err := e.ledger.Get(context.Background(), LedgerKey(DefaultProducer, id))
	if err != nil || entry == nil || entry.State != LedgerDone || !strings.Contains(string(entry.Result), CodeDeliveryExhausted) {
		t.Errorf("ledger = %+v, %v; want done with delivery_exhausted", entry, err)
	}
	jWaitFor(t, "litsignd_jobs_exhausted_total = 1", func() bool { return testutil.ToFloat64(e.metrics.exhaustedTotal) == 1 })
	// Delivery 1 failed transiently (nak); delivery 2, the last, failed
	// finally but found the exhausted result recorded and published nothing.
	jWaitFor(t, "both stalled deliveries finished", func() bool {
		return testutil.ToFloat64(e.metrics.jobs.WithLabelValues(KindPKPSign, outcomeRetry, CodeLitUnavailable, DefaultProducer)) == 1 &&
			testutil.ToFloat64(e.metrics.jobs.WithLabelValues(KindPKPSign, outcomeSuperseded, "", DefaultProducer)) == 1
	})
}

// Jobs keep succeeding while the network advances two epochs under load.
func TestJobsEpochAdvanceUnderLoad(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{workers: 8})
	p := e.net.PKPs()[0]
	e.delegate(p, "pkp-signing:*")
	sub := e.subscribe(e.topo.ResultsSubjects())
	const n = 40
	msgs := map[string]string{}
	for i := range n {
		id := e.newID(fmt.Sprintf("load%d", i))
		msgs[id] = fmt.Sprintf("message %d", i)
		e.publish(KindPKPSign, jobBody(id, p, msgs[id], nil), id, nil)
	}
	for i := range n {
		if i == 4 {
			e.net.AdvanceEpoch()
			e.net.AdvanceEpoch() // the client's identity keys are now two rotations old
		}
		r, _ := awaitResult(t, sub, 30*time.Second)
		m, ok := msgs[r.ID]
		if !ok {
			t.Fatalf("unexpected or duplicate result for %q", r.ID)
		}
		delete(msgs, r.ID)
		checkSignature(t, r, p, crypto.Keccak256([]byte(m)))
	}
	if s, _ := e.lit.State(); s.Epoch != e.net.Epoch() {
		t.Errorf("client epoch %d, network %d: no job ran after the advance", s.Epoch, e.net.Epoch())
	}
}

// A job that is done is never signed twice: a redelivery after a lost ack,
// and a resubmission after the duplicate window, both get the recorded
// result again, with the same Nats-Msg-Id.
func TestJobsLedgerRepublishes(t *testing.T) {
	var lostOnce sync.Map
	wrap := func(h Handler) Handler {
		return func(ctx context.Context, msg jetstream.Msg) {
			if bytes.Contains(msg.Data(), []byte(`"lost-ack-`)) {
				if _, seen := lostOnce.LoadOrStore(string(msg.Data()), true); !seen {
					h(ctx, lostAck{msg}) // the result is published, the ack never arrives
					return
				}
			}
			h(ctx, msg)
		}
	}
	e := newJobsEnv(t, jobsEnvConfig{ackWait: time.Second, heartbeat: 300 * time.Millisecond, wrap: wrap})
	p := e.net.PKPs()[0]
	e.delegate(p, "pkp-signing:*")
	ctx := context.Background()
	results, _ := e.js.Stream(ctx, e.topo.ResultsStream)
	storedCount := func(subject string) uint64 {
		info, err := results.Info(ctx, jetstream.WithSubjectFilter(subject))
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Subjects[subject]
	}

	t.Run("redelivery after a lost ack", func(t *testing.T) {
		id := e.newID("lost-ack")
		sub := e.subscribe(e.resultSubject(id))
		before := e.signRequests()
		e.publish(KindPKPSign, jobBody(id, p, "once", nil), id, nil)
		r1, m1 := awaitResult(t, sub, 20*time.Second)
		checkSignature(t, r1, p, crypto.Keccak256([]byte("once")))
		_, m2 := awaitResult(t, sub, 10*time.Second) // after AckWait
		if !bytes.Equal(m1.Data, m2.Data) || m2.Header.Get(jetstream.MsgIDHeader) != LedgerKey(DefaultProducer, id) {
			t.Errorf("republished result differs:\n%s\n%s", m1.Data, m2.Data)
		}
		if n := e.signRequests() - before; n != e.net.Threshold() {
			t.Errorf("%d pkp-sign node requests, want %d (one signing)", n, e.net.Threshold())
		}
		if n := storedCount(e.resultSubject(id)); n != 1 {
			t.Errorf("%s holds %d results for the job, want 1 (deduplicated)", e.topo.ResultsStream, n)
		}
		jWaitFor(t, "the redelivery acked", func() bool {
			msgs, pending, ack := e.streamState()
			return msgs == 0 && pending == 0 && ack == 0
		})
	})

	t.Run("resubmission", func(t *testing.T) {
		id := e.newID("again")
		body := jobBody(id, p, "again", nil)
		r1 := e.runJob(body, id)
		checkSignature(t, r1, p, crypto.Keccak256([]byte("again")))
		before := e.signRequests()
		inbox := e.nc.NewRespInbox()
		sub := e.subscribe(inbox)
		// Another Nats-Msg-Id gets past the stream's duplicate window, as a
		// resubmission after 10 minutes would; a new reply subject too.
		e.publish(KindPKPSign, body, "resubmit-"+id, nats.Header{HeaderReplyTo: []string{inbox}})
		r2, m2 := awaitResult(t, sub, 10*time.Second)
		if r2.Signature == nil || *r2.Signature != *r1.Signature || m2.Header.Get(jetstream.MsgIDHeader) != LedgerKey(DefaultProducer, id) {
			t.Errorf("resubmission result %+v differs from the first %+v", r2, r1)
		}
		if n := e.signRequests() - before; n != 0 {
			t.Errorf("a done job was signed again (%d requests)", n)
		}
	})
	jWaitFor(t, "every job acknowledged", func() bool {
		msgs, pending, ack := e.streamState()
		return msgs == 0 && pending == 0 && ack == 0
	})
	if got := testutil.ToFloat64(e.metrics.jobs.WithLabelValues(KindPKPSign, outcomeRepublished, "", DefaultProducer)); got != 2 {
		t.Errorf("republished = %v, want 2", got)
	}
}

// Stopping the pull loop drains: jobs in flight finish and are answered.
func TestJobsDrainFinishesInFlight(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{workers: 4})
	p := e.net.PKPs()[0]
	e.delegate(p, "pkp-signing:*")
	for _, nd := range e.net.Nodes() {
		nd.SetFault(devnet.Fault{Delay: 300 * time.Millisecond})
	}
	sub := e.subscribe(e.topo.ResultsSubjects())
	const n = 3
	for i := range n {
		id := e.newID(fmt.Sprintf("drain%d", i))
		e.publish(KindPKPSign, jobBody(id, p, "x", nil), id, nil)
	}
	jWaitFor(t, "all jobs in flight", func() bool { return testutil.ToFloat64(e.metrics.inFlight) == n })
	e.stop()
	e.pulled.Wait()
	for range n {
		r, _ := awaitResult(t, sub, time.Second)
		checkSignature(t, r, p, crypto.Keccak256([]byte("x")))
	}
	if msgs, _, ack := e.streamState(); msgs != 0 || ack != 0 {
		t.Errorf("after drain: %d jobs in the stream, %d unacknowledged", msgs, ack)
	}
}

// No session secret appears in what the job consumer logs (at debug level)
// or publishes (results, events, ledger), whatever the outcome.
func TestJobsNoSecrets(t *testing.T) {
	logs := &lockedBuffer{}
	e := newJobsEnv(t, jobsEnvConfig{logs: logs, maxDeliver: 2})
	pkps := e.net.PKPs()
	var everything lockedBuffer
	all, err := e.nc.Subscribe(">", func(m *nats.Msg) {
		_, _ = everything.Write([]byte(m.Subject + " " + fmt.Sprint(m.Header) + " "))
		_, _ = everything.Write(m.Data)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer all.Unsubscribe()
	good := e.delegation(pkps[0], nil, "pkp-signing:*", time.Now().Add(15*time.Minute))
	narrow := e.delegation(pkps[1], nil, "lit-action-execution:*", time.Now().Add(15*time.Minute))
	e.put(e.store, good)
	e.put(e.store, narrow)
	for _, p := range pkps[:3] { // ok, scope_denied, delegation_not_found
		id := e.newID("secret")
		e.runJob(jobBody(id, p, "x", nil), id)
	}
	for _, nd := range e.net.Nodes() {
		nd.SetFault(devnet.Fault{Down: true})
	}
	id := e.newID("secret-down") // lit_unavailable after a retry
	e.runJob(jobBody(id, pkps[0], "x", nil), id)
	for _, nd := range e.net.Nodes() {
		nd.SetFault(devnet.Fault{})
	}
	_ = e.nc.Flush()
	var ledger bytes.Buffer
	kv, _ := e.js.KeyValue(context.Background(), e.topo.JobsBucket)
	keys, _ := kv.ListKeys(context.Background())
	for k := range keys.Keys() {
		if v, err := kv.Get(context.Background(), k); err == nil {
			ledger.Write(v.Value())
		}
	}
	for _, h := range []*litnode.HandOff{good, narrow} {
		seed := h.SessionKey.Seed()
		for name, hay := range map[string][]byte{"logs": logs.Bytes(), "NATS traffic": everything.Bytes(), "ledger": ledger.Bytes()} {
			for _, needle := range [][]byte{[]byte(h.SessionKey.RevealSecretHex()), []byte(strings.ToUpper(h.SessionKey.RevealSecretHex())), seed} {
				if bytes.Contains(hay, needle) {
					t.Errorf("a session secret appears in the %s", name)
				}
			}
		}
	}
	if len(logs.Bytes()) == 0 || len(everything.Bytes()) == 0 || ledger.Len() == 0 {
		t.Fatal("nothing captured: the test checks nothing")
	}
}

// The ledger's compare-and-set: one done result per job.
func TestLedger(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	ctx := context.Background()
	l, err := OpenLedger(ctx, js, "lit_jobs", time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := l.Get(ctx, "j1"); e != nil || err != nil {
		t.Fatalf("Get(unknown) = %+v, %v; want nil, nil", e, err)
	}
	rev, done, err := l.MarkStarted(ctx, "j1", KindPKPSign, 1, time.Now())
	if err != nil || done != nil || rev == 0 {
		t.Fatalf("MarkStarted = %d, %+v, %v", rev, done, err)
	}
	if e, _ := l.Get(ctx, "j1"); e == nil || e.State != LedgerStarted || e.Deliveries != 1 || e.Revision != rev {
		t.Fatalf("after MarkStarted: %+v", e)
	}
	// A second delivery starts meanwhile.
	rev2, _, err := l.MarkStarted(ctx, "j1", KindPKPSign, 2, time.Now())
	if err != nil || rev2 <= rev {
		t.Fatalf("second MarkStarted = %d, %v", rev2, err)
	}
	// The first delivery finishes on its stale revision: it still records.
	first := LedgerEntry{Kind: KindPKPSign, Subject: "lit.results.j1", Result: json.RawMessage(`{"id":"j1","status":"ok"}`)}
	if done, err := l.MarkDone(ctx, "j1", rev, first); err != nil || done != nil {
		t.Fatalf("MarkDone = %+v, %v", done, err)
	}
	// The second finishes later: the first result stands.
	second := LedgerEntry{Kind: KindPKPSign, Result: json.RawMessage(`{"id":"j1","status":"error"}`)}
	done, err = l.MarkDone(ctx, "j1", rev2, second)
	if err != nil || done == nil || !bytes.Equal(done.Result, first.Result) {
		t.Fatalf("second MarkDone = %+v, %v; want the first result", done, err)
	}
	// A later delivery sees done.
	if _, done, err := l.MarkStarted(ctx, "j1", KindPKPSign, 3, time.Now()); err != nil || done == nil || done.State != LedgerDone || done.Subject != "lit.results.j1" {
		t.Fatalf("MarkStarted on a done job = %+v, %v", done, err)
	}
	// Concurrent finishers: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	winners := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done, err := l.MarkDone(ctx, "j2", 0, LedgerEntry{Result: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))})
			if err != nil {
				t.Error(err)
				return
			}
			if done == nil {
				mu.Lock()
				winners++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if winners != 1 {
		t.Errorf("%d concurrent MarkDone calls recorded a result, want 1", winners)
	}
}

func TestDecodeJob(t *testing.T) {
	pkp := "0x04" + strings.Repeat("0", 128) // not on the curve
	k, _ := crypto.GenerateKey()
	good := "0x" + hex.EncodeToString(crypto.FromECDSAPub(&k.PublicKey))
	hdr := func(reply string) nats.Header { return nats.Header{HeaderReplyTo: []string{reply}} }
	cases := []struct {
		name      string
		body      string
		hdr       nats.Header
		wantErr   bool
		wantID    string
		wantReply string
		wantChain litnode.SigningChain
		wantMsg   string
	}{
		{name: "text, ethereum default", body: `{"id":"a","pkpPublicKey":"` + good + `","toSign":"hi"}`, wantID: "a", wantChain: litnode.ChainEthereum, wantMsg: "hi"},
		{name: "hex, bitcoin", body: `{"id":"a","pkpPublicKey":"` + good + `","toSignHex":"0x6869","chain":"bitcoin"}`, wantID: "a", wantChain: litnode.ChainBitcoin, wantMsg: "hi"},
		{name: "empty text", body: `{"id":"a","pkpPublicKey":"` + good + `","toSign":""}`, wantID: "a", wantChain: litnode.ChainEthereum},
		{name: "header reply", body: `{"id":"a","pkpPublicKey":"` + good + `","toSign":"hi"}`, hdr: hdr("_INBOX.x"), wantID: "a", wantReply: "_INBOX.x", wantChain: litnode.ChainEthereum, wantMsg: "hi"},
		{name: "body reply", body: `{"id":"a","pkpPublicKey":"` + good + `","toSign":"hi","replyTo":"r.x"}`, wantID: "a", wantReply: "r.x", wantChain: litnode.ChainEthereum, wantMsg: "hi"},
		{name: "same reply twice", body: `{"id":"a","pkpPublicKey":"` + good + `","toSign":"hi","replyTo":"r.x"}`, hdr: hdr("r.x"), wantID: "a", wantReply: "r.x", wantChain: litnode.ChainEthereum, wantMsg: "hi"},
		{name: "conflicting replies", body: `{"id":"a","pkpPublicKey":"` + good + `","toSign":"hi","replyTo":"r.x"}`, hdr: hdr("r.y"), wantErr: true, wantID: "a", wantReply: "r.y"},
		{name: "wildcard reply", body: `{"id":"a","pkpPublicKey":"` + good + `","toSign":"hi","replyTo":"r.*"}`, wantErr: true, wantID: "a"},
		{name: "point off the curve", body: `{"id":"a","pkpPublicKey":"` + pkp + `","toSign":"hi"}`, wantErr: true, wantID: "a"},
		{name: "id of 128", body: `{"id":"` + strings.Repeat("x", 128) + `","pkpPublicKey":"` + good + `","toSign":"hi"}`, wantID: strings.Repeat("x", 128), wantChain: litnode.ChainEthereum, wantMsg: "hi"},
		{name: "id as a number", body: `{"id":7,"pkpPublicKey":"` + good + `","toSign":"hi"}`, wantErr: true, wantID: "7"},
		{name: "trailing data", body: `{"id":"a","pkpPublicKey":"` + good + `","toSign":"hi"} {}`, wantErr: true, wantID: "a"},
		{name: "unknown field keeps the address", body: `{"id":"a","pkpPublicKey":"` + good + `","toSign":"hi","replyTo":"r.x","x":1}`, wantErr: true, wantID: "a", wantReply: "r.x"},
		{name: "too large", body: `{"id":"a","toSign":"` + strings.Repeat("x", MaxJobBytes) + `"}`, hdr: hdr("r.big"), wantErr: true, wantID: "a", wantReply: "r.big"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.hdr
			if h == nil {
				h = nats.Header{}
			}
			job, err := DecodeJob([]byte(tc.body), h)
			if (err != nil) != tc.wantErr {
				t.Fatalf("DecodeJob err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrBadJob) {
				t.Errorf("error %v does not wrap ErrBadJob", err)
			}
			if job.ID != tc.wantID || job.ReplyTo != tc.wantReply {
				t.Errorf("id, replyTo = %q, %q; want %q, %q", job.ID, job.ReplyTo, tc.wantID, tc.wantReply)
			}
			if err == nil && (job.Chain != tc.wantChain || string(job.Message) != tc.wantMsg || job.PKPHex != good) {
				t.Errorf("job = %+v", job)
			}
		})
	}
}

// DecodeJob never panics, and what it accepts is a usable job.
func FuzzDecodeJob(f *testing.F) {
	k, _ := crypto.GenerateKey()
	pkp := "0x" + hex.EncodeToString(crypto.FromECDSAPub(&k.PublicKey))
	f.Add([]byte(`{"id":"a","pkpPublicKey":"`+pkp+`","toSign":"hi"}`), "")
	f.Add([]byte(`{"id":"a","pkpPublicKey":"`+pkp+`","toSignHex":"0x00ff","chain":"bitcoin","replyTo":"r.x"}`), "r.x")
	f.Add([]byte(`{"id":"a","pkpPublicKey":"`+pkp+`","toSignHex":"0x`+strings.Repeat("ab", 32)+`","chain":"raw"}`), "_INBOX.y")
	f.Add([]byte(`{"id":`), "a b")
	f.Fuzz(func(t *testing.T, body []byte, reply string) {
		job, err := DecodeJob(body, nats.Header{HeaderReplyTo: []string{reply}})
		if err != nil {
			if !errors.Is(err, ErrBadJob) {
				t.Fatalf("error %v does not wrap ErrBadJob", err)
			}
			return
		}
		if checkJobID(job.ID) != nil || job.PKP.IsZero() || (job.ReplyTo != "" && !validSubject(job.ReplyTo)) {
			t.Fatalf("accepted an unusable job %+v", job)
		}
		if _, err := litnode.Digest(job.Chain, job.Message); err != nil {
			t.Fatalf("accepted a job whose message does not digest: %v", err)
		}
	})
}

// The acknowledgement policy, case by case.
func TestJobDisposition(t *testing.T) {
	nodeErr := func(status int, code string) error {
		return &litnode.OpError{Op: "pkp_sign", Attempts: 1, Errs: []error{&litnode.NodeError{Op: "pkp_sign", Status: status, Code: code}}}
	}
	mixed := &litnode.OpError{Op: "pkp_sign", Attempts: 1, Errs: []error{
		&litnode.NodeError{Op: "pkp_sign", Status: 0},
		&litnode.NodeError{Op: "pkp_sign", Status: 401, Code: "NodeInvalidAuthSig"},
	}}
	cases := []struct {
		name      string
		err       error
		last      bool
		code      string
		retryable bool
		act       action
	}{
		{"success", nil, false, "", false, actAck},
		{"success on the last delivery", nil, true, "", false, actAck},
		{"bad job", badJob("missing id"), false, CodeBadRequest, false, actTerm},
		{"malformed digest input", fmt.Errorf("%w: raw", litnode.ErrMalformed), false, CodeBadRequest, false, actTerm},
		{"nodes reject the request", nodeErr(400, "NodeSomethingInvalid"), false, CodeBadRequest, false, actTerm},
		{"no delegation", fmt.Errorf("get: %w", delegationstore.ErrNotFound), false, CodeDelegationNotFound, false, actTerm},
		{"store says expired", fmt.Errorf("get: %w", delegationstore.ErrExpired), false, CodeDelegationExpired, false, actTerm},
		{"session sigs would outlive it", fmt.Errorf("%w: at …", litnode.ErrExpired), false, CodeDelegationExpired, false, actTerm},
		{"scope", fmt.Errorf("%w: x", errScopeDenied), false, CodeScopeDenied, false, actTerm},
		{"payment", nodeErr(402, "PaymentFailed"), false, CodePaymentFailed, false, actTerm},
		{"auth rejected", nodeErr(401, "NodeInvalidAuthSig"), false, CodeLitAuthFailed, false, actTerm},
		{"PKP permission revoked", nodeErr(403, "NodePKPNotAuthorized"), false, CodeLitAuthFailed, false, actTerm},
		{"auth rejected beats unavailable", mixed, false, CodeLitAuthFailed, false, actTerm},
		{"lit action failed", nodeErr(500, "NodeJsExecutionError"), false, CodeActionFailed, false, actTerm},
		{"sealed secret", fmt.Errorf("get: %w", delegationstore.ErrSealed), false, CodeInternal, false, actTerm},
		{"unusable record", fmt.Errorf("%w: x", errUnusableDelegation), false, CodeInternal, false, actTerm},
		{"attestation", litnode.ErrAttestationUnsupported, false, CodeInternal, false, actTerm},
		{"node unavailable", nodeErr(0, ""), false, CodeLitUnavailable, true, actNak},
		{"408", nodeErr(408, "request_timeout"), false, CodeLitUnavailable, true, actNak},
		{"shares do not combine", fmt.Errorf("%w: x", litnode.ErrNoValidShares), false, CodeLitUnavailable, true, actNak},
		{"too few nodes", fmt.Errorf("%w: 1 of 4", litnode.ErrNotEnoughNodes), false, CodeLitUnavailable, true, actNak},
		{"job timeout", fmt.Errorf("pkp_sign: %w", context.DeadlineExceeded), false, CodeLitUnavailable, true, actNak},
		{"unavailable on the last delivery", nodeErr(503, ""), true, CodeLitUnavailable, true, actTerm},
		{"timeout on the last delivery", context.DeadlineExceeded, true, CodeLitUnavailable, true, actTerm},
		{"ledger down", fmt.Errorf("%w: ledger", errInfra), false, CodeInternal, true, actNak},
		{"ledger down on the last delivery", fmt.Errorf("%w: ledger", errInfra), true, CodeDeliveryExhausted, true, actTerm},
		{"drain cancelled the job", context.Canceled, false, CodeInternal, true, actNak},
		{"unclassified", errors.New("surprise"), false, CodeInternal, true, actNak},
		{"unclassified on the last delivery", errors.New("surprise"), true, CodeDeliveryExhausted, true, actTerm},
		{"permanent on the last delivery stays", fmt.Errorf("get: %w", delegationstore.ErrNotFound), true, CodeDelegationNotFound, false, actTerm},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, retryable, act := jobDisposition(tc.err, tc.last)
			if code != tc.code || retryable != tc.retryable || act != tc.act {
				t.Errorf("jobDisposition(%v, last=%v) = %q, %v, %s; want %q, %v, %s", tc.err, tc.last, code, retryable, act, tc.code, tc.retryable, tc.act)
			}
			// The error classes agree with litnode's own retry decision.
			if tc.err != nil && act == actNak && code == CodeLitUnavailable && !litnode.Retryable(tc.err) && !errors.Is(tc.err, context.DeadlineExceeded) {
				t.Errorf("nak for an error litnode does not retry: %v", tc.err)
			}
		})
	}
}

// The job metrics follow Prometheus naming and record observations.
func TestJobMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.ObserveLit(litnode.Observation{Op: "pkp_sign", Node: "http://127.0.0.1:1", Duration: time.Millisecond})
	m.ObserveLit(litnode.Observation{Op: "pkp_sign", Duration: time.Millisecond, Err: &litnode.NodeError{Status: 402, Code: "PaymentFailed"}, Code: "PaymentFailed"})
	m.ObserveLit(litnode.Observation{Op: "handshake", Duration: time.Millisecond, Err: &litnode.NodeError{Status: 0}, Code: "weird code with spaces"})
	m.ObserveLit(litnode.Observation{Op: "refresh", Duration: time.Millisecond})
	m.job(KindPKPSign, outcomeOK, "", DefaultProducer, time.Second)
	if got := testutil.ToFloat64(m.sessionSigs); got != 2 {
		t.Errorf("session sigs = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.nodeErrors.WithLabelValues("pkp_sign", "PaymentFailed")); got != 1 {
		t.Errorf("node errors{PaymentFailed} = %v", got)
	}
	if got := testutil.ToFloat64(m.nodeErrors.WithLabelValues("handshake", "unavailable")); got != 1 {
		t.Errorf("node errors{handshake,unavailable} = %v (a free-text code must fall back to the class)", got)
	}
	if got := testutil.ToFloat64(m.refreshes.WithLabelValues("ok")); got != 1 {
		t.Errorf("refreshes{ok} = %v", got)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric lint: %s: %s", p.Metric, p.Text)
	}
	var nilMetrics *Metrics // records nothing, never panics
	nilMetrics.ObserveLit(litnode.Observation{Op: "pkp_sign"})
	nilMetrics.job(KindPKPSign, outcomeOK, "", DefaultProducer, 0)
	nilMetrics.inFlightAdd(1)
	nilMetrics.lookup(lookupHit)
}
