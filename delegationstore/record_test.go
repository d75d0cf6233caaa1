package delegationstore

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/litsignd/litsignd/litnode"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func testRecord(t *testing.T, kr *Keyring) (*record, *litnode.HandOff) {
	t.Helper()
	h := newTestHandOff(t, newTestPKP(t), newTestSessionKey(t), t0, t0.Add(time.Hour))
	d, err := litnode.ParseDelegation(h.Delegation)
	if err != nil {
		t.Fatal(err)
	}
	r, err := newRecord(h, d, kr, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return r, h
}

func TestRecord_RoundTrip(t *testing.T) {
	kr := newTestKeyring(t, "k1")
	r, h := testRecord(t, kr)
	data, err := r.encode()
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"v", "pkpPublicKey", "sessionPublicKey", "sealedSecret", "delegation", "issuedAt", "expiration", "storedAt", "resources"} {
		if _, ok := raw[f]; !ok {
			t.Errorf("encoded record lacks %q: %s", f, data)
		}
	}
	if raw["v"] != float64(1) {
		t.Errorf("v = %v, want 1", raw["v"])
	}
	sealed := raw["sealedSecret"].(map[string]any)
	for _, f := range []string{"kid", "nonce", "ct"} {
		if _, ok := sealed[f]; !ok {
			t.Errorf("sealedSecret lacks %q", f)
		}
	}
	got, err := decodeRecord(data)
	if err != nil {
		t.Fatalf("decodeRecord: %v", err)
	}
	if got.PKPPublicKey != h.PKP.Hex() || got.pkp != h.PKP {
		t.Errorf("pkp = %s, want %s", got.PKPPublicKey, h.PKP.Hex())
	}
	if got.SessionPublicKey != h.SessionKey.PublicKey().Hex() {
		t.Errorf("session = %s, want %s", got.SessionPublicKey, h.SessionKey.PublicKey().Hex())
	}
	if got.Delegation != h.Delegation {
		t.Errorf("delegation changed in the round trip")
	}
	if !got.IssuedAt.Equal(t0) || !got.Expiration.Equal(t0.Add(time.Hour)) || !got.StoredAt.Equal(t0.Add(time.Second)) {
		t.Errorf("times = %v %v %v", got.IssuedAt, got.Expiration, got.StoredAt)
	}
	if !slices.Equal(got.Resources, []string{"lit-pkp://*|pkp-signing"}) {
		t.Errorf("resources = %q", got.Resources)
	}
	if _, err := got.parseDelegation(); err != nil {
		t.Errorf("parseDelegation: %v", err)
	}
	sk, err := got.unseal(kr)
	if err != nil {
		t.Fatalf("unseal: %v", err)
	}
	if !sk.Equal(h.SessionKey) {
		t.Error("unsealed session key differs")
	}
	seed := h.SessionKey.Seed()
	if bytes.Contains(data, seed) || bytes.Contains(data, []byte(hex.EncodeToString(seed))) {
		t.Error("encoded record contains the session secret")
	}
}

func TestRecord_UnsealFailures(t *testing.T) {
	kr := newTestKeyring(t, "k1")
	a, _ := testRecord(t, kr)
	b, _ := testRecord(t, kr)

	t.Run("unknown key id", func(t *testing.T) {
		_, err := a.unseal(newTestKeyring(t, "k2"))
		if !errors.Is(err, ErrSealed) {
			t.Fatalf("unseal = %v, want ErrSealed", err)
		}
	})
	t.Run("same id, other key", func(t *testing.T) {
		_, err := a.unseal(newTestKeyring(t, "k1"))
		if !errors.Is(err, ErrSealed) {
			t.Fatalf("unseal = %v, want ErrSealed", err)
		}
	})
	t.Run("secret moved to another record", func(t *testing.T) {
		moved := *b
		moved.SealedSecret = a.SealedSecret
		_, err := moved.unseal(kr)
		if !errors.Is(err, ErrSealed) {
			t.Fatalf("unseal = %v, want ErrSealed", err)
		}
	})
	t.Run("secret moved to another PKP", func(t *testing.T) {
		moved := *a
		other := newTestPKP(t)
		moved.PKPPublicKey, moved.pkp = other.Hex(), other
		_, err := moved.unseal(kr)
		if !errors.Is(err, ErrSealed) {
			t.Fatalf("unseal = %v, want ErrSealed", err)
		}
	})
	t.Run("tampered ciphertext", func(t *testing.T) {
		bad := *a
		bad.SealedSecret.CT = bytes.Clone(a.SealedSecret.CT)
		bad.SealedSecret.CT[0] ^= 1
		_, err := bad.unseal(kr)
		if !errors.Is(err, ErrSealed) {
			t.Fatalf("unseal = %v, want ErrSealed", err)
		}
	})
	t.Run("short nonce", func(t *testing.T) {
		bad := *a
		bad.SealedSecret.Nonce = a.SealedSecret.Nonce[:12]
		_, err := bad.unseal(kr)
		if !errors.Is(err, ErrSealed) {
			t.Fatalf("unseal = %v, want ErrSealed", err)
		}
	})
}

func TestRecord_SealRejectsOtherSessionKey(t *testing.T) {
	kr := newTestKeyring(t, "k1")
	h := newTestHandOff(t, newTestPKP(t), newTestSessionKey(t), t0, t0.Add(time.Hour))
	d, err := litnode.ParseDelegation(h.Delegation)
	if err != nil {
		t.Fatal(err)
	}
	h.SessionKey = newTestSessionKey(t)
	if _, err := newRecord(h, d, kr, t0); !errors.Is(err, litnode.ErrKeyMismatch) {
		t.Fatalf("newRecord with another session key = %v, want ErrKeyMismatch", err)
	}
}

func TestDecodeRecord_Rejects(t *testing.T) {
	kr := newTestKeyring(t, "k1")
	r, _ := testRecord(t, kr)
	good, err := r.encode()
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := map[string][]byte{
		"not json":         []byte("{"),
		"version 2":        edit(func(m map[string]any) { m["v"] = 2 }),
		"no version":       edit(func(m map[string]any) { delete(m, "v") }),
		"uppercase pkp":    edit(func(m map[string]any) { m["pkpPublicKey"] = strings.ToUpper(m["pkpPublicKey"].(string)) }),
		"bad session key":  edit(func(m map[string]any) { m["sessionPublicKey"] = "zz" }),
		"no sealed secret": edit(func(m map[string]any) { delete(m, "sealedSecret") }),
		"no expiration":    edit(func(m map[string]any) { delete(m, "expiration") }),
	}
	for name, data := range cases {
		if _, err := decodeRecord(data); err == nil {
			t.Errorf("%s: decodeRecord succeeded", name)
		}
	}
	if _, err := decodeRecord(edit(func(m map[string]any) { m["v"] = 2 })); !errors.Is(err, errUnsupportedVersion) {
		t.Errorf("version 2: err = %v, want errUnsupportedVersion", err)
	}

	// A record whose fields disagree with its own delegation.
	lie, err := decodeRecord(edit(func(m map[string]any) { m["expiration"] = t0.Add(48 * time.Hour) }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lie.parseDelegation(); err == nil {
		t.Error("parseDelegation accepted a record whose expiration is not its delegation's")
	}
}

func TestRecord_NewerThan(t *testing.T) {
	mk := func(issued, exp time.Duration) *record {
		return &record{IssuedAt: t0.Add(issued), Expiration: t0.Add(exp)}
	}
	cases := []struct {
		name     string
		new, old *record
		want     bool
	}{
		{"later issued", mk(time.Minute, time.Hour), mk(0, time.Hour), true},
		{"later issued, earlier expiry", mk(time.Minute, 30*time.Minute), mk(0, time.Hour), true},
		{"earlier issued", mk(0, 2*time.Hour), mk(time.Minute, time.Hour), false},
		{"tie, later expiry", mk(0, 2*time.Hour), mk(0, time.Hour), true},
		{"tie, same expiry", mk(0, time.Hour), mk(0, time.Hour), false},
		{"tie, earlier expiry", mk(0, time.Hour), mk(0, 2*time.Hour), false},
	}
	for _, tc := range cases {
		if got := tc.new.newerThan(tc.old); got != tc.want {
			t.Errorf("%s: newerThan = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestTTLUntil(t *testing.T) {
	cases := []struct {
		left time.Duration
		want time.Duration
		ok   bool
	}{
		{-time.Second, 0, false},
		{0, 0, false},
		{time.Nanosecond, time.Second, true},
		{time.Second, time.Second, true},
		{time.Second + time.Millisecond, 2 * time.Second, true},
		{90 * time.Minute, 90 * time.Minute, true},
	}
	for _, tc := range cases {
		got, ok := ttlUntil(t0.Add(tc.left), t0)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ttlUntil(now+%v) = %v, %v; want %v, %v", tc.left, got, ok, tc.want, tc.ok)
		}
	}
}
