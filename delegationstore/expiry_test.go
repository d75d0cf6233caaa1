package delegationstore

import (
	"testing"
	"time"

	"github.com/litsignd/litsignd/litnode"
)

func testEntry(t *testing.T, rev uint64, exp time.Time) (litnode.PKPPublicKey, *entry) {
	t.Helper()
	pkp := newTestPKP(t)
	return pkp, &entry{revision: rev, session: litnode.SessionPublicKey{0xaa}, issuedAt: t0.Add(-time.Hour), expiration: exp, heapIndex: -1}
}

func types(evs []Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}

func TestCacheDue(t *testing.T) {
	const lead = time.Minute
	c := newCache()
	pkp, e := testEntry(t, 7, t0.Add(10*time.Minute))
	c.put(pkp, e)

	evs, next := c.due(t0, lead)
	if len(evs) != 0 || !next.Equal(t0.Add(9*time.Minute)) {
		t.Fatalf("at t0: events %v, next %v; want none, t0+9m", types(evs), next)
	}
	evs, next = c.due(t0.Add(9*time.Minute), lead)
	if len(evs) != 1 || evs[0].Type != EventExpiring || !next.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("at t0+9m: events %v, next %v; want [expiring], t0+10m", types(evs), next)
	}
	ev := evs[0]
	if ev.PKP != pkp || ev.Revision != 7 || ev.ID != "delegation-expiring-"+pkp.Hex()+"-7" || !ev.Expiration.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("expiring event = %+v", ev)
	}
	if evs, _ = c.due(t0.Add(9*time.Minute+time.Second), lead); len(evs) != 0 {
		t.Fatalf("expiring emitted twice: %v", types(evs))
	}
	evs, next = c.due(t0.Add(10*time.Minute), lead)
	if len(evs) != 1 || evs[0].Type != EventExpired || !next.IsZero() {
		t.Fatalf("at t0+10m: events %v, next %v; want [expired], none", types(evs), next)
	}
	if evs, _ = c.due(t0.Add(time.Hour), lead); len(evs) != 0 {
		t.Fatalf("expired emitted twice: %v", types(evs))
	}
	// The server's TTL removal after the timer fired emits nothing more.
	c.remove(pkp, t0.Add(10*time.Minute+time.Second))
	if evs, _ = c.due(t0.Add(time.Hour), lead); len(evs) != 0 {
		t.Fatalf("removal after expiry emitted %v", types(evs))
	}
}

func TestCacheDue_FirstSeenLate(t *testing.T) {
	c := newCache()
	inWindow, e1 := testEntry(t, 1, t0.Add(30*time.Second))
	expired, e2 := testEntry(t, 2, t0.Add(-time.Second))
	c.put(inWindow, e1)
	c.put(expired, e2)
	evs, _ := c.due(t0, time.Minute)
	if len(evs) != 2 || evs[0].Type != EventExpired || evs[0].PKP != expired || evs[1].Type != EventExpiring || evs[1].PKP != inWindow {
		t.Fatalf("events = %+v; want expired for the past one (only), expiring for the other", evs)
	}
}

func TestCacheDue_NoLead(t *testing.T) {
	c := newCache()
	pkp, e := testEntry(t, 1, t0.Add(time.Minute))
	c.put(pkp, e)
	evs, next := c.due(t0, -1)
	if len(evs) != 0 || !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("events %v next %v", types(evs), next)
	}
	if evs, _ = c.due(t0.Add(time.Minute), -1); len(types(evs)) != 1 || evs[0].Type != EventExpired {
		t.Fatalf("events %v, want [expired]", types(evs))
	}
}

func TestCacheRemove(t *testing.T) {
	c := newCache()
	revoked, e1 := testEntry(t, 1, t0.Add(time.Hour))
	ttlExpired, e2 := testEntry(t, 2, t0.Add(time.Second)) // within expiryTolerance
	c.put(revoked, e1)
	c.put(ttlExpired, e2)
	c.remove(revoked, t0)
	c.remove(ttlExpired, t0)
	evs, next := c.due(t0, time.Minute)
	if len(evs) != 1 || evs[0].Type != EventExpired || evs[0].PKP != ttlExpired {
		t.Fatalf("events = %+v; want one expired event for the TTL removal only", evs)
	}
	if !next.IsZero() {
		t.Errorf("next = %v, want none", next)
	}
	if _, ok := c.get(revoked); ok {
		t.Error("revoked entry still cached")
	}
}

func TestCachePut_KeepsMarksForSameDelegation(t *testing.T) {
	c := newCache()
	pkp, e := testEntry(t, 1, t0.Add(time.Minute))
	c.put(pkp, e)
	if evs, _ := c.due(t0, 2*time.Minute); len(evs) != 1 {
		t.Fatalf("want the expiring event, got %v", types(evs))
	}
	// A reseal: same delegation, new revision. No second expiring event.
	_, again := testEntry(t, 2, t0.Add(time.Minute))
	c.put(pkp, again)
	if evs, _ := c.due(t0, 2*time.Minute); len(evs) != 0 {
		t.Fatalf("reseal re-emitted %v", types(evs))
	}
	// A different delegation starts afresh.
	_, other := testEntry(t, 3, t0.Add(time.Minute))
	other.session = litnode.SessionPublicKey{0xbb}
	c.put(pkp, other)
	if evs, _ := c.due(t0, 2*time.Minute); len(evs) != 1 || evs[0].Revision != 3 {
		t.Fatalf("new delegation: events %+v", evs)
	}
}

func TestCacheReplace(t *testing.T) {
	c := newCache()
	stays, e1 := testEntry(t, 1, t0.Add(time.Minute))
	gone, e2 := testEntry(t, 2, t0) // expired: its removal is an expiry
	c.put(stays, e1)
	c.put(gone, e2)
	if evs, _ := c.due(t0.Add(-time.Hour), time.Minute); len(evs) != 0 {
		t.Fatal(types(evs))
	}
	e1.expiringSent = true
	fresh := *e1
	fresh.expiringSent = false
	c.replace(map[litnode.PKPPublicKey]*entry{stays: &fresh}, t0)
	evs, _ := c.due(t0, time.Minute)
	if len(evs) != 1 || evs[0].PKP != gone || evs[0].Type != EventExpired {
		t.Fatalf("events = %+v; want expired for the vanished entry", evs)
	}
	if !fresh.expiringSent {
		t.Error("replace lost the event marks of an entry that stayed")
	}
}
