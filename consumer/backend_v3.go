package consumer

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/litnode"
)

// V3Client is the part of a Lit v3 REST client the v3 backend uses: one
// POST /core/v1/lit_action with the usage key as bearer (docs/lit-v3.md §3).
// Failed calls return a *V3Error.
type V3Client interface {
	LitAction(ctx context.Context, usageKey string, req V3ActionRequest) (V3ActionResult, error)
}

// V3ActionRequest is one lit_action call: Code (preferred) or IPFSID, the
// parameters passed to main, and the job id as X-Correlation-Id.
type V3ActionRequest struct {
	Code          string
	IPFSID        string
	JSParams      map[string]any
	CorrelationID string
}

// V3ActionResult is a successful lit_action answer.
type V3ActionResult struct {
	// Response is the response field as the service sent it (JSON).
	Response json.RawMessage
	Logs     string
	// RequestID is the service's X-Request-Id, for logs.
	RequestID string
}

// V3ErrorKind classifies a failed lit_action call (docs/lit-v3.md §2.5, §3.6).
type V3ErrorKind string

// The kinds of V3Error.
const (
	V3Unauthorized V3ErrorKind = "unauthorized"     // 401: key unknown or removed
	V3Payment      V3ErrorKind = "payment_required" // 402: no credit (or a spend cap)
	V3Forbidden    V3ErrorKind = "forbidden"        // 403: the key may not run this CID
	V3BadRequest   V3ErrorKind = "bad_request"      // 400, 413, 422
	V3Overloaded   V3ErrorKind = "overloaded"       // 429
	V3ActionFailed V3ErrorKind = "action_failed"    // 500 "Actions failed with …": the action ran and failed
	V3Unavailable  V3ErrorKind = "unavailable"      // other 5xx, network, timeout
)

// V3Error is a failed lit_action call. MayHaveRun says whether the action
// can have run (and been billed): v3 has no idempotency, so a call that may
// have run is never repeated for an at-most-once job.
type V3Error struct {
	Kind       V3ErrorKind
	Status     int // HTTP status; 0 when no answer arrived
	MayHaveRun bool
	Message    string // the service's message (never contains the key)
}

func (e *V3Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("lit v3: %s: %s", e.Kind, e.Message)
	}
	return fmt.Sprintf("lit v3: %s (HTTP %d): %s", e.Kind, e.Status, e.Message)
}

// Unwrap maps the kind onto the classes jobDisposition knows, so the job
// path treats both backends alike.
func (e *V3Error) Unwrap() error {
	switch e.Kind {
	case V3Unauthorized:
		return litnode.ErrUnauthorized
	case V3Payment:
		return litnode.ErrPaymentFailed
	case V3Forbidden:
		return errScopeDenied
	case V3BadRequest:
		return litnode.ErrBadRequest
	case V3ActionFailed:
		return litnode.ErrActionFailed
	}
	return litnode.ErrNodeUnavailable
}

// V3CredentialSource is the part of *delegationstore.V3Store the v3
// backend uses.
type V3CredentialSource interface {
	Get(ctx context.Context, addr string) (*delegationstore.V3Credential, error)
}

// Defaults of V3Backend.
const (
	DefaultV3MaxPerCredential = 8
	DefaultV3GrantWindow      = 60 * time.Second
)

// V3Backend runs jobs on Lit v3 ("Chipotle"), the backend of PKPs whose
// record is a v3 credential. pkp-sign runs litsignd's canonical signing
// action (V3SignAction) on the digest litsignd computed, and the signature
// is verified to recover to the PKP's address before anything is
// published; execute-js runs the job's action with the job's jsParams.
//
// It bounds the calls in flight per credential (MaxPerCredential: v3
// usage keys are shared across the daemon's replicas and a per-key
// concurrency spending rule answers 429), and backs off globally when the
// service sheds load (429): every call waits out the pause, which doubles
// up to 30 s while 429s continue and clears on the next success.
//
// Configure the fields, then use it from Jobs.V3; the fields must not
// change afterwards.
type V3Backend struct {
	// Credentials looks v3 credentials up. Required.
	Credentials V3CredentialSource
	// Client calls the service. Required.
	Client V3Client
	// MaxPerCredential bounds calls in flight per usage key (per replica).
	// Default DefaultV3MaxPerCredential.
	MaxPerCredential int
	// GrantWindow: a 403 within this time after the credential was stored
	// is the service's grant propagation (docs/lit-v3.md §2.6), retried
	// like an outage instead of failing the job with scope_denied. A 403
	// is answered before anything runs or is billed. Default 60 s.
	GrantWindow time.Duration
	// Metrics records v3 metrics; nil records none.
	Metrics *V3Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu        sync.Mutex
	inflight  map[string]*v3Slot // by key hash
	pauseTill time.Time
	pause     time.Duration
}

type v3Slot struct {
	sem  chan struct{}
	refs int
}

func (b *V3Backend) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// acquire takes one of the credential's call slots.
func (b *V3Backend) acquire(ctx context.Context, keyHash string) (release func(), err error) {
	n := b.MaxPerCredential
	if n <= 0 {
		n = DefaultV3MaxPerCredential
	}
	b.mu.Lock()
	if b.inflight == nil {
		b.inflight = map[string]*v3Slot{}
	}
	s := b.inflight[keyHash]
	if s == nil {
		s = &v3Slot{sem: make(chan struct{}, n)}
		b.inflight[keyHash] = s
	}
	s.refs++
	b.mu.Unlock()
	drop := func() {
		b.mu.Lock()
		if s.refs--; s.refs == 0 {
			delete(b.inflight, keyHash)
		}
		b.mu.Unlock()
	}
	select {
	case s.sem <- struct{}{}:
	default:
		b.Metrics.credentialWait()
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			drop()
			return nil, fmt.Errorf("%w: waiting for a free call slot of the credential: %w", litnode.ErrNodeUnavailable, ctx.Err())
		}
	}
	return func() { <-s.sem; drop() }, nil
}

// waitPause waits out the global 429 backoff.
func (b *V3Backend) waitPause(ctx context.Context) error {
	b.mu.Lock()
	d := b.pauseTill.Sub(b.now())
	b.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting out the service's overload backoff: %w", litnode.ErrNodeUnavailable, ctx.Err())
	}
}

// observe updates the global backoff from a call's outcome.
func (b *V3Backend) observe(err error) {
	var ve *V3Error
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case err == nil:
		b.pause = 0
	case errors.As(err, &ve) && ve.Kind == V3Overloaded:
		b.pause = min(max(2*b.pause, 500*time.Millisecond), 30*time.Second)
		b.pauseTill = b.now().Add(b.pause)
		b.Metrics.overload()
	}
}

// call runs one lit_action for a job: slot, backoff, heartbeat, timeout,
// metrics.
func (b *V3Backend) call(ctx context.Context, j *Jobs, msg jetstream.Msg, job Job, cred *delegationstore.V3Credential, op string, req V3ActionRequest, log *slog.Logger, called func()) (V3ActionResult, error) {
	// Heartbeat from the start: a job waiting for a slot or the backoff
	// must not be redelivered meanwhile.
	stop := j.heartbeat(msg, log)
	defer stop()
	release, err := b.acquire(ctx, cred.KeyHash)
	if err != nil {
		return V3ActionResult{}, err
	}
	defer release()
	if err := b.waitPause(ctx); err != nil {
		return V3ActionResult{}, err
	}
	timeout := j.Timeout
	if timeout <= 0 {
		timeout = DefaultJobTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req.CorrelationID = job.ID
	if called != nil {
		called()
	}
	start := time.Now()
	res, err := b.Client.LitAction(cctx, cred.UsageKey.Reveal(), req)
	elapsed := time.Since(start)
	b.observe(err)
	var ve *V3Error
	ran := err == nil || (errors.As(err, &ve) && ve.Kind == V3ActionFailed)
	b.Metrics.call(op, v3Outcome(err), j.Producers.label(job.Producer), elapsed, ran)
	if err != nil {
		if !errors.As(err, &ve) { // a client that does not classify: assume the worst
			ve = &V3Error{Kind: V3Unavailable, MayHaveRun: true, Message: err.Error()}
			err = ve
		}
		if ve.Kind == V3Forbidden && b.inGrantWindow(cred) {
			// Nothing ran: retried like an outage until the window closes.
			return res, &V3Error{Kind: V3Unavailable, Status: ve.Status, Message: fmt.Sprintf("%s (the credential was stored %s ago: the service's grant may still be propagating)",
				ve.Message, b.now().Sub(cred.StoredAt).Round(time.Second))}
		}
		log.Info("lit v3 call failed", "op", op, "err", err)
		return res, err
	}
	log.Debug("lit v3 call", "op", op, "request_id", res.RequestID, "elapsed", elapsed)
	return res, nil
}

func (b *V3Backend) inGrantWindow(cred *delegationstore.V3Credential) bool {
	w := b.GrantWindow
	if w == 0 {
		w = DefaultV3GrantWindow
	}
	return w > 0 && b.now().Sub(cred.StoredAt) < w
}

// v3Job is the v3 backend bound to one job's credential.
type v3Job struct {
	b    *V3Backend
	j    *Jobs
	cred *delegationstore.V3Credential
}

func (*v3Job) Name() string { return delegationstore.BackendLitV3 }

// v3SignResponse is what the signing action returns.
type v3SignResponse struct {
	R             string `json:"r"`
	S             string `json:"s"`
	RecoveryParam *int   `json:"recoveryParam"`
}

// Sign signs the job's digest with the canonical action and verifies the
// signature recovers to the PKP's address (and public key, when the job
// named one) before returning it.
func (v *v3Job) Sign(ctx context.Context, msg jetstream.Msg, job Job, log *slog.Logger) (litnode.ECDSASignature, error) {
	var none litnode.ECDSASignature
	digest, err := litnode.Digest(job.Chain, job.Message)
	if err != nil {
		return none, badJob("toSign for chain %s: %v", job.Chain, err)
	}
	req := V3ActionRequest{Code: v3SignAction, JSParams: map[string]any{"pkpId": v.cred.Address, "digest": "0x" + hex.EncodeToString(digest[:])}}
	reached := false
	res, err := v.b.call(ctx, v.j, msg, job, v.cred, "sign", req, log, func() { reached = true })
	defer func() {
		if reached {
			v.audit(ctx, msg, job, err, log) // err: the final outcome (verification included)
		}
	}()
	if err != nil {
		var ve *V3Error
		if errors.As(err, &ve) && ve.Kind == V3ActionFailed && strings.Contains(ve.Message, "cannot use selected wallet") {
			// The PKP is not in a group with the signing action.
			return none, fmt.Errorf("%w: %s: the usage key's group does not hold PKP %s with the signing action %s: %w",
				errScopeDenied, job.PKPHex, v.cred.Address, V3SignActionCID(), errors.New(ve.Message))
		}
		return none, err
	}
	sig, err := verifyV3Signature(res.Response, digest, v.cred.Address, job.PKP)
	if err != nil {
		v.b.Metrics.badSignature()
		// Never publish a signature that does not verify; the action ran,
		// so this is not retried (it would sign, and bill, again).
		return none, fmt.Errorf("%w: the v3 signing action's signature does not verify: %v", litnode.ErrActionFailed, err)
	}
	return sig, nil
}

// verifyV3Signature parses the action's {r, s, recoveryParam}, requires a
// low s, recovers the public key from digest and checks it against the
// PKP's address (and key, when known).
func verifyV3Signature(raw json.RawMessage, digest [32]byte, addr string, pkp litnode.PKPPublicKey) (litnode.ECDSASignature, error) {
	var none litnode.ECDSASignature
	var r v3SignResponse
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&r); err != nil || r.RecoveryParam == nil {
		return none, fmt.Errorf("response is not {r, s, recoveryParam}: %.200s", raw)
	}
	rb, err1 := decode32(r.R)
	sb, err2 := decode32(r.S)
	if err1 != nil || err2 != nil || (*r.RecoveryParam != 0 && *r.RecoveryParam != 1) {
		return none, errors.New("r, s or recoveryParam malformed")
	}
	halfN := new(big.Int).Rsh(crypto.S256().Params().N, 1)
	if new(big.Int).SetBytes(sb[:]).Cmp(halfN) > 0 {
		return none, errors.New("s is not low")
	}
	sig65 := append(append(append([]byte{}, rb[:]...), sb[:]...), byte(*r.RecoveryParam))
	pub, err := crypto.SigToPub(digest[:], sig65)
	if err != nil {
		return none, fmt.Errorf("recover: %v", err)
	}
	if got := strings.ToLower(crypto.PubkeyToAddress(*pub).Hex()); got != addr {
		return none, fmt.Errorf("signature recovers to %s, not the PKP's address %s", got, addr)
	}
	pubBytes := crypto.FromECDSAPub(pub)
	if !pkp.IsZero() && !bytes.Equal(pubBytes, pkp[:]) {
		return none, errors.New("signature recovers to another public key than the job's")
	}
	return litnode.ECDSASignature{R: rb, S: sb, RecoveryID: byte(*r.RecoveryParam), PublicKey: pubBytes,
		Digest: append([]byte(nil), digest[:]...), SigType: "EcdsaK256Sha256"}, nil
}

func decode32(s string) ([32]byte, error) {
	var out [32]byte
	h, ok := strings.CutPrefix(s, "0x")
	b, err := hex.DecodeString(h)
	if !ok || err != nil || len(b) != 32 {
		return out, errors.New("want 0x + 64 hex")
	}
	copy(out[:], b)
	return out, nil
}

// v3Policy is the optional policy of a v3 hand-off.
type v3Policy struct {
	// AllowedActions lists the CIDs execute-js jobs may run with this
	// credential; empty allows any (the service's group still decides).
	AllowedActions []string `json:"allowedActions"`
}

// Execute runs an execute-js job's action on v3.
func (v *v3Job) Execute(ctx context.Context, msg jetstream.Msg, job Job, log *slog.Logger, f *finisher) (litnode.ExecuteJSResult, error) {
	var none litnode.ExecuteJSResult
	if len(v.cred.Policy) > 0 {
		var p v3Policy
		if err := json.Unmarshal(v.cred.Policy, &p); err == nil && len(p.AllowedActions) > 0 {
			allowed := false
			for _, c := range p.AllowedActions {
				allowed = allowed || c == job.CID
			}
			if !allowed {
				return none, fmt.Errorf("%w: %s: the hand-off's policy does not allow action %s", errScopeDenied, job.PKPHex, job.CID)
			}
		}
	}
	params := map[string]any{}
	for k, val := range job.JSParams {
		params[k] = val
	}
	req := V3ActionRequest{Code: string(job.Code), JSParams: params}
	if len(job.Code) == 0 {
		req.IPFSID = job.IPFSID
	}
	res, err := v.b.call(ctx, v.j, msg, job, v.cred, "execute", req, log, func() { f.called = true })
	if f.called {
		v.audit(ctx, msg, job, err, log)
	}
	if err == nil {
		f.mayHaveRun = true
		return v3ExecuteResult(res, job.CID), nil
	}
	var ve *V3Error
	f.mayHaveRun = !errors.As(err, &ve) || ve.MayHaveRun
	if errors.As(err, &ve) && ve.Kind == V3ActionFailed {
		f.mayHaveRun = true
	}
	if _, _, act := jobDisposition(err, false); act == actNak && f.mayHaveRun && job.Delivery == DeliveryAtMostOnce {
		return none, fmt.Errorf("%w: %w", errOutcomeUnknown, err)
	}
	return none, err
}

// v3ExecuteResult renders a lit_action answer like a Naga ExecuteJS result:
// Response is the JSON value (numbers kept exact), ResponseRaw the string
// when it is one, else the JSON text.
func v3ExecuteResult(res V3ActionResult, cid string) litnode.ExecuteJSResult {
	out := litnode.ExecuteJSResult{Logs: res.Logs, CID: cid, Signatures: map[string]litnode.ECDSASignature{}}
	raw := bytes.TrimSpace(res.Response)
	if len(raw) == 0 {
		raw = []byte(`""`)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		out.Response, out.ResponseRaw = string(raw), string(raw)
		return out
	}
	out.Response = v
	if s, ok := v.(string); ok {
		out.ResponseRaw = s
	} else {
		out.ResponseRaw = string(raw)
	}
	return out
}

// v3Outcome labels a call's outcome.
func v3Outcome(err error) string {
	if err == nil {
		return "ok"
	}
	var ve *V3Error
	if errors.As(err, &ve) {
		return string(ve.Kind)
	}
	return string(V3Unavailable)
}

// audit records a v3 job that reached the service (audit.go; the same
// trail as Naga's).
func (v *v3Job) audit(ctx context.Context, msg jetstream.Msg, job Job, err error, log *slog.Logger) {
	if job.PKPHex == "" {
		job.PKPHex = v.cred.Address
	}
	v.j.auditAs(ctx, msg, job, err, log, delegationstore.BackendLitV3, 0)
}
