package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/litnode/devnet"
)

// delegateWithPolicy stores a 15-minute delegation for p carrying pol
// (nil: none).
func (e *jobsEnv) delegateWithPolicy(p devnet.DevPKP, resources, pol string) {
	e.t.Helper()
	h := e.delegation(p, nil, resources, time.Now().Add(15*time.Minute))
	if pol != "" {
		h.Policy = []byte(pol)
	}
	e.put(e.store, h)
}

// Attack: an action run with PKP A's delegation signs with PKP B of the
// same owner (the nodes' check_pkp_auth allows it); the result was
// labelled with A. After: policy_denied, B's signature is not returned.
func TestAttackOtherPKPSignatureFromAction(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{net: startSlowExecDevnet(t), litTimeout: 20 * time.Second})
	a := e.net.PKPs()[0]
	b, err := e.net.MintPKP(a.OwnerAddress)
	if err != nil {
		t.Fatal(err)
	}
	e.delegate(a, "pkp-signing:*,lit-action-execution:*")
	digest := crypto.Keccak256([]byte("signed by another PKP"))

	id := e.newID("other-pkp")
	r, raw := e.runExec(execBody(id, a, execSignAction, map[string]any{"jsParams": signParams(b, digest, 1)}), id)
	expectError(t, r, CodePolicyDenied, false)
	if r.ActionResult != nil || strings.Contains(string(raw), strings.TrimPrefix(b.PublicKey.Hex(), "0x")) {
		t.Fatalf("the other PKP's signature leaked: %s", raw)
	}
	// The action did reach the nodes: it is audited as denied.
	rec := e.lastAudit(t, id)
	if rec.Outcome != CodePolicyDenied || rec.CID != cidOf(t, execSignAction) {
		t.Fatalf("audit = %+v", rec)
	}

	// The owner may allow it.
	e.delegateWithPolicy(a, "pkp-signing:*,lit-action-execution:*", `{"inlineCode":true,"otherPkpSignatures":true}`)
	id = e.newID("other-pkp-allowed")
	r, _ = e.runExec(execBody(id, a, execSignAction, map[string]any{"jsParams": signParams(b, digest, 2)}), id)
	expectActionOK(t, r)
	checkResultSig(t, r.Signatures["sig1"], b, digest)

	// Its own PKP's signature is always fine.
	id = e.newID("own-pkp")
	r, _ = e.runExec(execBody(id, a, execSignAction, map[string]any{"jsParams": signParams(a, digest, 3)}), id)
	expectActionOK(t, r)
}

// Attack: any producer runs inline JavaScript with a delegation that
// grants lit-action-execution:* and carries no policy. After: the default
// policy denies execute-js before any node request; pkp-sign still works
// (the seed envelope without a policy gets the default).
func TestAttackInlineCodeWithoutPolicy(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{net: startSlowExecDevnet(t), litTimeout: 20 * time.Second, securePolicy: true})
	p := e.net.PKPs()[0]
	e.delegate(p, "pkp-signing:*,lit-action-execution:*")
	id := e.newID("inline")
	r, _ := e.runExec(execBody(id, p, `Lit.Actions.setResponse({response: "pwned"});`, nil), id)
	expectError(t, r, CodePolicyDenied, false)
	if n := e.executeRequests(); n != 0 {
		t.Fatalf("%d execute requests reached the nodes", n)
	}
	id = e.newID("sign")
	r = e.runJob(jobBody(id, p, "still allowed", nil), id)
	if r.Status != StatusOK {
		t.Fatalf("pkp-sign under the default policy: %+v %+v", r, r.Error)
	}
	// With the owner's policy naming the action's CID, the same code runs.
	code := `Lit.Actions.setResponse({response: "allowed"});`
	e.delegateWithPolicy(p, "pkp-signing:*,lit-action-execution:*", `{"actionCids":["`+cidOf(t, code)+`"]}`)
	id = e.newID("listed")
	r, _ = e.runExec(execBody(id, p, code, nil), id)
	expectActionOK(t, r)
	id = e.newID("unlisted")
	r, _ = e.runExec(execBody(id, p, `Lit.Actions.setResponse({response: "other"});`, nil), id)
	expectError(t, r, CodePolicyDenied, false)
}

// Each policy member allows and denies pkp-sign jobs as documented, before
// any node request.
func TestJobPolicyFields(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{securePolicy: true})
	pkps := e.net.PKPs()
	cases := []struct {
		name    string
		policy  string
		allowed []map[string]any // extra job fields
		denied  []map[string]any
	}{
		{"chains", `{"chains":["bitcoin"]}`, []map[string]any{{"chain": "bitcoin", "toSign": nil, "toSignHex": "0x" + strings.Repeat("ab", 32)}}, []map[string]any{{"chain": "ethereum"}}},
		{"producers", `{"producers":["default","billing"]}`, []map[string]any{nil}, nil},
		{"producers deny", `{"producers":["billing"]}`, nil, []map[string]any{nil}},
		{"kinds", `{"kinds":["execute-js"],"inlineCode":true}`, nil, []map[string]any{nil}},
		{"rate", `{"maxJobsPerMinute":2}`, []map[string]any{nil, nil}, []map[string]any{nil}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := pkps[i%len(pkps)]
			e.delegateWithPolicy(p, "pkp-signing:*", c.policy)
			for _, extra := range c.allowed {
				id := e.newID("allow")
				if r := e.runJob(jobBody(id, p, "policy", extra), id); r.Status != StatusOK {
					t.Fatalf("allowed job: %+v", r.Error)
				}
			}
			before := e.signRequests()
			for _, extra := range c.denied {
				id := e.newID("deny")
				expectError(t, e.runJob(jobBody(id, p, "policy", extra), id), CodePolicyDenied, false)
			}
			if n := e.signRequests() - before; n != 0 {
				t.Fatalf("%d sign requests for denied jobs", n)
			}
		})
	}
}

// Attack: 50 jobs for a PKP without a delegation. Before: 50 "needed"
// events stored for 7 days. After: one per PKP and reason per window.
func TestAttackNeededEventFlood(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{})
	p := e.net.PKPs()[0]
	for i := range 50 {
		id := e.newID("flood")
		r := e.runJob(jobBody(id, p, "no delegation", nil), id)
		expectError(t, r, CodeDelegationNotFound, false)
		_ = i
	}
	s, err := e.js.Stream(context.Background(), e.topo.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(e.topo.EventSubject(EventNeeded, ">")))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	// One, or two if the jobs straddled a window boundary.
	if n < 1 || n > 2 {
		t.Fatalf("%d needed events for 50 failing jobs, want one per window", n)
	}
}

// lastAudit returns the audit record of job id.
func (e *jobsEnv) lastAudit(t *testing.T, id string) AuditRecord {
	t.Helper()
	s, err := e.js.Stream(context.Background(), e.topo.AuditStreamName())
	if err != nil {
		t.Fatal(err)
	}
	var found *AuditRecord
	jWaitFor(t, "audit record of "+id, func() bool {
		m, err := s.GetLastMsgForSubject(context.Background(), e.topo.AuditSubject("default"))
		if err != nil {
			return false
		}
		var rec AuditRecord
		if json.Unmarshal(m.Data, &rec) != nil || rec.JobID != id {
			return false
		}
		found = &rec
		return true
	})
	return *found
}

// Every pkp-sign that reached the nodes is audited with its digest, never
// its message; a job denied before the nodes is not.
func TestAuditTrail(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{securePolicy: true})
	p := e.net.PKPs()[0]
	e.delegate(p, "pkp-signing:*")
	id := e.newID("audited")
	msg := "audit me, but do not store me"
	if r := e.runJob(jobBody(id, p, msg, nil), id); r.Status != StatusOK {
		t.Fatal(r.Error)
	}
	rec := e.lastAudit(t, id)
	if rec.Producer != "default" || rec.PKP != p.PublicKey.Hex() || rec.Kind != KindPKPSign || rec.Chain != "ethereum" ||
		rec.Outcome != StatusOK || rec.Nodes != 3 || !strings.HasPrefix(rec.Digest, "0x") || len(rec.Digest) != 66 || rec.At.IsZero() {
		t.Fatalf("audit record = %+v", rec)
	}
	s, _ := e.js.Stream(context.Background(), e.topo.AuditStreamName())
	m, _ := s.GetLastMsgForSubject(context.Background(), e.topo.AuditSubject("default"))
	if strings.Contains(string(m.Data), msg) {
		t.Fatal("the audit record carries the message")
	}
	info, _ := s.Info(context.Background())
	before := info.State.Msgs
	q := e.net.PKPs()[1]
	e.delegateWithPolicy(q, "pkp-signing:*", `{"chains":["bitcoin"]}`)
	id = e.newID("denied")
	expectError(t, e.runJob(jobBody(id, q, "x", nil), id), CodePolicyDenied, false)
	if info, _ := s.Info(context.Background()); info.State.Msgs != before {
		t.Fatalf("a job denied before the nodes was audited (%d → %d records)", before, info.State.Msgs)
	}
}

// Revocation is a barrier for jobs in flight: once the delegation a job
// holds is revoked, the job mints no further session signatures (the
// SessionAuth.Valid hook fails before any node request).
func TestRevocationStopsInFlightMinting(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{})
	p := e.net.PKPs()[0]
	e.delegate(p, "pkp-signing:*")
	d, err := e.store.Get(context.Background(), p.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	valid := e.jobs.stillCurrent(d)
	if valid == nil || valid() != nil {
		t.Fatal("a current delegation is not valid")
	}
	if ok, err := e.store.Revoke(context.Background(), p.PublicKey, nil); !ok || err != nil {
		t.Fatalf("Revoke = %v, %v", ok, err)
	}
	if err := valid(); !errors.Is(err, delegationstore.ErrNotFound) {
		t.Fatalf("after the revocation Valid = %v, want ErrNotFound", err)
	}
	before := e.signRequests()
	auth := litnode.SessionAuth{Key: d.SessionKey, Delegation: d.AuthSig, Expiration: d.Expiration, Valid: valid}
	if _, err := e.lit.PKPSign(context.Background(), litnode.PKPSignRequest{PKP: p.PublicKey, Message: []byte("late"), Chain: litnode.ChainEthereum, Auth: auth}); !errors.Is(err, delegationstore.ErrNotFound) {
		t.Fatalf("PKPSign with a revoked delegation = %v", err)
	}
	if n := e.signRequests() - before; n != 0 {
		t.Fatalf("%d sign requests after the revocation", n)
	}
	// And a job that starts after it fails delegation_not_found.
	id := e.newID("after-revoke")
	expectError(t, e.runJob(jobBody(id, p, "x", nil), id), CodeDelegationNotFound, false)
}

// startSlowExecDevnet is startExecDevnet with timeouts for a loaded
// machine: these tests are about what litsignd does with an action's
// result, not about action time limits.
func startSlowExecDevnet(t *testing.T) *devnet.Network {
	t.Helper()
	return startExecDevnetWith(t, devnet.Config{Nodes: 4, NodeTimeout: 20 * time.Second, ActionTimeout: 10 * time.Second})
}
