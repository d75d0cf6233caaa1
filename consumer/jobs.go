package consumer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/policy"
)

// DelegationSource is the part of *delegationstore.Store the job consumer
// uses: delegations from the in-memory cache, no network round trip.
type DelegationSource interface {
	Get(ctx context.Context, pkp litnode.PKPPublicKey) (*delegationstore.Delegation, error)
}

// Signer is the part of *litnode.Client the job consumer uses. One client
// is shared by all jobs: it keeps one handshake and refreshes it itself.
type Signer interface {
	PKPSign(ctx context.Context, req litnode.PKPSignRequest) (litnode.ECDSASignature, error)
}

// Executor is the part of *litnode.Client that runs Lit Actions
// (execute-js jobs).
type Executor interface {
	ExecuteJS(ctx context.Context, req litnode.ExecuteJSRequest) (litnode.ExecuteJSResult, error)
}

// ResultPublisher publishes a job's result body on subject with msgID as
// its Nats-Msg-Id ("" for none). *NATSResults implements it.
type ResultPublisher interface {
	PublishResult(ctx context.Context, subject, msgID string, body []byte) error
}

// JobStream is the part of the jobs jetstream.Stream that
// Jobs.HandleExhausted uses.
type JobStream interface {
	GetMsg(ctx context.Context, seq uint64, opts ...jetstream.GetMsgOpt) (*jetstream.RawStreamMsg, error)
	DeleteMsg(ctx context.Context, seq uint64) error
}

// Defaults of Jobs.
const (
	DefaultSessionTTL   = 2 * time.Minute
	DefaultExpiryMargin = 30 * time.Second
	DefaultHeartbeat    = 10 * time.Second
	DefaultJobTimeout   = 2 * time.Minute
)

// Jobs handles sign jobs (pkp-sign) and Lit Action jobs (execute-js):
// decode and validate, delegation from the cache, pre-checks without any
// network call (expiry with a margin, ReCap scope), fresh short-lived
// session signatures for the selected nodes, PKPSign or ExecuteJS, then
// one result and the acknowledgement decided by jobDisposition. A job's
// ledger entry makes a redelivered job that already has a final result
// publish that result again instead of signing twice, and an at-most-once
// execute-js job whose earlier delivery may have run the action end with
// outcome_unknown instead of running it again.
//
// Handle is a Handler for Pull, which bounds jobs in flight and pulls in
// small batches (docs/jetstream.md A.1). Configure the fields, then call
// Handle concurrently; the fields must not change afterwards. Zero values
// mean the documented defaults. Nothing Jobs logs or publishes contains a
// session secret.
type Jobs struct {
	// Delegations looks delegations up. Required.
	Delegations DelegationSource
	// Signer signs with a PKP. Required.
	Signer Signer
	// Executor runs Lit Actions for execute-js jobs; nil means Signer, if
	// it is one (a *litnode.Client is both).
	Executor Executor
	// Results publishes results. Required.
	Results ResultPublisher
	// V3 runs the jobs of PKPs with a Lit v3 credential; nil serves
	// Naga only (backend.go, backend_v3.go).
	V3 *V3Backend
	// Events publishes "needed" events when a job fails for lack of a
	// valid delegation; nil publishes none.
	Events Events
	// Topology names subjects, streams and consumers.
	Topology Topology
	// Producers is who may submit jobs and where their results may go
	// (producer.go). The zero value accepts jobs of any producer,
	// un-namespaced ones as producer "default".
	Producers Producers
	// Ledger records started and done jobs; nil disables idempotency across
	// redeliveries.
	Ledger *Ledger
	// Stream is the jobs stream, for HandleExhausted; nil disables it.
	Stream JobStream
	// SessionTTL is the lifetime of the session signatures minted for a
	// job, capped at the delegation's expiration. Default 2 min.
	SessionTTL time.Duration
	// ExpiryMargin: a delegation that expires within it is treated as
	// expired, so no job starts on one that would lapse mid-request.
	// Default 30 s; negative means none.
	ExpiryMargin time.Duration
	// MaxDeliver is the jobs consumer's MaxDeliver: on that delivery a
	// transient failure is final. 0 means unlimited (never final).
	MaxDeliver int
	// Heartbeat is the interval of InProgress while a job waits on the
	// nodes; keep it below a third of AckWait. Default 10 s; negative
	// disables heartbeats.
	Heartbeat time.Duration
	// Timeout bounds one delivery's Lit call. Default 2 min.
	Timeout time.Duration
	// Backoff is the redelivery delay after the n-th delivery failed
	// transiently; nil means 1 s, 2 s, 4 s … capped at 30 s.
	Backoff func(numDelivered uint64) time.Duration
	// Logger receives the consumer's logs; nil discards them.
	Logger *slog.Logger
	// Metrics records job metrics; nil records none.
	Metrics *Metrics
	// Now is the clock of the pre-checks and results; nil means time.Now.
	Now func() time.Time
	// DefaultPolicy governs PKPs whose hand-off carried no policy; nil
	// means policy.Default() (pkp-sign only). See policy.go.
	DefaultPolicy *policy.Policy
	// Audit records every job that reached the nodes; nil records none.
	Audit Auditor
	// NeededWindow: one "needed" event per PKP and reason within it;
	// default DefaultNeededWindow.
	NeededWindow time.Duration

	// beforeRecord, when set (tests only), runs after a delivery has its
	// outcome and before it records the result: the window in which a
	// failure must not lead to a second, different result.
	beforeRecord func(job Job)
}

// errUnusableDelegation: a stored delegation without a parsed form or a
// session key (a store bug, not the job's fault).
var errUnusableDelegation = errors.New("stored delegation is unusable")

func (j *Jobs) now() time.Time {
	if j.Now != nil {
		return j.Now()
	}
	return time.Now()
}

func (j *Jobs) logger() *slog.Logger {
	if j.Logger != nil {
		return j.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (j *Jobs) backoff(n uint64) time.Duration {
	if j.Backoff != nil {
		return j.Backoff(n)
	}
	return nakDelay(&jetstream.MsgMetadata{NumDelivered: n})
}

func (j *Jobs) expiryMargin() time.Duration {
	switch {
	case j.ExpiryMargin < 0:
		return 0
	case j.ExpiryMargin == 0:
		return DefaultExpiryMargin
	}
	return j.ExpiryMargin
}

// kindOf returns the job kind from the subject <prefix>.jobs.<producer>.<kind>
// (or <prefix>.jobs.<kind>).
func (j *Jobs) kindOf(subject string) string { return j.parseJobSubject(subject).kind }

// metricKind bounds the kind label to the known kinds.
func metricKind(kind string) string {
	switch kind {
	case KindPKPSign, KindExecuteJS:
		return kind
	}
	return "unknown"
}

// checkReply rejects reply subjects a result must never be published to:
// the jobs subjects (the result would become a job) and the JetStream API.
// On rejection the reply subject is dropped, so the error result goes to
// the default subject.
func (j *Jobs) checkReply(job *Job) error {
	if job.ReplyTo == "" {
		return nil
	}
	if strings.HasPrefix(job.ReplyTo, j.Topology.Prefix+".jobs.") || strings.HasPrefix(job.ReplyTo, "$JS.") || strings.HasPrefix(job.ReplyTo, "$KV.") {
		job.ReplyTo = ""
		return badJob("replyTo: a jobs or JetStream subject cannot be a reply subject")
	}
	return nil
}

// replySubject is where job's result goes; "" when it has nowhere to go
// (no valid id and no reply subject).
func (j *Jobs) replySubject(job Job) string {
	switch {
	case job.ReplyTo != "":
		return job.ReplyTo
	case job.ID != "":
		return j.Topology.JobResultSubject(job.Producer, job.ID)
	}
	return ""
}

// resultMsgID is the Nats-Msg-Id of a job's result: producer and id, so
// that equal ids of two producers are not deduplicated into one another
// by the results stream.
func resultMsgID(job Job) string {
	if job.ID == "" {
		return ""
	}
	return LedgerKey(job.Producer, job.ID)
}

// decode decodes a job message into a job with its producer and kind,
// checks what DecodeJob cannot know (producer, kind, reply subject) and
// reports the first error.
func (j *Jobs) decode(subject string, data []byte, header nats.Header) (Job, error) {
	addr := j.parseJobSubject(subject)
	job, err := decodeKind(addr.kind, data, header)
	job.Kind, job.Producer = addr.kind, addr.producer
	if addr.err != nil {
		// The reply subject is still honoured (within checkReplyFor's
		// limits), so a producer on the wrong subject hears why at once.
		err = addr.err
	}
	rerr := j.checkReply(&job)
	if ferr := j.checkReplyFor(&job); rerr == nil {
		rerr = ferr
	}
	if err == nil {
		err = rerr
	}
	return job, err
}

// decodeKind decodes a job body of kind.
func decodeKind(kind string, data []byte, header nats.Header) (Job, error) {
	switch kind {
	case KindPKPSign:
		return DecodeJob(data, header)
	case KindExecuteJS:
		return DecodeExecuteJSJob(data, header)
	}
	// Salvage the address for the error result.
	job, _ := DecodeJob(data, header)
	return job, badJob("job kind %q is not supported", kind)
}

// errPanic: a handler panicked on the job (a bug); the job gets an
// internal error result instead of crashing every replica that pulls it.
var errPanic = errors.New("litsignd failed on this job")

// Handle handles one job delivery and acknowledges it: see Jobs and
// jobDisposition.
func (j *Jobs) Handle(ctx context.Context, msg jetstream.Msg) {
	start := time.Now()
	j.Metrics.inFlightAdd(1)
	defer j.Metrics.inFlightAdd(-1)
	delivered, seq := uint64(1), uint64(0)
	if meta, err := msg.Metadata(); err == nil {
		delivered, seq = meta.NumDelivered, meta.Sequence.Stream
	}
	last := j.MaxDeliver > 0 && delivered >= uint64(j.MaxDeliver)
	f := finisher{j: j, msg: msg, log: j.logger(), start: start, delivered: delivered, last: last, seq: seq}
	defer f.recoverPanic(ctx)

	job, err := j.decode(msg.Subject(), msg.Data(), msg.Headers())
	log := deferredLogger(j.logger()).With("producer", job.Producer, "job", job.ID, "kind", job.Kind, "delivery", delivered, "seq", seq)
	if job.PKPHex != "" && err == nil {
		log = log.With("pkp", job.PKPHex)
	}
	f.job, f.log = job, log

	if err == nil && j.Ledger != nil {
		content := job.contentHash()
		key := LedgerKey(job.Producer, job.ID)
		rev, prev, lerr := j.Ledger.Begin(ctx, key, LedgerEntry{Kind: job.Kind, Producer: job.Producer, Content: content, Deliveries: delivered, StartedAt: j.now()})
		switch {
		case errors.Is(lerr, ErrIDReused):
			// Not this job's entry: never its result, never overwritten.
			// The error result gets a Nats-Msg-Id of its own, so the
			// results stream does not drop it as the first job's.
			f.msgID = resultMsgID(job) + ".reused." + content[:16]
			err = badJob("id reused with different content: %s already used id %s for another job", job.Producer, job.ID)
		case lerr != nil:
			err = fmt.Errorf("%w: %v", errInfra, lerr)
		case prev != nil && prev.State == LedgerDone:
			f.republish(ctx, prev)
			return
		default:
			f.rev, f.ledgered, f.content = rev, true, content
			if job.Kind == KindExecuteJS && job.Delivery == DeliveryAtMostOnce && prev != nil && prev.State == LedgerStarted {
				// An earlier delivery began the job and left no result: it
				// may have reached the nodes before its daemon died.
				err = fmt.Errorf("%w: delivery %d started the job at %s and left no result",
					errOutcomeUnknown, prev.Deliveries, prev.StartedAt.Format(time.RFC3339))
			}
		}
	}
	var out jobOutput
	var b Backend
	if err == nil {
		b, err = j.backendFor(ctx, job) // backend.go
		switch {
		case b != nil:
			f.backend = b.Name()
		case j.V3 != nil && job.PKP.IsZero():
			// A job naming its PKP by wallet address asks for a v3
			// credential (Naga delegations are kept by public key).
			f.backend = delegationstore.BackendLitV3
		}
	}
	if err == nil {
		switch job.Kind {
		case KindExecuteJS:
			out.action, err = b.Execute(ctx, msg, job, log, &f)
		default:
			out.sig, err = b.Sign(ctx, msg, job, log)
		}
	}
	f.finish(ctx, out, err)
}

// recoverPanic turns a panic of the delivery into an internal error result
// (recorded and published like any other) and a log line with the stack.
// A panic while finishing terminates the job without a result: the
// process survives either way.
func (f *finisher) recoverPanic(ctx context.Context) {
	r := recover()
	if r == nil {
		return
	}
	f.log.Error("job handler panicked; answering with an internal error", "panic", r, "stack", string(debug.Stack()))
	if f.finishing {
		f.term(CodeInternal)
		return
	}
	defer func() {
		if r2 := recover(); r2 != nil {
			f.log.Error("finishing a panicked job panicked too; job terminated without a result", "panic", r2)
			f.term(CodeInternal)
		}
	}()
	f.finish(ctx, jobOutput{}, fmt.Errorf("%w: %v", errPanic, r))
}

// jobOutput is what a successful job produced: a signature (pkp-sign) or
// an action's result (execute-js).
type jobOutput struct {
	sig    litnode.ECDSASignature
	action litnode.ExecuteJSResult
}

// delegation looks up the job's delegation and runs the pre-checks that
// need no network call: expiry with the margin, a usable record.
func (j *Jobs) delegation(ctx context.Context, job Job) (*delegationstore.Delegation, *litnode.Delegation, error) {
	d, err := j.Delegations.Get(ctx, job.PKP)
	switch {
	case errors.Is(err, delegationstore.ErrNotFound):
		j.Metrics.lookup(lookupNotFound)
		return nil, nil, err
	case errors.Is(err, delegationstore.ErrExpired):
		j.Metrics.lookup(lookupExpired)
		return nil, nil, err
	case err != nil:
		j.Metrics.lookup(lookupError)
		return nil, nil, err
	}
	if margin := j.expiryMargin(); !j.now().Add(margin).Before(d.Expiration) {
		j.Metrics.lookup(lookupExpired)
		return nil, nil, fmt.Errorf("%w: the delegation for %s expires at %s, within the %s margin",
			delegationstore.ErrExpired, job.PKPHex, d.Expiration.UTC().Format(time.RFC3339), margin)
	}
	j.Metrics.lookup(lookupHit)
	parsed := d.Parsed
	if parsed == nil {
		if parsed, err = litnode.ParseDelegation(d.AuthSig); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", errUnusableDelegation, err)
		}
	}
	if d.SessionKey == nil {
		return nil, nil, fmt.Errorf("%w: no session key", errUnusableDelegation)
	}
	return d, parsed, nil
}

// litCall starts the heartbeat and bounds the Lit call; it returns the
// call's context, the session auth and a function that ends both.
func (j *Jobs) litCall(ctx context.Context, msg jetstream.Msg, d *delegationstore.Delegation, log *slog.Logger) (context.Context, litnode.SessionAuth, func()) {
	stop := j.heartbeat(msg, log)
	timeout := j.Timeout
	if timeout <= 0 {
		timeout = DefaultJobTimeout
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	ttl := j.SessionTTL
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	auth := litnode.SessionAuth{Key: d.SessionKey, Delegation: d.AuthSig, Expiration: d.Expiration, TTL: ttl, Valid: j.stillCurrent(d)}
	return sctx, auth, func() { cancel(); stop() }
}

// sign runs the pre-checks and PKPSign for a decoded job.
func (j *Jobs) sign(ctx context.Context, msg jetstream.Msg, job Job, log *slog.Logger) (litnode.ECDSASignature, error) {
	var none litnode.ECDSASignature
	d, parsed, err := j.delegation(ctx, job)
	if err != nil {
		return none, err
	}
	if err := j.checkPolicy(job, d); err != nil {
		return none, err
	}
	// Pre-check: no network call for a job that cannot succeed.
	if !parsed.Grants(job.PKP.ResourceKey(), litnode.AbilityPKPSigning) {
		return none, fmt.Errorf("%w: %s: the delegation's ReCap grants no Threshold/Signing on %s or lit-pkp://*",
			errScopeDenied, job.PKPHex, job.PKP.ResourceKey())
	}
	sctx, auth, done := j.litCall(ctx, msg, d, log)
	defer done()
	sig, err := j.Signer.PKPSign(sctx, litnode.PKPSignRequest{PKP: job.PKP, Message: job.Message, Chain: job.Chain, Auth: auth})
	j.audit(ctx, msg, job, err, log)
	return sig, err
}

// executor returns the Executor of execute-js jobs, or nil.
func (j *Jobs) executor() Executor {
	if j.Executor != nil {
		return j.Executor
	}
	if x, ok := j.Signer.(Executor); ok {
		return x
	}
	return nil
}

// execute runs the pre-checks and ExecuteJS for a decoded execute-js job.
// It records in f whether the action may have run, and turns a transient
// failure after which it may have run into outcome_unknown for an
// at-most-once job (the job must not be redelivered into a second run).
func (j *Jobs) execute(ctx context.Context, msg jetstream.Msg, job Job, log *slog.Logger, f *finisher) (litnode.ExecuteJSResult, error) {
	var none litnode.ExecuteJSResult
	x := j.executor()
	if x == nil {
		return none, badJob("this litsignd runs no Lit Actions (no executor configured)")
	}
	d, parsed, err := j.delegation(ctx, job)
	if err != nil {
		return none, err
	}
	// Pre-check: the node checks the session signature's resource against
	// the action's CID (docs/naga-wire.md §8.1 authSig, docs/naga-auth.md §6 step 6c), so a
	// delegation that does not grant it would fail on every node.
	if err := j.checkPolicy(job, d); err != nil {
		return none, err
	}
	resource := "lit-litaction://" + job.CID
	if !parsed.Grants(resource, litnode.AbilityLitActionExecution) {
		return none, fmt.Errorf("%w: %s: the delegation's ReCap grants no Threshold/Execution on %s or lit-litaction://*",
			errScopeDenied, job.PKPHex, resource)
	}
	sctx, auth, done := j.litCall(ctx, msg, d, log)
	defer done()
	f.called = true
	res, err := x.ExecuteJS(sctx, litnode.ExecuteJSRequest{Code: job.Code, IPFSID: job.IPFSID, JSParams: job.JSParams, Auth: auth})
	if err == nil {
		f.mayHaveRun = true
		err = j.checkActionSignatures(job, d, res)
		j.audit(ctx, msg, job, err, log)
		if err != nil {
			return none, err
		}
		return res, nil
	}
	if litnode.ActionMayHaveRun(err) {
		j.audit(ctx, msg, job, err, log)
	}
	f.mayHaveRun = litnode.ActionMayHaveRun(err)
	if _, _, act := jobDisposition(err, false); act == actNak && f.mayHaveRun && job.Delivery == DeliveryAtMostOnce {
		return none, fmt.Errorf("%w: %w", errOutcomeUnknown, err)
	}
	return none, err
}

// heartbeat sends InProgress every Heartbeat until stop is called, so a
// job waiting on slow nodes is not redelivered (docs/jetstream.md A.2).
func (j *Jobs) heartbeat(msg jetstream.Msg, log *slog.Logger) (stop func()) {
	every := j.Heartbeat
	if every < 0 {
		return func() {}
	}
	if every == 0 {
		every = DefaultHeartbeat
	}
	// A timer, not a goroutine per call: most calls stop long before the
	// first beat. The mutex makes stop wait for a beat in progress, so no
	// InProgress follows stop.
	var mu sync.Mutex
	stopped := false
	var t *time.Timer
	mu.Lock()
	t = time.AfterFunc(every, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		if err := msg.InProgress(); err != nil {
			log.Debug("in-progress heartbeat failed", "err", err)
		}
		t.Reset(every)
	})
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}

// finisher carries one delivery to its result and acknowledgement.
type finisher struct {
	j         *Jobs
	msg       jetstream.Msg
	job       Job
	log       *slog.Logger
	start     time.Time
	delivered uint64
	seq       uint64 // the job's stream sequence
	last      bool
	ledgered  bool   // the ledger has a started entry of this delivery
	rev       uint64 // its revision
	content   string // the job's content hash (ledgered only)
	// msgID overrides the result's Nats-Msg-Id (an id-reuse refusal).
	msgID string
	// backend is the name of the backend that ran the job ("" before one
	// was picked).
	backend string
	// called and mayHaveRun: ExecuteJS was called, and the action may
	// have run (execute-js only).
	called, mayHaveRun bool
	finishing          bool
}

func (f *finisher) metric(outcome, code string) {
	f.j.Metrics.job(metricKind(f.job.Kind), outcome, code, f.j.Producers.label(f.job.Producer), time.Since(f.start))
}

// finish decides the delivery's fate with jobDisposition, then records the
// result in the ledger (the commit point), publishes the recorded body and
// acks or terminates, or naks.
//
// The ledger is the commit point (README "NATS contract"): nothing is
// published before the result is durably recorded, and what is published
// is the recorded body, so a redelivery, a concurrent delivery or the
// exhausted-jobs handler can only ever publish the same bytes. A record
// that fails through its retry budget naks without publishing: no
// subscriber has seen anything a redelivery could contradict (a pkp-sign
// redelivery may sign again; an at-most-once execute-js one ends with
// outcome_unknown).
func (f *finisher) finish(ctx context.Context, out jobOutput, err error) {
	f.finishing = true
	j, job, log := f.j, f.job, f.log
	code, retryable, act := jobDisposition(err, f.last)
	if act == actNak {
		f.release(ctx)
		delay := j.backoff(f.delivered)
		log.Warn("job failed transiently; nothing published, redelivery requested", "code", code, "delay", delay, "err", err)
		f.nak(code, delay)
		return
	}
	res := Result{ID: job.ID, Producer: job.Producer, Kind: job.Kind, PKPPublicKey: job.PKPHex}
	outcome := outcomeOK
	if err == nil {
		res.Status = StatusOK
		if job.Kind == KindExecuteJS {
			res.ActionResult = newActionResult(out.action)
		} else {
			res.Signature = newResultSignature(out.sig)
		}
		at := j.now().UTC()
		res.CompletedAt = &at
	} else {
		outcome = outcomeError
		res.Status = StatusError
		res.Error = &ResultError{Code: code, Message: errorMessage(err), Retryable: retryable}
		if code == CodeActionFailed {
			res.Error.Logs = boundLogs(litnode.ActionLogs(err))
		}
		log.Info("job failed", "code", code, "retryable", retryable, "err", err)
	}
	subject := j.replySubject(job)
	if subject == "" {
		log.Warn("job has no usable id and no reply subject: no result can be published; terminating it", "code", code, "err", err)
		f.metric(outcomeDropped, code)
		f.term(code)
		return
	}
	body, merr := json.Marshal(res)
	if merr != nil { // cannot happen: plain strings and numbers
		log.Error("marshal result", "err", merr)
		f.nak(CodeInternal, j.backoff(f.delivered))
		return
	}
	if needsDelegation(code) {
		j.publishNeeded(ctx, job, f.backend, code, err, log)
	}
	if j.beforeRecord != nil {
		j.beforeRecord(job)
	}
	if f.ledgered {
		stop := j.heartbeat(f.msg, log) // the record may ride out a leader election
		recorded, lerr := j.Ledger.Record(ctx, LedgerKey(job.Producer, job.ID), f.rev, LedgerEntry{
			Kind: job.Kind, Producer: job.Producer, Content: f.content, Deliveries: f.delivered, Subject: subject, Result: body, DoneAt: j.now()})
		stop()
		if lerr != nil {
			delay := j.backoff(f.delivered)
			log.Error("could not record the result in the job ledger; nothing was published, redelivery requested (it runs the job again: pkp-sign may sign again, since no one saw this signature; an at-most-once action ends outcome_unknown)",
				"code", code, "delay", delay, "err", lerr)
			f.nak(CodeInternal, delay)
			return
		}
		if !bytes.Equal(recorded.Result, body) {
			log.Info("another delivery of the job recorded its result first; publishing that result, not this delivery's")
			body, outcome, code = recorded.Result, outcomeSuperseded, ""
		}
	}
	if !f.publish(ctx, subject, body) {
		return
	}
	f.metric(outcome, code)
	if act == actAck || outcome == outcomeSuperseded {
		f.ack(ctx)
	} else {
		f.term(code)
	}
}

// publish publishes a recorded (or, without a ledger or for a job that
// could not be ledgered, deterministic) result body, retrying within the
// delivery while the results stream elects a leader. On failure it naks
// (the redelivery publishes the same recorded body) or, on the last
// delivery, records the result as undeliverable and terminates the job:
// the result stays in the ledger, and the job is not acked as done.
func (f *finisher) publish(ctx context.Context, subject string, body []byte) bool {
	j := f.j
	msgID := f.msgID
	if msgID == "" {
		msgID = resultMsgID(f.job)
	}
	stop := j.heartbeat(f.msg, f.log)
	err := j.publishResult(ctx, subject, msgID, body)
	stop()
	if err == nil {
		return true
	}
	if f.last {
		f.log.Error("result could not be published through the last delivery; recorded as undeliverable, job terminated", "subject", subject, "err", err)
		if f.ledgered || f.job.ID != "" && j.Ledger != nil {
			if lerr := j.Ledger.MarkUndeliverable(ctx, LedgerKey(f.job.Producer, f.job.ID)); lerr != nil {
				f.log.Warn("could not flag the ledger entry undeliverable", "err", lerr)
			}
		}
		f.metric(outcomeUndeliverable, CodeInternal)
		if err := f.msg.TermWithReason("undeliverable"); err != nil {
			f.log.Warn("term failed", "err", err)
		}
		return false
	}
	delay := j.backoff(f.delivered)
	f.log.Error("publish result failed; redelivery requested (it publishes the same recorded result)", "subject", subject, "delay", delay, "err", err)
	f.nak(CodeInternal, delay)
	return false
}

// ackTimeout bounds waiting for the server to confirm an ack.
const ackTimeout = 10 * time.Second

// Result publish retries within one delivery: a JetStream publish that
// times out or finds no responders while the results stream elects a
// leader is retried for up to publishRetryBudget; a refusal (permission
// denied, no subscriber on an inbox) is not.
const (
	publishRetryBudget    = 12 * time.Second
	publishAttemptTimeout = 4 * time.Second
)

// publishResult publishes with the in-delivery retries.
func (j *Jobs) publishResult(ctx context.Context, subject, msgID string, body []byte) error {
	deadline := time.Now().Add(publishRetryBudget)
	delay := 100 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, publishAttemptTimeout)
		err := j.Results.PublishResult(actx, subject, msgID, body)
		cancel()
		if err == nil || errors.Is(err, ErrResultRefused) || ctx.Err() != nil || time.Now().Add(delay).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// release tells the ledger that this execute-js delivery is being
// redelivered without the action having run (it failed before ExecuteJS,
// or ExecuteJS proves no node ran it), so that the redelivery may run it
// even at most once. A crash before release leaves the entry started: the
// redelivery of an at-most-once job then ends with outcome_unknown, the
// safe side.
func (f *finisher) release(ctx context.Context) {
	if !f.ledgered || f.job.Kind != KindExecuteJS || (f.called && f.mayHaveRun) {
		return
	}
	if err := f.j.Ledger.releaseEntry(ctx, LedgerKey(f.job.Producer, f.job.ID), f.rev, LedgerEntry{Kind: f.job.Kind, Producer: f.job.Producer, Content: f.content, Deliveries: f.delivered}); err != nil {
		f.log.Warn("could not release the job's ledger entry; an at-most-once redelivery will report outcome_unknown", "err", err)
	}
}

// republish publishes the result the ledger recorded for a job that is
// done, on the job's reply subject, with the same Nats-Msg-Id, and acks:
// the identical bytes every earlier publish of the job carried.
func (f *finisher) republish(ctx context.Context, done *LedgerEntry) {
	f.finishing = true
	subject := f.j.replySubject(f.job)
	if !f.publish(ctx, subject, done.Result) {
		return
	}
	f.log.Info("job already done: recorded result published again", "subject", subject, "done_at", done.DoneAt)
	f.metric(outcomeRepublished, "")
	f.ack(ctx)
}

func (f *finisher) nak(code string, delay time.Duration) {
	f.metric(outcomeRetry, code)
	if err := f.msg.NakWithDelay(delay); err != nil {
		f.log.Warn("nak failed; the job is redelivered after AckWait", "err", err)
	}
}

// ack acknowledges with the server's confirmation, after the result is
// published (docs/jetstream.md A.2, A.6).
func (f *finisher) ack(ctx context.Context) {
	actx, cancel := context.WithTimeout(ctx, ackTimeout) // a server that hangs must not hold the worker
	defer cancel()
	if err := f.msg.DoubleAck(actx); err != nil {
		if f.ledgered {
			f.log.Warn("ack failed after the result was recorded and published; the redelivery will publish the same recorded result again", "err", err)
		} else {
			f.log.Warn("ack failed after the result was published; the redelivery will handle the job again", "err", err)
		}
	}
}

func (f *finisher) term(code string) {
	if err := f.msg.TermWithReason(code); err != nil {
		f.log.Warn("term failed", "err", err)
	}
}

// needsDelegation reports whether a job failed for lack of a valid
// delegation, which the client must supply anew.
func needsDelegation(code string) bool {
	switch code {
	case CodeDelegationNotFound, CodeDelegationExpired, CodeScopeDenied, CodeLitAuthFailed:
		return true
	}
	return false
}

// publishNeeded publishes <prefix>.events.delegation.needed.<pkp>, once
// per job (deduplicated by the events stream). Failure is logged only: the
// job's result is what the producer waits for.
func (j *Jobs) publishNeeded(ctx context.Context, job Job, backend, code string, cause error, log *slog.Logger) {
	if j.Events == nil || job.PKPHex == "" {
		return
	}
	msgID, first := j.guards().needed.admit(job.PKPHex, code, j.neededWindow(), j.now())
	if !first {
		return
	}
	ev := DelegationEvent{Type: EventNeeded, PKPPublicKey: job.PKPHex, Reason: code, Message: errorMessage(cause), JobID: job.ID, At: j.now().UTC()}
	if backend == delegationstore.BackendLitV3 {
		ev.Backend = backend // a v3 credential is needed, not a Naga delegation
	}
	ectx, cancel := context.WithTimeout(ctx, publishAttemptTimeout)
	defer cancel()
	if err := j.Events.Publish(ectx, ev, msgID); err != nil {
		log.Warn("publish delegation needed event", "err", err)
	}
}

// maxDeliveriesAdvisory is the body of io.nats.jetstream.advisory.v1.max_deliver
// (docs/jetstream.md A.5).
type maxDeliveriesAdvisory struct {
	Type       string `json:"type"`
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// HandleExhausted handles one max-deliveries advisory of the jobs consumer
// (a message of Topology.ExhaustedStream): the job ran out of deliveries
// without a final result (its handlers crashed or stalled past AckWait, or
// its result could not be published), and a work-queue stream keeps such a
// job (docs/jetstream.md A.3). It publishes the job's result (the ledger's,
// if one was recorded, else a delivery_exhausted error), then deletes the
// job from the stream and acks, so no job is lost or stuck.
func (j *Jobs) HandleExhausted(ctx context.Context, msg jetstream.Msg) {
	log := j.logger().With("component", "exhausted")
	var adv maxDeliveriesAdvisory
	if err := json.Unmarshal(msg.Data(), &adv); err != nil || adv.StreamSeq == 0 {
		log.Warn("ignoring an advisory that does not decode", "err", err)
		_ = msg.Term()
		return
	}
	if adv.Stream != j.Topology.JobsStream || adv.Consumer != j.Topology.JobsConsumer || j.Stream == nil {
		_ = msg.Ack()
		return
	}
	retry := func(what string, err error) {
		delay := j.backoff(1)
		log.Warn(what+"; retrying the advisory", "seq", adv.StreamSeq, "err", err)
		_ = msg.NakWithDelay(delay)
	}
	raw, err := j.Stream.GetMsg(ctx, adv.StreamSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		_ = msg.Ack() // handled meanwhile
		return
	}
	if err != nil {
		retry("read exhausted job", err)
		return
	}
	job, derr := j.decode(raw.Subject, raw.Data, raw.Header)
	log = log.With("job", job.ID, "seq", adv.StreamSeq, "deliveries", adv.Deliveries)
	subject := j.replySubject(job)
	msgID := resultMsgID(job)
	var body []byte
	started := false
	content := ""
	if derr == nil && j.Ledger != nil {
		content = job.contentHash()
		done, err := j.Ledger.Get(ctx, LedgerKey(job.Producer, job.ID))
		if err != nil {
			retry("read job ledger", err)
			return
		}
		if done != nil && done.Content != "" && done.Content != content {
			derr = badJob("id reused with different content: %s already used id %s for another job", job.Producer, job.ID)
			msgID += ".reused." + content[:16]
			done = nil
		}
		if done != nil && done.State == LedgerDone {
			body = done.Result
		}
		started = done != nil && done.State == LedgerStarted
	}
	if body == nil {
		res := Result{ID: job.ID, Producer: job.Producer, Kind: job.Kind, PKPPublicKey: job.PKPHex, Status: StatusError,
			Error: &ResultError{Code: CodeDeliveryExhausted, Retryable: true,
				Message: fmt.Sprintf("the job was delivered %d times without completing", adv.Deliveries)}}
		if job.Kind == KindExecuteJS && started {
			// A delivery may have reached the nodes: resubmitting may run
			// the action twice.
			res.Error = &ResultError{Code: CodeOutcomeUnknown,
				Message: fmt.Sprintf("the job was delivered %d times without completing; the action may have run", adv.Deliveries)}
		}
		if derr != nil {
			res.Error = &ResultError{Code: CodeBadRequest, Message: errorMessage(derr)}
		}
		if body, err = json.Marshal(res); err != nil {
			retry("marshal result", err)
			return
		}
		if derr == nil && j.Ledger != nil {
			done, err := j.Ledger.Record(ctx, LedgerKey(job.Producer, job.ID), 0, LedgerEntry{Kind: job.Kind, Producer: job.Producer, Content: content, Deliveries: adv.Deliveries, Subject: subject, Result: body, DoneAt: j.now()})
			if err != nil {
				retry("record exhausted job", err)
				return
			}
			body = done.Result
		}
	}
	if subject != "" {
		if err := j.publishResult(ctx, subject, msgID, body); errors.Is(err, ErrResultRefused) {
			// No delivery can fix a refusal: the result stays recorded,
			// flagged, and the job goes.
			log.Error("result of an exhausted job refused; recorded as undeliverable", "subject", subject, "err", err)
			if derr == nil && j.Ledger != nil {
				_ = j.Ledger.MarkUndeliverable(ctx, LedgerKey(job.Producer, job.ID))
			}
			j.Metrics.job(metricKind(job.Kind), outcomeUndeliverable, CodeInternal, j.Producers.label(job.Producer), 0)
		} else if err != nil {
			retry("publish result of exhausted job", err)
			return
		}
	}
	if err := j.Stream.DeleteMsg(ctx, adv.StreamSeq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		retry("delete exhausted job", err)
		return
	}
	log.Warn("job exhausted its deliveries; final result published and job removed", "subject", subject)
	j.Metrics.exhausted()
	actx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	if err := msg.DoubleAck(actx); err != nil {
		log.Warn("ack advisory", "err", err)
	}
}

// ErrResultRefused: NATS refused a result publish for good: litsignd may
// not publish on the reply subject (permission denied), or no one
// subscribes to it (no responders on an inbox). Retrying within the
// delivery is pointless; later deliveries try again.
var ErrResultRefused = errors.New("result publish refused")

// NATSResults publishes results: to subjects a stream captures (the
// results stream, or a producer's own stream) with a JetStream publish
// that waits for the stream's ack and is deduplicated by Nats-Msg-Id;
// to any other subject (the _INBOX of a producer waiting on it) with a
// plain NATS publish that carries the same header (docs/jetstream.md A.6),
// followed by a round trip that tells whether the server refused it
// (permission denied) or no one listens (no responders): a plain publish
// reports neither by itself, and a result lost that way must not be acked
// as delivered. It is safe for concurrent use.
type NATSResults struct {
	Conn     *nats.Conn
	JS       jetstream.JetStream
	Topology Topology

	mu       sync.Mutex
	captured map[string]capturedAt
}

type capturedAt struct {
	yes bool
	at  time.Time
}

// capturedTTL is how long a stream lookup of a reply subject is reused.
const capturedTTL = 30 * time.Second

// PublishResult implements ResultPublisher.
func (p *NATSResults) PublishResult(ctx context.Context, subject, msgID string, body []byte) error {
	captured, err := p.isCaptured(ctx, subject)
	if err != nil {
		return fmt.Errorf("publish result to %s: %w", subject, err)
	}
	if captured {
		var opts []jetstream.PublishOpt
		if msgID != "" {
			opts = append(opts, jetstream.WithMsgID(msgID))
		}
		if _, err := p.JS.Publish(ctx, subject, body, opts...); err != nil {
			if p.denied(subject) { // the stream never saw it: the wait timed out
				return fmt.Errorf("publish result to %s: %w: %v", subject, ErrResultRefused, p.Conn.LastError())
			}
			return fmt.Errorf("publish result to %s: %w", subject, err)
		}
		return nil
	}
	return p.publishPlain(ctx, subject, msgID, body)
}

// denied reports whether the server refused litsignd's last publish to
// subject (the connection's last error is its permissions violation).
func (p *NATSResults) denied(subject string) bool {
	last := p.Conn.LastError()
	return errors.Is(last, nats.ErrPermissionViolation) && strings.Contains(last.Error(), strconv.Quote(subject))
}

// publishPlain publishes to a subject no stream captures with a reply
// subject of its own: the server answers a publish nobody receives with a
// no-responders status there, ahead of the flush's PONG, and reports a
// denied publish as a permissions violation (the connection's last error)
// ahead of it too.
func (p *NATSResults) publishPlain(ctx context.Context, subject, msgID string, body []byte) error {
	status := p.Conn.NewRespInbox()
	sub, err := p.Conn.SubscribeSync(status)
	if err != nil {
		return fmt.Errorf("publish result to %s: %w", subject, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	m := nats.NewMsg(subject)
	m.Data = body
	m.Reply = status
	if msgID != "" {
		m.Header.Set(jetstream.MsgIDHeader, msgID)
	}
	if err := p.Conn.PublishMsg(m); err != nil {
		return fmt.Errorf("publish result to %s: %w", subject, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	if err := p.Conn.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("publish result to %s: %w", subject, err)
	}
	if p.denied(subject) {
		return fmt.Errorf("publish result to %s: %w: %v", subject, ErrResultRefused, p.Conn.LastError())
	}
	// A no-responders status arrived before the flush's PONG, so it is
	// queued by now: look without waiting (the common case, a subscriber
	// got the result, queues nothing).
	if n, _, _ := sub.Pending(); n > 0 {
		if _, err := sub.NextMsg(time.Millisecond); errors.Is(err, nats.ErrNoResponders) {
			return fmt.Errorf("publish result to %s: %w: no responders", subject, ErrResultRefused)
		}
	}
	return nil
}

// isCaptured reports whether a stream captures subject.
func (p *NATSResults) isCaptured(ctx context.Context, subject string) (bool, error) {
	switch {
	case strings.HasPrefix(subject, p.Topology.Prefix+".results."):
		return true, nil
	case strings.HasPrefix(subject, nats.InboxPrefix):
		return false, nil
	}
	p.mu.Lock()
	c, ok := p.captured[subject]
	p.mu.Unlock()
	if ok && time.Since(c.at) < capturedTTL {
		return c.yes, nil
	}
	_, err := p.JS.StreamNameBySubject(ctx, subject)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		c = capturedAt{yes: false, at: time.Now()}
	case err != nil:
		return false, err
	default:
		c = capturedAt{yes: true, at: time.Now()}
	}
	p.mu.Lock()
	if p.captured == nil || len(p.captured) > 4096 {
		p.captured = map[string]capturedAt{}
	}
	p.captured[subject] = c
	p.mu.Unlock()
	return c.yes, nil
}
