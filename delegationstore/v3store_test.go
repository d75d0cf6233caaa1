package delegationstore_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/internal/natstest"
)

const testUsageKey = "TAiDppECk31iMUcbXbtiBP5RKWFwgnkq5GjQGj82Ixg=" // docs/lit-v3.md §4.4

func TestV3KeyHashVector(t *testing.T) {
	// docs/lit-v3.md §4.4: keccak256 of the key string.
	if got, want := delegationstore.V3KeyHash(testUsageKey), "0xa1e849930fb8a42426c9589718703530459bdd511bd8aca138963e19a778d88d"; got != want {
		t.Fatalf("V3KeyHash = %s, want %s", got, want)
	}
}

func TestV3PutGetRevoke(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	s := openStore(t, js, delegationstore.Config{})
	v3 := s.V3()
	ctx := t.Context()
	addr := "0x2C7536E3605D9C16a7a3D7b1898e529396a65c23"

	if _, err := v3.Get(ctx, addr); !errors.Is(err, delegationstore.ErrNotFound) {
		t.Fatalf("Get before Put = %v, want ErrNotFound", err)
	}
	c := &delegationstore.V3Credential{Address: addr, UsageKey: testUsageKey, GroupID: "7"}
	res, err := v3.Put(ctx, c, time.Now().Add(-time.Second))
	if err != nil || res.Unchanged || res.Replaced {
		t.Fatalf("Put = %+v, %v", res, err)
	}
	got, err := v3.Get(ctx, strings.ToLower(addr))
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.UsageKey.Reveal() != testUsageKey || got.Address != strings.ToLower(addr) || got.GroupID != "7" || got.Revision != res.Revision {
		t.Fatalf("Get = %+v", got)
	}
	// Printing never shows the key.
	for _, s := range []string{fmt.Sprint(got), fmt.Sprintf("%+v %#v %s %q", got, got, got.UsageKey, got.UsageKey)} {
		if strings.Contains(s, testUsageKey) {
			t.Fatalf("usage key printed: %s", s)
		}
	}
	// Same hand-off again: unchanged, same revision.
	again, err := v3.Put(ctx, &delegationstore.V3Credential{Address: addr, UsageKey: testUsageKey, GroupID: "7"}, time.Now())
	if err != nil || !again.Unchanged || again.Revision != res.Revision {
		t.Fatalf("re-Put = %+v, %v", again, err)
	}
	// List shows the credential by its public parts: backend, address, key
	// hash; never the usage key.
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v; want the v3 credential", list, err)
	}
	if l := list[0]; l.Backend != delegationstore.BackendLitV3 || l.PKP != strings.ToLower(addr) || l.KeyHash != delegationstore.V3KeyHash(testUsageKey) || l.SessionPublicKey != "" {
		t.Errorf("List entry = %+v", l)
	}
	if b, _ := json.Marshal(list); strings.Contains(string(b), testUsageKey) {
		t.Errorf("List JSON holds the usage key: %s", b)
	}
	// Revocation with another key's hash removes nothing; with its own, it does.
	if ok, err := v3.Revoke(ctx, addr, delegationstore.V3KeyHash("other"), time.Time{}); ok || err != nil {
		t.Fatalf("Revoke(other key) = %v, %v", ok, err)
	}
	if ok, err := v3.Revoke(ctx, addr, got.KeyHash, time.Now()); !ok || err != nil {
		t.Fatalf("Revoke = %v, %v", ok, err)
	}
	if _, err := v3.Get(ctx, addr); !errors.Is(err, delegationstore.ErrNotFound) {
		t.Fatalf("Get after revoke = %v, want ErrNotFound", err)
	}
}

// A replayed older hand-off (earlier issuedAt) cannot roll a newer key back.
func TestV3OlderHandOffNeverReplacesNewer(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	v3 := openStore(t, js, delegationstore.Config{}).V3()
	ctx := t.Context()
	addr := "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23"
	now := time.Now()
	if _, err := v3.Put(ctx, &delegationstore.V3Credential{Address: addr, UsageKey: "bmV3ZXJrZXluZXdlcmtleW5ld2Vya2V5bmV3ZXJrZXk="}, now); err != nil {
		t.Fatal(err)
	}
	_, err := v3.Put(ctx, &delegationstore.V3Credential{Address: addr, UsageKey: testUsageKey}, now.Add(-time.Hour))
	if !errors.Is(err, delegationstore.ErrStale) {
		t.Fatalf("older Put = %v, want ErrStale", err)
	}
	got, err := v3.Get(ctx, addr)
	if err != nil || got.UsageKey.Reveal() == testUsageKey {
		t.Fatalf("after replay: %v (key rolled back: %v)", err, err == nil)
	}
}

func TestV3Expiry(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	now := time.Now()
	var skew atomic.Int64 // the test's clock is now + skew
	v3 := openStore(t, js, delegationstore.Config{Now: func() time.Time { return now.Add(time.Duration(skew.Load())) }}).V3()
	ctx := t.Context()
	addr := "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23"
	if _, err := v3.Put(ctx, &delegationstore.V3Credential{Address: addr, UsageKey: testUsageKey, ExpiresAt: now.Add(-time.Second)}, now); !errors.Is(err, delegationstore.ErrExpired) {
		t.Fatalf("Put expired = %v, want ErrExpired", err)
	}
	if _, err := v3.Put(ctx, &delegationstore.V3Credential{Address: addr, UsageKey: testUsageKey, ExpiresAt: now.Add(time.Hour)}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := v3.Get(ctx, addr); err != nil {
		t.Fatal(err)
	}
	skew.Store(int64(time.Hour))
	if _, err := v3.Get(ctx, addr); !errors.Is(err, delegationstore.ErrExpired) {
		t.Fatalf("Get past expiresAt = %v, want ErrExpired", err)
	}
}

// The usage key never reaches the JetStream store files in plaintext.
func TestV3KeyNotStoredInPlaintext(t *testing.T) {
	ns, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	v3 := openStore(t, js, delegationstore.Config{}).V3()
	if _, err := v3.Put(t.Context(), &delegationstore.V3Credential{Address: "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23", UsageKey: testUsageKey}, time.Now()); err != nil {
		t.Fatal(err)
	}
	dir := ns.StoreDir()
	found := false
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(testUsageKey)) {
			found = true
		}
		return nil
	})
	if found {
		t.Fatal("usage key found in plaintext in the JetStream store")
	}
}

// An operator can remove a v3 record that does not decode (its key hash,
// and so a sticky revocation, is unknown); a client's revocation of it
// fails rather than guessing.
func TestV3OperatorRevokesUndecodableRecord(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	s := openStore(t, js, delegationstore.Config{})
	ctx := t.Context()
	addr := "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23"
	kv, err := js.KeyValue(ctx, delegationstore.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, addr, []byte(`{"v":1,"backend":"lit-v3",`)); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.V3().Revoke(ctx, addr, delegationstore.V3KeyHash(testUsageKey), time.Now()); ok || err == nil {
		t.Fatalf("client revocation of an undecodable record = %v, %v; want an error", ok, err)
	}
	admin, err := delegationstore.OpenAdmin(ctx, js, delegationstore.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := admin.RevokeV3(ctx, addr); !ok || err != nil {
		t.Fatalf("operator revocation = %v, %v", ok, err)
	}
	if _, err := kv.Get(ctx, addr); err == nil {
		t.Fatal("the undecodable record is still there")
	}
}

// TestV3ExpiryEventsFromBucket: a stored v3 credential with an expiresAt
// gets "expiring" and then "expired" events (backend lit-v3, its address,
// its revision) from the store's tracker, like a Naga delegation; one
// revoked before its expiry gets none.
func TestV3ExpiryEventsFromBucket(t *testing.T) {
	t.Parallel()
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	var log eventLog
	s := openStore(t, js, delegationstore.Config{ExpiringLead: time.Second, OnEvent: log.add})
	v3 := s.V3()
	ctx := t.Context()
	const kept, revoked = "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23", "0x00000000000000000000000000000000000000aa"
	now := time.Now()
	// More than expiryTolerance (2 s) out: a removal that close to the
	// expiry counts as the server's expiry, as for Naga delegations.
	exp := now.Add(4500 * time.Millisecond).Truncate(time.Millisecond)
	res, err := v3.Put(ctx, &delegationstore.V3Credential{Address: kept, UsageKey: testUsageKey, ExpiresAt: exp}, now)
	if err != nil {
		t.Fatal(err)
	}
	// Expires first: its events, were they sent, would come before kept's.
	if _, err := v3.Put(ctx, &delegationstore.V3Credential{Address: revoked, UsageKey: testUsageKey, ExpiresAt: exp.Add(-500 * time.Millisecond)}, now); err != nil {
		t.Fatal(err)
	}
	if ok, err := v3.Revoke(ctx, revoked, "", time.Time{}); err != nil || !ok {
		t.Fatalf("Revoke = %v, %v", ok, err)
	}
	eventually(t, 15*time.Second, "kept's expired event", func() bool {
		evs := log.get()
		return len(evs) > 0 && evs[len(evs)-1].Type == delegationstore.EventExpired
	})
	evs := log.get()
	if len(evs) != 2 || evs[0].Type != delegationstore.EventExpiring || evs[1].Type != delegationstore.EventExpired {
		t.Fatalf("events = %+v; want expiring then expired for %s only", evs, kept)
	}
	for _, ev := range evs {
		if ev.Backend != delegationstore.BackendLitV3 || ev.Address != kept || ev.Revision != res.Revision || !ev.Expiration.Equal(exp) || !ev.PKP.IsZero() {
			t.Errorf("event = %+v", ev)
		}
	}
}
