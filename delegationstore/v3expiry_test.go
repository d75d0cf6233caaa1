package delegationstore

import (
	"testing"
	"time"
)

// TestV3ExpiryEvents: a v3 credential with an expiresAt gets "expiring"
// the lead before it and "expired" at it, each once, as a Naga delegation
// does; a replacement starts over; a credential first seen after its
// expiry gets "expired" only.
func TestV3ExpiryEvents(t *testing.T) {
	const addr, other = "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23", "0x00000000000000000000000000000000000000aa"
	x := newV3Expiry(time.Minute)
	x.set(addr, t0.Add(10*time.Minute), 4)
	x.set(addr, t0.Add(10*time.Minute), 4) // the same revision again (a re-watch)
	evs, next := x.due(t0)
	if len(evs) != 0 || !next.Equal(t0.Add(9*time.Minute)) {
		t.Fatalf("at t0: %v, next %v; want none, t0+9m", types(evs), next)
	}
	evs, next = x.due(t0.Add(9 * time.Minute))
	want := Event{Type: EventExpiring, Backend: BackendLitV3, Address: addr, Expiration: t0.Add(10 * time.Minute), Revision: 4, ID: "v3credential-expiring-" + addr + "-4"}
	if len(evs) != 1 || evs[0] != want || !next.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("at t0+9m: %+v, next %v; want %+v, t0+10m", evs, next, want)
	}
	if evs, _ = x.due(t0.Add(9*time.Minute + time.Second)); len(evs) != 0 {
		t.Fatalf("expiring sent twice: %v", types(evs))
	}
	evs, next = x.due(t0.Add(10 * time.Minute))
	if len(evs) != 1 || evs[0].Type != EventExpired || evs[0].ID != "v3credential-expired-"+addr+"-4" || !next.IsZero() {
		t.Fatalf("at t0+10m: %+v, next %v; want [expired], none", evs, next)
	}
	// The server's TTL removal after that sends nothing more.
	x.remove(addr, t0.Add(10*time.Minute+time.Second))
	if evs, _ = x.due(t0.Add(time.Hour)); len(evs) != 0 {
		t.Fatalf("removal after expired sent %v", types(evs))
	}

	// A new revision starts over; one first seen past its expiry gets
	// "expired" only, and one without expiresAt none.
	x.set(addr, t0.Add(2*time.Hour), 5)
	x.set(other, t0.Add(30*time.Minute), 9)
	x.set("0x00000000000000000000000000000000000000bb", time.Time{}, 3)
	evs, next = x.due(t0.Add(time.Hour))
	if len(evs) != 1 || evs[0].Type != EventExpired || evs[0].Address != other || !next.Equal(t0.Add(2*time.Hour-time.Minute)) {
		t.Fatalf("at t0+1h: %+v, next %v", evs, next)
	}
	if len(x.byAddr) != 1 || len(x.timers) != 1 {
		t.Fatalf("tracked %d credentials in %d timers, want the one that expires later", len(x.byAddr), len(x.timers))
	}
}

// TestV3ExpiryRemovals: a credential removed before its expiry (revoked,
// replaced by one without expiresAt, or gone while no watch ran) gets no
// event; one removed by the server at its expiry before the tracker sent
// "expired" gets it then.
func TestV3ExpiryRemovals(t *testing.T) {
	const a, b, c, d = "0x00000000000000000000000000000000000000a1", "0x00000000000000000000000000000000000000b2",
		"0x00000000000000000000000000000000000000c3", "0x00000000000000000000000000000000000000d4"
	x := newV3Expiry(time.Minute)
	for i, addr := range []string{a, b, c, d} {
		x.set(addr, t0.Add(10*time.Minute), uint64(i+1))
	}
	x.remove(a, t0.Add(time.Minute))                // revoked
	x.set(b, time.Time{}, 7)                        // replaced, no expiry
	x.retain(map[string]struct{}{c: {}})            // a reload found c only
	x.remove(c, t0.Add(10*time.Minute+time.Second)) // the server's TTL, before the tracker ran
	evs, next := x.due(t0.Add(time.Hour))
	if len(evs) != 1 || evs[0].Type != EventExpired || evs[0].Address != c || evs[0].Revision != 3 || !next.IsZero() {
		t.Fatalf("events %+v, next %v; want only c's expired", evs, next)
	}
	if len(x.byAddr) != 0 || len(x.timers) != 0 {
		t.Fatalf("still tracking %d / %d", len(x.byAddr), len(x.timers))
	}
}
