package delegationstore_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/internal/natstest"
	"github.com/litsignd/litsignd/litnode"
)

// openStore opens a store on js and runs it until the test ends. It
// returns once the cache is loaded.
func openStore(t *testing.T, js jetstream.JetStream, cfg delegationstore.Config) *delegationstore.Store {
	t.Helper()
	if cfg.KEK == nil {
		cfg.KEK = delegationstore.NewTestKeyring(t, "k1")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := delegationstore.Open(t.Context(), js, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil after cancel", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	select {
	case <-s.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("store not ready")
	}
	return s
}

// eventually polls cond every 10ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGet waits until Get returns a delegation with the given revision.
func waitGet(t *testing.T, s *delegationstore.Store, pkp litnode.PKPPublicKey, rev uint64) *delegationstore.Delegation {
	t.Helper()
	var d *delegationstore.Delegation
	eventually(t, 5*time.Second, "the cache to hold the delegation", func() bool {
		got, err := s.Get(t.Context(), pkp)
		if err == nil && got.Revision == rev {
			d = got
			return true
		}
		return false
	})
	return d
}

func put(t *testing.T, s *delegationstore.Store, h *litnode.HandOff) delegationstore.PutResult {
	t.Helper()
	res, err := s.Put(t.Context(), h)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	return res
}

func TestPutGet(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	s := openStore(t, js, delegationstore.Config{})

	pkp, sk := delegationstore.NewTestPKP(t), delegationstore.NewTestSessionKey(t)
	now := time.Now()
	issued, exp := now.Add(-time.Minute).Truncate(time.Millisecond), now.Add(time.Hour).Truncate(time.Millisecond)
	h := delegationstore.NewTestHandOff(t, pkp, sk, issued, exp)

	if _, err := s.Get(t.Context(), pkp); !errors.Is(err, delegationstore.ErrNotFound) {
		t.Fatalf("Get before Put = %v, want ErrNotFound", err)
	}
	res := put(t, s, h)
	if res.Revision == 0 || res.Replaced || res.Unchanged {
		t.Fatalf("Put = %+v, want a new revision, not replaced", res)
	}
	d := waitGet(t, s, pkp, res.Revision)
	if d.PKP != pkp || !d.SessionKey.Equal(sk) || d.AuthSig != h.Delegation {
		t.Errorf("Get = %+v, want the stored hand-off", d)
	}
	if !d.IssuedAt.Equal(issued) || !d.Expiration.Equal(exp) || d.StoredAt.IsZero() {
		t.Errorf("times: issued %v exp %v stored %v", d.IssuedAt, d.Expiration, d.StoredAt)
	}
	if d.Parsed == nil || !d.Parsed.Grants(pkp.ResourceKey(), litnode.AbilityPKPSigning) {
		t.Error("Parsed does not grant pkp-signing")
	}

	list, err := s.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := delegationstore.Summary{
		PKP: pkp.Hex(), SessionPublicKey: sk.PublicKey().Hex(), IssuedAt: issued, Expiration: exp,
		StoredAt: d.StoredAt, Revision: res.Revision, Resources: []string{"lit-pkp://*|pkp-signing"}, KeyID: "k1",
	}
	if len(list) != 1 || !summaryEqual(list[0], want) {
		t.Fatalf("List = %+v, want [%+v]", list, want)
	}
}

func summaryEqual(a, b delegationstore.Summary) bool {
	return a.PKP == b.PKP && a.SessionPublicKey == b.SessionPublicKey && a.IssuedAt.Equal(b.IssuedAt) &&
		a.Expiration.Equal(b.Expiration) && a.StoredAt.Equal(b.StoredAt) && a.Revision == b.Revision &&
		slices.Equal(a.Resources, b.Resources) && a.KeyID == b.KeyID
}

// TestPutGet_Vector stores the real lit.bls delegation of the litnode test
// vectors, with the clock set to the vectors' frozen time.
func TestPutGet_Vector(t *testing.T) {
	vec := loadVector(t)
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	frozen := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	s := openStore(t, js, delegationstore.Config{Now: func() time.Time { return frozen }})

	res := put(t, s, vec)
	d := waitGet(t, s, vec.PKP, res.Revision)
	if !d.SessionKey.Equal(vec.SessionKey) {
		t.Error("session key differs")
	}
	if !d.Expiration.Equal(time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("expiration = %v", d.Expiration)
	}
	if !d.Parsed.Grants(vec.PKP.ResourceKey(), litnode.AbilityPKPSigning) {
		t.Error("vector delegation should grant pkp-signing")
	}
	list, err := s.List(t.Context())
	if err != nil || len(list) != 1 || !slices.Contains(list[0].Resources, "lit-pkp://*|pkp-signing") {
		t.Fatalf("List = %+v, %v", list, err)
	}

	// The same vector a day later is expired.
	late := delegationstore.Config{Bucket: "late", Now: func() time.Time { return frozen.Add(25 * time.Hour) }}
	s2 := openStore(t, js, late)
	if _, err := s2.Put(t.Context(), vec); !errors.Is(err, delegationstore.ErrExpired) {
		t.Fatalf("Put of an expired delegation = %v, want ErrExpired", err)
	}
}

// TestSecretNotStored checks that neither the session secret (hex or raw)
// nor the KEK appears in the raw KV value or anywhere in the server's store
// directory, while the public parts of the record do (so the scan is real).
func TestSecretNotStored(t *testing.T) {
	ns, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	kr := delegationstore.NewTestKeyring(t, "k1")
	s := openStore(t, js, delegationstore.Config{KEK: kr})

	pkp, sk := delegationstore.NewTestPKP(t), delegationstore.NewTestSessionKey(t)
	now := time.Now()
	h := delegationstore.NewTestHandOff(t, pkp, sk, now.Add(-time.Minute), now.Add(time.Hour))
	put(t, s, h)
	// A replacement too: the superseded secret must not linger either.
	sk2 := delegationstore.NewTestSessionKey(t)
	put(t, s, delegationstore.NewTestHandOff(t, pkp, sk2, now, now.Add(time.Hour)))

	seed, seed2 := sk.Seed(), sk2.Seed()
	kek := delegationstore.KEKBytes(kr.Current())
	forbidden := map[string][]byte{
		"secret hex":        []byte(sk.RevealSecretHex()),
		"secret raw":        seed,
		"secret hex (2)":    []byte(sk2.RevealSecretHex()),
		"secret raw (2)":    seed2,
		"secret HEX":        []byte(strings.ToUpper(sk.RevealSecretHex())),
		"KEK hex":           []byte(hex.EncodeToString(kek)),
		"KEK raw":           kek,
		"secret base64 (2)": []byte(strings.TrimRight(jsonB64(seed2), "=")),
	}

	kv, err := js.KeyValue(t.Context(), delegationstore.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(t.Context(), pkp.Hex())
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range forbidden {
		if bytes.Contains(e.Value(), b) {
			t.Errorf("raw KV value contains the %s", name)
		}
	}
	if !bytes.Contains(e.Value(), []byte(sk2.PublicKey().Hex())) {
		t.Fatal("raw KV value lacks the session public key; is this the record?")
	}

	// Stop the server so everything is flushed, then scan every file.
	storeDir := ns.StoreDir()
	ns.Shutdown()
	ns.WaitForShutdown()
	sawRecord := false
	files := 0
	err = filepath.WalkDir(storeDir, func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for name, b := range forbidden {
			if bytes.Contains(data, b) {
				t.Errorf("%s contains the %s", path, name)
			}
		}
		if bytes.Contains(data, []byte(sk2.PublicKey().Hex())) {
			sawRecord = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sawRecord {
		t.Fatalf("no file of %d under %s holds the record's public parts; the scan proves nothing", files, storeDir)
	}
}

func TestPut_OlderNeverReplacesNewer(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	s := openStore(t, js, delegationstore.Config{})
	pkp := delegationstore.NewTestPKP(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	hand := func(issued, exp time.Duration) *litnode.HandOff {
		return delegationstore.NewTestHandOff(t, pkp, delegationstore.NewTestSessionKey(t), base.Add(issued), base.Add(exp))
	}

	newer := hand(10*time.Minute, 3*time.Hour)
	rNewer := put(t, s, newer)

	older := hand(0, 5*time.Hour) // earlier issued-at, even with a later expiry
	if _, err := s.Put(t.Context(), older); !errors.Is(err, delegationstore.ErrStale) {
		t.Fatalf("older Put = %v, want ErrStale", err)
	}
	tieEarlier := hand(10*time.Minute, 2*time.Hour)
	if _, err := s.Put(t.Context(), tieEarlier); !errors.Is(err, delegationstore.ErrStale) {
		t.Fatalf("same issued-at, earlier expiry: Put = %v, want ErrStale", err)
	}
	tieSame := hand(10*time.Minute, 3*time.Hour) // other session key, same times
	if _, err := s.Put(t.Context(), tieSame); !errors.Is(err, delegationstore.ErrStale) {
		t.Fatalf("same issued-at and expiry: Put = %v, want ErrStale", err)
	}

	// Redelivery of the stored delegation: an unchanged success.
	again, err := s.Put(t.Context(), newer)
	if err != nil || !again.Unchanged || again.Revision != rNewer.Revision || again.Replaced {
		t.Fatalf("redelivered Put = %+v, %v; want unchanged at revision %d", again, err, rNewer.Revision)
	}
	d := waitGet(t, s, pkp, rNewer.Revision)
	if !d.SessionKey.Equal(newer.SessionKey) {
		t.Fatal("stored delegation is not the newer one")
	}

	// Same issued-at and a later expiry replaces.
	tieLater := hand(10*time.Minute, 4*time.Hour)
	r := put(t, s, tieLater)
	if !r.Replaced || r.Revision <= rNewer.Revision {
		t.Fatalf("tie with later expiry: Put = %+v, want a replacement", r)
	}
	// And a later issued-at replaces even with an earlier expiry.
	later := hand(20*time.Minute, 90*time.Minute)
	r2 := put(t, s, later)
	if !r2.Replaced {
		t.Fatalf("later issued-at: Put = %+v, want a replacement", r2)
	}
	d = waitGet(t, s, pkp, r2.Revision)
	if !d.SessionKey.Equal(later.SessionKey) {
		t.Fatal("stored delegation is not the latest")
	}
	// The replayed older ones still lose.
	for _, h := range []*litnode.HandOff{newer, older, tieLater} {
		if _, err := s.Put(t.Context(), h); !errors.Is(err, delegationstore.ErrStale) {
			t.Fatalf("replay: Put = %v, want ErrStale", err)
		}
	}
}

func TestPut_ConcurrentVersions(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	// Two stores on one bucket, like two daemon replicas (same KEK).
	kr := delegationstore.NewTestKeyring(t, "k1")
	a := openStore(t, js, delegationstore.Config{KEK: kr})
	_, js2 := natstest.Connect(t, url)
	b := openStore(t, js2, delegationstore.Config{KEK: kr})

	pkp := delegationstore.NewTestPKP(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	const versions = 12
	hands := make([]*litnode.HandOff, versions)
	for i := range hands {
		hands[i] = delegationstore.NewTestHandOff(t, pkp, delegationstore.NewTestSessionKey(t), base.Add(time.Duration(i)*time.Minute), base.Add(3*time.Hour))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*versions)
	for round := range 2 { // every version twice: redeliveries race too
		for i, h := range hands {
			s := a
			if (i+round)%2 == 1 {
				s = b
			}
			wg.Go(func() {
				_, err := s.Put(context.Background(), h)
				if err != nil && !errors.Is(err, delegationstore.ErrStale) {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Put: %v", err)
	}
	list, err := a.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	newest := hands[versions-1].SessionKey.PublicKey().Hex()
	if len(list) != 1 || list[0].SessionPublicKey != newest {
		t.Fatalf("after concurrent Puts the bucket holds %+v, want session %s", list, newest)
	}
	eventually(t, 5*time.Second, "the cache to converge on the newest", func() bool {
		d, err := a.Get(t.Context(), pkp)
		return err == nil && d.Revision == list[0].Revision
	})
}

func TestRevoke(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	s := openStore(t, js, delegationstore.Config{})
	now := time.Now()

	pkp, sk := delegationstore.NewTestPKP(t), delegationstore.NewTestSessionKey(t)
	res := put(t, s, delegationstore.NewTestHandOff(t, pkp, sk, now.Add(-time.Minute), now.Add(time.Hour)))
	waitGet(t, s, pkp, res.Revision)

	wrong := delegationstore.NewTestSessionKey(t).PublicKey()
	if ok, err := s.Revoke(t.Context(), pkp, &wrong); ok || err != nil {
		t.Fatalf("Revoke with another session key = %v, %v; want false, nil", ok, err)
	}
	if _, err := s.Get(t.Context(), pkp); err != nil {
		t.Fatalf("after a no-op revoke Get = %v", err)
	}
	right := sk.PublicKey()
	if ok, err := s.Revoke(t.Context(), pkp, &right); !ok || err != nil {
		t.Fatalf("Revoke with the session key = %v, %v; want true, nil", ok, err)
	}
	eventually(t, 5*time.Second, "the revoked delegation to leave the cache", func() bool {
		_, err := s.Get(t.Context(), pkp)
		return errors.Is(err, delegationstore.ErrNotFound)
	})
	if ok, err := s.Revoke(t.Context(), pkp, nil); ok || err != nil {
		t.Fatalf("Revoke of nothing = %v, %v; want false, nil", ok, err)
	}
	if list, _ := s.List(t.Context()); len(list) != 0 {
		t.Fatalf("List after revoke = %+v", list)
	}

	// Attack: the captured hand-off of the revoked pair, replayed (even a
	// newer delegation to the same session key), stores nothing.
	if _, err := s.Put(t.Context(), delegationstore.NewTestHandOff(t, pkp, sk, now.Add(-time.Minute), now.Add(time.Hour))); !errors.Is(err, delegationstore.ErrRevoked) {
		t.Fatalf("replayed revoked hand-off: Put = %v, want ErrRevoked", err)
	}
	if _, err := s.Put(t.Context(), delegationstore.NewTestHandOff(t, pkp, sk, now, now.Add(2*time.Hour))); !errors.Is(err, delegationstore.ErrRevoked) {
		t.Fatalf("new delegation to the revoked session key: Put = %v, want ErrRevoked", err)
	}

	// Operator revocation of a delegation to a new session key; then a new
	// Put over the purge marker works, and the operator's revocation sticks
	// too.
	sk2 := delegationstore.NewTestSessionKey(t)
	res = put(t, s, delegationstore.NewTestHandOff(t, pkp, sk2, now.Add(-time.Minute), now.Add(time.Hour)))
	if res.Replaced {
		t.Error("a Put after revocation should not count as a replacement")
	}
	waitGet(t, s, pkp, res.Revision)
	if ok, err := s.Revoke(t.Context(), pkp, nil); !ok || err != nil {
		t.Fatalf("operator Revoke = %v, %v; want true, nil", ok, err)
	}
	// Barrier: the revoking replica's cache no longer has it on return.
	if _, err := s.Get(t.Context(), pkp); !errors.Is(err, delegationstore.ErrNotFound) {
		t.Fatalf("Get right after Revoke returned = %v, want ErrNotFound", err)
	}
	if _, err := s.Put(t.Context(), delegationstore.NewTestHandOff(t, pkp, sk2, now.Add(-time.Minute), now.Add(time.Hour))); !errors.Is(err, delegationstore.ErrRevoked) {
		t.Fatalf("replay after an operator revocation: Put = %v, want ErrRevoked", err)
	}
}

// TestRevokeSigned: a client's revocation deletes only a delegation issued
// no later than it was signed; a replayed revocation never deletes a later
// re-delegation (to a new session key, or to the same one stored first).
func TestRevokeSigned(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	s := openStore(t, js, delegationstore.Config{})
	now := time.Now()
	pkp, sk := delegationstore.NewTestPKP(t), delegationstore.NewTestSessionKey(t)
	res := put(t, s, delegationstore.NewTestHandOff(t, pkp, sk, now.Add(-time.Hour), now.Add(time.Hour)))
	waitGet(t, s, pkp, res.Revision)
	signed := now.Add(-time.Minute)
	if ok, err := s.RevokeSigned(t.Context(), pkp, sk.PublicKey(), signed); !ok || err != nil {
		t.Fatalf("RevokeSigned = %v, %v", ok, err)
	}
	// Re-delegation to a new key, then the revocation replayed.
	sk2 := delegationstore.NewTestSessionKey(t)
	res = put(t, s, delegationstore.NewTestHandOff(t, pkp, sk2, now.Add(-30*time.Second), now.Add(time.Hour)))
	waitGet(t, s, pkp, res.Revision)
	if ok, err := s.RevokeSigned(t.Context(), pkp, sk.PublicKey(), signed); ok || err != nil {
		t.Fatalf("replayed revocation = %v, %v; want false, nil", ok, err)
	}
	// A revocation of sk2 signed before sk2's delegation was issued (it
	// crossed the hand-off) deletes nothing.
	if ok, err := s.RevokeSigned(t.Context(), pkp, sk2.PublicKey(), now.Add(-40*time.Second)); ok || !errors.Is(err, delegationstore.ErrRevocationOlder) {
		t.Fatalf("older revocation = %v, %v; want false, ErrRevocationOlder", ok, err)
	}
	if d, err := s.Get(t.Context(), pkp); err != nil || d.SessionKey.PublicKey() != sk2.PublicKey() {
		t.Fatalf("the re-delegation is gone: %v", err)
	}
	// A revocation of a pair never stored sticks as well.
	sk3 := delegationstore.NewTestSessionKey(t)
	if ok, err := s.RevokeSigned(t.Context(), pkp, sk3.PublicKey(), now); ok || err != nil {
		t.Fatalf("revocation of an unknown pair = %v, %v", ok, err)
	}
	if _, err := s.Put(t.Context(), delegationstore.NewTestHandOff(t, pkp, sk3, now, now.Add(2*time.Hour))); !errors.Is(err, delegationstore.ErrRevoked) {
		t.Fatalf("hand-off of a pair revoked before it arrived: Put = %v, want ErrRevoked", err)
	}
}

type eventLog struct {
	mu  sync.Mutex
	evs []delegationstore.Event
}

func (l *eventLog) add(ev delegationstore.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, ev)
}

func (l *eventLog) get() []delegationstore.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.evs)
}

// TestExpiry: a delegation that expires in about 2 s gets "expiring" about
// 1 s before, then "expired", and the server removes its key, which the
// cache follows.
func TestExpiry(t *testing.T) {
	t.Parallel()
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	var log eventLog
	s := openStore(t, js, delegationstore.Config{ExpiringLead: time.Second, OnEvent: log.add})
	kv, err := js.KeyValue(t.Context(), delegationstore.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}

	pkp, sk := delegationstore.NewTestPKP(t), delegationstore.NewTestSessionKey(t)
	start := time.Now()
	exp := start.Add(2 * time.Second).Truncate(time.Millisecond)
	res := put(t, s, delegationstore.NewTestHandOff(t, pkp, sk, start.Add(-time.Minute), exp))
	waitGet(t, s, pkp, res.Revision)

	eventually(t, 10*time.Second, "the key to expire from the KV", func() bool {
		_, err := kv.Get(t.Context(), pkp.Hex())
		return errors.Is(err, jetstream.ErrKeyNotFound)
	})
	gone := time.Since(start)
	if gone < 1500*time.Millisecond {
		t.Errorf("key gone after %v, before its expiration", gone)
	}
	eventually(t, 5*time.Second, "the cache to drop the expired key", func() bool {
		_, err := s.Get(t.Context(), pkp)
		return errors.Is(err, delegationstore.ErrNotFound)
	})
	eventually(t, 5*time.Second, "both events", func() bool { return len(log.get()) >= 2 })
	evs := log.get()
	if len(evs) != 2 || evs[0].Type != delegationstore.EventExpiring || evs[1].Type != delegationstore.EventExpired {
		t.Fatalf("events = %+v, want expiring then expired", evs)
	}
	for _, ev := range evs {
		if ev.PKP != pkp || ev.Revision != res.Revision || ev.SessionPublicKey != sk.PublicKey().Hex() || !ev.Expiration.Equal(exp) {
			t.Errorf("event = %+v", ev)
		}
	}
	if evs[0].ID == evs[1].ID || !strings.Contains(evs[0].ID, pkp.Hex()) {
		t.Errorf("event IDs %q, %q", evs[0].ID, evs[1].ID)
	}
}

// TestExpiry_ReplacementKeepsTTL: replacing a long-lived delegation with a
// short-lived one keeps a TTL (the key still expires), and the replaced
// revision does not come back.
func TestExpiry_ReplacementKeepsTTL(t *testing.T) {
	t.Parallel()
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	s := openStore(t, js, delegationstore.Config{})
	kv, err := js.KeyValue(t.Context(), delegationstore.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	pkp := delegationstore.NewTestPKP(t)
	now := time.Now()
	long := delegationstore.NewTestHandOff(t, pkp, delegationstore.NewTestSessionKey(t), now.Add(-time.Hour), now.Add(time.Hour))
	put(t, s, long)
	short := delegationstore.NewTestHandOff(t, pkp, delegationstore.NewTestSessionKey(t), now.Add(-time.Minute), now.Add(2*time.Second))
	res := put(t, s, short)
	if !res.Replaced {
		t.Fatalf("Put = %+v, want a replacement", res)
	}
	if e, err := kv.Get(t.Context(), pkp.Hex()); err != nil || e.Revision() != res.Revision {
		t.Fatalf("kv.Get = %v, %v", e, err)
	}
	eventually(t, 10*time.Second, "the replaced key to expire", func() bool {
		_, err := kv.Get(t.Context(), pkp.Hex())
		return errors.Is(err, jetstream.ErrKeyNotFound)
	})
	// It stays gone: the long-lived revision does not resurface.
	time.Sleep(500 * time.Millisecond)
	if e, err := kv.Get(t.Context(), pkp.Hex()); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("after expiry kv.Get = %v, %v; an older revision came back", e, err)
	}
	eventually(t, 5*time.Second, "the cache to drop the key", func() bool {
		_, err := s.Get(t.Context(), pkp)
		return errors.Is(err, delegationstore.ErrNotFound)
	})
}

// TestExpiry_RePut: Puts after expiry work, both over the marker the
// server leaves at expiry and after that marker has expired in turn. (The
// race of docs/jetstream.md A.4, the marker vanishing between read and
// write, is made deterministic in TestPut_MarkerVanishesBeforeWrite.)
func TestExpiry_RePut(t *testing.T) {
	t.Parallel()
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	s := openStore(t, js, delegationstore.Config{MarkerTTL: time.Second})
	stream, err := js.Stream(t.Context(), "KV_"+delegationstore.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	last := func(pkp litnode.PKPPublicKey) (*jetstream.RawStreamMsg, error) {
		return stream.GetLastMsgForSubject(t.Context(), "$KV."+delegationstore.DefaultBucket+"."+pkp.Hex())
	}
	overMarker, afterMarker := delegationstore.NewTestPKP(t), delegationstore.NewTestPKP(t)
	now := time.Now()
	for _, pkp := range []litnode.PKPPublicKey{overMarker, afterMarker} {
		put(t, s, delegationstore.NewTestHandOff(t, pkp, delegationstore.NewTestSessionKey(t), now.Add(-time.Minute), now.Add(time.Second)))
	}
	eventually(t, 10*time.Second, "both keys to expire into markers", func() bool {
		for _, pkp := range []litnode.PKPPublicKey{overMarker, afterMarker} {
			m, err := last(pkp)
			if err != nil || m.Header.Get(jetstream.MarkerReasonHeader) != "MaxAge" {
				return false
			}
		}
		return true
	})
	rePut := func(pkp litnode.PKPPublicKey) {
		t.Helper()
		h := delegationstore.NewTestHandOff(t, pkp, delegationstore.NewTestSessionKey(t), time.Now(), time.Now().Add(time.Hour))
		res := put(t, s, h)
		if res.Replaced {
			t.Errorf("re-Put after expiry counted as a replacement")
		}
		if d := waitGet(t, s, pkp, res.Revision); !d.SessionKey.Equal(h.SessionKey) {
			t.Fatal("re-put delegation not served")
		}
	}
	rePut(overMarker)
	eventually(t, 10*time.Second, "the expiry marker to expire", func() bool {
		_, err := last(afterMarker)
		return errors.Is(err, jetstream.ErrMsgNotFound)
	})
	rePut(afterMarker)
}

// TestRestart: delegations survive a restart of the server on the same
// store directory, and unseal in a new store.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	kr := delegationstore.NewTestKeyring(t, "k1")
	pkp, sk := delegationstore.NewTestPKP(t), delegationstore.NewTestSessionKey(t)
	now := time.Now()
	h := delegationstore.NewTestHandOff(t, pkp, sk, now.Add(-time.Minute), now.Add(time.Hour))

	ns1, url1 := natstest.RunJetStreamDir(t, dir)
	nc1, js1 := natstest.Connect(t, url1)
	s1, err := delegationstore.Open(t.Context(), js1, delegationstore.Config{KEK: kr})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s1.Put(t.Context(), h)
	if err != nil {
		t.Fatal(err)
	}
	nc1.Close()
	ns1.Shutdown()
	ns1.WaitForShutdown()

	_, url2 := natstest.RunJetStreamDir(t, dir)
	_, js2 := natstest.Connect(t, url2)
	s2 := openStore(t, js2, delegationstore.Config{KEK: kr})
	d, err := s2.Get(t.Context(), pkp)
	if err != nil {
		t.Fatalf("Get after restart: %v", err)
	}
	if d.Revision != res.Revision || !d.SessionKey.Equal(sk) || d.AuthSig != h.Delegation {
		t.Fatalf("Get after restart = %+v", d)
	}
}

func TestKEKRotation(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	oldRing := delegationstore.NewTestKeyring(t, "old")
	old := oldRing.Current()
	newKEK, err := delegationstore.GenerateKEK("new")
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := delegationstore.NewKeyring(newKEK, old)
	if err != nil {
		t.Fatal(err)
	}
	newOnly, err := delegationstore.NewKeyring(newKEK)
	if err != nil {
		t.Fatal(err)
	}

	pkp, sk := delegationstore.NewTestPKP(t), delegationstore.NewTestSessionKey(t)
	now := time.Now()
	before := openStore(t, js, delegationstore.Config{KEK: oldRing})
	res := put(t, before, delegationstore.NewTestHandOff(t, pkp, sk, now.Add(-time.Minute), now.Add(time.Hour)))

	after := openStore(t, js, delegationstore.Config{KEK: rotated})
	d, err := after.Get(t.Context(), pkp)
	if err != nil || !d.SessionKey.Equal(sk) {
		t.Fatalf("Get with [new, old] = %v, %v", d, err)
	}
	// Not yet resealed: a keyring without the old key cannot open it.
	strict := openStore(t, js, delegationstore.Config{KEK: newOnly})
	if _, err := strict.Get(t.Context(), pkp); !errors.Is(err, delegationstore.ErrSealed) {
		t.Fatalf("Get with [new] before reseal = %v, want ErrSealed", err)
	}
	n, err := after.ResealAll(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("ResealAll = %d, %v; want 1", n, err)
	}
	if again, err := after.Reseal(t.Context(), pkp); again || err != nil {
		t.Fatalf("second Reseal = %v, %v; want false, nil", again, err)
	}
	list, err := after.List(t.Context())
	if err != nil || len(list) != 1 || list[0].KeyID != "new" || list[0].Revision <= res.Revision {
		t.Fatalf("List after reseal = %+v, %v", list, err)
	}
	eventually(t, 5*time.Second, "the new-key-only store to open the resealed secret", func() bool {
		d, err := strict.Get(t.Context(), pkp)
		return err == nil && d.SessionKey.Equal(sk)
	})
	// And the old-key-only store can no longer.
	eventually(t, 5*time.Second, "the old-key-only store to fail", func() bool {
		_, err := before.Get(t.Context(), pkp)
		return errors.Is(err, delegationstore.ErrSealed)
	})
}

func TestWrongKEK(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	pkp := delegationstore.NewTestPKP(t)
	now := time.Now()
	s := openStore(t, js, delegationstore.Config{KEK: delegationstore.NewTestKeyring(t, "k1")})
	put(t, s, delegationstore.NewTestHandOff(t, pkp, delegationstore.NewTestSessionKey(t), now.Add(-time.Minute), now.Add(time.Hour)))

	for _, kr := range []*delegationstore.Keyring{
		delegationstore.NewTestKeyring(t, "k1"),       // same id, other key
		delegationstore.NewTestKeyring(t, "k2", "k3"), // unknown id
	} {
		other := openStore(t, js, delegationstore.Config{KEK: kr})
		if _, err := other.Get(t.Context(), pkp); !errors.Is(err, delegationstore.ErrSealed) {
			t.Fatalf("Get with %v = %v, want ErrSealed", kr, err)
		}
	}
}

// TestSecretsNeverLogged runs every path (put, replace, stale, get,
// sealed, revoke, expiry) with debug logging into a buffer and checks that
// neither the session secrets nor the KEK shows up in the logs or in any
// error string.
func TestSecretsNeverLogged(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	var buf syncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	kr := delegationstore.NewTestKeyring(t, "k1")
	var log eventLog
	s := openStore(t, js, delegationstore.Config{KEK: kr, Logger: logger, ExpiringLead: time.Hour, OnEvent: log.add})
	wrong := openStore(t, js, delegationstore.Config{KEK: delegationstore.NewTestKeyring(t, "k1"), Logger: logger})

	pkp := delegationstore.NewTestPKP(t)
	now := time.Now()
	var keys []*litnode.SessionKey
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	h1 := delegationstore.NewTestHandOff(t, pkp, delegationstore.NewTestSessionKey(t), now.Add(-time.Minute), now.Add(time.Hour))
	h2 := delegationstore.NewTestHandOff(t, pkp, delegationstore.NewTestSessionKey(t), now, now.Add(time.Hour))
	keys = append(keys, h1.SessionKey, h2.SessionKey)
	_, err := s.Put(t.Context(), h1)
	note(err)
	res, err := s.Put(t.Context(), h2)
	note(err)
	_, err = s.Put(t.Context(), h1) // stale
	note(err)
	expired := delegationstore.NewTestHandOff(t, pkp, delegationstore.NewTestSessionKey(t), now.Add(-time.Hour), now.Add(-time.Minute))
	keys = append(keys, expired.SessionKey)
	_, err = s.Put(t.Context(), expired)
	note(err)
	mismatched := *h2
	mismatched.SessionKey = delegationstore.NewTestSessionKey(t)
	keys = append(keys, mismatched.SessionKey)
	_, err = s.Put(t.Context(), &mismatched)
	note(err)
	d := waitGet(t, s, pkp, res.Revision)
	logger.Info("got", "delegation", d, "session_key", d.SessionKey)
	eventually(t, 5*time.Second, "the wrong-KEK store to fail", func() bool {
		_, err := wrong.Get(t.Context(), pkp)
		if errors.Is(err, delegationstore.ErrSealed) {
			note(err)
			return true
		}
		return false
	})
	_, err = s.Get(t.Context(), delegationstore.NewTestPKP(t))
	note(err)
	eventually(t, 5*time.Second, "an expiring event", func() bool { return len(log.get()) > 0 })
	_, err = s.Revoke(t.Context(), pkp, nil)
	note(err)
	if len(errs) < 5 {
		t.Fatalf("expected errors from the failing paths, got %d", len(errs))
	}

	var forbidden []string
	for _, k := range keys {
		forbidden = append(forbidden, k.RevealSecretHex(), string(k.Seed()), jsonB64(k.Seed()))
	}
	kek := delegationstore.KEKBytes(kr.Current())
	forbidden = append(forbidden, hex.EncodeToString(kek), string(kek), jsonB64(kek))
	var all strings.Builder
	all.WriteString(buf.String())
	for _, err := range errs {
		all.WriteString(err.Error())
	}
	for _, f := range forbidden {
		if strings.Contains(all.String(), f) {
			t.Fatalf("a secret appears in the logs or errors:\n%s", all.String())
		}
	}
	if !strings.Contains(buf.String(), pkp.Hex()) {
		t.Fatal("the logs do not even name the PKP; was the logger used?")
	}
}

func TestMetrics(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	reg := prometheus.NewRegistry()
	s := openStore(t, js, delegationstore.Config{Registerer: reg})

	pkp := delegationstore.NewTestPKP(t)
	now := time.Now()
	res := put(t, s, delegationstore.NewTestHandOff(t, pkp, delegationstore.NewTestSessionKey(t), now.Add(-time.Minute), now.Add(time.Hour)))
	waitGet(t, s, pkp, res.Revision) // one or more hits (and maybe misses while the watch catches up)
	misses := gatheredLabel(t, reg, "litsignd_delegation_lookups_total", "result", "miss")
	if _, err := s.Get(t.Context(), delegationstore.NewTestPKP(t)); !errors.Is(err, delegationstore.ErrNotFound) {
		t.Fatal(err)
	}

	if got := gathered(t, reg, "litsignd_delegations_active"); got != 1 {
		t.Errorf("litsignd_delegations_active = %v, want 1", got)
	}
	if got := gathered(t, reg, "litsignd_delegation_nearest_expiry_seconds"); got < 3500 || got > 3600 {
		t.Errorf("litsignd_delegation_nearest_expiry_seconds = %v, want about 3600", got)
	}
	if got := gatheredLabel(t, reg, "litsignd_delegation_lookups_total", "result", "hit"); got < 1 {
		t.Errorf("lookups{hit} = %v", got)
	}
	if got := gatheredLabel(t, reg, "litsignd_delegation_lookups_total", "result", "miss"); got != misses+1 {
		t.Errorf("lookups{miss} = %v, want %v", got, misses+1)
	}
	if got := gatheredLabel(t, reg, "litsignd_delegation_puts_total", "result", "created"); got != 1 {
		t.Errorf("puts{created} = %v, want 1", got)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("metric lint: %v %+v", err, problems)
	}

	// A second store on the same registry is refused, not a panic.
	if _, err := delegationstore.Open(t.Context(), js, delegationstore.Config{KEK: delegationstore.NewTestKeyring(t, "k"), Registerer: reg}); err == nil {
		t.Error("Open registered the same metrics twice")
	}
	// Without a registerer nothing is registered and nothing breaks.
	openStore(t, js, delegationstore.Config{Bucket: "nometrics"})
}

func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	return gatheredLabel(t, reg, name, "", "")
}

func gatheredLabel(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					match = true
				}
			}
			if !match {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("metric %s{%s=%q} not gathered", name, label, value)
	return 0
}

func TestOpen_Config(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	if _, err := delegationstore.Open(t.Context(), js, delegationstore.Config{}); err == nil {
		t.Error("Open without a KEK succeeded")
	}
	kr := delegationstore.NewTestKeyring(t, "k")
	if _, err := delegationstore.Open(t.Context(), js, delegationstore.Config{KEK: kr, Bucket: "bad.name"}); err == nil {
		t.Error("Open with a bad bucket name succeeded")
	}
	if _, err := delegationstore.Open(t.Context(), js, delegationstore.Config{KEK: kr, MarkerTTL: time.Millisecond}); err == nil {
		t.Error("Open with a marker TTL below 1s succeeded")
	}
	s, err := delegationstore.Open(t.Context(), js, delegationstore.Config{KEK: kr, Bucket: "custom"})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(t.Context(), "custom")
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.LimitMarkerTTL() != delegationstore.DefaultMarkerTTL || st.History() != 1 {
		t.Errorf("bucket: marker TTL %v, history %d", st.LimitMarkerTTL(), st.History())
	}
	// Opening again (a second replica, a restart) is fine.
	if _, err := delegationstore.Open(t.Context(), js, delegationstore.Config{KEK: kr, Bucket: "custom"}); err != nil {
		t.Errorf("second Open: %v", err)
	}
	// Get waits for Ready: without Run it gives up with the context.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Get(ctx, delegationstore.NewTestPKP(t)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get before Run = %v, want DeadlineExceeded", err)
	}
	if err := s.Run(canceled()); err != nil {
		t.Errorf("Run on a canceled context = %v", err)
	}
	if err := s.Run(canceled()); err == nil {
		t.Error("second Run succeeded")
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestAdmin(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	if _, err := delegationstore.OpenAdmin(t.Context(), js, ""); err == nil {
		t.Fatal("OpenAdmin on a missing bucket succeeded")
	}
	s := openStore(t, js, delegationstore.Config{})
	pkp := delegationstore.NewTestPKP(t)
	now := time.Now()
	res := put(t, s, delegationstore.NewTestHandOff(t, pkp, delegationstore.NewTestSessionKey(t), now.Add(-time.Minute), now.Add(time.Hour)))

	admin, err := delegationstore.OpenAdmin(t.Context(), js, "")
	if err != nil {
		t.Fatal(err)
	}
	list, err := admin.List(t.Context())
	if err != nil || len(list) != 1 || list[0].PKP != pkp.Hex() || list[0].Revision != res.Revision {
		t.Fatalf("admin List = %+v, %v", list, err)
	}
	if ok, err := admin.Revoke(t.Context(), pkp, nil); !ok || err != nil {
		t.Fatalf("admin Revoke = %v, %v", ok, err)
	}
	eventually(t, 5*time.Second, "the store to drop the revoked delegation", func() bool {
		_, err := s.Get(t.Context(), pkp)
		return errors.Is(err, delegationstore.ErrNotFound)
	})
}

// TestPolicyStored: the hand-off's policy is stored with the delegation,
// shown by List, returned by Get, and an invalid one stores nothing. A
// redelivery with another policy changes nothing: only a newer hand-off
// does.
func TestPolicyStored(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	s := openStore(t, js, delegationstore.Config{})
	now := time.Now()
	pkp, sk := delegationstore.NewTestPKP(t), delegationstore.NewTestSessionKey(t)
	h := delegationstore.NewTestHandOff(t, pkp, sk, now.Add(-time.Minute), now.Add(time.Hour))
	h.Policy = []byte(`{"producers":["billing"],"maxJobsPerMinute":5}`)
	res := put(t, s, h)
	waitGet(t, s, pkp, res.Revision)
	d, err := s.Get(t.Context(), pkp)
	if err != nil || d.Policy == nil || d.Policy.MaxJobsPerMinute != 5 || d.Policy.Producers[0] != "billing" {
		t.Fatalf("Get policy = %v, %v", d.Policy, err)
	}
	list, err := s.List(t.Context())
	if err != nil || len(list) != 1 || list[0].Policy == nil || list[0].Policy.MaxJobsPerMinute != 5 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	h2 := *h
	h2.Policy = []byte(`{}`)
	if r, err := s.Put(t.Context(), &h2); err != nil || !r.Unchanged {
		t.Fatalf("same delegation, other policy: %+v, %v; want unchanged", r, err)
	}
	if d, _ := s.Get(t.Context(), pkp); d.Policy == nil || len(d.Policy.Producers) != 1 {
		t.Fatalf("policy changed without a newer hand-off: %v", d.Policy)
	}
	h3 := delegationstore.NewTestHandOff(t, pkp, delegationstore.NewTestSessionKey(t), now, now.Add(time.Hour))
	h3.Policy = []byte(`{"kinds":["nope"]}`)
	if _, err := s.Put(t.Context(), h3); err == nil {
		t.Fatal("invalid policy stored")
	}
}
