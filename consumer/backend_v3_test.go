package consumer

import (
	"context"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/litnode"
)

// memV3 is an in-memory Lit v3 service for the consumer's tests: real
// secp256k1 wallets, the CID check by the CIDv0 of the code (403 before
// anything runs), the in-action wallet check, and the canonical signing
// action executed natively. Scripted actions answer by CID. The HTTP
// behaviour of the real service is litv3's and its fake's business; this
// one exercises the job path's decisions.
type memV3 struct {
	mu       sync.Mutex
	keys     map[string]*memAccount // by usage key
	wallets  map[string]*ecdsa.PrivateKey
	scripts  map[string]func(params map[string]any) (json.RawMessage, string, error)
	runs     map[string]int // by CID: runs that reached execution
	calls    int
	failNext []error // returned (and popped) before anything else
	// forge makes the signing action sign with another key.
	forge *ecdsa.PrivateKey
}

type memAccount struct {
	cids   map[string]bool
	pkps   map[string]bool
	credit int64
}

func newMemV3() *memV3 {
	return &memV3{keys: map[string]*memAccount{}, wallets: map[string]*ecdsa.PrivateKey{},
		scripts: map[string]func(map[string]any) (json.RawMessage, string, error){}, runs: map[string]int{}}
}

// account creates a usage key allowed to run cids with wallets.
func (m *memV3) account(t testing.TB, credit int64, cids []string, wallets ...string) string {
	var b [32]byte
	k, _ := crypto.GenerateKey()
	copy(b[:], crypto.FromECDSA(k))
	key := base64.StdEncoding.EncodeToString(b[:])
	a := &memAccount{cids: map[string]bool{}, pkps: map[string]bool{}, credit: credit}
	for _, c := range cids {
		a.cids[c] = true
	}
	for _, w := range wallets {
		a.pkps[w] = true
	}
	m.mu.Lock()
	m.keys[key] = a
	m.mu.Unlock()
	return key
}

// wallet mints a PKP wallet and returns its address.
func (m *memV3) wallet(t testing.TB) (string, *ecdsa.PrivateKey) {
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.ToLower(crypto.PubkeyToAddress(k.PublicKey).Hex())
	m.mu.Lock()
	m.wallets[addr] = k
	m.mu.Unlock()
	return addr, k
}

func (m *memV3) runsOf(cid string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.runs[cid]
}

func (m *memV3) AccountExists(_ context.Context, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.keys[key] != nil, nil
}

func (m *memV3) LitAction(_ context.Context, key string, req V3ActionRequest) (V3ActionResult, error) {
	m.mu.Lock()
	m.calls++
	if len(m.failNext) > 0 {
		err := m.failNext[0]
		m.failNext = m.failNext[1:]
		if ve, ok := err.(*V3Error); ok && (ve.Kind == V3ActionFailed || ve.MayHaveRun) {
			cid, _ := litnode.IPFSCIDv0([]byte(req.Code))
			m.runs[cid]++
		}
		m.mu.Unlock()
		return V3ActionResult{}, err
	}
	a := m.keys[key]
	switch {
	case a == nil:
		m.mu.Unlock()
		return V3ActionResult{}, &V3Error{Kind: V3Unauthorized, Status: 401, Message: "API key not recognized — it does not resolve to any account."}
	case a.credit < 1:
		m.mu.Unlock()
		return V3ActionResult{}, &V3Error{Kind: V3Payment, Status: 402, Message: "Insufficient credits: this call needs $0.01 but your balance is $0.00."}
	}
	cid, _ := litnode.IPFSCIDv0([]byte(req.Code))
	if !a.cids[cid] {
		m.mu.Unlock()
		return V3ActionResult{}, &V3Error{Kind: V3Forbidden, Status: 403, Message: "The provided API key is not authorized to execute the specified action (" + cid + "/…)."}
	}
	a.credit--
	m.runs[cid]++
	script := m.scripts[cid]
	forge := m.forge
	var wallet *ecdsa.PrivateKey
	if id, _ := req.JSParams["pkpId"].(string); a.pkps[strings.ToLower(id)] {
		wallet = m.wallets[strings.ToLower(id)]
	}
	m.mu.Unlock()
	if req.Code == V3SignAction() {
		if wallet == nil {
			return V3ActionResult{}, &V3Error{Kind: V3ActionFailed, Status: 500, MayHaveRun: true, Message: "Internal server error.: Actions failed with : Uncaught (in promise) Error: API key cannot use selected wallet in selected action"}
		}
		if forge != nil {
			wallet = forge
		}
		d, _ := hex.DecodeString(strings.TrimPrefix(req.JSParams["digest"].(string), "0x"))
		sig, err := crypto.Sign(d, wallet)
		if err != nil {
			return V3ActionResult{}, err
		}
		resp, _ := json.Marshal(map[string]any{"r": "0x" + hex.EncodeToString(sig[:32]), "s": "0x" + hex.EncodeToString(sig[32:64]), "recoveryParam": int(sig[64])})
		return V3ActionResult{Response: resp}, nil
	}
	if script == nil {
		return V3ActionResult{Response: json.RawMessage(`""`)}, nil
	}
	resp, logs, err := script(req.JSParams)
	if err != nil {
		return V3ActionResult{}, &V3Error{Kind: V3ActionFailed, Status: 500, MayHaveRun: true, Message: "Internal server error.: Actions failed with : " + err.Error()}
	}
	return V3ActionResult{Response: resp, Logs: logs}, nil
}

// v3Env is a jobs env with a v3 backend on memV3 and the intake.
type v3Env struct {
	*jobsEnv
	svc    *memV3
	v3     *V3Backend
	creds  *delegationstore.V3Store
	intake *Intake
	seal   *SealingKey
}

func newV3Env(t testing.TB, cfg jobsEnvConfig, opts ...func(*V3Backend)) *v3Env {
	t.Helper()
	svc := newMemV3()
	e := newV3EnvWith(t, cfg, svc, svc, opts...)
	e.svc = svc
	return e
}

// newV3EnvWith is newV3Env on another service.
func newV3EnvWith(t testing.TB, cfg jobsEnvConfig, client V3Client, checker V3Checker, opts ...func(*V3Backend)) *v3Env {
	t.Helper()
	e := &v3Env{}
	cfg.configure = func(j *Jobs) {
		e.creds = j.Delegations.(*delegationstore.Store).V3()
		e.v3 = &V3Backend{Credentials: e.creds, Client: client, GrantWindow: -1, Metrics: NewV3Metrics(prometheus.NewRegistry())}
		for _, o := range opts {
			o(e.v3)
		}
		j.V3 = e.v3
	}
	e.jobsEnv = newJobsEnv(t, cfg)
	seal, err := DeriveSealingKey(e.ring.SealingMaterial())
	if err != nil {
		t.Fatal(err)
	}
	e.seal = seal
	e.intake = &Intake{Store: e.store, Events: &EventPublisher{JS: e.js, Topology: e.topo}, Topology: e.topo, Sealing: seal,
		V3: &V3Intake{Store: e.creds, Checker: checker}}
	return e
}

// handOff builds a sealed v3 hand-off.
func (e *v3Env) handOff(addr string, payload map[string]any) []byte {
	e.t.Helper()
	p, _ := json.Marshal(payload)
	sealed, err := Seal(e.seal.PublicKey(), p)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"backend": "lit-v3", "pkp": addr, "sealedPayload": base64.RawURLEncoding.EncodeToString(sealed)})
	return b
}

// intakeMsg runs one delegations message through the intake and returns the
// disposition it took.
func (e *v3Env) intakeMsg(subject string, data []byte) string {
	e.t.Helper()
	m := &fakeMsg{subject: subject, data: data}
	e.intake.Handle(context.Background(), m)
	return m.disposition()
}

// fakeMsg is a jetstream.Msg that records its acknowledgement.
type fakeMsg struct {
	jetstream.Msg
	subject string
	data    []byte
	mu      sync.Mutex
	acked   string
}

func (m *fakeMsg) Subject() string      { return m.subject }
func (m *fakeMsg) Data() []byte         { return m.data }
func (m *fakeMsg) Headers() nats.Header { return nats.Header{} }
func (m *fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{NumDelivered: 1}, nil
}
func (m *fakeMsg) set(s string) error               { m.mu.Lock(); m.acked = s; m.mu.Unlock(); return nil }
func (m *fakeMsg) DoubleAck(context.Context) error  { return m.set("ack") }
func (m *fakeMsg) Ack() error                       { return m.set("ack") }
func (m *fakeMsg) TermWithReason(r string) error    { return m.set("term:" + r) }
func (m *fakeMsg) NakWithDelay(time.Duration) error { return m.set("nak") }
func (m *fakeMsg) InProgress() error                { return nil }
func (m *fakeMsg) disposition() string              { m.mu.Lock(); defer m.mu.Unlock(); return m.acked }

// storeV3 hands a credential off through the intake and checks it is stored.
func (e *v3Env) storeV3(addr, key string) {
	e.t.Helper()
	if got := e.intakeMsg(e.topo.DelegationsSubject(), e.handOff(addr, map[string]any{"usageKey": key, "groupId": "1", "issuedAt": time.Now()})); got != "ack" {
		e.t.Fatalf("v3 hand-off: %s, want ack", got)
	}
}

// v3JobResult publishes a job of kind naming the PKP by pkp and returns
// its result.
func (e *v3Env) v3JobResult(kind string, body map[string]any) Result {
	e.t.Helper()
	id := e.newID("v3")
	body["id"] = id
	b, _ := json.Marshal(body)
	sub := e.subscribe(e.resultSubject(id))
	e.publish(kind, b, id, nil)
	r, _ := awaitResult(e.t, sub, 20*time.Second)
	return r
}

func TestV3SignByAddressAndByPublicKey(t *testing.T) {
	e := newV3Env(t, jobsEnvConfig{})
	addr, wk := e.svc.wallet(t)
	key := e.svc.account(t, 100, []string{V3SignActionCID()}, addr)
	e.storeV3(addr, key)
	pub := "0x" + hex.EncodeToString(crypto.FromECDSAPub(&wk.PublicKey))

	for _, name := range []string{addr, strings.ToUpper(addr[:2]) + addr[2:], pub} {
		name = strings.Replace(name, "0X", "0x", 1)
		r := e.v3JobResult(KindPKPSign, map[string]any{"pkpPublicKey": name, "toSign": "hello v3"})
		if r.Status != StatusOK || r.Signature == nil {
			t.Fatalf("job naming %s: %+v %+v", name, r, r.Error)
		}
		digest, _ := litnode.Digest(litnode.ChainEthereum, []byte("hello v3"))
		if r.Signature.SignedData != "0x"+hex.EncodeToString(digest[:]) || r.Signature.PublicKey != pub {
			t.Fatalf("signature = %+v", r.Signature)
		}
		sig, _ := hex.DecodeString(strings.TrimPrefix(r.Signature.Signature, "0x"))
		sig[64] -= 27
		got, err := crypto.SigToPub(digest[:], sig)
		if err != nil || !strings.EqualFold(crypto.PubkeyToAddress(*got).Hex(), addr) {
			t.Fatalf("signature recovers to %v (%v), want %s", got, err, addr)
		}
	}
	for _, chain := range []string{"bitcoin", "raw"} {
		toSignHex := "0x" + strings.Repeat("ab", 32)
		r := e.v3JobResult(KindPKPSign, map[string]any{"pkpPublicKey": addr, "toSignHex": toSignHex, "chain": chain})
		if r.Status != StatusOK {
			t.Fatalf("chain %s: %+v", chain, r.Error)
		}
	}
}

// A service (or a man in the middle) that returns a signature by another
// key: nothing is published but an error.
func TestV3ForgedSignatureNeverPublished(t *testing.T) {
	e := newV3Env(t, jobsEnvConfig{})
	addr, _ := e.svc.wallet(t)
	e.storeV3(addr, e.svc.account(t, 100, []string{V3SignActionCID()}, addr))
	e.svc.forge, _ = crypto.GenerateKey()
	r := e.v3JobResult(KindPKPSign, map[string]any{"pkpPublicKey": addr, "toSign": "x"})
	expectError(t, r, CodeActionFailed, false)
	if !strings.Contains(r.Error.Message, "does not verify") {
		t.Fatalf("message = %q", r.Error.Message)
	}
}

func TestV3ErrorsMapToCodes(t *testing.T) {
	e := newV3Env(t, jobsEnvConfig{})
	needed := e.subscribe(e.topo.Prefix + ".events.delegation.needed.>")

	// 401: the key was removed at the service after the hand-off.
	addr, _ := e.svc.wallet(t)
	key := e.svc.account(t, 100, []string{V3SignActionCID()}, addr)
	e.storeV3(addr, key)
	e.svc.mu.Lock()
	delete(e.svc.keys, key)
	e.svc.mu.Unlock()
	r := e.v3JobResult(KindPKPSign, map[string]any{"pkpPublicKey": addr, "toSign": "x"})
	expectError(t, r, CodeLitAuthFailed, false)
	m, err := needed.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no needed event after a 401: %v", err)
	}
	var ev DelegationEvent
	_ = json.Unmarshal(m.Data, &ev)
	if ev.PKPPublicKey != addr || ev.Reason != CodeLitAuthFailed || ev.JobID != r.ID || ev.Backend != "lit-v3" {
		t.Fatalf("needed event = %+v", ev)
	}

	// 402: no credit.
	addr2, _ := e.svc.wallet(t)
	e.storeV3(addr2, e.svc.account(t, 0, []string{V3SignActionCID()}, addr2))
	expectError(t, e.v3JobResult(KindPKPSign, map[string]any{"pkpPublicKey": addr2, "toSign": "x"}), CodePaymentFailed, false)

	// 403: the action is not in the key's group; nothing ran or was billed.
	addr3, _ := e.svc.wallet(t)
	e.storeV3(addr3, e.svc.account(t, 100, nil, addr3))
	code := "async function main(p) { return p.x; }"
	cid, _ := litnode.IPFSCIDv0([]byte(code))
	expectError(t, e.v3JobResult(KindExecuteJS, map[string]any{"pkpPublicKey": addr3, "code": code}), CodeScopeDenied, false)
	if n := e.svc.runsOf(cid); n != 0 {
		t.Fatalf("403 action ran %d times", n)
	}

	// The PKP is not in the group: the signing action throws inside.
	addr4, _ := e.svc.wallet(t)
	e.storeV3(addr4, e.svc.account(t, 100, []string{V3SignActionCID()}))
	expectError(t, e.v3JobResult(KindPKPSign, map[string]any{"pkpPublicKey": addr4, "toSign": "x"}), CodeScopeDenied, false)
}

func TestV3ExecuteJS(t *testing.T) {
	e := newV3Env(t, jobsEnvConfig{})
	addr, _ := e.svc.wallet(t)
	code := "async function main(p) { console.log('hi'); return {sum: p.a + p.b}; }"
	cid, _ := litnode.IPFSCIDv0([]byte(code))
	e.svc.scripts[cid] = func(p map[string]any) (json.RawMessage, string, error) {
		a, _ := p["a"].(json.Number).Int64()
		b, _ := p["b"].(json.Number).Int64()
		return json.RawMessage(fmt.Sprintf(`{"sum":%d}`, a+b)), "hi\n", nil
	}
	e.storeV3(addr, e.svc.account(t, 100, []string{cid}, addr))
	r := e.v3JobResult(KindExecuteJS, map[string]any{"pkpPublicKey": addr, "code": code, "jsParams": map[string]any{"a": 2, "b": 40}})
	if r.Status != StatusOK || r.ActionResult == nil || string(r.ActionResult.Response) != `{"sum":42}` || r.ActionResult.Logs != "hi\n" {
		t.Fatalf("result = %+v %+v", r, r.ActionResult)
	}

	// At most once: a failure after which the action may have run is not
	// retried; the job ends outcome_unknown and the action ran once.
	e.svc.failNext = []error{&V3Error{Kind: V3Unavailable, Status: 502, MayHaveRun: true, Message: "bad gateway"}}
	before := e.svc.runsOf(cid)
	expectError(t, e.v3JobResult(KindExecuteJS, map[string]any{"pkpPublicKey": addr, "code": code, "jsParams": map[string]any{"a": 1, "b": 1}}), CodeOutcomeUnknown, false)
	if n := e.svc.runsOf(cid) - before; n != 1 {
		t.Fatalf("action ran %d times, want 1", n)
	}

	// A 429 before auth ran nothing: retried, and the job succeeds.
	e.svc.failNext = []error{&V3Error{Kind: V3Overloaded, Status: 429, Message: "The node is shedding load (CPU overloaded)."}}
	r = e.v3JobResult(KindExecuteJS, map[string]any{"pkpPublicKey": addr, "code": code, "jsParams": map[string]any{"a": 1, "b": 2}})
	if r.Status != StatusOK || string(r.ActionResult.Response) != `{"sum":3}` {
		t.Fatalf("after 429: %+v %+v", r, r.Error)
	}

	// The action throws: action_failed.
	e.svc.scripts[cid] = func(map[string]any) (json.RawMessage, string, error) {
		return nil, "", fmt.Errorf("Uncaught Error: boom")
	}
	expectError(t, e.v3JobResult(KindExecuteJS, map[string]any{"pkpPublicKey": addr, "code": code}), CodeActionFailed, false)
}

// The hand-off's policy (the per-PKP policy of both backends) restricts the
// actions: a job with another action is refused without calling the service.
func TestV3PolicyDeniesWithoutACall(t *testing.T) {
	e := newV3Env(t, jobsEnvConfig{})
	addr, _ := e.svc.wallet(t)
	code := "async function main() { return 1; }"
	cid, _ := litnode.IPFSCIDv0([]byte(code))
	key := e.svc.account(t, 100, []string{cid}, addr)
	if got := e.intakeMsg(e.topo.DelegationsSubject(), e.handOff(addr, map[string]any{"usageKey": key, "groupId": "1", "policy": map[string]any{"actionCids": []string{V3SignActionCID()}}})); got != "ack" {
		t.Fatalf("hand-off: %s", got)
	}
	expectError(t, e.v3JobResult(KindExecuteJS, map[string]any{"pkpPublicKey": addr, "code": code}), CodePolicyDenied, false)
	if e.svc.calls != 0 {
		t.Fatalf("service called %d times", e.svc.calls)
	}
}

func TestV3IntakeChecks(t *testing.T) {
	e := newV3Env(t, jobsEnvConfig{})
	addr, _ := e.svc.wallet(t)
	key := e.svc.account(t, 100, nil, addr)
	unknown := base64.StdEncoding.EncodeToString(make([]byte, 32))
	rejected := e.subscribe(e.topo.Prefix + ".events.delegation.rejected.>")
	cases := []struct {
		name    string
		msg     []byte
		reason  string
		subject string
	}{
		{"key shape", e.handOff(addr, map[string]any{"usageKey": "short", "groupId": "1"}), ReasonV3UsageKey, ""},
		{"precomputed hash", e.handOff(addr, map[string]any{"usageKey": "0x" + strings.Repeat("ab", 32), "groupId": "1"}), ReasonV3UsageKey, ""},
		{"unknown account", e.handOff(addr, map[string]any{"usageKey": unknown, "groupId": "1"}), ReasonV3UnknownAcct, ""},
		{"group", e.handOff(addr, map[string]any{"usageKey": key, "groupId": "one"}), ReasonV3Group, ""},
		{"expired", e.handOff(addr, map[string]any{"usageKey": key, "groupId": "1", "expiresAt": time.Now().Add(-time.Minute)}), ReasonExpired, ""},
		{"unknown field", e.handOff(addr, map[string]any{"usageKey": key, "groupId": "1", "extra": 1}), ReasonMalformed, ""},
		{"not an address", e.handOff("0x04abcd", map[string]any{"usageKey": key, "groupId": "1"}), ReasonV3WrongIdentity, ""},
		{"sealed to another key", func() []byte {
			other, _ := DeriveSealingKey(make([]byte, 32))
			p, _ := json.Marshal(map[string]any{"usageKey": key, "groupId": "1"})
			s, _ := Seal(other.PublicKey(), p)
			b, _ := json.Marshal(map[string]any{"backend": "lit-v3", "pkp": addr, "sealedPayload": base64.RawURLEncoding.EncodeToString(s)})
			return b
		}(), ReasonUnsealable, ""},
	}
	for _, c := range cases {
		got := e.intakeMsg(e.topo.DelegationsSubject(), c.msg)
		if got != "term:"+c.reason {
			t.Errorf("%s: %s, want term:%s", c.name, got, c.reason)
			continue
		}
		m, err := rejected.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("%s: no rejected event", c.name)
		}
		if strings.Contains(string(m.Data), key) {
			t.Fatalf("%s: rejected event carries the usage key: %s", c.name, m.Data)
		}
	}
	if _, err := e.creds.Get(context.Background(), addr); err == nil {
		t.Fatal("a rejected hand-off was stored")
	}
}

func TestV3RevocationAndExpiry(t *testing.T) {
	e := newV3Env(t, jobsEnvConfig{})
	needed := e.subscribe(e.topo.Prefix + ".events.delegation.needed.>")
	addr, _ := e.svc.wallet(t)
	key := e.svc.account(t, 100, []string{V3SignActionCID()}, addr)
	e.storeV3(addr, key)
	// A revocation by someone who does not know the key removes nothing.
	other := e.svc.account(t, 1, nil)
	if got := e.intakeMsg(e.topo.RevocationsSubject(), e.handOff(addr, map[string]any{"usageKey": other, "revokedAt": time.Now()})); got != "ack" {
		t.Fatalf("revocation with another key: %s", got)
	}
	if _, err := e.creds.Get(context.Background(), addr); err != nil {
		t.Fatalf("credential gone after a foreign revocation: %v", err)
	}
	if got := e.intakeMsg(e.topo.RevocationsSubject(), e.handOff(addr, map[string]any{"usageKey": key, "revokedAt": time.Now()})); got != "ack" {
		t.Fatalf("revocation: %s", got)
	}
	r := e.v3JobResult(KindPKPSign, map[string]any{"pkpPublicKey": addr, "toSign": "x"})
	expectError(t, r, CodeDelegationNotFound, false)
	// The client is told a v3 credential is needed, not a Naga delegation.
	m, err := needed.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no needed event after the revocation: %v", err)
	}
	var ev DelegationEvent
	if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Backend != "lit-v3" || ev.PKPPublicKey != addr || ev.Reason != CodeDelegationNotFound || ev.JobID != r.ID {
		t.Fatalf("needed event = %s (%v)", m.Data, err)
	}

	// A client-set expiry: the job after it finds no credential.
	if got := e.intakeMsg(e.topo.DelegationsSubject(), e.handOff(addr, map[string]any{"usageKey": key, "groupId": "1", "issuedAt": time.Now(), "expiresAt": time.Now().Add(2 * time.Second)})); got != "ack" {
		t.Fatalf("hand-off: %s", got)
	}
	if r := e.v3JobResult(KindPKPSign, map[string]any{"pkpPublicKey": addr, "toSign": "x"}); r.Status != StatusOK {
		t.Fatalf("before expiry: %+v", r.Error)
	}
	time.Sleep(2500 * time.Millisecond)
	r = e.v3JobResult(KindPKPSign, map[string]any{"pkpPublicKey": addr, "toSign": "x"})
	if r.Status != StatusError || (r.Error.Code != CodeDelegationExpired && r.Error.Code != CodeDelegationNotFound) {
		t.Fatalf("after expiry: %+v", r)
	}
}

// The audit trail is backend-neutral: a v3 job that reached the service is
// recorded like a Naga one (backend lit-v3, no node count, no message).
func TestV3JobsAudited(t *testing.T) {
	e := newV3Env(t, jobsEnvConfig{})
	addr, _ := e.svc.wallet(t)
	key := e.svc.account(t, 100, []string{V3SignActionCID()}, addr)
	e.storeV3(addr, key)
	if r := e.v3JobResult(KindPKPSign, map[string]any{"pkpPublicKey": addr, "toSign": "audited on v3"}); r.Status != StatusOK {
		t.Fatalf("v3 sign: %+v", r.Error)
	}
	s, err := e.js.Stream(context.Background(), e.topo.AuditStreamName())
	if err != nil {
		t.Fatal(err)
	}
	var rec AuditRecord
	jWaitFor(t, "the v3 job's audit record", func() bool {
		m, err := s.GetLastMsgForSubject(context.Background(), e.topo.AuditSubject("default"))
		if err != nil || json.Unmarshal(m.Data, &rec) != nil || strings.Contains(string(m.Data), "audited on v3") {
			return false
		}
		return rec.Backend == "lit-v3"
	})
	if rec.Kind != KindPKPSign || rec.Outcome != StatusOK || !strings.HasPrefix(rec.Digest, "0x") || rec.Nodes != 0 {
		t.Fatalf("audit record = %+v", rec)
	}
}

// Within the grant-propagation window after a hand-off, a 403 (answered
// before anything runs or bills) is retried, and the job succeeds once the
// grant has propagated (after the window a 403 is scope_denied at once:
// TestV3ErrorsMapToCodes).
func TestV3GrantPropagationWindow(t *testing.T) {
	e := newV3Env(t, jobsEnvConfig{}, func(b *V3Backend) { b.GrantWindow = time.Minute })
	addr, _ := e.svc.wallet(t)
	e.storeV3(addr, e.svc.account(t, 100, []string{V3SignActionCID()}, addr))
	forbidden := &V3Error{Kind: V3Forbidden, Status: 403, Message: "The provided API key is not authorized to execute the specified action (…)."}
	e.svc.mu.Lock()
	e.svc.failNext = []error{forbidden, forbidden}
	e.svc.mu.Unlock()
	r := e.v3JobResult(KindPKPSign, map[string]any{"pkpPublicKey": addr, "toSign": "after propagation"})
	if r.Status != StatusOK {
		t.Fatalf("job during the grant window: %+v", r.Error)
	}
	e.svc.mu.Lock()
	calls := e.svc.calls
	e.svc.mu.Unlock()
	if calls != 3 {
		t.Fatalf("%d calls, want 2 refused and 1 that signed", calls)
	}
}

// "A replayed message must change nothing": a captured v3 hand-off
// re-published after the owner revoked its key must not bring the key
// back, whether the hand-off carried issuedAt or not, and whether the
// client or an operator revoked it. A hand-off of the same key issued
// after the revocation is the owner re-enabling it, and is stored.
func TestV3ReplayAfterRevocationStoresNothing(t *testing.T) {
	e := newV3Env(t, jobsEnvConfig{})
	rejected := e.subscribe(e.topo.Prefix + ".events.delegation.rejected.>")
	ctx := context.Background()
	expectRejected := func(what, addr string, msg []byte) {
		t.Helper()
		if got := e.intakeMsg(e.topo.DelegationsSubject(), msg); got != "term:"+ReasonRevoked {
			t.Fatalf("%s: disposition %s, want term:%s", what, got, ReasonRevoked)
		}
		if _, err := e.creds.Get(ctx, addr); !errors.Is(err, delegationstore.ErrNotFound) {
			t.Fatalf("%s: the revoked key is stored again (%v)", what, err)
		}
		m, err := rejected.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("%s: no rejected event: %v", what, err)
		}
		var ev DelegationEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Reason != ReasonRevoked || ev.PKPPublicKey != addr || ev.Backend != "lit-v3" {
			t.Fatalf("%s: rejected event %s (%v)", what, m.Data, err)
		}
	}

	// The client revokes.
	addr, _ := e.svc.wallet(t)
	key := e.svc.account(t, 100, []string{V3SignActionCID()}, addr)
	issued := time.Now().Add(-time.Minute)
	captured := e.handOff(addr, map[string]any{"usageKey": key, "groupId": "1", "issuedAt": issued})
	undated := e.handOff(addr, map[string]any{"usageKey": key, "groupId": "1"})
	if got := e.intakeMsg(e.topo.DelegationsSubject(), captured); got != "ack" {
		t.Fatalf("hand-off: %s", got)
	}
	if got := e.intakeMsg(e.topo.RevocationsSubject(), e.handOff(addr, map[string]any{"usageKey": key, "revokedAt": time.Now()})); got != "ack" {
		t.Fatalf("revocation: %s", got)
	}
	expectRejected("the captured hand-off replayed", addr, captured)
	expectRejected("an undated hand-off of the revoked key", addr, undated)
	// The owner hands the key off again, later: stored.
	if got := e.intakeMsg(e.topo.DelegationsSubject(), e.handOff(addr, map[string]any{"usageKey": key, "groupId": "1", "issuedAt": time.Now().Add(time.Second)})); got != "ack" {
		t.Fatalf("a hand-off issued after the revocation: %s, want ack", got)
	}
	if _, err := e.creds.Get(ctx, addr); err != nil {
		t.Fatalf("re-enabled key not stored: %v", err)
	}

	// An operator revokes (no key needed): the same holds.
	addr2, _ := e.svc.wallet(t)
	key2 := e.svc.account(t, 100, []string{V3SignActionCID()}, addr2)
	captured2 := e.handOff(addr2, map[string]any{"usageKey": key2, "groupId": "1", "issuedAt": time.Now().Add(-time.Minute)})
	if got := e.intakeMsg(e.topo.DelegationsSubject(), captured2); got != "ack" {
		t.Fatalf("hand-off: %s", got)
	}
	admin, err := delegationstore.OpenAdmin(ctx, e.js, e.topo.DelegationsBucket)
	if err != nil {
		t.Fatal(err)
	}
	if deleted, err := admin.RevokeV3(ctx, addr2); err != nil || !deleted {
		t.Fatalf("operator revocation: %v, %v", deleted, err)
	}
	expectRejected("a hand-off replayed after an operator revocation", addr2, captured2)
}
