package delegationstore

import (
	"container/heap"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/litsignd/litsignd/litnode"
)

// Event types.
const (
	// EventExpiring: the delegation expires within Config.ExpiringLead;
	// the client should send a fresh one.
	EventExpiring = "expiring"
	// EventExpired: the delegation's expiration has passed.
	EventExpired = "expired"
)

// Event is an expiry event of a stored delegation or, with Backend
// BackendLitV3, of a stored v3 credential (v3expiry.go). It carries no
// secret.
type Event struct {
	Type string // EventExpiring or EventExpired
	// Backend is BackendLitV3 for a v3 credential, which Address names
	// (PKP and SessionPublicKey are then empty); empty for Naga.
	Backend          string
	Address          string
	PKP              litnode.PKPPublicKey
	SessionPublicKey string // 64 lowercase hex digits
	Expiration       time.Time
	Revision         uint64 // KV revision of the delegation
	// ID is stable per (Type, PKP, Revision) and the same on every daemon
	// replica, for use as the Nats-Msg-Id of a published event so that the
	// events stream drops the copies other replicas publish.
	ID string
}

func newEvent(typ string, pkp litnode.PKPPublicKey, e *entry) Event {
	return Event{
		Type:             typ,
		PKP:              pkp,
		SessionPublicKey: e.session.Hex(),
		Expiration:       e.expiration,
		Revision:         e.revision,
		ID:               fmt.Sprintf("delegation-%s-%s-%d", typ, pkp.Hex(), e.revision),
	}
}

// maxTrackerWait bounds how long the tracker sleeps, so that a clock that
// jumps (or an injected clock) is noticed within this time.
const maxTrackerWait = 30 * time.Second

// due collects the events due at now and returns the next time an event
// falls due (zero when none is scheduled). lead <= 0 disables expiring
// events. Queued removal events come first; the rest are ordered by time.
// Each event costs O(log n): entries wait in a heap by next event time.
func (c *cache) due(now time.Time, lead time.Duration) ([]Event, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if lead != c.lead {
		// The heap is keyed by the lead; a new lead (in practice: the first
		// call) re-keys it once.
		c.lead = lead
		for i := range c.timers {
			c.timers[i].at = c.nextAt(c.timers[i].e)
		}
		heap.Init(&c.timers)
	}
	evs := c.pending
	c.pending = nil
	var timed []Event
	for len(c.timers) > 0 && !c.timers[0].at.After(now) {
		it := heap.Pop(&c.timers).(timerItem)
		e := it.e
		exp := e.expiration
		if !now.Before(exp) {
			// Expired. If the expiring event never went out (first seen
			// after expiry), "expired" says all there is to say.
			e.expiringSent, e.expiredSent = true, true
			timed = append(timed, newEvent(EventExpired, e.pkp, e))
			continue
		}
		// Not expired, so this was the expiring deadline.
		e.expiringSent = true
		timed = append(timed, newEvent(EventExpiring, e.pkp, e))
		heap.Push(&c.timers, timerItem{e: e, at: exp})
	}
	var next time.Time
	if len(c.timers) > 0 {
		next = c.timers[0].at
	}
	slices.SortStableFunc(timed, func(a, b Event) int {
		if c := a.Expiration.Compare(b.Expiration); c != 0 {
			return c
		}
		return compareType(a.Type, b.Type)
	})
	return append(evs, timed...), next
}

// compareType orders expiring before expired.
func compareType(a, b string) int {
	rank := func(t string) int {
		if t == EventExpiring {
			return 0
		}
		return 1
	}
	return rank(a) - rank(b)
}

// runTracker emits expiry events until ctx ends. It sleeps until the next
// event is due, a cache change, or maxTrackerWait.
func (s *Store) runTracker(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := s.now()
		evs, next := s.cache.due(now, s.cfg.ExpiringLead)
		v3evs, v3next := s.v3exp.due(now)
		evs = append(evs, v3evs...)
		if next.IsZero() || !v3next.IsZero() && v3next.Before(next) {
			next = v3next
		}
		for _, ev := range evs {
			s.emit(ev)
		}
		wait := maxTrackerWait
		if !next.IsZero() {
			wait = min(max(next.Sub(now), time.Millisecond), maxTrackerWait)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.cache.changed:
		case <-timer.C:
		}
		// Since Go 1.23 Reset needs no Stop-and-drain: a stopped or reset
		// timer never delivers a stale value.
	}
}

// emit hands an event to Config.OnEvent, logs and counts it.
func (s *Store) emit(ev Event) {
	if ev.Backend == BackendLitV3 {
		s.log.Info("v3 credential "+ev.Type, "address", ev.Address, "expiration", ev.Expiration, "revision", ev.Revision)
	} else {
		s.log.Info("delegation "+ev.Type, "pkp", ev.PKP.Hex(), "session", ev.SessionPublicKey,
			"expiration", ev.Expiration, "revision", ev.Revision)
	}
	s.metrics.event(ev.Type)
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(ev)
	}
}
