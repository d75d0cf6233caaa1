package delegationstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/internal/jsapi"
	"github.com/litsignd/litsignd/litnode"
)

// Revocations are sticky: Revoke remembers the revoked (PKP, session key)
// pair in a second bucket (Config.RevokedBucket, default
// "<Bucket>_revoked"), keyed "<pkp>.<session>", with a per-key TTL of the
// revoked delegation's remaining lifetime (MaxDelegationLifetime for a
// pair with no stored delegation), and Put refuses that pair with
// ErrRevoked. A captured hand-off replayed after its revocation therefore
// stores nothing.

// revokedRecord is the value of a revoked pair. No secret.
type revokedRecord struct {
	PKPPublicKey     string    `json:"pkpPublicKey"`
	SessionPublicKey string    `json:"sessionPublicKey"`
	RevokedAt        time.Time `json:"revokedAt"`
	// SignedAt is when the client signed the revocation (zero for an
	// operator's).
	SignedAt   time.Time `json:"signedAt,omitzero"`
	Expiration time.Time `json:"expiration"`
	By         string    `json:"by"` // "client" or "operator"
}

func revokedKey(pkp litnode.PKPPublicKey, session litnode.SessionPublicKey) string {
	return pkp.Hex() + "." + session.Hex()
}

// revokedMaxBytes caps the revoked-pairs bucket (records are ~400 bytes:
// over 100 000 revocations).
const revokedMaxBytes = 64 << 20

// revokedTTLSlack keeps a revoked pair a little past the delegation's
// expiration, so a hand-off checked against a skewed clock is still refused.
const revokedTTLSlack = 5 * time.Minute

// openRevoked creates or updates the revoked-pairs bucket.
func openRevoked(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.KeyValue, error) {
	kvc := jetstream.KeyValueConfig{
		Bucket:         cfg.RevokedBucket,
		Description:    "litsignd: revoked (PKP, session key) pairs, kept until the delegation would have expired",
		History:        1,
		Storage:        jetstream.FileStorage,
		Replicas:       cfg.Replicas,
		LimitMarkerTTL: cfg.MarkerTTL,
		MaxBytes:       min(cfg.MaxBytes, revokedMaxBytes),
		MaxValueSize:   4 << 10,
	}
	var kv jetstream.KeyValue
	err := jsapi.Retry(ctx, 10, 5*time.Second, func(ctx context.Context) (err error) {
		kv, err = js.CreateOrUpdateKeyValue(ctx, kvc)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open delegation store: bucket %s: %w", cfg.RevokedBucket, err)
	}
	return kv, nil
}

// IsRevoked reports whether the pair was revoked (and its delegation would
// not have expired yet).
func (s *Store) IsRevoked(ctx context.Context, pkp litnode.PKPPublicKey, session litnode.SessionPublicKey) (bool, error) {
	if s.revoked == nil {
		return false, nil
	}
	e, err := s.revokedEntry(ctx, revokedKey(pkp, session))
	if err != nil {
		return false, fmt.Errorf("revocations of %s: %w", pkp.Hex(), err)
	}
	return e != nil, nil
}

// revokedEntry reads a revoked-pairs record; nil when there is none.
func (s *Store) revokedEntry(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	e, err := s.revoked.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case e.Operation() != jetstream.KeyValuePut:
		return nil, nil
	}
	return e, nil
}

// putRevoked writes a revoked-pairs record with a per-key TTL (0: none),
// rolling up any earlier record of the key. KV Put drops a per-key TTL
// (docs/jetstream.md A.4), so it publishes to the key's subject.
func (s *Store) putRevoked(ctx context.Context, key string, body []byte, ttl time.Duration) error {
	msg := nats.NewMsg("$KV." + s.cfg.RevokedBucket + "." + key)
	msg.Data = body
	msg.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	var opts []jetstream.PublishOpt
	if ttl > 0 {
		opts = append(opts, jetstream.WithMsgTTL(ttl))
	}
	_, err := s.js.PublishMsg(ctx, msg, opts...)
	return err
}

// remember records the revoked pair until exp (plus slack).
func (s *Store) remember(ctx context.Context, pkp litnode.PKPPublicKey, session litnode.SessionPublicKey, exp, signedAt time.Time) error {
	if s.revoked == nil {
		return nil
	}
	now := s.now()
	ttl, ok := ttlUntil(exp.Add(revokedTTLSlack), now)
	if !ok {
		return nil // the delegation cannot be handed off any more anyway
	}
	by := "operator"
	if !signedAt.IsZero() {
		by = "client"
	}
	body, err := json.Marshal(revokedRecord{PKPPublicKey: pkp.Hex(), SessionPublicKey: session.Hex(), RevokedAt: now.UTC(),
		SignedAt: signedAt.UTC(), Expiration: exp.UTC(), By: by})
	if err != nil {
		return err
	}
	if err := s.putRevoked(ctx, revokedKey(pkp, session), body, ttl); err != nil {
		return fmt.Errorf("remember revocation of %s: %w", pkp.Hex(), err)
	}
	return nil
}

// RevokeSigned handles a client's signed revocation: it deletes pkp's
// delegation if it is to session and was issued no later than signedAt
// (ErrRevocationOlder otherwise: a revocation never deletes a delegation
// issued after it), and remembers the pair as revoked either way, so the
// pair's hand-off is refused from now on. The pair is remembered before the
// delete, so a failure in between leaves the safe side.
func (s *Store) RevokeSigned(ctx context.Context, pkp litnode.PKPPublicKey, session litnode.SessionPublicKey, signedAt time.Time) (bool, error) {
	return s.revoke(ctx, pkp, &session, signedAt)
}
