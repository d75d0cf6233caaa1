package consumer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/litsignd/litsignd/litnode"
)

// collect gathers every message on subject (wildcards allowed) from now on,
// so a test can assert what was ever published, live.
type collector struct {
	mu   sync.Mutex
	msgs []*nats.Msg
}

func (e *jobsEnv) collect(subject string) *collector {
	e.t.Helper()
	c := &collector{}
	sub, err := e.nc.Subscribe(subject, func(m *nats.Msg) {
		c.mu.Lock()
		c.msgs = append(c.msgs, m)
		c.mu.Unlock()
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		e.t.Fatal(err)
	}
	if err := e.nc.Flush(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = sub.Unsubscribe() })
	return c
}

func (c *collector) all() []*nats.Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*nats.Msg(nil), c.msgs...)
}

// distinct returns the distinct bodies collected.
func (c *collector) distinct() [][]byte {
	var out [][]byte
	for _, m := range c.all() {
		seen := false
		for _, b := range out {
			if bytes.Equal(b, m.Data) {
				seen = true
			}
		}
		if !seen {
			out = append(out, m.Data)
		}
	}
	return out
}

// Every job shape the issue lists as "identified but malformed" gets
// exactly one bad_request result naming the field at fault, on its reply
// subject (the body's replyTo, the Lit-Reply-To header, or the default),
// and never reaches the nodes.
func TestJobsMalformedButIdentified(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{})
	p := e.net.PKPs()[0]
	e.delegate(p, "pkp-signing:*,lit-action-execution:*")
	before := e.signRequests()
	pkp := p.PublicKey.Hex()
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	type tc struct {
		name  string
		kind  string
		body  func(id, reply string) []byte
		hdr   bool   // reply subject in the header, not the body
		field string // named in the error message
		defID string // the id the result carries when not the test's own
	}
	cases := []tc{
		{name: "pkpPublicKey a number", field: "pkpPublicKey", body: func(id, r string) []byte {
			return []byte(`{"id":"` + id + `","pkpPublicKey":12345,"toSign":"x","replyTo":"` + r + `"}`)
		}},
		{name: "toSign an array", field: "toSign", body: func(id, r string) []byte {
			return []byte(`{"id":"` + id + `","pkpPublicKey":"` + pkp + `","toSign":["x"],"replyTo":"` + r + `"}`)
		}},
		{name: "chain a number", field: "chain", body: func(id, r string) []byte {
			return []byte(`{"id":"` + id + `","pkpPublicKey":"` + pkp + `","toSign":"x","chain":1,"replyTo":"` + r + `"}`)
		}},
		{name: "toSignHex a boolean", field: "toSignHex", body: func(id, r string) []byte {
			return []byte(`{"id":"` + id + `","pkpPublicKey":"` + pkp + `","toSignHex":true,"replyTo":"` + r + `"}`)
		}},
		{name: "numeric id with replyTo", field: "id", defID: "4242", body: func(_, r string) []byte {
			return []byte(`{"id":4242,"pkpPublicKey":"` + pkp + `","toSign":"x","replyTo":"` + r + `"}`)
		}},
		{name: "body over 256 KiB (the stream takes it)", field: "body", body: func(id, r string) []byte {
			return []byte(`{"id":"` + id + `","replyTo":"` + r + `","pkpPublicKey":"` + pkp + `","toSign":"` + strings.Repeat("x", MaxJobBytes+1000) + `"}`)
		}},
		{name: "20,000-deep JSON", field: "toSign", body: func(id, r string) []byte {
			return []byte(`{"id":"` + id + `","replyTo":"` + r + `","pkpPublicKey":"` + pkp + `","toSign":` + deep + `}`)
		}},
		{name: "trailing data", field: "trailing", body: func(id, r string) []byte {
			return []byte(`{"id":"` + id + `","pkpPublicKey":"` + pkp + `","toSign":"x","replyTo":"` + r + `"} {"x":1}`)
		}},
		{name: "truncated JSON, reply in the header", field: "body", hdr: true, body: func(id, _ string) []byte {
			return []byte(`{"id":"` + id + `","pkpPublicKey":"` + pkp + `","toSign":`)
		}},
		{name: "duplicate field", field: "toSign", body: func(id, r string) []byte {
			return []byte(`{"id":"` + id + `","pkpPublicKey":"` + pkp + `","toSign":"x","toSign":"y","replyTo":"` + r + `"}`)
		}},
		{name: "toSign invalid UTF-8", field: "toSign", body: func(id, r string) []byte {
			return []byte(`{"id":"` + id + `","pkpPublicKey":"` + pkp + `","toSign":"a` + "\xff\xfe" + `b","replyTo":"` + r + `"}`)
		}},
		{name: "toSign lone surrogate escape", field: "toSign", body: func(id, r string) []byte {
			return []byte(`{"id":"` + id + `","pkpPublicKey":"` + pkp + `","toSign":"a\ud800b","replyTo":"` + r + `"}`)
		}},
		{name: "execute-js jsParams an array", kind: KindExecuteJS, field: "jsParams", body: func(id, r string) []byte {
			return []byte(`{"id":"` + id + `","pkpPublicKey":"` + pkp + `","code":"1","jsParams":[1],"replyTo":"` + r + `"}`)
		}},
		{name: "execute-js code a number", kind: KindExecuteJS, field: "code", body: func(id, r string) []byte {
			return []byte(`{"id":"` + id + `","pkpPublicKey":"` + pkp + `","code":7,"replyTo":"` + r + `"}`)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kind := c.kind
			if kind == "" {
				kind = KindPKPSign
			}
			id := e.newID("bad")
			reply := "_INBOX.bad." + id
			wantID := id
			if c.defID != "" {
				wantID = c.defID
			}
			col := e.collect("_INBOX.bad." + id)
			def := e.collect(e.resultSubject(wantID))
			var hdr nats.Header
			if c.hdr {
				hdr = nats.Header{HeaderReplyTo: []string{reply}}
			}
			e.publish(kind, c.body(id, reply), "", hdr)
			jWaitFor(t, "the bad_request result", func() bool { return len(col.all()) > 0 })
			time.Sleep(100 * time.Millisecond) // anything more would arrive now
			if n := len(col.all()); n != 1 || len(def.all()) != 0 {
				t.Fatalf("%d results on the reply subject, %d on the default; want exactly one", n, len(def.all()))
			}
			var r Result
			if err := json.Unmarshal(col.all()[0].Data, &r); err != nil {
				t.Fatal(err)
			}
			expectError(t, r, CodeBadRequest, false)
			if r.ID != wantID || !strings.Contains(r.Error.Message, c.field) {
				t.Errorf("result id %q message %q; want id %q and the field %q named", r.ID, r.Error.Message, wantID, c.field)
			}
		})
	}
	t.Run("replyTo an object: the default subject", func(t *testing.T) {
		id := e.newID("bad")
		def := e.collect(e.resultSubject(id))
		e.publish(KindPKPSign, []byte(`{"id":"`+id+`","pkpPublicKey":"`+pkp+`","toSign":"x","replyTo":{"a":1}}`), "", nil)
		jWaitFor(t, "the bad_request result", func() bool { return len(def.all()) > 0 })
		time.Sleep(100 * time.Millisecond)
		var r Result
		_ = json.Unmarshal(def.all()[0].Data, &r)
		expectError(t, r, CodeBadRequest, false)
		if len(def.all()) != 1 || !strings.Contains(r.Error.Message, "replyTo") {
			t.Errorf("%d results, message %q; want one naming replyTo", len(def.all()), r.Error.Message)
		}
	})
	t.Run("no usable id: counted and logged, no result", func(t *testing.T) {
		e.publish(KindPKPSign, []byte(`{"id":{"x":1},"toSign":"x"}`), "", nil)
		jWaitFor(t, "the dropped job counted", func() bool {
			return testutil.ToFloat64(e.metrics.jobs.WithLabelValues(KindPKPSign, outcomeDropped, CodeBadRequest, DefaultProducer)) == 1
		})
	})
	jWaitFor(t, "every job terminated", func() bool {
		msgs, pending, ack := e.streamState()
		return msgs == 0 && pending == 0 && ack == 0
	})
	if n := e.signRequests() - before; n != 0 {
		t.Errorf("malformed jobs caused %d pkp-sign node requests", n)
	}
}

// The producer is the subject token after lit.jobs.; un-namespaced subjects
// are producer "default" only when enabled.
func TestParseJobSubject(t *testing.T) {
	j := &Jobs{Topology: DefaultTopology()}
	for _, c := range []struct {
		subject, producer, kind string
		allowDefault, wantErr   bool
	}{
		{"lit.jobs.billing.pkp-sign", "billing", KindPKPSign, false, false},
		{"lit.jobs.pkp-sign", DefaultProducer, KindPKPSign, true, false},
		{"lit.jobs.pkp-sign", DefaultProducer, KindPKPSign, false, true},
		{"lit.jobs.a.b.c", "a", "unknown", true, true},
	} {
		j.Producers.DenyDefault = !c.allowDefault
		a := j.parseJobSubject(c.subject)
		if a.producer != c.producer || a.kind != c.kind || (a.err != nil) != c.wantErr {
			t.Errorf("%s (default %v) = %+v; want %s %s err %v", c.subject, c.allowDefault, a, c.producer, c.kind, c.wantErr)
		}
	}
	if _, err := ParseProducers("a,b:_INBOX_b.,c:_INBOX_c"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"a.b", "a,a", strings.Repeat("x", 65), "a:_INBOX.*"} {
		if _, err := ParseProducers(bad); err == nil {
			t.Errorf("ParseProducers(%q) accepted", bad)
		}
	}
	if (Producers{Known: map[string]Producer{"a": {}}}).label("zzz") != producerOther {
		t.Error("an unconfigured producer is not labelled other")
	}
}

// Attacks by a producer with only its own NATS credentials, each written
// before the defence: results belong to their producer.
func TestJobsProducerIsolation(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{})
	p, q := e.net.PKPs()[0], e.net.PKPs()[1]
	e.delegate(p, "pkp-signing:*")
	e.delegate(q, "pkp-signing:*")
	run := func(producer string, body []byte, id string) Result {
		t.Helper()
		sub := e.subscribe(e.topo.JobResultSubject(producer, id))
		e.publishAs(producer, KindPKPSign, body, e.newID(producer+"-"+id), nil) // past the stream's dedupe
		r, _ := awaitResult(t, sub, 20*time.Second)
		return r
	}

	t.Run("result theft by id", func(t *testing.T) {
		id := e.newID("victim")
		victim := run("alpha", jobBody(id, p, "alpha's secret payment", nil), id)
		checkSignature(t, victim, p, crypto.Keccak256([]byte("alpha's secret payment")))
		// beta sends a job with alpha's id: any PKP, any message.
		stolen := run("beta", jobBody(id, q, "anything", nil), id)
		if stolen.Signature != nil && stolen.Signature.Signature == victim.Signature.Signature {
			t.Fatal("beta received alpha's signature")
		}
		checkSignature(t, stolen, q, crypto.Keccak256([]byte("anything")))
		if stolen.Producer != "beta" {
			t.Errorf("result producer %q, want beta", stolen.Producer)
		}
	})

	t.Run("pre-empted id", func(t *testing.T) {
		id := e.newID("predictable")
		_ = run("beta", jobBody(id, q, "beta first", nil), id)
		mine := run("alpha", jobBody(id, p, "alpha's own", nil), id)
		checkSignature(t, mine, p, crypto.Keccak256([]byte("alpha's own")))
	})

	t.Run("same producer reuses an id with other content", func(t *testing.T) {
		id := e.newID("reuse")
		first := run("alpha", jobBody(id, p, "first", nil), id)
		checkSignature(t, first, p, crypto.Keccak256([]byte("first")))
		before := e.signRequests()
		second := run("alpha", jobBody(id, p, "second", nil), id)
		expectError(t, second, CodeBadRequest, false)
		if !strings.Contains(second.Error.Message, "id reused with different content") {
			t.Errorf("message %q", second.Error.Message)
		}
		// The same content again is the same job: its recorded result.
		again := run("alpha", jobBody(id, p, "first", nil), id)
		if again.Signature == nil || *again.Signature != *first.Signature {
			t.Errorf("resubmission = %+v, want the first result", again)
		}
		if n := e.signRequests() - before; n != 0 {
			t.Errorf("%d node requests for the reused id", n)
		}
	})

	refused := func(t *testing.T, reply string, watch string) {
		t.Helper()
		id := e.newID("deputy")
		w := e.collect(watch)
		r := run("alpha", jobBody(id, p, "x", map[string]any{"replyTo": reply}), id)
		expectError(t, r, CodeBadRequest, false)
		if !strings.Contains(r.Error.Message, "replyTo") {
			t.Errorf("message %q does not name replyTo", r.Error.Message)
		}
		time.Sleep(100 * time.Millisecond)
		if n := len(w.all()); n != 0 {
			t.Errorf("%d messages published on %s", n, watch)
		}
	}
	t.Run("forged event via reply subject", func(t *testing.T) {
		refused(t, e.topo.EventSubject(EventRevoked, p.PublicKey.Hex()), e.topo.Prefix+".events.>")
	})
	t.Run("write into another producer's results", func(t *testing.T) {
		refused(t, e.topo.JobResultSubject("beta", "victim-1"), e.topo.Prefix+".results.beta.>")
	})
	t.Run("write into another producer's inbox", func(t *testing.T) {
		refused(t, "app.captured.x", "app.captured.>")
	})
	t.Run("reply into the jobs subjects", func(t *testing.T) {
		refused(t, e.topo.ProducerJobSubject("beta", KindPKPSign), e.topo.Prefix+".jobs.beta.>")
	})
}

// failingKV fails the ledger writes of one key that record a result, as
// told: fail fails the write; applied, when set, performs it first (the
// response was lost, the write landed).
type failingKV struct {
	jetstream.KeyValue
	key     string
	fails   atomic.Int32 // writes still to fail; negative: all
	applied bool
	calls   atomic.Int32
}

func (kv *failingKV) fail(ctx context.Context, key string, value []byte, write func() (uint64, error)) (uint64, error) {
	if key != kv.key || !bytes.Contains(value, []byte(`"state":"done"`)) {
		return write()
	}
	kv.calls.Add(1)
	if n := kv.fails.Load(); n == 0 {
		return write()
	} else if n > 0 {
		kv.fails.Add(-1)
	}
	if kv.applied {
		if _, err := write(); err != nil {
			return 0, err
		}
	}
	return 0, errors.New("nats: timeout (injected while the ledger's leader is re-elected)")
}

func (kv *failingKV) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	return kv.fail(ctx, key, value, func() (uint64, error) { return kv.KeyValue.Create(ctx, key, value, opts...) })
}

func (kv *failingKV) Update(ctx context.Context, key string, value []byte, last uint64) (uint64, error) {
	return kv.fail(ctx, key, value, func() (uint64, error) { return kv.KeyValue.Update(ctx, key, value, last) })
}

// failingPublisher fails the publishes of one result (by Nats-Msg-Id):
// fails of them, or all when negative, with err.
type failingPublisher struct {
	ResultPublisher
	msgID string
	fails atomic.Int32
	err   error
	calls atomic.Int32
}

func (p *failingPublisher) PublishResult(ctx context.Context, subject, msgID string, body []byte) error {
	if msgID == p.msgID {
		p.calls.Add(1)
		if n := p.fails.Load(); n != 0 {
			if n > 0 {
				p.fails.Add(-1)
			}
			return p.err
		}
	}
	return p.ResultPublisher.PublishResult(ctx, subject, msgID, body)
}

// Failures injected at the exact points of the commit protocol: the ledger
// record, the result publish, the ack. Each job ends with exactly one
// distinct result body ever published, and Lit is asked to sign again only
// when no one can have seen the first signature.
func TestJobsCommitPointFailures(t *testing.T) {
	var current atomic.Pointer[Jobs]
	var loseAck atomic.Bool // the next delivery's acknowledgement is lost
	e := newJobsEnv(t, jobsEnvConfig{ackWait: 2 * time.Second, heartbeat: 500 * time.Millisecond, maxDeliver: 4,
		wrap: func(h Handler) Handler {
			return func(ctx context.Context, msg jetstream.Msg) {
				if loseAck.CompareAndSwap(true, false) {
					msg = lostAck{msg}
				}
				if j := current.Load(); j != nil {
					j.Handle(ctx, msg)
					return
				}
				h(ctx, msg)
			}
		}})
	p := e.net.PKPs()[0]
	e.delegate(p, "pkp-signing:*")
	kv, err := e.js.KeyValue(context.Background(), e.topo.JobsBucket)
	if err != nil {
		t.Fatal(err)
	}
	// warm the handshake so request counts are the jobs' own
	warm := e.newID("warm")
	checkSignature(t, e.runJob(jobBody(warm, p, "warm", nil), warm), p, crypto.Keccak256([]byte("warm")))
	th := e.net.Threshold()

	type outcome struct {
		results  [][]byte
		requests int
	}
	runWith := func(t *testing.T, setup func(j *Jobs, id string)) (outcome, Result) {
		t.Helper()
		id := e.newID("inject")
		j := *e.jobs
		setup(&j, id)
		current.Store(&j)
		defer current.Store(nil)
		col := e.collect(e.resultSubject(id))
		before := e.signRequests()
		e.publish(KindPKPSign, jobBody(id, p, "inject "+id, nil), id, nil)
		jWaitFor(t, "the job acknowledged", func() bool {
			msgs, pending, ack := e.streamState()
			return len(col.all()) > 0 && msgs == 0 && pending == 0 && ack == 0
		})
		time.Sleep(200 * time.Millisecond)
		var r Result
		if err := json.Unmarshal(col.all()[0].Data, &r); err != nil {
			t.Fatal(err)
		}
		o := outcome{results: col.distinct(), requests: e.signRequests() - before}
		if len(o.results) != 1 {
			t.Fatalf("%d distinct result bodies published: %q", len(o.results), o.results)
		}
		if entry, err := e.ledger.Get(context.Background(), LedgerKey(DefaultProducer, id)); err != nil || entry == nil || !bytes.Equal(entry.Result, o.results[0]) {
			t.Errorf("ledger holds %+v (%v); want the published body", entry, err)
		}
		checkSignature(t, r, p, crypto.Keccak256([]byte("inject "+id)))
		return o, r
	}

	t.Run("ledger record fails transiently: retried within the delivery", func(t *testing.T) {
		var fk *failingKV
		o, _ := runWith(t, func(j *Jobs, id string) {
			fk = &failingKV{KeyValue: kv, key: LedgerKey(DefaultProducer, id)}
			fk.fails.Store(2)
			j.Ledger = &Ledger{kv: fk, RetryBudget: 5 * time.Second}
		})
		if o.requests != th || fk.calls.Load() != 3 {
			t.Errorf("%d node requests, %d record attempts; want %d (one signing) and 3", o.requests, fk.calls.Load(), th)
		}
	})
	t.Run("ledger record lands but its response is lost", func(t *testing.T) {
		o, _ := runWith(t, func(j *Jobs, id string) {
			fk := &failingKV{KeyValue: kv, key: LedgerKey(DefaultProducer, id), applied: true}
			fk.fails.Store(1)
			j.Ledger = &Ledger{kv: fk, RetryBudget: 5 * time.Second}
		})
		if o.requests != th {
			t.Errorf("%d node requests, want %d", o.requests, th)
		}
	})
	t.Run("ledger record fails through the budget: nothing published, the redelivery signs again", func(t *testing.T) {
		var pub *failingPublisher
		o, _ := runWith(t, func(j *Jobs, id string) {
			fk := &failingKV{KeyValue: kv, key: LedgerKey(DefaultProducer, id)}
			fk.fails.Store(3) // the first delivery's whole budget (3 tries), then healthy
			j.Ledger = &Ledger{kv: fk, RetryBudget: 250 * time.Millisecond}
			pub = &failingPublisher{ResultPublisher: j.Results, msgID: LedgerKey(DefaultProducer, id)}
			j.Results = pub
		})
		if o.requests != 2*th || pub.calls.Load() != 1 {
			t.Errorf("%d node requests, %d publishes; want %d (signed twice, the first signature never published) and 1", o.requests, pub.calls.Load(), 2*th)
		}
	})
	t.Run("publish fails transiently: retried within the delivery", func(t *testing.T) {
		var pub *failingPublisher
		o, _ := runWith(t, func(j *Jobs, id string) {
			pub = &failingPublisher{ResultPublisher: j.Results, msgID: LedgerKey(DefaultProducer, id), err: errors.New("nats: no response from stream")}
			pub.fails.Store(2)
			j.Results = pub
		})
		if o.requests != th || pub.calls.Load() != 3 {
			t.Errorf("%d node requests, %d publishes; want %d and 3", o.requests, pub.calls.Load(), th)
		}
	})
	t.Run("publish fails through the delivery: the redelivery publishes the recorded body", func(t *testing.T) {
		var pub *failingPublisher
		o, _ := runWith(t, func(j *Jobs, id string) {
			pub = &failingPublisher{ResultPublisher: j.Results, msgID: LedgerKey(DefaultProducer, id), err: fmt.Errorf("%w: injected", ErrResultRefused)}
			pub.fails.Store(1)
			j.Results = pub
		})
		if o.requests != th {
			t.Errorf("%d node requests, want %d (the redelivery republishes, no second signing)", o.requests, th)
		}
	})
	t.Run("ack fails after publishing: the redelivery republishes identical bytes", func(t *testing.T) {
		o, _ := runWith(t, func(j *Jobs, id string) { loseAck.Store(true) })
		if o.requests != th {
			t.Errorf("%d node requests, want %d (the redelivery republishes, no second signing)", o.requests, th)
		}
		if loseAck.Load() {
			t.Error("the ack was never lost")
		}
	})
}

// panicSigner panics on messages that contain "boom".
type panicSigner struct{ Signer }

func (s panicSigner) PKPSign(ctx context.Context, req litnode.PKPSignRequest) (litnode.ECDSASignature, error) {
	if bytes.Contains(req.Message, []byte("boom")) {
		panic("injected bug")
	}
	return s.Signer.PKPSign(ctx, req)
}

// A handler panic is an internal error result and a log line; the daemon
// keeps serving.
func TestJobsHandlerPanic(t *testing.T) {
	logs := &lockedBuffer{}
	e := newJobsEnv(t, jobsEnvConfig{logs: logs})
	e.jobs.Signer = panicSigner{e.lit} // before any job: Handle reads it later
	p := e.net.PKPs()[0]
	e.delegate(p, "pkp-signing:*")
	id := e.newID("boom")
	r := e.runJob(jobBody(id, p, "boom", nil), id)
	expectError(t, r, CodeInternal, false)
	if !bytes.Contains(logs.Bytes(), []byte("job handler panicked")) {
		t.Error("the panic was not logged")
	}
	id = e.newID("after")
	checkSignature(t, e.runJob(jobBody(id, p, "after", nil), id), p, crypto.Keccak256([]byte("after")))
	jWaitFor(t, "every job acknowledged", func() bool {
		msgs, pending, ack := e.streamState()
		return msgs == 0 && pending == 0 && ack == 0
	})
}

// A result no one can receive (an inbox without a subscriber: no
// responders) is retried on every delivery and, on the last, recorded as
// undeliverable and terminated, not acked as done.
func TestJobsUndeliverableResult(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{maxDeliver: 2})
	p := e.net.PKPs()[0]
	e.delegate(p, "pkp-signing:*")
	id := e.newID("nobody")
	before := e.signRequests()
	e.publish(KindPKPSign, jobBody(id, p, "x", nil), id, nats.Header{HeaderReplyTo: []string{"_INBOX.nobody." + id}})
	jWaitFor(t, "the result counted undeliverable", func() bool {
		return testutil.ToFloat64(e.metrics.jobs.WithLabelValues(KindPKPSign, outcomeUndeliverable, CodeInternal, DefaultProducer)) == 1
	})
	jWaitFor(t, "the job removed", func() bool {
		msgs, pending, ack := e.streamState()
		return msgs == 0 && pending == 0 && ack == 0
	})
	entry, err := e.ledger.Get(context.Background(), LedgerKey(DefaultProducer, id))
	if err != nil || entry == nil || entry.State != LedgerDone || !entry.Undeliverable {
		t.Errorf("ledger entry %+v (%v); want done and undeliverable", entry, err)
	}
	if got := testutil.ToFloat64(e.metrics.jobs.WithLabelValues(KindPKPSign, outcomeOK, "", DefaultProducer)); got != 0 {
		t.Errorf("an undelivered result was counted ok %v times", got)
	}
	if n := e.signRequests() - before; n != e.net.Threshold() {
		t.Errorf("%d node requests, want %d (one signing; the retry republishes)", n, e.net.Threshold())
	}
}

// A plain result publish that the server refuses (permission denied) or
// that no one receives (no responders) is reported as ErrResultRefused, not
// as delivered; a delivered one is not.
func TestNATSResultsRefusals(t *testing.T) {
	opts := &server.Options{
		Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		Users: []*server.User{{Username: "daemon", Password: "pw", Permissions: &server.Permissions{
			Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"_INBOX.denied.>"}},
		}}},
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo("daemon", "pw"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	p := &NATSResults{Conn: nc, Topology: DefaultTopology()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Someone listens on the denied subject: the refusal is the server's.
	if _, err := nc.SubscribeSync("_INBOX.denied.x"); err != nil {
		t.Fatal(err)
	}
	if err := p.PublishResult(ctx, "_INBOX.denied.x", "m", []byte("{}")); !errors.Is(err, ErrResultRefused) {
		t.Errorf("denied publish: %v, want ErrResultRefused", err)
	}
	if err := p.PublishResult(ctx, "_INBOX.nobody.x", "m", []byte("{}")); !errors.Is(err, ErrResultRefused) {
		t.Errorf("publish without a subscriber: %v, want ErrResultRefused", err)
	}
	sub, err := nc.SubscribeSync("_INBOX.ok.x")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.PublishResult(ctx, "_INBOX.ok.x", "m", []byte("{}")); err != nil {
		t.Errorf("delivered publish: %v", err)
	}
	if m, err := sub.NextMsg(5 * time.Second); err != nil || m.Header.Get(jetstream.MsgIDHeader) != "m" {
		t.Errorf("subscriber got %v, %v", m, err)
	}
}

// A job on the un-namespaced subject of a daemon that refuses it gets its
// bad_request on the reply subject it asked for (within the default
// producer's inbox prefix), not only on the default results subject: the
// producer hears at once instead of waiting out its timeout.
func TestRefusedDefaultProducerHearsWhy(t *testing.T) {
	e := newJobsEnv(t, jobsEnvConfig{configure: func(j *Jobs) { j.Producers.DenyDefault = true }})
	p := e.net.PKPs()[0]
	id := e.newID("refused")
	inbox := nats.NewInbox()
	sub := e.subscribe(inbox)
	e.publish(KindPKPSign, jobBody(id, p, "hello", nil), id, nats.Header{"Lit-Reply-To": []string{inbox}})
	r, _ := awaitResult(t, sub, resultWait)
	expectError(t, r, CodeBadRequest, false)
	if !strings.Contains(r.Error.Message, "un-namespaced") {
		t.Errorf("message %q does not say why", r.Error.Message)
	}
	// A reply subject outside the default producer's inbox is still refused.
	id = e.newID("refused-other")
	other := e.subscribe("lit.results.alpha." + id)
	e.publish(KindPKPSign, jobBody(id, p, "hello", nil), id, nats.Header{"Lit-Reply-To": []string{"lit.results.alpha." + id}})
	if m, err := other.NextMsg(3 * time.Second); err == nil {
		t.Errorf("a refused default-producer job wrote into another producer's results: %s", m.Data)
	}
}
