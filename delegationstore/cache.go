package delegationstore

import (
	"sync"
	"time"

	"github.com/litsignd/litsignd/litnode"
)

// entry is one cached KV value: a decoded record, the unsealed delegation
// (nil when it could not be opened, with err saying why) and the expiry
// events already emitted for it.
type entry struct {
	revision uint64
	rec      *record     // nil when the value does not decode
	d        *Delegation // nil when err != nil
	err      error       // why d is nil: wraps ErrSealed

	expiringSent bool
	expiredSent  bool
}

// sameDelegationAs reports whether e holds the same delegation as o, so a
// rewrite (a reseal under a new KEK) does not emit its events again.
func (e *entry) sameDelegationAs(o *entry) bool {
	return e.rec != nil && o.rec != nil && e.rec.sameDelegation(o.rec)
}

// cache is the in-memory copy of the bucket that Get reads. The KV watch
// writes it; the expiry tracker reads it and marks the events it emitted.
// Events for entries that leave the cache are queued in pending for the
// tracker, so every OnEvent call happens on the tracker goroutine.
type cache struct {
	mu      sync.RWMutex
	entries map[litnode.PKPPublicKey]*entry
	// removed is the revision of the last delete/purge/expiry the watch saw
	// per key, so a fetch on a cache miss cannot bring back a revoked
	// delegation (putIfAbsent).
	removed map[litnode.PKPPublicKey]uint64
	pending []Event
	// changed is poked (non-blocking, capacity 1) on every change, so the
	// tracker recomputes its next deadline.
	changed chan struct{}
}

func newCache() *cache {
	return &cache{entries: map[litnode.PKPPublicKey]*entry{}, removed: map[litnode.PKPPublicKey]uint64{}, changed: make(chan struct{}, 1)}
}

func (c *cache) poke() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// get returns the entry for pkp.
func (c *cache) get(pkp litnode.PKPPublicKey) (*entry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.entries[pkp]
	return e, ok
}

// put stores e for pkp, keeping the event marks of the entry it replaces
// when both hold the same delegation.
// tombstone records that the watch saw pkp removed at revision rev.
func (c *cache) tombstone(pkp litnode.PKPPublicKey, rev uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removed[pkp] = max(c.removed[pkp], rev)
}

// putIfAbsent caches e unless the watch has cached pkp meanwhile, or has seen
// it removed at a later revision (then it returns nil); it returns the entry
// now cached.
func (c *cache) putIfAbsent(pkp litnode.PKPPublicKey, e *entry) *entry {
	c.mu.Lock()
	if old, ok := c.entries[pkp]; ok {
		c.mu.Unlock()
		return old
	}
	if e.revision <= c.removed[pkp] {
		c.mu.Unlock()
		return nil
	}
	c.entries[pkp] = e
	c.mu.Unlock()
	c.poke()
	return e
}

func (c *cache) put(pkp litnode.PKPPublicKey, e *entry) {
	c.mu.Lock()
	if e.revision <= c.removed[pkp] {
		// Removed at a later revision already (a revocation this replica
		// applied before its watch caught up): never bring it back.
		c.mu.Unlock()
		return
	}
	if old, ok := c.entries[pkp]; ok && e.sameDelegationAs(old) {
		e.expiringSent, e.expiredSent = old.expiringSent, old.expiredSent
	}
	c.entries[pkp] = e
	c.mu.Unlock()
	c.poke()
}

// remove drops pkp's entry. If the delegation is at (or within
// expiryTolerance of) its expiration and its expired event has not gone out,
// the removal is its expiry by TTL: the event is queued for the tracker.
func (c *cache) remove(pkp litnode.PKPPublicKey, now time.Time) {
	c.mu.Lock()
	if old, ok := c.entries[pkp]; ok {
		c.queueExpiredLocked(pkp, old, now)
		delete(c.entries, pkp)
	}
	c.mu.Unlock()
	c.poke()
}

// replace swaps in a complete snapshot (after a (re)started watch has loaded
// its initial values). Entries that vanished are handled as removals; the
// event marks of entries that stayed are kept.
func (c *cache) replace(snapshot map[litnode.PKPPublicKey]*entry, now time.Time) {
	c.mu.Lock()
	for pkp, old := range c.entries {
		e, ok := snapshot[pkp]
		if !ok {
			c.queueExpiredLocked(pkp, old, now)
			continue
		}
		if e.sameDelegationAs(old) {
			e.expiringSent, e.expiredSent = old.expiringSent, old.expiredSent
		}
	}
	c.entries = snapshot
	c.mu.Unlock()
	c.poke()
}

// expiryTolerance is how close to its expiration a delegation removed from
// the bucket counts as expired rather than revoked. The server removes a
// key when its TTL (rounded up to whole seconds) runs out, so this only
// covers clock skew between server and daemon.
const expiryTolerance = 2 * time.Second

func (c *cache) queueExpiredLocked(pkp litnode.PKPPublicKey, e *entry, now time.Time) {
	if e.rec == nil || e.expiredSent || now.Before(e.rec.Expiration.Add(-expiryTolerance)) {
		return
	}
	e.expiringSent, e.expiredSent = true, true
	c.pending = append(c.pending, newEvent(EventExpired, pkp, e))
}

// stats returns the number of cached entries and the earliest expiration
// still in the future (ok is false when there is none).
func (c *cache) stats(now time.Time) (n int, nearest time.Time, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, e := range c.entries {
		if e.rec == nil || !now.Before(e.rec.Expiration) {
			continue
		}
		if !ok || e.rec.Expiration.Before(nearest) {
			nearest, ok = e.rec.Expiration, true
		}
	}
	return len(c.entries), nearest, ok
}
