package consumer

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/policy"
)

// DelegationStore is the part of *delegationstore.Store the intake uses.
type DelegationStore interface {
	Put(ctx context.Context, h *litnode.HandOff) (delegationstore.PutResult, error)
	Get(ctx context.Context, pkp litnode.PKPPublicKey) (*delegationstore.Delegation, error)
	Revoke(ctx context.Context, pkp litnode.PKPPublicKey, session *litnode.SessionPublicKey) (bool, error)
}

// Events publishes delegation events.
type Events interface {
	Publish(ctx context.Context, ev DelegationEvent, msgID string) error
}

// Intake verifies delegation hand-offs and revocations and keeps them in the
// store. It is the handler of the delegations stream's consumer.
type Intake struct {
	Store    DelegationStore
	Events   Events
	Topology Topology
	// NetworkKey returns the Lit network's BLS root key from the current
	// handshake; an error means "not connected yet" (a transient failure).
	NetworkKey func(ctx context.Context) (litnode.BLSPublicKey, error)
	// Sealing opens sealed hand-offs; nil rejects them.
	Sealing *SealingKey
	// SecureDelete erases a message's bytes from the stream's storage
	// (JetStream secure delete); it is called for every plain envelope once
	// handled, so its payload does not linger in the store's files.
	SecureDelete func(ctx context.Context, seq uint64) error
	// V3 takes Lit v3 hand-offs and revocations; nil rejects them
	// (intake_v3.go).
	V3      *V3Intake
	Now     func() time.Time
	Logger  *slog.Logger
	Metrics *Metrics
	// MaxDeliver is the stream consumer's MaxDeliver: the last delivery of a
	// message that keeps failing transiently is terminated, not lost
	// silently (it is logged and counted).
	MaxDeliver int
	// AcceptPlain accepts plain hand-offs (the session secret in the
	// clear on the stream). Off, they are rejected plain_not_accepted and
	// erased. With R>1 a plain hand-off's secret also stays in every
	// server's raft log until it is compacted; see README "Security model".
	AcceptPlain bool
}

// Rejection reasons of intake (stable: event reason and metric label).
const (
	ReasonTooLarge          = "too_large"
	ReasonUnsealable        = "unsealable"
	ReasonExpired           = "expired"
	ReasonNotYetValid       = "not_yet_valid"
	ReasonLifetime          = "lifetime_out_of_range"
	ReasonBadSignature      = "bad_signature"
	ReasonStatementMismatch = "statement_mismatch"
	ReasonNoCapabilities    = "no_capabilities"
	ReasonWrongKind         = "wrong_auth_sig_kind"
	ReasonMalformed         = "malformed"
	ReasonSuperseded        = "superseded"
	ReasonInvalidRevocation = "invalid_revocation"
)

// rejection is a permanent intake failure: a rejected event, then Term.
type rejection struct {
	reason  string
	pkp     string
	backend string // "lit-v3" for a v3 message, "" for Naga
	err     error
}

func (r *rejection) Error() string { return r.reason + ": " + r.err.Error() }
func (r *rejection) Unwrap() error { return r.err }

func (in *Intake) now() time.Time {
	if in.Now != nil {
		return in.Now()
	}
	return time.Now()
}

func (in *Intake) logger() *slog.Logger {
	if in.Logger != nil {
		return in.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// sealedEnvelope is the sealed hand-off: payload = base64url(crypto_box_seal(
// JSON{sessionKeyPair, delegationAuthSig}, litsignd's sealing public key)).
type sealedEnvelope struct {
	PKPPublicKey  *string `json:"pkpPublicKey"`
	SealedPayload *string `json:"sealedPayload"`
}

// Handle processes one message of the delegations stream and acknowledges it.
func (in *Intake) Handle(ctx context.Context, msg jetstream.Msg) {
	start := time.Now()
	meta, _ := msg.Metadata()
	kind := "delegation"
	if msg.Subject() == in.Topology.RevocationsSubject() {
		kind = "revocation"
	}
	plain := false
	var err error
	switch {
	case isV3Message(msg.Data()) && kind == "revocation": // intake_v3.go
		err = in.revokeV3(ctx, msg.Data())
	case isV3Message(msg.Data()):
		err = in.intakeV3(ctx, msg.Data())
	case kind == "revocation":
		err = in.revoke(ctx, msg.Data())
	default:
		plain, err = in.intake(ctx, msg.Data())
	}
	in.Metrics.observeIntake(kind, err, time.Since(start))
	act := intakeDisposition(err)
	if act == actNak && meta != nil && in.MaxDeliver > 0 && int(meta.NumDelivered) >= in.MaxDeliver {
		in.logger().Error("delegation message failed on its last delivery; terminating it", "kind", kind, "seq", meta.Sequence.Stream, "err", err)
		act = actTerm
	}
	if act != actNak && plain && in.SecureDelete != nil && meta != nil {
		// Erase the plain envelope's bytes before acknowledging it: once a
		// work-queue message is acked the server removes it (without
		// overwriting), and a secure delete is no longer possible.
		if err := in.SecureDelete(ctx, meta.Sequence.Stream); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			in.logger().Warn("secure delete of the handled envelope failed", "seq", meta.Sequence.Stream, "err", err)
		}
	}
	switch act {
	case actAck:
		if err := msg.DoubleAck(ctx); err != nil {
			in.logger().Warn("ack failed", "err", err)
		}
	case actTerm:
		reason := "rejected"
		var rj *rejection
		if errors.As(err, &rj) {
			reason = rj.reason
		}
		in.logger().Info("delegation message rejected", "kind", kind, "reason", reason, "err", err)
		if err := msg.TermWithReason(reason); err != nil {
			in.logger().Warn("term failed", "err", err)
		}
	case actNak:
		in.logger().Warn("delegation message failed transiently; will be redelivered", "kind", kind, "err", err)
		_ = msg.NakWithDelay(nakDelay(meta))
	}
}

// intake decodes, verifies and stores one hand-off. plain reports whether
// the message carried the session secret in plaintext.
func (in *Intake) intake(ctx context.Context, data []byte) (plain bool, err error) {
	if len(data) > MaxEnvelopeBytes {
		return true, in.reject(ctx, &rejection{reason: ReasonTooLarge, err: fmt.Errorf("message of %d bytes exceeds %d", len(data), MaxEnvelopeBytes)})
	}
	var h *litnode.HandOff
	var sealed sealedEnvelope
	if json.Unmarshal(data, &sealed) == nil && sealed.SealedPayload != nil {
		h, err = in.openSealed(sealed)
	} else {
		plain = true
		if !in.AcceptPlain {
			return plain, in.reject(ctx, &rejection{reason: ReasonPlainNotAccepted, pkp: pkpOf(data),
				err: errors.New("this litsignd accepts only sealed hand-offs (sealedPayload); the plain one was erased")})
		}
		h, err = litnode.DecodeEnvelope(data)
	}
	if err != nil {
		return plain, in.reject(ctx, asRejection(err, pkpOf(data)))
	}
	// Cheap checks before the BLS pairing: the policy's shape, and
	// whether the pair was revoked.
	if err := in.precheck(ctx, h); err != nil {
		return plain, err
	}
	key, err := in.NetworkKey(ctx)
	if err != nil {
		return plain, fmt.Errorf("no Lit network key yet: %w", err)
	}
	verifyStart := time.Now()
	d, err := litnode.VerifyHandOff(h, litnode.VerifyOptions{NetworkKey: key, SessionKey: h.SessionKey.PublicKey(), PKP: h.PKP, Now: in.now()})
	in.Metrics.observeVerify(time.Since(verifyStart))
	if err != nil {
		return plain, in.reject(ctx, asRejection(err, h.PKP.Hex()))
	}
	res, err := in.Store.Put(ctx, h)
	switch {
	case errors.Is(err, delegationstore.ErrStale):
		return plain, in.reject(ctx, &rejection{reason: ReasonSuperseded, pkp: h.PKP.Hex(), err: err})
	case errors.Is(err, delegationstore.ErrRevoked):
		return plain, in.reject(ctx, &rejection{reason: ReasonRevoked, pkp: h.PKP.Hex(), err: err})
	case errors.Is(err, policy.ErrInvalid):
		return plain, in.reject(ctx, &rejection{reason: ReasonInvalidPolicy, pkp: h.PKP.Hex(), err: err})
	case errors.Is(err, delegationstore.ErrExpired):
		return plain, in.reject(ctx, &rejection{reason: ReasonExpired, pkp: h.PKP.Hex(), err: err})
	case err != nil:
		return plain, fmt.Errorf("store delegation: %w", err)
	}
	exp := d.Expiration.UTC()
	ev := DelegationEvent{Type: EventStored, PKPPublicKey: h.PKP.Hex(), SessionPublicKey: h.SessionKey.PublicKey().Hex(), Expiration: &exp, Revision: res.Revision}
	if err := in.Events.Publish(ctx, ev, fmt.Sprintf("stored-%s-%d", h.PKP.Hex(), res.Revision)); err != nil {
		return plain, err
	}
	in.logger().Info("delegation stored", "pkp", h.PKP.Hex(), "session", h.SessionKey.PublicKey().Hex(), "expiration", exp, "revision", res.Revision, "replaced", res.Replaced)
	return plain, nil
}

func (in *Intake) openSealed(s sealedEnvelope) (*litnode.HandOff, error) {
	if s.PKPPublicKey == nil {
		return nil, &litnode.EnvelopeError{Reason: litnode.ReasonMissingField, Err: fmt.Errorf("%w: missing pkpPublicKey", litnode.ErrMalformed)}
	}
	if in.Sealing == nil {
		return nil, &rejection{reason: ReasonUnsealable, err: errors.New("this daemon accepts no sealed hand-offs")}
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(*s.SealedPayload, "="))
	if err != nil {
		return nil, &litnode.EnvelopeError{Reason: litnode.ReasonInvalidBase64URL, Err: fmt.Errorf("%w: sealedPayload is not base64url", litnode.ErrMalformed)}
	}
	payload, err := in.Sealing.Open(raw)
	if err != nil {
		return nil, &rejection{reason: ReasonUnsealable, err: err}
	}
	defer clear(payload)
	return litnode.DecodePayload(*s.PKPPublicKey, payload)
}

// revoke handles a signed revocation.
func (in *Intake) revoke(ctx context.Context, data []byte) error {
	var r Revocation
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if len(data) > MaxEnvelopeBytes || dec.Decode(&r) != nil {
		return in.reject(ctx, &rejection{reason: ReasonInvalidRevocation, pkp: pkpOf(data), err: errors.New("revocation is not the documented JSON object")})
	}
	pkp, session, at, err := r.verify(in.now())
	if err != nil {
		return in.reject(ctx, &rejection{reason: ReasonInvalidRevocation, pkp: pkpOf(data), err: err})
	}
	// A revocation signed before the stored delegation to its session key
	// was issued (one that crossed a fresh hand-off) does not delete it;
	// the store decides on the revision it deletes. The pair is remembered
	// as revoked, so its hand-off is refused from now on.
	var deleted bool
	if sr, ok := in.Store.(signedRevoker); ok {
		deleted, err = sr.RevokeSigned(ctx, pkp, session, at)
	} else {
		deleted, err = in.Store.Revoke(ctx, pkp, &session)
	}
	if errors.Is(err, delegationstore.ErrRevocationOlder) {
		return in.reject(ctx, &rejection{reason: ReasonInvalidRevocation, pkp: pkp.Hex(), err: err})
	}
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	if !deleted {
		in.logger().Info("revocation matched no stored delegation", "pkp", pkp.Hex(), "session", session.Hex())
		return nil
	}
	return in.Events.Publish(ctx, DelegationEvent{Type: EventRevoked, PKPPublicKey: pkp.Hex(), SessionPublicKey: session.Hex(), Reason: "client"},
		"revoked-"+pkp.Hex()+"-"+r.Signature[:16])
}

// reject publishes the rejected event and returns the rejection (which the
// disposition terminates). If the event cannot be published, the error is
// transient so the message is retried and the event not lost.
func (in *Intake) reject(ctx context.Context, rj *rejection) error {
	ev := DelegationEvent{Type: EventRejected, Backend: rj.backend, PKPPublicKey: rj.pkp, Reason: rj.reason, Message: rj.err.Error()}
	if err := in.Events.Publish(ctx, ev, ""); err != nil {
		return err
	}
	return rj
}

// asRejection maps a decode or verification error to its stable reason.
func asRejection(err error, pkp string) *rejection {
	var rj *rejection
	if errors.As(err, &rj) {
		if rj.pkp == "" {
			rj.pkp = pkp
		}
		return rj
	}
	var ee *litnode.EnvelopeError
	reason := ReasonMalformed
	switch {
	case errors.As(err, &ee):
		reason = ee.Reason
	case errors.Is(err, litnode.ErrExpired):
		reason = ReasonExpired
	case errors.Is(err, litnode.ErrNotYetValid):
		reason = ReasonNotYetValid
	case errors.Is(err, litnode.ErrLifetimeTooLong):
		reason = ReasonLifetime
	case errors.Is(err, litnode.ErrBadSignature):
		reason = ReasonBadSignature
	case errors.Is(err, litnode.ErrURIMismatch):
		reason = litnode.ReasonSessionURIMismatch
	case errors.Is(err, litnode.ErrAddressMismatch):
		reason = litnode.ReasonPKPAddressMismatch
	case errors.Is(err, litnode.ErrStatementMismatch):
		reason = ReasonStatementMismatch
	case errors.Is(err, litnode.ErrScope):
		reason = ReasonNoCapabilities
	case errors.Is(err, litnode.ErrWrongKind):
		reason = ReasonWrongKind
	}
	return &rejection{reason: reason, pkp: pkp, err: err}
}

// pkpOf extracts a syntactically valid PKP key from a message, for the
// event subject; "" when there is none.
func pkpOf(data []byte) string {
	var v struct {
		PKPPublicKey string `json:"pkpPublicKey"`
	}
	if json.Unmarshal(data, &v) != nil {
		return ""
	}
	k, err := litnode.ParsePKPPublicKey(v.PKPPublicKey)
	if err != nil {
		return ""
	}
	return k.Hex()
}

// signedRevoker and revocationChecker are the parts of
// *delegationstore.Store that make revocations sticky (optional, so that
// simpler stores still work).
type signedRevoker interface {
	RevokeSigned(ctx context.Context, pkp litnode.PKPPublicKey, session litnode.SessionPublicKey, signedAt time.Time) (bool, error)
}

type revocationChecker interface {
	IsRevoked(ctx context.Context, pkp litnode.PKPPublicKey, session litnode.SessionPublicKey) (bool, error)
}

// precheck runs the checks that cost no pairing: the policy parses, and
// the (PKP, session key) pair was not revoked. The store checks both again
// when it writes.
func (in *Intake) precheck(ctx context.Context, h *litnode.HandOff) error {
	if _, err := policy.Parse(h.Policy); err != nil {
		return in.reject(ctx, &rejection{reason: ReasonInvalidPolicy, pkp: h.PKP.Hex(), err: err})
	}
	rc, ok := in.Store.(revocationChecker)
	if !ok {
		return nil
	}
	revoked, err := rc.IsRevoked(ctx, h.PKP, h.SessionKey.PublicKey())
	if err != nil {
		return err // transient: redelivered
	}
	if revoked {
		return in.reject(ctx, &rejection{reason: ReasonRevoked, pkp: h.PKP.Hex(),
			err: fmt.Errorf("%w: session key %s", delegationstore.ErrRevoked, h.SessionKey.PublicKey().Hex())})
	}
	return nil
}
