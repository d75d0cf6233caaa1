package delegationstore

import (
	"container/heap"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// v3 credentials with a client-set expiresAt get the same expiry events as
// Naga delegations (expiry.go): "expiring" Config.ExpiringLead before it,
// "expired" at it, each once per stored revision, with Backend lit-v3 and
// the wallet address instead of a PKP public key. The bucket watch feeds
// v3Expiry (Store.applyV3), and the expiry tracker drains it beside the
// Naga cache. The server removes the record at expiresAt (its message TTL);
// a removal seen at or after expiresAt whose "expired" has not gone out
// yet sends it then, and any other removal (a revocation, a replacement
// without expiry) cancels the credential's events.

// v3Timer is the expiry state of one stored v3 credential.
type v3Timer struct {
	addr         string
	expiresAt    time.Time
	revision     uint64
	expiringSent bool
	expiredSent  bool
	at           time.Time // when its next event falls due
	index        int       // in the heap
}

// v3Expiry holds the v3 credentials that expire, in a heap by next event
// time: O(log n) per event and per change.
type v3Expiry struct {
	mu      sync.Mutex
	lead    time.Duration // <= 0: no expiring events
	byAddr  map[string]*v3Timer
	timers  v3Heap
	pending []Event // removals' expired events, sent by the next due
}

func newV3Expiry(lead time.Duration) *v3Expiry {
	return &v3Expiry{lead: lead, byAddr: map[string]*v3Timer{}}
}

// nextAt is when t's next event falls due.
func (x *v3Expiry) nextAt(t *v3Timer) time.Time {
	if x.lead > 0 && !t.expiringSent {
		return t.expiresAt.Add(-x.lead)
	}
	return t.expiresAt
}

// set records the stored credential of addr at revision rev; expiresAt
// zero (no expiry) forgets it. The same revision again changes nothing.
func (x *v3Expiry) set(addr string, expiresAt time.Time, rev uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if old, ok := x.byAddr[addr]; ok {
		if old.revision == rev {
			return
		}
		heap.Remove(&x.timers, old.index)
		delete(x.byAddr, addr)
	}
	if expiresAt.IsZero() {
		return
	}
	t := &v3Timer{addr: addr, expiresAt: expiresAt, revision: rev}
	t.at = x.nextAt(t)
	x.byAddr[addr] = t
	heap.Push(&x.timers, t)
}

// remove forgets addr's credential, removed from the bucket at now: when
// that is its expiry (within expiryTolerance), "expired" is queued if it
// has not gone out.
func (x *v3Expiry) remove(addr string, now time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	t, ok := x.byAddr[addr]
	if !ok {
		return
	}
	heap.Remove(&x.timers, t.index)
	delete(x.byAddr, addr)
	if !t.expiredSent && !now.Before(t.expiresAt.Add(-expiryTolerance)) {
		t.expiringSent, t.expiredSent = true, true
		x.pending = append(x.pending, newV3Event(EventExpired, t))
	}
}

// retain forgets every credential not in keep: after a (re)load of the
// bucket, those that were removed while no watch ran.
func (x *v3Expiry) retain(keep map[string]struct{}) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for addr, t := range x.byAddr {
		if _, ok := keep[addr]; !ok {
			heap.Remove(&x.timers, t.index)
			delete(x.byAddr, addr)
		}
	}
}

// due returns the events due at now, queued removals first, and when the
// next one falls due (zero: none).
func (x *v3Expiry) due(now time.Time) ([]Event, time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	evs := x.pending
	x.pending = nil
	for len(x.timers) > 0 && !x.timers[0].at.After(now) {
		t := x.timers[0]
		if !now.Before(t.expiresAt) {
			// Expired; a credential first seen after its expiresAt gets
			// "expired" only.
			t.expiringSent, t.expiredSent = true, true
			evs = append(evs, newV3Event(EventExpired, t))
			heap.Pop(&x.timers)
			delete(x.byAddr, t.addr) // the server removes it; nothing more to send
			continue
		}
		t.expiringSent = true
		evs = append(evs, newV3Event(EventExpiring, t))
		t.at = t.expiresAt
		heap.Fix(&x.timers, t.index)
	}
	var next time.Time
	if len(x.timers) > 0 {
		next = x.timers[0].at
	}
	return evs, next
}

func newV3Event(typ string, t *v3Timer) Event {
	return Event{
		Type:       typ,
		Backend:    BackendLitV3,
		Address:    t.addr,
		Expiration: t.expiresAt,
		Revision:   t.revision,
		ID:         fmt.Sprintf("v3credential-%s-%s-%d", typ, t.addr, t.revision),
	}
}

// applyV3 feeds one watch entry of a v3 key to the expiry tracker. seen,
// while the bucket's initial values load, collects the addresses present.
func (s *Store) applyV3(kve jetstream.KeyValueEntry, seen map[string]struct{}) {
	addr := kve.Key()
	if kve.Operation() != jetstream.KeyValuePut {
		s.v3exp.remove(addr, s.now())
		s.cache.poke()
		return
	}
	var expiresAt time.Time
	if r, err := decodeV3Record(kve.Value()); err == nil && r.ExpiresAt != nil {
		expiresAt = *r.ExpiresAt
	}
	if seen != nil {
		seen[addr] = struct{}{}
	}
	s.v3exp.set(addr, expiresAt, kve.Revision())
	s.cache.poke()
}

// v3Heap orders v3Timers by next event time.
type v3Heap []*v3Timer

func (h v3Heap) Len() int           { return len(h) }
func (h v3Heap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h v3Heap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *v3Heap) Push(v any) {
	t := v.(*v3Timer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *v3Heap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}
