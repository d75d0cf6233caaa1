package delegationstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/litsignd/litsignd/internal/jsapi"
	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/policy"
)

// Defaults of Config.
const (
	DefaultBucket       = "lit_delegations"
	DefaultExpiringLead = 5 * time.Minute
	DefaultMarkerTTL    = 5 * time.Minute
	// DefaultMaxBytes bounds the delegation bucket (and the revoked-pairs
	// bucket): a record is a few KiB, so this holds about 50 000.
	DefaultMaxBytes = 256 << 20
	// MaxRecordBytes is the largest stored record (the bucket's
	// MaxValueSize): a 64 KiB hand-off plus sealing overhead.
	MaxRecordBytes = 96 << 10
	// DefaultHotDelegations is Config.HotDelegations' default.
	DefaultHotDelegations = 10000
)

// maxCASAttempts bounds the compare-and-set retries of one write before it
// gives up with ErrConflict.
const maxCASAttempts = 16

// kvOperationHeader marks KV delete and purge markers (nats.go keeps its
// constant unexported).
const kvOperationHeader = "KV-Operation"

var validBucket = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// Config configures a Store. KEK is required; every other zero value means
// the documented default.
type Config struct {
	// Bucket is the KV bucket name; default DefaultBucket.
	Bucket string
	// Replicas is the bucket's replica count; default 1.
	Replicas int
	// KEK seals and unseals session secrets. Required.
	KEK *Keyring
	// ExpiringLead is how long before a delegation's expiration the
	// "expiring" event is emitted; default DefaultExpiringLead. A negative
	// value disables expiring events.
	ExpiringLead time.Duration
	// MarkerTTL is how long the server keeps the marker it leaves when a
	// key expires or is revoked (the bucket's LimitMarkerTTL, at least 1s);
	// default DefaultMarkerTTL. Watchers see removals through these
	// markers; minutes, not seconds, keep a watcher that reconnects from
	// missing them (docs/jetstream.md A.4).
	MarkerTTL time.Duration
	// RevokedBucket keeps revoked (PKP, session key) pairs; default
	// "<Bucket>_revoked".
	RevokedBucket string
	// MaxBytes bounds each of the store's buckets; default DefaultMaxBytes.
	MaxBytes int64
	// HotDelegations bounds how many delegations the store keeps unsealed
	// in memory, least recently used first out; default
	// DefaultHotDelegations. Every stored delegation costs a small index
	// entry (a few hundred bytes); one in the hot set also holds its parsed
	// delegation and session key (a few KiB). A lookup outside the hot set
	// reads the record from the bucket (one KV get) and unseals it.
	HotDelegations int
	// Now is the clock; default time.Now. Expiry decisions (Put's
	// ErrExpired, Get's ErrExpired, events) use it; the server's per-key
	// TTL uses the server's own clock.
	Now func() time.Time
	// Logger receives the store's logs; default discards. Logs name PKPs,
	// session public keys, revisions and key ids, never secrets.
	Logger *slog.Logger
	// Registerer receives the store's metrics; nil registers none.
	Registerer prometheus.Registerer
	// OnEvent is called with every expiry event, one at a time, from the
	// goroutine of Run's expiry tracker. It must not block long: events due
	// meanwhile wait for it.
	OnEvent func(Event)
}

// Delegation is a stored delegation with its unsealed session key. It is
// what the sign path needs; treat SessionKey as the secret it is. Values
// returned by Get share SessionKey and Parsed with the cache: both are
// read-only.
type Delegation struct {
	PKP        litnode.PKPPublicKey
	SessionKey *litnode.SessionKey // unsealed; redacts itself when printed
	AuthSig    litnode.AuthSig
	Parsed     *litnode.Delegation // for Grants
	// Policy is the owner's policy (nil: none was handed off, the
	// operator's default applies). Read-only, shared with the cache.
	Policy     *policy.Policy
	IssuedAt   time.Time
	Expiration time.Time
	StoredAt   time.Time
	Revision   uint64 // KV revision
}

// PutResult is the outcome of a successful Put.
type PutResult struct {
	// Revision is the KV revision that now holds the delegation.
	Revision uint64
	// Replaced is true when the write replaced a stored, unexpired
	// delegation. It is false for a first write, a write over an expired
	// or revoked one, and for an unchanged redelivery.
	Replaced bool
	// Unchanged is true when the very same delegation was already stored:
	// nothing was written and Revision is the stored revision.
	Unchanged bool
}

// Summary describes a stored delegation without its secret.
//
// A Lit v3 credential is listed with Backend "lit-v3": PKP is its wallet
// address, KeyHash the usage key's hash (never the key), Expiration the
// client's expiresAt (zero: none).
type Summary struct {
	Backend          string    `json:"backend"`
	PKP              string    `json:"pkpPublicKey"`
	SessionPublicKey string    `json:"sessionPublicKey,omitempty"`
	KeyHash          string    `json:"keyHash,omitempty"`
	IssuedAt         time.Time `json:"issuedAt"`
	Expiration       time.Time `json:"expiration"`
	StoredAt         time.Time `json:"storedAt"`
	Revision         uint64    `json:"revision"`
	Resources        []string  `json:"resources"`
	KeyID            string    `json:"keyId"` // id of the KEK that sealed the secret
	// Policy is the owner's policy; absent when the hand-off had none.
	Policy *policy.Policy `json:"policy,omitempty"`
}

// LogValue logs a delegation by its public parts only.
func (d *Delegation) LogValue() slog.Value {
	if d == nil {
		return slog.StringValue("nil")
	}
	return slog.GroupValue(
		slog.String("pkp", d.PKP.Hex()),
		slog.String("session", d.SessionKey.PublicKey().Hex()),
		slog.Time("expiration", d.Expiration),
		slog.Uint64("revision", d.Revision))
}

// Store keeps delegations in a JetStream KV bucket, keyed by the PKP public
// key (litnode.PKPPublicKey.Hex). Writes go to the KV with compare-and-set;
// Get reads an in-memory cache that Run keeps current with a KV watch, so
// the sign path costs no KV round trip. Run also emits the expiry events.
//
// Per-key TTL: every write carries the delegation's remaining lifetime as
// the message TTL, so the server removes the key at its expiration.
//
// A Store is safe for concurrent use.
type Store struct {
	cfg     Config
	js      jetstream.JetStream
	kv      jetstream.KeyValue
	revoked jetstream.KeyValue // revoked pairs (revoked.go); nil: none kept
	stream  jetstream.Stream   // the bucket's KV_<bucket> stream
	subject string             // "$KV.<bucket>."
	log     *slog.Logger
	metrics *metrics
	cache   *cache
	v3exp   *v3Expiry // v3 credentials' expiry events (v3expiry.go)

	ready     chan struct{}
	readyOnce sync.Once
	// unsealing makes concurrent hot-set misses of one revision share one
	// KV read and unseal.
	unsealing singleflight.Group
	running   atomic.Bool

	// beforeWrite, when set (tests only), runs between Put's read of the
	// latest revision and its compare-and-set write.
	beforeWrite func()
}

// Open creates or updates the bucket and returns a Store on it. The bucket
// is file-backed, has Config.Replicas replicas, keeps one revision per key,
// and has LimitMarkerTTL = Config.MarkerTTL, which enables per-key TTLs
// (nats-server 2.11 or later). Call Run to load the cache and track expiry.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	if js == nil {
		return nil, errors.New("open delegation store: nil JetStream")
	}
	if cfg.KEK == nil {
		return nil, errors.New("open delegation store: no KEK")
	}
	if cfg.Bucket == "" {
		cfg.Bucket = DefaultBucket
	}
	if !validBucket.MatchString(cfg.Bucket) {
		return nil, fmt.Errorf("open delegation store: invalid bucket name %q", cfg.Bucket)
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Replicas < 0 {
		return nil, fmt.Errorf("open delegation store: replicas %d", cfg.Replicas)
	}
	if cfg.ExpiringLead == 0 {
		cfg.ExpiringLead = DefaultExpiringLead
	}
	if cfg.MarkerTTL == 0 {
		cfg.MarkerTTL = DefaultMarkerTTL
	}
	if cfg.MarkerTTL < time.Second {
		return nil, fmt.Errorf("open delegation store: marker TTL %v is below 1s", cfg.MarkerTTL)
	}
	if cfg.RevokedBucket == "" {
		cfg.RevokedBucket = cfg.Bucket + "_revoked"
	}
	if !validBucket.MatchString(cfg.RevokedBucket) {
		return nil, fmt.Errorf("open delegation store: invalid bucket name %q", cfg.RevokedBucket)
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var kv jetstream.KeyValue
	err := jsapi.Retry(ctx, 10, 5*time.Second, func(ctx context.Context) (err error) {
		kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      cfg.Bucket,
			Description: "litsignd: Lit PKP delegations, session secrets sealed",
			// One revision per key. With more, the server raises every
			// per-message TTL below LimitMarkerTTL up to it (a 2 s delegation
			// would live for minutes), and an older revision with a later
			// expiry reappears when a newer one expires. See doc.go.
			History:        1,
			Storage:        jetstream.FileStorage,
			Replicas:       cfg.Replicas,
			LimitMarkerTTL: cfg.MarkerTTL,
			MaxBytes:       cfg.MaxBytes,
			MaxValueSize:   MaxRecordBytes,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open delegation store: bucket %s: %w", cfg.Bucket, err)
	}
	stream, err := js.Stream(ctx, "KV_"+cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("open delegation store: stream of bucket %s: %w", cfg.Bucket, err)
	}
	revoked, err := openRevoked(ctx, js, cfg)
	if err != nil {
		return nil, err
	}
	s := &Store{
		revoked: revoked,
		cfg:     cfg,
		js:      js,
		kv:      kv,
		stream:  stream,
		subject: "$KV." + cfg.Bucket + ".",
		log:     cfg.Logger,
		cache:   newCache(cfg.HotDelegations),
		v3exp:   newV3Expiry(cfg.ExpiringLead),
		ready:   make(chan struct{}),
	}
	if s.metrics, err = newMetrics(cfg.Registerer, s.cache, cfg.Now); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) now() time.Time { return s.cfg.Now() }

// Admin is the operator's view of a delegation bucket: List and Revoke. It
// needs no KEK and never reads a secret, so tools that only inspect or
// revoke need not hold the key-encryption key.
type Admin struct {
	s *Store
}

// OpenAdmin binds to an existing delegation bucket (default DefaultBucket
// when bucket is ""). Unlike Open it never creates the bucket or changes
// its configuration.
func OpenAdmin(ctx context.Context, js jetstream.JetStream, bucket string) (*Admin, error) {
	if bucket == "" {
		bucket = DefaultBucket
	}
	if !validBucket.MatchString(bucket) {
		return nil, fmt.Errorf("open delegation bucket: invalid bucket name %q", bucket)
	}
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("open delegation bucket %s: %w", bucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("open delegation bucket %s: %w", bucket, err)
	}
	stream, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return nil, fmt.Errorf("open delegation bucket %s: %w", bucket, err)
	}
	markerTTL := st.LimitMarkerTTL()
	if markerTTL < time.Second {
		markerTTL = 0 // no per-key TTLs on this bucket: purge markers stay
	}
	// The daemon's revoked-pairs bucket, when it exists: an operator's
	// revocation sticks like a client's.
	revoked, err := js.KeyValue(ctx, bucket+"_revoked")
	if err != nil {
		revoked = nil
	}
	return &Admin{s: &Store{
		revoked: revoked,
		cfg:     Config{Bucket: bucket, RevokedBucket: bucket + "_revoked", MarkerTTL: markerTTL, Now: time.Now, Logger: slog.New(slog.DiscardHandler)},
		js:      js,
		kv:      kv,
		stream:  stream,
		subject: "$KV." + bucket + ".",
		log:     slog.New(slog.DiscardHandler),
		cache:   newCache(),
		v3exp:   newV3Expiry(0),
		ready:   make(chan struct{}),
	}}, nil
}

// List is Store.List.
func (a *Admin) List(ctx context.Context) ([]Summary, error) { return a.s.List(ctx) }

// Revoke is Store.Revoke: with a nil session it deletes whatever is stored
// for pkp.
func (a *Admin) Revoke(ctx context.Context, pkp litnode.PKPPublicKey, session *litnode.SessionPublicKey) (bool, error) {
	return a.s.Revoke(ctx, pkp, session)
}

// RevokeV3 is an operator's revocation of the Lit v3 credential stored
// for a wallet address (V3Store.Revoke with any key): it reports whether
// one was removed, and its key stays refused for hand-offs issued until
// now.
func (a *Admin) RevokeV3(ctx context.Context, addr string) (bool, error) {
	return a.s.V3().Revoke(ctx, addr, "", time.Time{})
}

// Ready is closed once Run has loaded the bucket's current values into the
// cache.
func (s *Store) Ready() <-chan struct{} { return s.ready }

// Get returns the delegation stored for pkp from the cache; only on a cache
// miss does it read the bucket (a delegation stored a moment ago may not
// have reached this replica's watch yet). It waits
// for Ready (or ctx). Errors: ErrNotFound, ErrExpired (past its
// expiration, even if the server has not removed it yet), ErrSealed (the
// secret does not open with the keyring, or the record does not decode).
//
// The cache follows the bucket asynchronously: a Put is visible to Get on
// this and every other replica once the watch has delivered it (normally
// well under a millisecond on one host).
func (s *Store) Get(ctx context.Context, pkp litnode.PKPPublicKey) (*Delegation, error) {
	select {
	case <-s.ready:
	default:
		select {
		case <-s.ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("get delegation for %s: cache not loaded: %w", pkp.Hex(), ctx.Err())
		}
	}
	e, ok := s.cache.get(pkp)
	var fetched jetstream.KeyValueEntry
	if !ok {
		// A delegation stored a moment ago may not have reached this
		// replica's watch yet: on a miss (only), read the bucket once.
		if kve, err := s.kv.Get(ctx, pkp.Hex()); err == nil && kve.Operation() == jetstream.KeyValuePut {
			e = s.cache.putIfAbsent(pkp, s.index(pkp, kve.Revision(), kve.Value()))
			ok, fetched = e != nil, kve
		}
	}
	switch {
	case !ok:
		s.metrics.lookup(lookupMiss)
		return nil, fmt.Errorf("get delegation for %s: %w", pkp.Hex(), ErrNotFound)
	case e.valid() && !s.now().Before(e.expiration):
		s.metrics.lookup(lookupExpired)
		return nil, fmt.Errorf("get delegation for %s: %w at %s", pkp.Hex(), ErrExpired, e.expiration.Format(time.RFC3339))
	case e.err != nil:
		s.metrics.lookup(lookupSealed)
		return nil, fmt.Errorf("get delegation: %w", e.err)
	}
	h, err := s.hot(ctx, pkp, e.revision, fetched)
	switch {
	case err != nil:
		if errors.Is(err, ErrNotFound) {
			s.metrics.lookup(lookupMiss)
		}
		return nil, err
	case h.err != nil:
		s.metrics.lookup(lookupSealed)
		return nil, fmt.Errorf("get delegation: %w", h.err)
	case !s.now().Before(h.d.Expiration):
		s.metrics.lookup(lookupExpired)
		return nil, fmt.Errorf("get delegation for %s: %w at %s", pkp.Hex(), ErrExpired, h.d.Expiration.Format(time.RFC3339))
	}
	s.metrics.lookup(lookupHit)
	d := *h.d
	return &d, nil
}

// hot returns the unsealed delegation of pkp at revision rev from the hot
// set, or reads the bucket (unless fetched already holds that revision),
// unseals it and keeps it in the hot set. If the bucket holds a newer
// revision than the index (the watch has not delivered it yet), that one is
// returned; a removal the bucket shows wins (ErrNotFound).
func (s *Store) hot(ctx context.Context, pkp litnode.PKPPublicKey, rev uint64, fetched jetstream.KeyValueEntry) (*hotEntry, error) {
	if h, ok := s.cache.getHot(pkp, rev); ok {
		return h, nil
	}
	key := pkp.Hex()
	v, err, _ := s.unsealing.Do(key+"@"+strconv.FormatUint(rev, 10), func() (any, error) {
		kve := fetched
		if kve == nil || kve.Revision() != rev {
			var err error
			kve, err = s.kv.Get(ctx, key)
			switch {
			case errors.Is(err, jetstream.ErrKeyNotFound), err == nil && kve.Operation() != jetstream.KeyValuePut:
				return nil, fmt.Errorf("get delegation for %s: %w (removed from the bucket)", key, ErrNotFound)
			case err != nil:
				return nil, fmt.Errorf("get delegation for %s: read bucket: %w", key, err)
			case kve.Revision() < rev:
				// A replica of the stream that lags behind what the watch
				// delivered: never serve an older revision.
				return nil, fmt.Errorf("get delegation for %s: the bucket returned revision %d, older than %d", key, kve.Revision(), rev)
			}
		}
		h := s.loadHot(pkp, kve.Revision(), kve.Value())
		s.metrics.unsealed()
		s.cache.putHot(h)
		return h, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*hotEntry), nil
}

// Put stores the hand-off's delegation unless the stored one is at least as
// new. It parses h.Delegation (no signature check: verifying is the
// caller's job), seals the session secret with the current KEK and writes
// with compare-and-set on the key's latest revision, read from the KV (not
// the cache), retrying on conflicts.
//
// Replacement rule: the new delegation replaces the stored one only if its
// SIWE issued-at is later, or equal with a later expiration; otherwise Put
// returns ErrStale and the stored one stays. A stored delegation past its
// expiration, or a revoked one, counts as absent.
//
// Redelivery is idempotent: if the very same delegation (same session key
// and AuthSig) is already stored, Put writes nothing and succeeds with
// Unchanged set and the stored revision, so a handler that failed after a
// Put and sees the message again publishes the same revision again.
//
// TTL: the write carries the delegation's remaining lifetime, rounded up
// to whole seconds (at least 1s), as its message TTL, for a first write
// and a replacement alike (a raw publish with an expected last subject
// sequence: kv.Update would drop the TTL). A delegation already expired
// returns ErrExpired. A record sealed with an older KEK is re-sealed with
// the current one whenever a newer delegation replaces it (see Reseal).
func (s *Store) Put(ctx context.Context, h *litnode.HandOff) (PutResult, error) {
	if h == nil || h.SessionKey == nil || h.PKP.IsZero() {
		s.metrics.put(putInvalid)
		return PutResult{}, errors.New("put delegation: hand-off without PKP or session key")
	}
	key := h.PKP.Hex()
	d, err := h.ParseDelegation()
	if err != nil {
		s.metrics.put(putInvalid)
		return PutResult{}, fmt.Errorf("put delegation for %s: %w", key, err)
	}
	now := s.now()
	if !now.Before(d.Expiration) {
		s.metrics.put(putExpired)
		return PutResult{}, fmt.Errorf("put delegation for %s: %w at %s", key, ErrExpired, d.Expiration.UTC().Format(time.RFC3339))
	}
	if revoked, err := s.IsRevoked(ctx, h.PKP, d.SessionKey); err != nil {
		s.metrics.put(putError)
		return PutResult{}, fmt.Errorf("put delegation for %s: %w", key, err)
	} else if revoked {
		s.metrics.put(putRevoked)
		return PutResult{}, fmt.Errorf("put delegation for %s: %w: session key %s", key, ErrRevoked, d.SessionKey.Hex())
	}
	rec, err := newRecord(h, d, s.cfg.KEK, now)
	if err != nil {
		s.metrics.put(putInvalid)
		return PutResult{}, err
	}
	value, err := rec.encode()
	if err != nil {
		s.metrics.put(putError)
		return PutResult{}, fmt.Errorf("put delegation for %s: %w", key, err)
	}
	for attempt := 1; ; attempt++ {
		cur, seq, err := s.latest(ctx, key)
		if err != nil {
			s.metrics.put(putError)
			return PutResult{}, fmt.Errorf("put delegation for %s: read stored: %w", key, err)
		}
		if cur != nil {
			if rec.sameDelegation(cur) {
				s.metrics.put(putUnchanged)
				s.log.Debug("delegation unchanged", "pkp", key, "revision", seq)
				return PutResult{Revision: seq, Unchanged: true}, nil
			}
			if !rec.newerThan(cur) {
				s.metrics.put(putStale)
				return PutResult{}, fmt.Errorf("put delegation for %s: %w (stored revision %d: issued %s, expires %s; new: issued %s, expires %s)",
					key, ErrStale, seq, fmtTime(cur.IssuedAt), fmtTime(cur.Expiration), fmtTime(rec.IssuedAt), fmtTime(rec.Expiration))
			}
		}
		ttl, ok := ttlUntil(rec.Expiration, s.now())
		if !ok {
			s.metrics.put(putExpired)
			return PutResult{}, fmt.Errorf("put delegation for %s: %w at %s", key, ErrExpired, fmtTime(rec.Expiration))
		}
		if s.beforeWrite != nil {
			s.beforeWrite()
		}
		rev, err := s.write(ctx, key, value, seq, ttl)
		if err == nil {
			// A revocation of the pair that raced this write (it checked
			// the key before the write landed) is honoured: undo the write.
			if revoked, rerr := s.IsRevoked(ctx, h.PKP, d.SessionKey); rerr == nil && revoked {
				if _, perr := s.revoke(ctx, h.PKP, &rec.session, time.Time{}); perr != nil {
					s.log.Warn("undoing a write revoked meanwhile failed", "pkp", key, "err", perr)
				}
				s.metrics.put(putRevoked)
				return PutResult{}, fmt.Errorf("put delegation for %s: %w: session key %s", key, ErrRevoked, d.SessionKey.Hex())
			}
			res := PutResult{Revision: rev, Replaced: cur != nil}
			if res.Replaced {
				s.metrics.put(putReplaced)
			} else {
				s.metrics.put(putCreated)
			}
			s.log.Info("delegation stored", "pkp", key, "session", rec.SessionPublicKey, "revision", rev,
				"replaced", res.Replaced, "expiration", rec.Expiration, "ttl", ttl, "kid", rec.SealedSecret.KID)
			return res, nil
		}
		if !isWrongLastSeq(err) {
			s.metrics.put(putError)
			return PutResult{}, fmt.Errorf("put delegation for %s: %w", key, err)
		}
		if attempt >= maxCASAttempts {
			s.metrics.put(putConflict)
			return PutResult{}, fmt.Errorf("put delegation for %s: %w after %d attempts", key, ErrConflict, attempt)
		}
		if err := casBackoff(ctx, attempt); err != nil {
			s.metrics.put(putError)
			return PutResult{}, fmt.Errorf("put delegation for %s: %w", key, err)
		}
	}
}

// Revoke deletes the delegation stored for pkp. With a nil session it
// deletes whatever is stored (an operator's revocation); otherwise only a
// delegation to that session key. The delete is a compare-and-set purge on
// the revision it checked, so it never removes a delegation that replaced
// the checked one meanwhile. It reports whether something was deleted; a
// missing key or another session key is (false, nil).
//
// The purge drops the record from the stream (the sealed secret included)
// and leaves a marker that expires after Config.MarkerTTL.
func (s *Store) Revoke(ctx context.Context, pkp litnode.PKPPublicKey, session *litnode.SessionPublicKey) (bool, error) {
	return s.revoke(ctx, pkp, session, time.Time{})
}

// revoke is Revoke and RevokeSigned: signedAt is zero for an operator's
// revocation.
func (s *Store) revoke(ctx context.Context, pkp litnode.PKPPublicKey, session *litnode.SessionPublicKey, signedAt time.Time) (bool, error) {
	key := pkp.Hex()
	remembered := false
	for attempt := 1; ; attempt++ {
		m, err := s.lastMsg(ctx, key)
		if err != nil {
			return false, fmt.Errorf("revoke delegation for %s: %w", key, err)
		}
		stored := m != nil && !isRemoval(m.Header)
		var rec *record
		if stored {
			var derr error
			if rec, derr = decodeRecord(m.Data); derr != nil && session != nil {
				return false, fmt.Errorf("revoke delegation for %s: %w", key, derr)
			} // an operator's revocation clears a record that does not decode
		}
		if session != nil {
			if rec == nil || rec.session != *session {
				// No delegation to this session key is stored (not yet, or
				// no more): remember the pair for as long as a delegation to
				// it could live.
				if !remembered {
					if err := s.remember(ctx, pkp, *session, s.now().Add(litnode.MaxDelegationLifetime), signedAt); err != nil {
						return false, err
					}
				}
				if rec != nil {
					s.log.Info("revocation: another session key is stored; it stays", "pkp", key,
						"session", session.Hex(), "stored_session", rec.SessionPublicKey, "revision", m.Sequence)
				}
				return false, nil
			}
			if !signedAt.IsZero() && rec.IssuedAt.After(signedAt) {
				return false, fmt.Errorf("revoke delegation for %s: %w (revocation signed %s, delegation issued %s)",
					key, ErrRevocationOlder, fmtTime(signedAt), fmtTime(rec.IssuedAt))
			}
		}
		if !stored {
			return false, nil
		}
		if rec != nil && !remembered {
			if err := s.remember(ctx, pkp, rec.session, rec.Expiration, signedAt); err != nil {
				return false, err
			}
			remembered = true
		}
		opts := []jetstream.KVDeleteOpt{jetstream.LastRevision(m.Sequence)}
		if s.cfg.MarkerTTL > 0 {
			opts = append(opts, jetstream.PurgeTTL(s.cfg.MarkerTTL))
		}
		err = s.kv.Purge(ctx, key, opts...)
		if err == nil {
			// Barrier: this replica's cache drops the delegation now, not
			// when the watch delivers the purge, so a job that starts after
			// the revocation returns finds nothing.
			s.cache.tombstone(pkp, m.Sequence)
			s.cache.remove(pkp, s.now())
			s.metrics.revoked()
			s.log.Info("delegation revoked", "pkp", key, "revision", m.Sequence, "by_session", session != nil)
			return true, nil
		}
		if !isWrongLastSeq(err) {
			return false, fmt.Errorf("revoke delegation for %s: %w", key, err)
		}
		if attempt >= maxCASAttempts {
			return false, fmt.Errorf("revoke delegation for %s: %w after %d attempts", key, ErrConflict, attempt)
		}
		if err := casBackoff(ctx, attempt); err != nil {
			return false, fmt.Errorf("revoke delegation for %s: %w", key, err)
		}
	}
}

// Current reports whether the cache still holds pkp's delegation at
// revision rev: false once it was revoked, replaced or removed. Jobs check
// it before they mint session signatures again, so a revocation stops
// in-flight jobs from re-minting.
func (s *Store) Current(pkp litnode.PKPPublicKey, rev uint64) bool {
	e, ok := s.cache.get(pkp)
	return ok && e.revision == rev
}

// List returns a summary of every delegation in the bucket, sorted by PKP,
// read from the KV (it does not need Run) and without unsealing anything.
// Delegations past their expiration that the server has not removed yet
// are included; records that do not decode are skipped and logged.
func (s *Store) List(ctx context.Context) ([]Summary, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.kv.WatchAll(wctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("list delegations: %w", err)
	}
	defer w.Stop()
	var out []Summary
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("list delegations: %w", ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("list delegations: watch closed")
			}
			if e == nil {
				slices.SortFunc(out, func(a, b Summary) int {
					switch {
					case a.PKP < b.PKP:
						return -1
					case a.PKP > b.PKP:
						return 1
					}
					return 0
				})
				return out, nil
			}
			if IsV3Key(e.Key()) {
				if r, err := decodeV3Record(e.Value()); err == nil {
					out = append(out, r.summary(e.Revision()))
				} else {
					s.log.Warn("list delegations: skipping a v3 record that does not decode", "key", e.Key(), "revision", e.Revision(), "err", err)
				}
				continue
			}
			rec, err := decodeRecord(e.Value())
			if err != nil {
				s.log.Warn("list delegations: skipping a record that does not decode", "key", e.Key(), "revision", e.Revision(), "err", err)
				continue
			}
			out = append(out, Summary{
				Backend:          BackendNaga,
				PKP:              rec.PKPPublicKey,
				SessionPublicKey: rec.SessionPublicKey,
				IssuedAt:         rec.IssuedAt,
				Expiration:       rec.Expiration,
				StoredAt:         rec.StoredAt,
				Revision:         e.Revision(),
				Resources:        rec.Resources,
				KeyID:            rec.SealedSecret.KID,
				Policy:           rec.Policy,
			})
		}
	}
}

// Reseal re-seals the secret of pkp's delegation with the current KEK if an
// older key sealed it, keeping the record otherwise and its remaining TTL.
// It reports whether it rewrote the record. After a KEK rotation, records
// move to the new key on their next Put; Reseal (or ResealAll) moves them
// at once, so that the old key can be dropped from the keyring. A record
// that is past its expiration is left alone.
func (s *Store) Reseal(ctx context.Context, pkp litnode.PKPPublicKey) (bool, error) {
	key := pkp.Hex()
	current := s.cfg.KEK.Current()
	for attempt := 1; ; attempt++ {
		m, err := s.lastMsg(ctx, key)
		if err != nil {
			return false, fmt.Errorf("reseal delegation for %s: %w", key, err)
		}
		if m == nil || isRemoval(m.Header) {
			return false, fmt.Errorf("reseal delegation for %s: %w", key, ErrNotFound)
		}
		rec, err := decodeRecord(m.Data)
		if err != nil {
			return false, fmt.Errorf("reseal delegation for %s: %w", key, err)
		}
		if rec.pkp != pkp {
			return false, fmt.Errorf("reseal delegation for %s: record is for another PKP", key)
		}
		if rec.SealedSecret.KID == current.ID() {
			return false, nil
		}
		ttl, ok := ttlUntil(rec.Expiration, s.now())
		if !ok {
			return false, nil
		}
		sk, err := rec.unseal(s.cfg.KEK)
		if err != nil {
			return false, fmt.Errorf("reseal: %w", err)
		}
		oldKID := rec.SealedSecret.KID
		if err := rec.seal(current, sk); err != nil {
			return false, err
		}
		value, err := rec.encode()
		if err != nil {
			return false, fmt.Errorf("reseal delegation for %s: %w", key, err)
		}
		rev, err := s.write(ctx, key, value, m.Sequence, ttl)
		if err == nil {
			s.log.Info("delegation resealed", "pkp", key, "revision", rev, "old_kid", oldKID, "kid", current.ID())
			return true, nil
		}
		if !isWrongLastSeq(err) {
			return false, fmt.Errorf("reseal delegation for %s: %w", key, err)
		}
		if attempt >= maxCASAttempts {
			return false, fmt.Errorf("reseal delegation for %s: %w after %d attempts", key, ErrConflict, attempt)
		}
		if err := casBackoff(ctx, attempt); err != nil {
			return false, fmt.Errorf("reseal delegation for %s: %w", key, err)
		}
	}
}

// ResealAll reseals every stored delegation that an older KEK sealed and
// returns how many it rewrote. It goes on after a failure and returns all
// failures joined.
func (s *Store) ResealAll(ctx context.Context) (int, error) {
	list, err := s.List(ctx)
	if err != nil {
		return 0, err
	}
	current := s.cfg.KEK.Current().ID()
	n := 0
	var errs []error
	for _, sum := range list {
		if sum.KeyID == current || sum.Backend != BackendNaga {
			continue // v3 credentials are resealed by their next hand-off
		}
		pkp, err := litnode.ParsePKPPublicKey(sum.PKP)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		done, err := s.Reseal(ctx, pkp)
		if err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
		}
		if done {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// lastMsg returns the latest message of key's subject, nil when there is
// none.
func (s *Store) lastMsg(ctx context.Context, key string) (*jetstream.RawStreamMsg, error) {
	m, err := s.stream.GetLastMsgForSubject(ctx, s.subject+key)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	return m, err
}

// latest returns key's stored record and the sequence to compare-and-set
// against. The record is nil when the key is absent, deleted, purged,
// marked expired by the server, or past its expiration by our clock; seq is
// then the marker's (or the expired record's) sequence, or 0.
func (s *Store) latest(ctx context.Context, key string) (*record, uint64, error) {
	m, err := s.lastMsg(ctx, key)
	if err != nil || m == nil {
		return nil, 0, err
	}
	if isRemoval(m.Header) {
		return nil, m.Sequence, nil
	}
	rec, err := decodeRecord(m.Data)
	if err != nil {
		// Never overwrite what we cannot read (it may be a newer format);
		// an operator's Revoke(pkp, nil) clears it.
		return nil, 0, fmt.Errorf("stored revision %d: %w", m.Sequence, err)
	}
	if !s.now().Before(rec.Expiration) {
		return nil, m.Sequence, nil
	}
	return rec, m.Sequence, nil
}

// write publishes value as key's next revision, if key's last sequence is
// still expect (0: the subject has no message), with the given TTL. The
// message also rolls up the subject, so no earlier revision can outlive it
// even on a bucket that keeps history.
func (s *Store) write(ctx context.Context, key string, value []byte, expect uint64, ttl time.Duration) (uint64, error) {
	msg := nats.NewMsg(s.subject + key)
	msg.Data = value
	msg.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	ack, err := s.js.PublishMsg(ctx, msg,
		jetstream.WithExpectStream("KV_"+s.cfg.Bucket),
		jetstream.WithExpectLastSequencePerSubject(expect),
		jetstream.WithMsgTTL(ttl))
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// isRemoval reports whether a KV message is a delete or purge marker, or a
// marker the server left when the key's TTL ran out.
func isRemoval(h nats.Header) bool {
	return h.Get(kvOperationHeader) != "" || h.Get(jetstream.MarkerReasonHeader) != ""
}

// ttlUntil returns the TTL for a message that should live until exp: the
// time left rounded up to whole seconds (the server's TTL unit), at least
// 1s. ok is false when exp is not in the future.
func ttlUntil(exp, now time.Time) (time.Duration, bool) {
	left := exp.Sub(now)
	if left <= 0 {
		return 0, false
	}
	secs := (left + time.Second - 1) / time.Second
	return max(secs, 1) * time.Second, true
}

// casBackoff sleeps a short, jittered, growing time between compare-and-set
// attempts.
func casBackoff(ctx context.Context, attempt int) error {
	d := time.Duration(attempt) * time.Millisecond
	d += rand.N(d + time.Millisecond)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Run keeps the cache current until ctx ends, and then returns nil. It
// watches the whole bucket: initial values (Ready closes once they are
// loaded), puts, deletes, purges and the markers of TTL expiry. If the
// watch ends (connection loss), it is restarted with backoff; the cache
// keeps serving meanwhile and is replaced by the new watch's snapshot. Run
// also runs the expiry tracker that emits Config.OnEvent events. Run must
// be called at most once.
func (s *Store) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("delegation store: Run called twice")
	}
	trackerDone := make(chan struct{})
	go func() {
		defer close(trackerDone)
		s.runTracker(ctx)
	}()
	defer func() { <-trackerDone }()

	const minBackoff, maxBackoff = 100 * time.Millisecond, 10 * time.Second
	backoff := minBackoff
	for {
		loaded, err := s.watch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if loaded {
			backoff = minBackoff
		}
		s.metrics.watchRestart()
		s.log.Warn("delegation watch ended; restarting", "err", err, "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// watch runs one KV watch until it fails or ctx ends. loaded reports
// whether it got as far as loading the initial values.
func (s *Store) watch(ctx context.Context) (loaded bool, err error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.kv.WatchAll(wctx)
	if err != nil {
		return false, fmt.Errorf("watch bucket %s: %w", s.cfg.Bucket, err)
	}
	defer w.Stop()
	snapshot := map[litnode.PKPPublicKey]*entry{}
	v3seen := map[string]struct{}{}
	for {
		select {
		case <-ctx.Done():
			return loaded, ctx.Err()
		case kve, ok := <-w.Updates():
			if !ok {
				return loaded, fmt.Errorf("watch bucket %s: closed", s.cfg.Bucket)
			}
			if kve == nil { // initial values delivered
				if !loaded {
					loaded = true
					s.cache.replace(snapshot, s.now())
					s.v3exp.retain(v3seen)
					s.log.Info("delegation cache loaded", "bucket", s.cfg.Bucket, "delegations", len(snapshot))
					snapshot, v3seen = nil, nil
					s.readyOnce.Do(func() { close(s.ready) })
				}
				continue
			}
			if IsV3Key(kve.Key()) {
				s.applyV3(kve, v3seen) // v3expiry.go
				continue
			}
			s.apply(kve, snapshot)
		}
	}
}

// apply applies one watch entry of a Naga delegation (v3 credentials go
// to applyV3) to the snapshot being loaded, or, once loaded (snapshot nil),
// to the cache.
func (s *Store) apply(kve jetstream.KeyValueEntry, snapshot map[litnode.PKPPublicKey]*entry) {
	pkp, err := litnode.ParsePKPPublicKey(kve.Key())
	if err != nil || !isNormalPKPHex(kve.Key()) {
		s.log.Warn("ignoring a key that is not a normalised PKP public key", "key", kve.Key(), "revision", kve.Revision())
		return
	}
	if kve.Operation() != jetstream.KeyValuePut {
		s.cache.tombstone(pkp, kve.Revision())
		if snapshot != nil {
			delete(snapshot, pkp)
		} else {
			s.cache.remove(pkp, s.now())
		}
		s.log.Debug("delegation removed", "pkp", kve.Key(), "revision", kve.Revision(), "op", kve.Operation().String())
		return
	}
	e := s.index(pkp, kve.Revision(), kve.Value())
	if snapshot != nil {
		snapshot[pkp] = e
	} else {
		s.cache.put(pkp, e)
	}
}

// index decodes a stored value into an index entry: no SIWE parsing, no
// unsealing (both wait for the first Get). A value that does not decode is
// logged (without secrets) and kept as an entry whose err Get returns.
func (s *Store) index(pkp litnode.PKPPublicKey, rev uint64, value []byte) *entry {
	e := &entry{revision: rev, heapIndex: -1}
	ix, err := decodeRecordIndex(value, pkp)
	if err != nil {
		e.err = fmt.Errorf("%w: %w", ErrSealed, err)
		s.log.Warn("stored delegation unusable", "pkp", pkp.Hex(), "revision", rev, "err", err)
		return e
	}
	e.session, e.issuedAt, e.expiration = ix.session, ix.IssuedAt, ix.Expiration
	return e
}

// loadHot decodes, parses and unseals a stored value. Failures are logged
// (without secrets) and kept in the hot entry for Get to return.
func (s *Store) loadHot(pkp litnode.PKPPublicKey, rev uint64, value []byte) *hotEntry {
	h := &hotEntry{pkp: pkp, revision: rev}
	fail := func(err error) *hotEntry {
		h.err = err
		s.log.Warn("stored delegation unusable", "pkp", pkp.Hex(), "revision", rev, "err", err)
		return h
	}
	rec, err := decodeRecord(value)
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrSealed, err))
	}
	if rec.pkp != pkp {
		return fail(fmt.Errorf("%w: record for %s stored under key %s", ErrSealed, rec.PKPPublicKey, pkp.Hex()))
	}
	parsed, err := rec.parseDelegation()
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrSealed, err))
	}
	sk, err := rec.unseal(s.cfg.KEK)
	if err != nil {
		return fail(err)
	}
	h.d = &Delegation{
		PKP:        pkp,
		SessionKey: sk,
		AuthSig:    rec.Delegation,
		Parsed:     parsed,
		Policy:     rec.Policy,
		IssuedAt:   rec.IssuedAt,
		Expiration: rec.Expiration,
		StoredAt:   rec.StoredAt,
		Revision:   rev,
	}
	return h
}

// isNormalPKPHex reports whether key is written as PKPPublicKey.Hex writes
// it: 0x and 130 lowercase hex digits (without building that string).
func isNormalPKPHex(key string) bool {
	if len(key) != 132 || key[:2] != "0x" {
		return false
	}
	for i := 2; i < len(key); i++ {
		if c := key[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
