package delegationstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// V3Store keeps Lit v3 credentials in the delegations bucket beside the
// Naga delegations, keyed by the PKP's wallet address (see IsV3Key): a v3
// PKP is identified by its address, and the service exposes no public key
// (docs/lit-v3.md §3.4, §10). Get reads the bucket on every call (one
// last-message lookup, no cache), so a revocation or replacement is seen
// by the very next job on every replica. Obtain one with Store.V3.
//
// Expiry: a credential with a client-set ExpiresAt is written with that
// remaining lifetime as its message TTL, so the server removes it then;
// Get also refuses it from ExpiresAt on by its own clock.
type V3Store struct {
	s *Store
}

// V3 returns the v3 credential view of the store's bucket.
func (s *Store) V3() *V3Store { return &V3Store{s: s} }

// ErrV3NotFound is wrapped (together with ErrNotFound) when no v3
// credential is stored for an address.
var ErrV3NotFound = fmt.Errorf("%w: no v3 credential", ErrNotFound)

// Put stores c (sealing its usage key under the current KEK) with
// compare-and-set on the address's latest revision. The very same
// credential already stored (same key, group, policy and expiry) is a
// no-op reported as Unchanged, so a redelivered hand-off publishes the same
// revision again. A credential whose IssuedAt is before the stored one's is
// refused with ErrStale (a replayed older hand-off cannot roll a key back).
// A credential already past its ExpiresAt returns ErrExpired.
func (v *V3Store) Put(ctx context.Context, c *V3Credential, issuedAt time.Time) (PutResult, error) {
	s := v.s
	addr, err := NormalizeV3Address(c.Address)
	if err != nil || c.UsageKey == "" {
		return PutResult{}, fmt.Errorf("store v3 credential: invalid credential: %v", err)
	}
	c.Address = addr
	now := s.now()
	var ttl time.Duration
	if !c.ExpiresAt.IsZero() {
		var ok bool
		if ttl, ok = ttlUntil(c.ExpiresAt, now); !ok {
			return PutResult{}, fmt.Errorf("store v3 credential for %s: %w at %s", addr, ErrExpired, c.ExpiresAt.UTC().Format(time.RFC3339))
		}
	}
	if err := s.checkV3Revoked(ctx, addr, V3KeyHash(c.UsageKey.Reveal()), issuedAt); err != nil {
		return PutResult{}, err // v3revoked.go: a revoked key comes back only issued after its revocation
	}
	for attempt := 1; ; attempt++ {
		m, err := s.lastMsg(ctx, addr)
		if err != nil {
			return PutResult{}, fmt.Errorf("store v3 credential for %s: %w", addr, err)
		}
		var expect uint64
		replaced := false
		if m != nil {
			expect = m.Sequence
			if !isRemoval(m.Header) {
				old, derr := decodeV3Record(m.Data)
				if derr != nil {
					return PutResult{}, fmt.Errorf("store v3 credential for %s: stored revision %d: %w", addr, m.Sequence, derr)
				}
				live := old.ExpiresAt == nil || now.Before(*old.ExpiresAt)
				if live && old.KeyHash == V3KeyHash(c.UsageKey.Reveal()) && old.GroupID == c.GroupID &&
					bytes.Equal(old.Policy, c.Policy) && sameTimePtr(old.ExpiresAt, c.ExpiresAt) {
					return PutResult{Revision: m.Sequence, Unchanged: true}, nil
				}
				if live && !issuedAt.IsZero() && issuedAt.Before(old.IssuedAt()) {
					return PutResult{}, fmt.Errorf("store v3 credential for %s: %w (issued %s, stored one issued %s)",
						addr, ErrStale, fmtTime(issuedAt), fmtTime(old.IssuedAt()))
				}
				replaced = live
			}
		}
		rec, err := newV3Record(c, s.cfg.KEK, now)
		if err != nil {
			return PutResult{}, fmt.Errorf("store v3 credential for %s: %w", addr, err)
		}
		if !issuedAt.IsZero() {
			t := issuedAt.UTC()
			rec.Issued = &t
		}
		value, err := json.Marshal(rec)
		if err != nil {
			return PutResult{}, err
		}
		rev, err := s.write(ctx, addr, value, expect, ttl)
		if err == nil {
			s.log.Info("v3 credential stored", "pkp", addr, "key_hash", rec.KeyHash, "revision", rev, "replaced", replaced, "kid", rec.Sealed.KID)
			return PutResult{Revision: rev, Replaced: replaced}, nil
		}
		if !isWrongLastSeq(err) {
			return PutResult{}, fmt.Errorf("store v3 credential for %s: %w", addr, err)
		}
		if attempt >= maxCASAttempts {
			return PutResult{}, fmt.Errorf("store v3 credential for %s: %w after %d attempts", addr, ErrConflict, attempt)
		}
		if err := casBackoff(ctx, attempt); err != nil {
			return PutResult{}, err
		}
	}
}

// IssuedAt is when the client issued the stored hand-off, or when it was
// stored if the hand-off said nothing.
func (r *v3Record) IssuedAt() time.Time {
	if r.Issued != nil {
		return *r.Issued
	}
	return r.StoredAt
}

func sameTimePtr(a *time.Time, b time.Time) bool {
	if a == nil {
		return b.IsZero()
	}
	return a.Equal(b)
}

// Get returns the credential stored for addr (any case), read from the
// bucket. Errors: ErrNotFound (ErrV3NotFound), ErrExpired, ErrSealed.
func (v *V3Store) Get(ctx context.Context, addr string) (*V3Credential, error) {
	s := v.s
	a, err := NormalizeV3Address(addr)
	if err != nil {
		return nil, fmt.Errorf("get v3 credential: %w", ErrV3NotFound)
	}
	m, err := s.lastMsg(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("get v3 credential for %s: %w", a, err)
	}
	if m == nil || isRemoval(m.Header) {
		return nil, fmt.Errorf("get v3 credential for %s: %w", a, ErrV3NotFound)
	}
	rec, err := decodeV3Record(m.Data)
	if err != nil {
		return nil, fmt.Errorf("get v3 credential for %s: %w: %w", a, ErrSealed, err)
	}
	if rec.PKP != a {
		return nil, fmt.Errorf("get v3 credential for %s: %w: record for %s stored under it", a, ErrSealed, rec.PKP)
	}
	if rec.ExpiresAt != nil && !s.now().Before(*rec.ExpiresAt) {
		return nil, fmt.Errorf("get v3 credential for %s: %w at %s", a, ErrExpired, rec.ExpiresAt.Format(time.RFC3339))
	}
	key, err := rec.unseal(s.cfg.KEK)
	if err != nil {
		return nil, err
	}
	c := &V3Credential{Address: a, UsageKey: key, KeyHash: rec.KeyHash, GroupID: rec.GroupID, Policy: rec.Policy,
		StoredAt: rec.StoredAt, Revision: m.Sequence}
	if rec.ExpiresAt != nil {
		c.ExpiresAt = *rec.ExpiresAt
	}
	return c, nil
}

// Revoke purges the credential stored for addr if its key hash is keyHash
// ("" matches any: an operator's revocation) and it was stored (issued) no
// later than notAfter (zero: any), with compare-and-set on the checked
// revision. It reports whether something was removed. Either way the
// revoked key is remembered (v3revoked.go) before anything is purged, so a
// replayed hand-off of it issued no later than notAfter (an operator's: now)
// is refused from then on: a client's revocation proves knowledge of the key
// even when nothing is stored for it.
func (v *V3Store) Revoke(ctx context.Context, addr, keyHash string, notAfter time.Time) (bool, error) {
	s := v.s
	a, err := NormalizeV3Address(addr)
	if err != nil {
		return false, nil
	}
	by, cutOff := "client", notAfter
	if keyHash == "" {
		by, cutOff = "operator", s.now()
	}
	for attempt := 1; ; attempt++ {
		m, err := s.lastMsg(ctx, a)
		if err != nil {
			return false, fmt.Errorf("revoke v3 credential for %s: %w", a, err)
		}
		if m == nil || isRemoval(m.Header) {
			if keyHash != "" {
				return false, s.rememberV3(ctx, a, keyHash, cutOff, time.Time{}, by)
			}
			return false, nil
		}
		rec, err := decodeV3Record(m.Data)
		switch {
		case err != nil && keyHash != "":
			return false, fmt.Errorf("revoke v3 credential for %s: %w", a, err)
		case err != nil:
			// An operator removes even a record that does not decode (its
			// key hash, and so a sticky revocation, is unknown).
			s.log.Warn("revoking a v3 record that does not decode", "pkp", a, "revision", m.Sequence, "err", err)
		case keyHash != "" && rec.KeyHash != keyHash:
			return false, s.rememberV3(ctx, a, keyHash, cutOff, time.Time{}, by)
		default:
			var expires time.Time
			if rec.ExpiresAt != nil {
				expires = *rec.ExpiresAt
			}
			if err := s.rememberV3(ctx, a, rec.KeyHash, cutOff, expires, by); err != nil {
				return false, err
			}
			if !notAfter.IsZero() && rec.IssuedAt().After(notAfter) {
				return false, nil
			}
		}
		opts := []jetstream.KVDeleteOpt{jetstream.LastRevision(m.Sequence)}
		if s.cfg.MarkerTTL > 0 {
			opts = append(opts, jetstream.PurgeTTL(s.cfg.MarkerTTL))
		}
		err = s.kv.Purge(ctx, a, opts...)
		if err == nil {
			s.metrics.revoked()
			s.log.Info("v3 credential revoked", "pkp", a, "revision", m.Sequence, "by", by)
			return true, nil
		}
		if !isWrongLastSeq(err) {
			return false, fmt.Errorf("revoke v3 credential for %s: %w", a, err)
		}
		if attempt >= maxCASAttempts {
			return false, fmt.Errorf("revoke v3 credential for %s: %w", a, ErrConflict)
		}
		if err := casBackoff(ctx, attempt); err != nil {
			return false, err
		}
	}
}

// KeyHashes returns the key hash → one unsealed usage key of every live
// v3 credential in the bucket (for the balance poller), read from the KV.
func (v *V3Store) KeyHashes(ctx context.Context) (map[string]UsageKey, error) {
	s := v.s
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.kv.WatchAll(wctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("list v3 credentials: %w", err)
	}
	defer w.Stop()
	out := map[string]UsageKey{}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case kve, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("list v3 credentials: watch closed")
			}
			if kve == nil {
				return out, nil
			}
			if !IsV3Key(kve.Key()) || kve.Operation() != jetstream.KeyValuePut {
				continue
			}
			rec, err := decodeV3Record(kve.Value())
			if err != nil || (rec.ExpiresAt != nil && !s.now().Before(*rec.ExpiresAt)) {
				continue
			}
			if _, seen := out[rec.KeyHash]; seen {
				continue
			}
			if k, err := rec.unseal(s.cfg.KEK); err == nil {
				out[rec.KeyHash] = k
			}
		}
	}
}
