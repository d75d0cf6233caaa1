package consumer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/litnode/devnet"
)

// execSignAction signs jsParams.digest with the PKP as "sig1", logs, and
// sets a JSON response.
const execSignAction = `(async () => {
  console.log("signing", jsParams.n);
  await Lit.Actions.signEcdsa({toSign: jsParams.digest, publicKey: jsParams.publicKey, sigName: "sig1"});
  Lit.Actions.setResponse({response: JSON.stringify({signed: true, n: jsParams.n})});
})();`

// startExecDevnet runs a devnet for execute-js jobs: short action timeout,
// small memory limit, and actionsDir for ipfsId actions.
func startExecDevnet(t testing.TB, nodes int, actionsDir string) *devnet.Network {
	t.Helper()
	return startExecDevnetWith(t, devnet.Config{Nodes: nodes, ActionsDir: actionsDir})
}

// startExecDevnetWith runs a devnet for execute-js jobs with cfg, whose
// zero fields get startExecDevnet's values.
func startExecDevnetWith(t testing.TB, cfg devnet.Config) *devnet.Network {
	t.Helper()
	cfg.Threshold, cfg.PKPs = 3, 3
	if cfg.NodeTimeout == 0 {
		cfg.NodeTimeout = 30 * time.Second
	}
	if cfg.ActionTimeout == 0 {
		// Ends an endless loop; the real actions here finish long before,
		// even under the race detector on a loaded machine.
		cfg.ActionTimeout = 2 * time.Second
	}
	if cfg.ActionMemoryLimit == 0 {
		cfg.ActionMemoryLimit = 16 << 20
	}
	n, err := devnet.Start(cfg)
	if err != nil {
		t.Fatalf("devnet.Start: %v", err)
	}
	t.Cleanup(n.Close)
	return n
}

// execBody is an execute-js job body; extra entries override (nil deletes).
func execBody(id string, p devnet.DevPKP, code string, extra map[string]any) []byte {
	m := map[string]any{"id": id, "pkpPublicKey": p.PublicKey.Hex(), "code": code}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, _ := json.Marshal(m)
	return b
}

// signParams are the jsParams of execSignAction.
func signParams(p devnet.DevPKP, digest []byte, n int) map[string]any {
	d := make([]int, len(digest))
	for i, b := range digest {
		d[i] = int(b)
	}
	return map[string]any{"digest": d, "publicKey": p.PublicKey.Hex(), "n": n}
}

// runExec publishes an execute-js job and returns its result and raw body.
func (e *jobsEnv) runExec(body []byte, id string) (Result, []byte) {
	e.t.Helper()
	sub := e.subscribe(e.resultSubject(id))
	e.publish(KindExecuteJS, body, id, nil)
	r, m := awaitResult(e.t, sub, resultWait)
	return r, m.Data
}

// executeRequests counts the execute requests the devnet nodes received.
func (e *jobsEnv) executeRequests() int {
	n := 0
	for _, nd := range e.net.Nodes() {
		for _, r := range nd.Requests() {
			if r.Path == "/web/execute/v2" {
				n++
			}
		}
	}
	return n
}

func cidOf(t testing.TB, code string) string {
	t.Helper()
	cid, err := litnode.IPFSCIDv0([]byte(code))
	if err != nil {
		t.Fatal(err)
	}
	return cid
}

// checkResultSig checks a result signature recovers to the PKP's address
// over digest.
func checkResultSig(t testing.TB, s *ResultSignature, p devnet.DevPKP, digest []byte) {
	t.Helper()
	if s == nil {
		t.Fatal("no signature")
	}
	sig := mustHex(t, s.Signature)
	if len(sig) != 65 || int(sig[64]) != 27+s.RecoveryID || s.SignedData != fmt.Sprintf("0x%x", digest) || s.PublicKey != p.PublicKey.Hex() {
		t.Fatalf("signature = %+v", s)
	}
	sig[64] -= 27
	pub, err := crypto.SigToPub(digest, sig)
	if err != nil {
		t.Fatalf("SigToPub: %v", err)
	}
	if got := crypto.PubkeyToAddress(*pub); got != p.EthAddress {
		t.Fatalf("signature recovers to %s, want the PKP's %s", got.Hex(), p.EthAddress.Hex())
	}
}

// expectActionOK checks r is an ok execute-js result and returns its
// response decoded.
func expectActionOK(t testing.TB, r Result) any {
	t.Helper()
	if r.Status != StatusOK || r.ActionResult == nil || r.Error != nil || r.CompletedAt == nil || r.Kind != KindExecuteJS || r.Signature != nil {
		t.Fatalf("result = %+v (error %+v), want an ok execute-js result", r, r.Error)
	}
	var v any
	if err := json.Unmarshal(r.Response, &v); err != nil {
		t.Fatalf("response %s does not decode: %v", r.Response, err)
	}
	return v
}

// An action that signs with the PKP and sets a JSON response: the result
// carries the parsed response, the logs and a signature by the PKP.
func TestExecJobsSignAndRespond(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{net: startExecDevnet(t, 4, "")})
	p := e.net.PKPs()[0]
	e.delegate(p, "pkp-signing:*,lit-action-execution:*")
	digest := crypto.Keccak256([]byte("signed by a Lit Action job"))

	id := e.newID("exec")
	r, raw := e.runExec(execBody(id, p, execSignAction, map[string]any{"jsParams": signParams(p, digest, 7)}), id)
	v := expectActionOK(t, r)
	if m, ok := v.(map[string]any); !ok || m["signed"] != true || m["n"] != float64(7) {
		t.Errorf("response = %s, want {signed:true,n:7}", r.Response)
	}
	if r.Logs != "signing 7\n" {
		t.Errorf("logs = %q", r.Logs)
	}
	if len(r.Signatures) != 1 {
		t.Errorf("signatures = %+v, want sig1 only", r.Signatures)
	}
	checkResultSig(t, r.Signatures["sig1"], p, digest)
	if r.ID != id || r.PKPPublicKey != p.PublicKey.Hex() {
		t.Errorf("id, pkp = %q, %q", r.ID, r.PKPPublicKey)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "status", "kind", "pkpPublicKey", "response", "logs", "signatures", "completedAt"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("result lacks %q: %s", k, raw)
		}
	}
	for _, k := range []string{"signature", "error"} {
		if _, ok := fields[k]; ok {
			t.Errorf("ok execute-js result has %q: %s", k, raw)
		}
	}
	if entry, err := e.ledger.Get(context.Background(), LedgerKey(DefaultProducer, id)); err != nil || entry == nil || entry.State != LedgerDone || !bytes.Equal(entry.Result, raw) {
		t.Errorf("ledger entry = %+v, %v; want done with the result", entry, err)
	}
	if runs := e.net.ActionRuns(cidOf(t, execSignAction)); runs != 1 {
		t.Errorf("ActionRuns = %d, want 1", runs)
	}

	t.Run("a response that is not JSON stays a string; logs without response", func(t *testing.T) {
		id := e.newID("str")
		r, _ := e.runExec(execBody(id, p, `console.log("a", 1); console.log({b: 2}); Lit.Actions.setResponse({response: "plain {text"});`, nil), id)
		if v := expectActionOK(t, r); v != "plain {text" {
			t.Errorf("response = %s", r.Response)
		}
		if r.Logs != "a 1\n{\"b\":2}\n" || len(r.Signatures) != 0 {
			t.Errorf("logs %q, signatures %+v", r.Logs, r.Signatures)
		}
	})
	t.Run("Lit-Reply-To inbox and at-least-once", func(t *testing.T) {
		id := e.newID("inbox")
		inbox := e.nc.NewRespInbox()
		sub := e.subscribe(inbox)
		e.publish(KindExecuteJS, execBody(id, p, `Lit.Actions.setResponse({response: "[1,2]"});`, map[string]any{"delivery": DeliveryAtLeastOnce}), id,
			nats.Header{HeaderReplyTo: []string{inbox}})
		r, _ := awaitResult(t, sub, 20*time.Second)
		if v, ok := expectActionOK(t, r).([]any); !ok || len(v) != 2 {
			t.Errorf("response = %s", r.Response)
		}
	})
	jWaitFor(t, "every job acknowledged", func() bool {
		msgs, pending, ack := e.streamState()
		return msgs == 0 && pending == 0 && ack == 0
	})
}

// A throwing action and an infinite loop each give an action_failed result
// naming the node's error, with the logs; the action ran once (never
// retried).
func TestExecJobsActionFailures(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{net: startExecDevnet(t, 4, "")})
	p := e.net.PKPs()[0]
	e.delegate(p, "lit-action-execution:*")
	cases := []struct {
		name, code, wantInMessage, wantLogs string
	}{
		{"throws", `console.log("about to throw"); throw new Error("kaboom");`, "kaboom", "about to throw\n"},
		{"rejected promise", `(async () => { console.log("async"); await null; throw new TypeError("later"); })();`, "later", "async\n"},
		{"infinite loop", `console.log("spinning"); for (;;) {}`, "NodeJsTimeoutError", "spinning\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := e.newID("fail")
			r, _ := e.runExec(execBody(id, p, tc.code, nil), id)
			expectError(t, r, CodeActionFailed, false)
			if !strings.Contains(r.Error.Message, tc.wantInMessage) {
				t.Errorf("message %q does not mention %q", r.Error.Message, tc.wantInMessage)
			}
			if r.Error.Logs != tc.wantLogs {
				t.Errorf("error logs = %q, want %q", r.Error.Logs, tc.wantLogs)
			}
			if r.ActionResult != nil {
				t.Errorf("error result carries action output: %+v", r.ActionResult)
			}
			if runs := e.net.ActionRuns(cidOf(t, tc.code)); runs != 1 {
				t.Errorf("ActionRuns = %d, want 1", runs)
			}
		})
	}
}

// A memory hog gets action_failed naming NodeJsMemoryLimitError, with its
// logs. (Its own devnet: a long action timeout, so that a slow machine or
// the race detector does not turn the hog into a timeout.)
func TestExecJobsMemoryHog(t *testing.T) {
	// A small memory limit and a long time limit, so that on a loaded
	// machine (the race detector at load 25) the hog reaches its memory
	// limit long before the time limit.
	n := startExecDevnetWith(t, devnet.Config{Nodes: 4, NodeTimeout: 2 * time.Minute, ActionTimeout: 90 * time.Second, ActionMemoryLimit: 32 << 20})
	e := newJobsEnv(t, jobsEnvConfig{net: n, litTimeout: 2 * time.Minute, timeout: 3 * time.Minute})
	p := e.net.PKPs()[0]
	e.delegate(p, "lit-action-execution:*")
	code := `console.log("hogging"); const a = []; for (;;) { a.push(new Array(1 << 18).fill(7)); }`
	id := e.newID("hog")
	r, _ := e.runExec(execBody(id, p, code, nil), id)
	expectError(t, r, CodeActionFailed, false)
	if !strings.Contains(r.Error.Message, "NodeJsMemoryLimitError") || r.Error.Logs != "hogging\n" {
		t.Errorf("error = %+v, want NodeJsMemoryLimitError with the logs", *r.Error)
	}
	if runs := e.net.ActionRuns(cidOf(t, code)); runs != 1 {
		t.Errorf("ActionRuns = %d, want 1", runs)
	}
}

// A delegation that grants execution of another action only: scope_denied,
// and no node is asked.
func TestExecJobsScopeDenied(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{net: startExecDevnet(t, 4, "")})
	p := e.net.PKPs()[0]
	other := cidOf(t, `Lit.Actions.setResponse({response: "the granted one"});`)
	e.delegate(p, "pkp-signing:*,lit-action-execution:"+other)
	needed := e.subscribe(e.topo.EventSubject(EventNeeded, p.PublicKey.Hex()))
	before := e.executeRequests()
	code := `Lit.Actions.setResponse({response: "not granted"});`
	id := e.newID("scope")
	r, _ := e.runExec(execBody(id, p, code, nil), id)
	expectError(t, r, CodeScopeDenied, false)
	if !strings.Contains(r.Error.Message, "lit-litaction://"+cidOf(t, code)) {
		t.Errorf("message %q does not name the action's resource", r.Error.Message)
	}
	if got := e.executeRequests() - before; got != 0 {
		t.Errorf("%d execute requests reached the nodes, want none", got)
	}
	if _, err := needed.NextMsg(5 * time.Second); err != nil {
		t.Errorf("no delegation needed event: %v", err)
	}
	// The granted action runs.
	id = e.newID("granted")
	r, _ = e.runExec(execBody(id, p, `Lit.Actions.setResponse({response: "the granted one"});`, nil), id)
	if v := expectActionOK(t, r); v != "the granted one" {
		t.Errorf("response = %s", r.Response)
	}
}

// An ipfsId action runs from the devnet's actions directory, with a
// delegation for exactly its CID.
func TestExecJobsIPFS(t *testing.T) {
	dir := t.TempDir()
	code := "Lit.Actions.setResponse({response: JSON.stringify({from: \"ipfs\", who: jsParams.who})});\n"
	if err := os.WriteFile(filepath.Join(dir, "action.js"), []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	cid := cidOf(t, code)
	e := newJobsEnv(t, jobsEnvConfig{net: startExecDevnet(t, 4, dir)})
	p := e.net.PKPs()[0]
	e.delegate(p, "lit-action-execution:"+cid)
	id := e.newID("ipfs")
	r, _ := e.runExec(execBody(id, p, "", map[string]any{"code": nil, "ipfsId": cid, "jsParams": map[string]any{"who": "job"}}), id)
	if m, ok := expectActionOK(t, r).(map[string]any); !ok || m["from"] != "ipfs" || m["who"] != "job" {
		t.Errorf("response = %s", r.Response)
	}
	if runs := e.net.ActionRuns(cid); runs != 1 {
		t.Errorf("ActionRuns = %d, want 1", runs)
	}
}

// Malformed execute-js jobs get bad_request and never reach the nodes.
func TestExecJobsBadRequest(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{net: startExecDevnet(t, 4, "")})
	p := e.net.PKPs()[0]
	e.delegate(p, "lit-action-execution:*")
	before := e.executeRequests()
	const code = `Lit.Actions.setResponse({response: "x"});`
	cases := map[string][]byte{
		"both code and ipfsId": execBody("both", p, code, map[string]any{"ipfsId": "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"}),
		"neither":              execBody("neither", p, "", map[string]any{"code": nil}),
		"empty code":           execBody("empty", p, "", nil),
		"jsParams not object":  execBody("params", p, code, map[string]any{"jsParams": []int{1}}),
		"unknown delivery":     execBody("delivery", p, code, map[string]any{"delivery": "exactly-once"}),
		"pkp-sign field":       execBody("tosign", p, code, map[string]any{"toSign": "x"}),
		"ipfsId with a slash":  execBody("slash", p, "", map[string]any{"code": nil, "ipfsId": "Qm/x"}),
		"missing pkp":          execBody("nopkp", p, code, map[string]any{"pkpPublicKey": nil}),
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			inbox := e.nc.NewRespInbox()
			sub := e.subscribe(inbox)
			e.publish(KindExecuteJS, body, "", nats.Header{HeaderReplyTo: []string{inbox}})
			r, _ := awaitResult(t, sub, 10*time.Second)
			expectError(t, r, CodeBadRequest, false)
			if r.ID == "" || r.Kind != KindExecuteJS {
				t.Errorf("result does not echo the id and kind: %+v", r)
			}
		})
	}
	if got := e.executeRequests() - before; got != 0 {
		t.Errorf("%d execute requests for malformed jobs", got)
	}
}

func TestDecodeExecuteJSJob(t *testing.T) {
	k, _ := crypto.GenerateKey()
	pkp := "0x" + fmt.Sprintf("%x", crypto.FromECDSAPub(&k.PublicKey))
	job, err := DecodeExecuteJSJob([]byte(`{"id":"a","pkpPublicKey":"`+pkp+`","code":"x()","jsParams":{"n":12345678901234567890,"s":"t"},"replyTo":"r.x"}`), nats.Header{})
	if err != nil {
		t.Fatal(err)
	}
	if job.Delivery != DeliveryAtMostOnce || job.CID != cidOf(t, "x()") || string(job.Code) != "x()" || job.ReplyTo != "r.x" || job.Kind != KindExecuteJS {
		t.Errorf("job = %+v", job)
	}
	if job.JSParams["n"] != json.Number("12345678901234567890") {
		t.Errorf("jsParams = %#v: numbers must stay exact", job.JSParams)
	}
	job, err = DecodeExecuteJSJob([]byte(`{"id":"b","pkpPublicKey":"`+pkp+`","ipfsId":"QmX","jsParams":null,"delivery":"at-least-once"}`), nats.Header{})
	if err != nil || job.CID != "QmX" || job.Code != nil || job.JSParams == nil || job.Delivery != DeliveryAtLeastOnce {
		t.Errorf("job = %+v, %v", job, err)
	}
	if _, err := DecodeExecuteJSJob([]byte(`{"id":"c","pkpPublicKey":"`+pkp+`","code":"x"} {}`), nats.Header{}); !errors.Is(err, ErrBadJob) {
		t.Errorf("trailing data: %v", err)
	}
}

// failOncePublisher fails the first publish of one job: the daemon "died"
// before the result reached NATS. dying runs then, before the error
// returns.
type failOncePublisher struct {
	ResultPublisher
	msgID string
	dying func()
	once  sync.Once
}

func (p *failOncePublisher) PublishResult(ctx context.Context, subject, msgID string, body []byte) error {
	failed := false
	if msgID == p.msgID {
		p.once.Do(func() { failed = true; p.dying() })
	}
	if failed {
		return errors.New("simulated crash: the daemon died before publishing")
	}
	return p.ResultPublisher.PublishResult(ctx, subject, msgID, body)
}

// noDoneKV loses every write of a done entry for one key: the daemon died
// before it could record the result.
type noDoneKV struct {
	jetstream.KeyValue
	key   string
	dying func() // called at the first lost write, if set
	once  sync.Once
}

func (kv *noDoneKV) lost(key string, value []byte) bool {
	lost := key == kv.key && bytes.Contains(value, []byte(`"state":"done"`))
	if lost && kv.dying != nil {
		kv.once.Do(kv.dying)
	}
	return lost
}

func (kv *noDoneKV) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	if kv.lost(key, value) {
		return 0, errors.New("simulated crash: the daemon died before recording the result")
	}
	return kv.KeyValue.Create(ctx, key, value, opts...)
}

func (kv *noDoneKV) Update(ctx context.Context, key string, value []byte, last uint64) (uint64, error) {
	if kv.lost(key, value) {
		return 0, errors.New("simulated crash: the daemon died before recording the result")
	}
	return kv.KeyValue.Update(ctx, key, value, last)
}

// "Kill the daemon after the nodes ran the action but before its result
// was recorded or published": the first daemon's ledger and publisher lose
// the job's result and its acknowledgement is lost; a fresh daemon gets the
// redelivery after AckWait. At most once, the job ends with outcome_unknown
// and the action ran once; at least once, it runs again and succeeds. A
// daemon killed after recording the result but before publishing it gets
// the recorded result published by the redelivery, without a second run.
func TestExecJobsCrashAfterNodesRan(t *testing.T) {
	var current atomic.Value // Handler: the daemon handling deliveries now
	var fresh Handler
	e := newJobsEnv(t, jobsEnvConfig{
		net: startExecDevnet(t, 4, ""), ackWait: 2 * time.Second, heartbeat: 300 * time.Millisecond, maxDeliver: 5,
		wrap: func(h Handler) Handler {
			fresh = h
			current.Store(h)
			return func(ctx context.Context, msg jetstream.Msg) { current.Load().(Handler)(ctx, msg) }
		},
	})
	p := e.net.PKPs()[0]
	e.delegate(p, "pkp-signing:*,lit-action-execution:*")
	kv, err := e.js.KeyValue(context.Background(), e.topo.JobsBucket)
	if err != nil {
		t.Fatal(err)
	}
	digest := crypto.Keccak256([]byte("crash test"))

	// crash makes the current daemon one that dies at the end of job id:
	// its publish fails (and, unless recorded, its ledger write of the
	// result), its acks are lost, and the restarted (fresh) daemon takes
	// over.
	crash := func(id string, recorded bool) {
		dying := *e.jobs
		dying.Results = &failOncePublisher{ResultPublisher: e.jobs.Results, msgID: LedgerKey(DefaultProducer, id), dying: func() { current.Store(fresh) }}
		if !recorded {
			// The ledger is the commit point: a daemon that cannot record
			// publishes nothing, so it "dies" at the record.
			dying.Ledger = &Ledger{kv: &noDoneKV{KeyValue: kv, key: LedgerKey(DefaultProducer, id), dying: func() { current.Store(fresh) }}, RetryBudget: 300 * time.Millisecond}
		}
		current.Store(Handler(func(ctx context.Context, msg jetstream.Msg) { dying.Handle(ctx, lostAck{msg}) }))
	}
	run := func(t *testing.T, delivery string, recorded bool) (Result, string) {
		t.Helper()
		code := execSignAction + "\n// " + t.Name() // a CID of its own
		id := e.newID("crash")
		crash(id, recorded)
		sub := e.subscribe(e.resultSubject(id))
		e.publish(KindExecuteJS, execBody(id, p, code, map[string]any{"jsParams": signParams(p, digest, 1), "delivery": delivery}), id, nil)
		r, _ := awaitResult(t, sub, 30*time.Second)
		expectNone(t, sub, 500*time.Millisecond)
		// The result is recorded by the delivery that made it: the first
		// when it was recorded before the crash, else the redelivery.
		want := uint64(2)
		if recorded {
			want = 1
		}
		if entry, err := e.ledger.Get(context.Background(), LedgerKey(DefaultProducer, id)); err != nil || entry == nil || entry.State != LedgerDone || entry.Deliveries != want {
			t.Errorf("ledger entry state %v deliveries %v (%v); want done by delivery %d", entry.State, entry.Deliveries, err, want)
		}
		return r, cidOf(t, code)
	}

	t.Run("at-most-once", func(t *testing.T) {
		r, cid := run(t, DeliveryAtMostOnce, false)
		expectError(t, r, CodeOutcomeUnknown, false)
		if runs := e.net.ActionRuns(cid); runs != 1 {
			t.Errorf("ActionRuns = %d, want 1 (never run twice)", runs)
		}
	})
	t.Run("at-least-once", func(t *testing.T) {
		r, cid := run(t, DeliveryAtLeastOnce, false)
		expectActionOK(t, r)
		checkResultSig(t, r.Signatures["sig1"], p, digest)
		if runs := e.net.ActionRuns(cid); runs != 2 {
			t.Errorf("ActionRuns = %d, want 2 (run again)", runs)
		}
	})
	t.Run("at-most-once, result recorded before the crash", func(t *testing.T) {
		r, cid := run(t, DeliveryAtMostOnce, true)
		expectActionOK(t, r)
		checkResultSig(t, r.Signatures["sig1"], p, digest)
		if runs := e.net.ActionRuns(cid); runs != 1 {
			t.Errorf("ActionRuns = %d, want 1 (the recorded result republished)", runs)
		}
	})
	jWaitFor(t, "every job acknowledged", func() bool {
		msgs, pending, ack := e.streamState()
		return msgs == 0 && pending == 0 && ack == 0
	})
}

// A job whose only allowed delivery died after the nodes ran its action:
// the max-deliveries handler answers outcome_unknown, not the retryable
// delivery_exhausted, since resubmitting may run the action twice.
func TestExecJobsExhaustedAfterNodesRan(t *testing.T) {
	var dying atomic.Pointer[Jobs]
	e := newJobsEnv(t, jobsEnvConfig{
		net: startExecDevnet(t, 4, ""), ackWait: time.Second, heartbeat: -1, maxDeliver: 1,
		wrap: func(h Handler) Handler {
			return func(ctx context.Context, msg jetstream.Msg) { dying.Load().Handle(ctx, lostAck{msg}) }
		},
	})
	p := e.net.PKPs()[0]
	e.delegate(p, "lit-action-execution:*")
	kv, err := e.js.KeyValue(context.Background(), e.topo.JobsBucket)
	if err != nil {
		t.Fatal(err)
	}
	code := `Lit.Actions.setResponse({response: "exhausted"});`
	id := e.newID("exhausted")
	d := *e.jobs
	d.Results = &failOncePublisher{ResultPublisher: e.jobs.Results, msgID: LedgerKey(DefaultProducer, id), dying: func() {}}
	d.Ledger = &Ledger{kv: &noDoneKV{KeyValue: kv, key: LedgerKey(DefaultProducer, id)}, RetryBudget: 300 * time.Millisecond}
	dying.Store(&d)
	r, _ := e.runExec(execBody(id, p, code, nil), id)
	expectError(t, r, CodeOutcomeUnknown, false)
	if runs := e.net.ActionRuns(cidOf(t, code)); runs != 1 {
		t.Errorf("ActionRuns = %d, want 1", runs)
	}
}

// Nodes failing after others ran the action (one node of the set cannot
// decrypt): at most once, the job ends with outcome_unknown at once, and
// the action ran once; at least once, every delivery runs it again until
// the last one reports lit_unavailable.
func TestExecJobsNodesFailMidway(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{net: startExecDevnet(t, 3, ""), maxDeliver: 3})
	p := e.net.PKPs()[0]
	e.delegate(p, "lit-action-execution:*")
	e.net.Nodes()[1].SetFault(devnet.Fault{CantDecrypt: true})

	code := `Lit.Actions.setResponse({response: "side effect"}); // at most once`
	id := e.newID("midway")
	r, _ := e.runExec(execBody(id, p, code, nil), id)
	expectError(t, r, CodeOutcomeUnknown, false)
	if runs := e.net.ActionRuns(cidOf(t, code)); runs != 1 {
		t.Errorf("at-most-once: ActionRuns = %d, want 1", runs)
	}

	code = `Lit.Actions.setResponse({response: "side effect"}); // at least once`
	id = e.newID("midway")
	r, _ = e.runExec(execBody(id, p, code, map[string]any{"delivery": DeliveryAtLeastOnce}), id)
	expectError(t, r, CodeLitUnavailable, true)
	if runs := e.net.ActionRuns(cidOf(t, code)); runs != 3 {
		t.Errorf("at-least-once: ActionRuns = %d, want 3 (one per delivery)", runs)
	}
}

// A delivery that fails before reaching the nodes releases its ledger
// entry, so the redelivery of an at-most-once job runs the action.
func TestExecJobsReleaseBeforeNodes(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{net: startExecDevnet(t, 3, ""), maxDeliver: 5})
	p := e.net.PKPs()[0]
	e.delegate(p, "lit-action-execution:*")
	// No node can decrypt: no node runs the action; the client retries
	// once, then the delivery fails transiently (nak). Heal after the
	// first delivery's requests.
	for _, nd := range e.net.Nodes() {
		nd.SetFault(devnet.Fault{CantDecrypt: true})
	}
	code := `Lit.Actions.setResponse({response: "ran after release"});`
	id := e.newID("release")
	sub := e.subscribe(e.resultSubject(id))
	e.publish(KindExecuteJS, execBody(id, p, code, nil), id, nil)
	jWaitFor(t, "the first delivery's attempts", func() bool { return e.executeRequests() >= 6 })
	for _, nd := range e.net.Nodes() {
		nd.SetFault(devnet.Fault{})
	}
	r, _ := awaitResult(t, sub, 20*time.Second)
	if v := expectActionOK(t, r); v != "ran after release" {
		t.Errorf("response = %s", r.Response)
	}
	if runs := e.net.ActionRuns(cidOf(t, code)); runs != 1 {
		t.Errorf("ActionRuns = %d, want 1", runs)
	}
}

// BenchmarkExecuteJSJobs publishes b.N execute-js jobs of a small signing
// action and waits for their results, with benchConcurrency in flight. It
// reports jobs/s end to end.
func BenchmarkExecuteJSJobs(b *testing.B) {
	n, err := devnet.Start(devnet.Config{Nodes: 4, Threshold: 3, PKPs: 1, NodeTimeout: 10 * time.Second, ActionMemoryLimit: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(n.Close)
	lit := &litnode.Client{Network: n.NetworkConfig(), HandshakeTimeout: 5 * time.Second, RequestTimeout: 10 * time.Second, RetryBackoff: 10 * time.Millisecond}
	b.Cleanup(lit.Close)
	e := newJobsEnv(b, jobsEnvConfig{net: n, lit: lit, workers: benchConcurrency, ackWait: 30 * time.Second, heartbeat: 10 * time.Second})
	p := n.PKPs()[0]
	e.put(e.store, e.delegation(p, nil, "lit-action-execution:*", time.Now().Add(time.Hour)))
	sub := e.subscribe(e.topo.ResultsSubjects())
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		b.Fatal(err)
	}
	run := e.newID("bench")
	bodies := make([][]byte, b.N)
	for i := range bodies {
		digest := crypto.Keccak256(fmt.Appendf(nil, "bench %d", i))
		bodies[i] = execBody(fmt.Sprintf("%s-%d", run, i), p, execSignAction, map[string]any{"jsParams": signParams(p, digest, i)})
	}
	b.ResetTimer()
	start := time.Now()
	pubErr := make(chan error, 1)
	go func() {
		for i, body := range bodies {
			m := nats.NewMsg(e.topo.JobSubject(KindExecuteJS))
			m.Data = body
			m.Header.Set("Nats-Msg-Id", fmt.Sprintf("%s-%d", run, i))
			if _, err := e.js.PublishMsg(context.Background(), m); err != nil {
				pubErr <- err
				return
			}
		}
		pubErr <- nil
	}()
	for range b.N {
		m, err := sub.NextMsg(60 * time.Second)
		if err != nil {
			b.Fatalf("waiting for results: %v", err)
		}
		var r Result
		if err := json.Unmarshal(m.Data, &r); err != nil || r.Status != StatusOK || r.Signatures["sig1"] == nil {
			b.Fatalf("result %s (%v)", m.Data, err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if err := <-pubErr; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
}

// The execute-js codes of the acknowledgement policy.
func TestExecJobDisposition(t *testing.T) {
	unavailable := &litnode.OpError{Op: "execute_js", Attempts: 1, Errs: []error{&litnode.NodeError{Op: "execute_js", Status: 0}}}
	ran := &litnode.ExecuteJSError{Err: unavailable, MayHaveRun: true}
	thrown := &litnode.ExecuteJSError{MayHaveRun: true, Err: &litnode.OpError{Op: "execute_js", Attempts: 1, Errs: []error{
		&litnode.NodeError{Op: "execute_js", Status: 502, Code: "NodeJsTimeoutError", Logs: "spin\n"}}}}
	cases := []struct {
		name      string
		err       error
		last      bool
		code      string
		retryable bool
		act       action
	}{
		{"outcome unknown beats unavailable", fmt.Errorf("%w: %w", errOutcomeUnknown, ran), false, CodeOutcomeUnknown, false, actTerm},
		{"outcome unknown on the last delivery", fmt.Errorf("%w: x", errOutcomeUnknown), true, CodeOutcomeUnknown, false, actTerm},
		{"action timed out", thrown, false, CodeActionFailed, false, actTerm},
		{"unavailable, may have run (at least once)", ran, false, CodeLitUnavailable, true, actNak},
	}
	for _, tc := range cases {
		code, retryable, act := jobDisposition(tc.err, tc.last)
		if code != tc.code || retryable != tc.retryable || act != tc.act {
			t.Errorf("%s: jobDisposition = %q, %v, %s; want %q, %v, %s", tc.name, code, retryable, act, tc.code, tc.retryable, tc.act)
		}
	}
	if got := litnode.ActionLogs(thrown); got != "spin\n" {
		t.Errorf("ActionLogs = %q", got)
	}
}
