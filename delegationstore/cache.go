package delegationstore

import (
	"container/heap"
	"container/list"
	"sync"
	"time"

	"github.com/litsignd/litsignd/litnode"
)

// entry is the index entry of one stored delegation: the few fields the
// expiry tracker and Get's checks need, kept for every key in the bucket
// (about 200 bytes). The unsealed delegation lives in the bounded hot set
// (hotEntry), loaded on first use.
type entry struct {
	revision   uint64
	session    litnode.SessionPublicKey
	issuedAt   time.Time
	expiration time.Time
	// err says why the stored value is unusable (it did not decode); it
	// wraps ErrSealed. The other fields are zero then.
	err error

	expiringSent bool
	expiredSent  bool
	// heapIndex is the entry's place in the tracker's heap, -1 when not
	// in it.
	heapIndex int
	pkp       litnode.PKPPublicKey
}

// valid reports whether the entry holds a decoded record.
func (e *entry) valid() bool { return e.err == nil && !e.expiration.IsZero() }

// sameDelegationAs reports whether e holds the same delegation as o, so a
// rewrite (a reseal under a new KEK) does not emit its events again. Within
// one key, the session key, issued-at and expiration identify a delegation:
// Put refuses to replace a delegation with one that is not newer.
func (e *entry) sameDelegationAs(o *entry) bool {
	return e.valid() && o.valid() && e.session == o.session && e.issuedAt.Equal(o.issuedAt) && e.expiration.Equal(o.expiration)
}

// hotEntry is an unsealed delegation (or why it could not be unsealed) of
// one revision, in the hot set.
type hotEntry struct {
	pkp      litnode.PKPPublicKey
	revision uint64
	d        *Delegation // nil when err != nil
	err      error
}

// cache is the in-memory view of the bucket that Get reads. The KV watch
// writes its index (one small entry per key); Get fills the hot set, an LRU
// of at most hotMax unsealed delegations. The expiry tracker reads the
// index through a min-heap ordered by each entry's next event time, so an
// event costs O(log n). Events for entries that leave the index are queued
// in pending for the tracker, so every OnEvent call happens on the tracker
// goroutine.
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

	// timers holds the entries with an event still to emit, by next event
	// time under lead (the lead of the last due call).
	timers entryHeap
	lead   time.Duration

	hotMu  sync.Mutex
	hotMax int
	hot    map[litnode.PKPPublicKey]*list.Element // of *hotEntry
	lru    list.List                              // front: most recently used
}

// newCache returns a cache whose hot set keeps at most hotMax unsealed
// delegations (hotMax <= 0: DefaultHotDelegations).
func newCache(hotMax ...int) *cache {
	c := &cache{
		entries: map[litnode.PKPPublicKey]*entry{},
		removed: map[litnode.PKPPublicKey]uint64{},
		changed: make(chan struct{}, 1),
		hot:     map[litnode.PKPPublicKey]*list.Element{},
		hotMax:  DefaultHotDelegations,
	}
	if len(hotMax) > 0 && hotMax[0] > 0 {
		c.hotMax = hotMax[0]
	}
	return c
}

func (c *cache) poke() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// get returns the index entry for pkp.
func (c *cache) get(pkp litnode.PKPPublicKey) (*entry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.entries[pkp]
	return e, ok
}

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
	c.insertLocked(pkp, e)
	c.mu.Unlock()
	c.poke()
	return e
}

// put stores e for pkp, keeping the event marks of the entry it replaces
// when both hold the same delegation. The hot copy of an older revision is
// dropped, so a replaced session secret leaves memory at once.
func (c *cache) put(pkp litnode.PKPPublicKey, e *entry) {
	c.mu.Lock()
	if e.revision <= c.removed[pkp] {
		// Removed at a later revision already (a revocation this replica
		// applied before its watch caught up): never bring it back.
		c.mu.Unlock()
		return
	}
	if old, ok := c.entries[pkp]; ok {
		if e.sameDelegationAs(old) {
			e.expiringSent, e.expiredSent = old.expiringSent, old.expiredSent
		}
		c.timers.remove(old)
	}
	c.insertLocked(pkp, e)
	c.mu.Unlock()
	c.dropHot(pkp, e.revision)
	c.poke()
}

// insertLocked indexes e under pkp and schedules its next event.
func (c *cache) insertLocked(pkp litnode.PKPPublicKey, e *entry) {
	e.pkp = pkp
	e.heapIndex = -1
	c.entries[pkp] = e
	c.schedule(e)
}

// schedule puts e in the timer heap if it has an event still to emit.
func (c *cache) schedule(e *entry) {
	if e.valid() && !e.expiredSent && e.heapIndex < 0 {
		heap.Push(&c.timers, timerItem{e: e, at: c.nextAt(e)})
	}
}

// nextAt is e's next event time under the cache's lead.
func (c *cache) nextAt(e *entry) time.Time {
	if c.lead > 0 && !e.expiringSent {
		return e.expiration.Add(-c.lead)
	}
	return e.expiration
}

// remove drops pkp's entry. If the delegation is at (or within
// expiryTolerance of) its expiration and its expired event has not gone out,
// the removal is its expiry by TTL: the event is queued for the tracker.
func (c *cache) remove(pkp litnode.PKPPublicKey, now time.Time) {
	c.mu.Lock()
	if old, ok := c.entries[pkp]; ok {
		c.queueExpiredLocked(pkp, old, now)
		c.timers.remove(old)
		delete(c.entries, pkp)
	}
	c.mu.Unlock()
	c.dropHot(pkp, 0)
	c.poke()
}

// replace swaps in a complete snapshot (after a (re)started watch has loaded
// its initial values). Entries that vanished are handled as removals; the
// event marks of entries that stayed are kept.
func (c *cache) replace(snapshot map[litnode.PKPPublicKey]*entry, now time.Time) {
	c.mu.Lock()
	var gone []litnode.PKPPublicKey
	for pkp, old := range c.entries {
		e, ok := snapshot[pkp]
		if !ok {
			c.queueExpiredLocked(pkp, old, now)
			gone = append(gone, pkp)
			continue
		}
		if e.sameDelegationAs(old) {
			e.expiringSent, e.expiredSent = old.expiringSent, old.expiredSent
		}
	}
	c.entries = snapshot
	c.timers = make(entryHeap, 0, len(snapshot))
	for pkp, e := range snapshot {
		e.pkp = pkp
		e.heapIndex = -1
		if e.valid() && !e.expiredSent {
			e.heapIndex = len(c.timers)
			c.timers = append(c.timers, timerItem{e: e, at: c.nextAt(e)})
		}
	}
	heap.Init(&c.timers)
	c.mu.Unlock()
	c.hotMu.Lock()
	for pkp, el := range c.hot {
		h := el.Value.(*hotEntry)
		if e, ok := snapshot[pkp]; !ok || e.revision != h.revision {
			c.lru.Remove(el)
			delete(c.hot, pkp)
		}
	}
	c.hotMu.Unlock()
	for _, pkp := range gone {
		c.dropHot(pkp, 0)
	}
	c.poke()
}

// expiryTolerance is how close to its expiration a delegation removed from
// the bucket counts as expired rather than revoked. The server removes a
// key when its TTL (rounded up to whole seconds) runs out, so this only
// covers clock skew between server and daemon.
const expiryTolerance = 2 * time.Second

func (c *cache) queueExpiredLocked(pkp litnode.PKPPublicKey, e *entry, now time.Time) {
	if !e.valid() || e.expiredSent || now.Before(e.expiration.Add(-expiryTolerance)) {
		return
	}
	e.expiringSent, e.expiredSent = true, true
	c.pending = append(c.pending, newEvent(EventExpired, pkp, e))
}

// stats returns the number of indexed delegations and the earliest
// expiration still in the future (ok is false when there is none). It walks
// the index: it runs at scrape time only.
func (c *cache) stats(now time.Time) (n int, nearest time.Time, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, e := range c.entries {
		if !e.valid() || !now.Before(e.expiration) {
			continue
		}
		if !ok || e.expiration.Before(nearest) {
			nearest, ok = e.expiration, true
		}
	}
	return len(c.entries), nearest, ok
}

// getHot returns the hot copy of pkp's delegation at revision rev and marks
// it recently used.
func (c *cache) getHot(pkp litnode.PKPPublicKey, rev uint64) (*hotEntry, bool) {
	c.hotMu.Lock()
	defer c.hotMu.Unlock()
	el, ok := c.hot[pkp]
	if !ok {
		return nil, false
	}
	h := el.Value.(*hotEntry)
	if h.revision != rev {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return h, true
}

// putHot keeps h in the hot set unless the index has moved past its
// revision or dropped the key meanwhile, evicting the least recently used
// entries beyond hotMax.
func (c *cache) putHot(h *hotEntry) {
	c.mu.RLock()
	e, ok := c.entries[h.pkp]
	current := ok && e.revision == h.revision
	c.mu.RUnlock()
	if !current {
		return
	}
	c.hotMu.Lock()
	defer c.hotMu.Unlock()
	if el, ok := c.hot[h.pkp]; ok {
		el.Value = h
		c.lru.MoveToFront(el)
		return
	}
	c.hot[h.pkp] = c.lru.PushFront(h)
	for c.lru.Len() > c.hotMax {
		last := c.lru.Back()
		c.lru.Remove(last)
		delete(c.hot, last.Value.(*hotEntry).pkp)
	}
}

// dropHot removes pkp's hot copy unless it is of revision keep.
func (c *cache) dropHot(pkp litnode.PKPPublicKey, keep uint64) {
	c.hotMu.Lock()
	defer c.hotMu.Unlock()
	if el, ok := c.hot[pkp]; ok && (keep == 0 || el.Value.(*hotEntry).revision != keep) {
		c.lru.Remove(el)
		delete(c.hot, pkp)
	}
}

// hotLen is the number of unsealed delegations held.
func (c *cache) hotLen() int {
	c.hotMu.Lock()
	defer c.hotMu.Unlock()
	return c.lru.Len()
}

// timerItem is an entry in the timer heap with the time its next event is
// due.
type timerItem struct {
	e  *entry
	at time.Time
}

// entryHeap is a min-heap of entries by next event time.
type entryHeap []timerItem

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].e.heapIndex = i
	h[j].e.heapIndex = j
}
func (h *entryHeap) Push(x any) {
	it := x.(timerItem)
	it.e.heapIndex = len(*h)
	*h = append(*h, it)
}
func (h *entryHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = timerItem{}
	*h = old[:len(old)-1]
	it.e.heapIndex = -1
	return it
}

// remove takes e out of the heap if it is in it.
func (h *entryHeap) remove(e *entry) {
	if e.heapIndex >= 0 && e.heapIndex < len(*h) && (*h)[e.heapIndex].e == e {
		heap.Remove(h, e.heapIndex)
	}
	e.heapIndex = -1
}
