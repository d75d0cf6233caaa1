package delegationstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// v3 revocations are sticky like Naga ones (revoked.go): V3Store.Revoke
// remembers the revoked (address, usage-key hash) pair in the revoked-pairs
// bucket, keyed "<address>.<key hash>", with the time the revocation cuts
// off at, and Put refuses that key for that address unless the hand-off
// says it was issued after that time. A captured hand-off replayed after
// the revocation therefore stores nothing, and so does one without
// issuedAt (it cannot show it is newer). A usage key does not expire, so
// the pair is kept as long as the credential could live: until its
// expiresAt (plus slack) when it had one, otherwise with no TTL, within
// the bucket's byte limit.

// v3RevokedRecord is the value of a revoked v3 pair. No secret: the key
// hash only.
type v3RevokedRecord struct {
	Address string `json:"address"`
	KeyHash string `json:"keyHash"`
	// CutOff: hand-offs of the key issued at or before it are refused.
	CutOff    time.Time `json:"cutOff"`
	RevokedAt time.Time `json:"revokedAt"`
	By        string    `json:"by"` // "client" or "operator"
}

func v3RevokedKey(addr, keyHash string) string { return addr + "." + keyHash }

// rememberV3 records that addr's key with keyHash is revoked for hand-offs
// issued at or before cutOff; expiresAt, when not zero, bounds how long.
func (s *Store) rememberV3(ctx context.Context, addr, keyHash string, cutOff, expiresAt time.Time, by string) error {
	if s.revoked == nil {
		return nil
	}
	now := s.now()
	var ttl time.Duration
	if !expiresAt.IsZero() {
		var ok bool
		if ttl, ok = ttlUntil(expiresAt.Add(revokedTTLSlack), now); !ok {
			return nil // the credential cannot be handed off any more anyway
		}
	}
	if prev, ok, err := s.v3CutOff(ctx, addr, keyHash); err != nil {
		return err
	} else if ok && prev.After(cutOff) {
		cutOff = prev // an earlier revocation reached further: keep it
	}
	body, err := json.Marshal(v3RevokedRecord{Address: addr, KeyHash: keyHash, CutOff: cutOff.UTC(), RevokedAt: now.UTC(), By: by})
	if err != nil {
		return err
	}
	if err := s.putRevoked(ctx, v3RevokedKey(addr, keyHash), body, ttl); err != nil {
		return fmt.Errorf("remember revocation of the v3 key %s of %s: %w", keyHash, addr, err)
	}
	return nil
}

// v3CutOff returns the cut-off of a revoked v3 pair, if it is revoked.
func (s *Store) v3CutOff(ctx context.Context, addr, keyHash string) (time.Time, bool, error) {
	if s.revoked == nil {
		return time.Time{}, false, nil
	}
	e, err := s.revokedEntry(ctx, v3RevokedKey(addr, keyHash))
	if err != nil || e == nil {
		if err != nil {
			err = fmt.Errorf("revocations of %s: %w", addr, err)
		}
		return time.Time{}, false, err
	}
	var r v3RevokedRecord
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		// Unreadable: refuse every hand-off of the key (the safe side).
		return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), true, nil
	}
	return r.CutOff, true, nil
}

// checkV3Revoked returns ErrRevoked if addr's key with keyHash was revoked
// for a hand-off issued at issuedAt (zero: unknown, refused).
func (s *Store) checkV3Revoked(ctx context.Context, addr, keyHash string, issuedAt time.Time) error {
	cut, revoked, err := s.v3CutOff(ctx, addr, keyHash)
	if err != nil || !revoked {
		return err
	}
	if issuedAt.IsZero() || !issuedAt.After(cut) {
		return fmt.Errorf("store v3 credential for %s: %w: its usage key %s was revoked for hand-offs issued until %s (this one: %s)",
			addr, ErrRevoked, keyHash, cut.UTC().Format(time.RFC3339Nano), issuedOrUnknown(issuedAt))
	}
	return nil
}

func issuedOrUnknown(t time.Time) string {
	if t.IsZero() {
		return "no issuedAt"
	}
	return t.UTC().Format(time.RFC3339Nano)
}
