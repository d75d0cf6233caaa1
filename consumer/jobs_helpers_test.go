package consumer

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/internal/natstest"
	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/litnode/devnet"
	"github.com/litsignd/litsignd/policy"
)

// Compile-time checks: the production types satisfy the consumer-owned
// interfaces .
var (
	_ DelegationSource = (*delegationstore.Store)(nil)
	_ Signer           = (*litnode.Client)(nil)
	_ ResultPublisher  = (*NATSResults)(nil)
	_ JobStream        = (jetstream.Stream)(nil)
	_ Events           = (*EventPublisher)(nil)
)

// jobsEnvConfig tunes a jobsEnv; zero values mean test defaults.
type jobsEnvConfig struct {
	maxDeliver int           // default 3
	ackWait    time.Duration // default 5 s
	heartbeat  time.Duration // default 1 s; negative disables
	timeout    time.Duration // Jobs.Timeout; default 60 s
	workers    int           // default 8
	litTimeout time.Duration // Lit request and handshake timeout; default 15 s (tests of hung nodes set a short one)
	pkps       int           // devnet PKPs; default 5
	// logs, when set, receives every log line of Jobs at debug level.
	logs *lockedBuffer
	// sealedReader makes Jobs read delegations through a second store
	// whose keyring cannot open what the env's writer store seals.
	sealedReader bool
	// configure, when set, adjusts Jobs before the loops start.
	configure func(*Jobs)
	// wrap, when set, wraps the job handler (to interfere with deliveries).
	wrap func(Handler) Handler
	// net and lit, when set, are used instead of a new devnet and client
	// (benchmarks share one).
	net *devnet.Network
	lit *litnode.Client
	// external: the Lit network is in another process (lit is set); no
	// devnet is started.
	external bool
	// defaultPolicy is Jobs.DefaultPolicy; nil means policy.Permissive()
	// (tests of actions without a policy), unless securePolicy (then nil:
	// policy.Default()).
	defaultPolicy *policy.Policy
	securePolicy  bool
}

// jobsEnv is a running job consumer: an in-process JetStream server, the
// devnet on 127.0.0.1, one Lit client, the delegation store, the ledger and
// Pull loops for the jobs and exhausted-jobs consumers.
type jobsEnv struct {
	t       testing.TB
	net     *devnet.Network
	lit     *litnode.Client
	nc      *nats.Conn
	js      jetstream.JetStream
	topo    Topology
	ring    *delegationstore.Keyring
	store   *delegationstore.Store // what Jobs reads
	writer  *delegationstore.Store // what tests write to (store unless sealedReader)
	ledger  *Ledger
	jobs    *Jobs
	reg     *prometheus.Registry
	metrics *Metrics
	stream  jetstream.Stream
	cons    jetstream.Consumer
	ctx     context.Context
	stop    context.CancelFunc // stops the Pull loops (drain)
	pulled  sync.WaitGroup
	ids     atomic.Int64
}

func newJobsEnv(t testing.TB, cfg jobsEnvConfig) *jobsEnv {
	t.Helper()
	if cfg.maxDeliver == 0 {
		cfg.maxDeliver = 3
	}
	if cfg.ackWait == 0 {
		cfg.ackWait = 5 * time.Second
	}
	if cfg.heartbeat == 0 {
		cfg.heartbeat = time.Second
	}
	if cfg.timeout == 0 {
		cfg.timeout = 60 * time.Second
	}
	if cfg.workers == 0 {
		cfg.workers = 8
	}
	if cfg.pkps == 0 {
		cfg.pkps = 5
	}
	if cfg.litTimeout == 0 {
		// Far above a request's need on a quiet machine: the race detector
		// on a loaded 2-core machine makes node work many times slower.
		cfg.litTimeout = 15 * time.Second
	}
	_, url := natstest.RunJetStream(t)
	nc, js := natstest.Connect(t, url)
	e := &jobsEnv{t: t, nc: nc, js: js, topo: DefaultTopology(), net: cfg.net, lit: cfg.lit, reg: prometheus.NewRegistry()}
	e.metrics = NewMetrics(e.reg)
	if e.net == nil && !cfg.external {
		n, err := devnet.Start(devnet.Config{Nodes: 4, Threshold: 3, PKPs: cfg.pkps, NodeTimeout: 30 * time.Second})
		if err != nil {
			t.Fatalf("devnet.Start: %v", err)
		}
		t.Cleanup(n.Close)
		e.net = n
	}
	if e.lit == nil {
		e.lit = newTestLitClient(t, e.net, cfg.litTimeout, e.metrics.ObserveLit)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e.ctx = ctx
	if err := e.topo.Ensure(ctx, js); err != nil {
		t.Fatal(err)
	}
	if err := e.topo.EnsureJobs(ctx, js); err != nil {
		t.Fatalf("EnsureJobs: %v", err)
	}
	e.ring = newTestKeyring(t)
	e.writer = e.openStore(e.ring)
	e.store = e.writer
	if cfg.sealedReader {
		e.store = e.openStore(newTestKeyring(t))
	}
	kv, err := js.KeyValue(ctx, e.topo.JobsBucket)
	if err != nil {
		t.Fatal(err)
	}
	e.ledger = NewLedger(kv)
	e.ledger.RetryBudget = 500 * time.Millisecond
	jobsCons, exhCons, err := e.topo.EnsureJobsConsumers(ctx, js, e.topo.JobsConsumerConfig(cfg.maxDeliver, cfg.ackWait, 64))
	if err != nil {
		t.Fatal(err)
	}
	e.cons = jobsCons
	if e.stream, err = js.Stream(ctx, e.topo.JobsStream); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if cfg.logs != nil {
		logger = slog.New(slog.NewJSONHandler(cfg.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cfg.defaultPolicy == nil && !cfg.securePolicy {
		cfg.defaultPolicy = policy.Permissive()
	}
	if err := e.topo.EnsureAudit(ctx, js, 0); err != nil {
		t.Fatal(err)
	}
	e.jobs = &Jobs{
		DefaultPolicy: cfg.defaultPolicy,
		Audit:         &NATSAudit{JS: js, Topology: e.topo},
		Delegations:   e.store,
		Signer:        e.lit,
		Results:       &NATSResults{Conn: nc, JS: js, Topology: e.topo},
		Events:        &EventPublisher{JS: js, Topology: e.topo},
		Topology:      e.topo,
		Producers:     Producers{Known: map[string]Producer{"captured": {InboxPrefix: "app.captured."}, "alpha": {}, "beta": {}}},
		Ledger:        e.ledger,
		Stream:        e.stream,
		MaxDeliver:    cfg.maxDeliver,
		Heartbeat:     cfg.heartbeat,
		Timeout:       cfg.timeout,
		ExpiryMargin:  30 * time.Second,
		Backoff:       func(n uint64) time.Duration { return time.Duration(n) * 50 * time.Millisecond },
		Logger:        logger,
		Metrics:       e.metrics,
	}
	if cfg.configure != nil {
		cfg.configure(e.jobs)
	}
	handle := Handler(e.jobs.Handle)
	if cfg.wrap != nil {
		handle = cfg.wrap(handle)
	}
	pctx, stop := context.WithCancel(ctx)
	e.stop = stop
	e.pulled.Add(2)
	go func() { defer e.pulled.Done(); _ = Pull(pctx, jobsCons, cfg.workers, 10*time.Second, handle, logger) }()
	go func() {
		defer e.pulled.Done()
		_ = Pull(pctx, exhCons, 2, 10*time.Second, e.jobs.HandleExhausted, logger)
	}()
	// Registered last, so it runs first: the loops stop before the server,
	// the devnet and the connection go away.
	t.Cleanup(func() { stop(); e.pulled.Wait() })
	return e
}

// testWriter sends logs to the test log, and nowhere once the test is over.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}

// newTestLitClient is a devnet client with test-sized timeouts.
func newTestLitClient(t testing.TB, n *devnet.Network, timeout time.Duration, observe func(litnode.Observation)) *litnode.Client {
	t.Helper()
	c := &litnode.Client{
		Network:          n.NetworkConfig(),
		HandshakeTimeout: timeout,
		RequestTimeout:   timeout,
		RetryBackoff:     10 * time.Millisecond,
		MaxAttempts:      4,
		Observe:          observe,
	}
	t.Cleanup(c.Close)
	return c
}

func newTestKeyring(t testing.TB) *delegationstore.Keyring {
	t.Helper()
	kek, err := delegationstore.GenerateKEK("test")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := delegationstore.NewKeyring(kek)
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

// openStore opens and runs a delegation store on the env's bucket with
// ring, and waits until its cache is loaded.
func (e *jobsEnv) openStore(ring *delegationstore.Keyring) *delegationstore.Store {
	e.t.Helper()
	s, err := delegationstore.Open(e.ctx, e.js, delegationstore.Config{Bucket: e.topo.DelegationsBucket, KEK: ring})
	if err != nil {
		e.t.Fatalf("delegationstore.Open: %v", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	sctx, cancel := context.WithCancel(e.ctx)
	go func() { defer wg.Done(); _ = s.Run(sctx) }()
	e.t.Cleanup(func() { cancel(); wg.Wait() })
	<-s.Ready()
	return s
}

// delegation gets a real delegation from the devnet for a fresh session
// key, authenticated by owner (the dev PKP's owner if nil).
func (e *jobsEnv) delegation(p devnet.DevPKP, owner *ecdsa.PrivateKey, resources string, exp time.Time) *litnode.HandOff {
	e.t.Helper()
	if owner == nil {
		owner = p.OwnerKey
	}
	key, err := litnode.GenerateSessionKey(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	reqs, err := litnode.ParseResourceShorthand(resources)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := e.lit.SignSessionKey(ctx, litnode.SignSessionKeyRequest{PKP: p.PublicKey, SessionKey: key.PublicKey(), Owner: owner, Resources: reqs, Expiration: exp})
	if err != nil {
		e.t.Fatalf("SignSessionKey: %v", err)
	}
	return &litnode.HandOff{PKP: p.PublicKey, SessionKey: key, Delegation: a}
}

// put stores h and waits until store serves it.
func (e *jobsEnv) put(store *delegationstore.Store, h *litnode.HandOff) {
	e.t.Helper()
	res, err := e.writer.Put(context.Background(), h)
	if err != nil {
		e.t.Fatalf("store.Put: %v", err)
	}
	jWaitFor(e.t, "stored delegation in the cache", func() bool {
		d, err := store.Get(context.Background(), h.PKP)
		return err == nil && d.Revision >= res.Revision
	})
}

// delegate obtains and stores a delegation for p valid for 15 minutes.
func (e *jobsEnv) delegate(p devnet.DevPKP, resources string) {
	e.t.Helper()
	e.put(e.store, e.delegation(p, nil, resources, time.Now().Add(15*time.Minute)))
}

// resultSubject is the default result subject of a job of the default
// producer (the env publishes on the un-namespaced subjects).
func (e *jobsEnv) resultSubject(id string) string {
	return e.topo.JobResultSubject(DefaultProducer, id)
}

// newID returns a fresh job id.
func (e *jobsEnv) newID(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), e.ids.Add(1))
}

// jobBody is a pkp-sign job body.
func jobBody(id string, p devnet.DevPKP, toSign string, extra map[string]any) []byte {
	m := map[string]any{"id": id, "pkpPublicKey": p.PublicKey.Hex(), "toSign": toSign}
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

// publish publishes a job to <prefix>.jobs.<kind> (producer "default"),
// with Nats-Msg-Id msgID (none if empty) and the given headers.
func (e *jobsEnv) publish(kind string, body []byte, msgID string, hdr nats.Header) {
	e.t.Helper()
	e.publishTo(e.topo.JobSubject(kind), body, msgID, hdr)
}

// publishAs publishes a job of producer to <prefix>.jobs.<producer>.<kind>.
func (e *jobsEnv) publishAs(producer, kind string, body []byte, msgID string, hdr nats.Header) {
	e.t.Helper()
	e.publishTo(e.topo.ProducerJobSubject(producer, kind), body, msgID, hdr)
}

func (e *jobsEnv) publishTo(subject string, body []byte, msgID string, hdr nats.Header) {
	e.t.Helper()
	m := nats.NewMsg(subject)
	m.Data = body
	for k, v := range hdr {
		m.Header[k] = v
	}
	if msgID != "" {
		m.Header.Set(jetstream.MsgIDHeader, msgID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.js.PublishMsg(ctx, m); err != nil {
		e.t.Fatalf("publish job: %v", err)
	}
}

// subscribe subscribes to subject (results or events) on the env's
// connection, before the job that answers on it is published.
func (e *jobsEnv) subscribe(subject string) *nats.Subscription {
	e.t.Helper()
	sub, err := e.nc.SubscribeSync(subject)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.nc.Flush(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = sub.Unsubscribe() })
	return sub
}

// awaitResult waits for the next result on sub.
func awaitResult(t testing.TB, sub *nats.Subscription, within time.Duration) (Result, *nats.Msg) {
	t.Helper()
	m, err := sub.NextMsg(within)
	if err != nil {
		t.Fatalf("no result on %s within %s: %v", sub.Subject, within, err)
	}
	var r Result
	if err := json.Unmarshal(m.Data, &r); err != nil {
		t.Fatalf("result does not decode: %v: %s", err, m.Data)
	}
	return r, m
}

// expectNone checks that nothing more arrives on sub for d.
func expectNone(t testing.TB, sub *nats.Subscription, d time.Duration) {
	t.Helper()
	if m, err := sub.NextMsg(d); err == nil {
		t.Errorf("unexpected extra message on %s: %s", m.Subject, m.Data)
	}
}

// runJob publishes a job on the default subject and returns its result.
func (e *jobsEnv) runJob(body []byte, id string) Result {
	e.t.Helper()
	sub := e.subscribe(e.resultSubject(id))
	e.publish(KindPKPSign, body, id, nil)
	r, _ := awaitResult(e.t, sub, resultWait)
	return r
}

// expectError checks r is an error result with code.
func expectError(t testing.TB, r Result, code string, retryable bool) {
	t.Helper()
	if r.Status != StatusError || r.Error == nil {
		t.Fatalf("result = %+v, want an error %s", r, code)
	}
	if r.Error.Code != code || r.Error.Retryable != retryable {
		t.Fatalf("error = %+v, want code %s retryable %v", *r.Error, code, retryable)
	}
	if r.Signature != nil || r.CompletedAt != nil {
		t.Errorf("error result carries success fields: %+v", r)
	}
}

// checkSignature checks r is an ok result whose signature recovers to the
// PKP's Ethereum address over digest.
func checkSignature(t testing.TB, r Result, p devnet.DevPKP, digest []byte) {
	t.Helper()
	if r.Status != StatusOK || r.Signature == nil || r.Error != nil || r.CompletedAt == nil {
		t.Fatalf("result = %+v, want ok with a signature", r)
	}
	s := r.Signature
	sig := mustHex(t, s.Signature)
	if len(sig) != 65 || int(sig[64]) != 27+s.RecoveryID {
		t.Fatalf("signature %s: want 65 bytes with v = 27 + recoveryId %d", s.Signature, s.RecoveryID)
	}
	if got := "0x" + fmt.Sprintf("%x", sig[:32]); got != s.R {
		t.Errorf("r = %s, signature starts %s", s.R, got)
	}
	if got := "0x" + fmt.Sprintf("%x", sig[32:64]); got != s.S {
		t.Errorf("s = %s, signature continues %s", s.S, got)
	}
	if s.SignedData != fmt.Sprintf("0x%x", digest) {
		t.Errorf("signedData = %s, want 0x%x", s.SignedData, digest)
	}
	if s.PublicKey != p.PublicKey.Hex() || r.PKPPublicKey != p.PublicKey.Hex() {
		t.Errorf("publicKey = %s / pkpPublicKey = %s, want %s", s.PublicKey, r.PKPPublicKey, p.PublicKey.Hex())
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

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hexDecode(s)
	if err != nil {
		t.Fatalf("%q is not 0x hex: %v", s, err)
	}
	return b
}

func hexDecode(s string) ([]byte, error) {
	h, ok := strings.CutPrefix(s, "0x")
	if !ok {
		return nil, fmt.Errorf("no 0x")
	}
	return hex.DecodeString(h)
}

// signRequests counts the pkp-sign requests the devnet nodes received.
func (e *jobsEnv) signRequests() int {
	n := 0
	for _, nd := range e.net.Nodes() {
		for _, r := range nd.Requests() {
			if r.Path == "/web/pkp/sign/v2" {
				n++
			}
		}
	}
	return n
}

// streamState returns the jobs stream's message count and the jobs
// consumer's pending and ack-pending counts.
func (e *jobsEnv) streamState() (msgs uint64, pending uint64, ackPending int) {
	e.t.Helper()
	si, err := e.stream.Info(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	ci, err := e.cons.Info(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return si.State.Msgs, ci.NumPending, ci.NumAckPending
}

// jWaitFor polls ok until it holds, for at most 15 s.
func jWaitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lostAck wraps a delivery so that its acknowledgement is lost, as if the
// daemon crashed right after publishing the result.
type lostAck struct{ jetstream.Msg }

func (lostAck) Ack() error                       { return nil }
func (lostAck) DoubleAck(context.Context) error  { return nil }
func (lostAck) Term() error                      { return nil }
func (lostAck) TermWithReason(string) error      { return nil }
func (lostAck) Nak() error                       { return nil }
func (lostAck) NakWithDelay(time.Duration) error { return nil }
func (lostAck) InProgress() error                { return nil }

// resultWait bounds how long a test waits for a job's result. It is long
// on purpose: a passing test returns as soon as the result arrives, and a
// loaded 2-core machine running the race detector can take many seconds.
const resultWait = 3 * time.Minute
