package delegationstore

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/internal/natstest"
)

func openInternal(t *testing.T, cfg Config) *Store {
	t.Helper()
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	if cfg.KEK == nil {
		cfg.KEK = newTestKeyring(t, "k1")
	}
	s, err := Open(t.Context(), js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPut_MarkerVanishesBeforeWrite is the re-Create-after-expiry race of
// docs/jetstream.md A.4, made deterministic: the delete marker that Put read
// disappears (as when its LimitMarkerTTL runs out) before Put's
// compare-and-set. The write fails on the sequence and Put retries against
// the now empty subject, where kv.Create would have answered ErrKeyExists.
func TestPut_MarkerVanishesBeforeWrite(t *testing.T) {
	s := openInternal(t, Config{MarkerTTL: time.Second})
	pkp := newTestPKP(t)
	now := time.Now()
	if _, err := s.Put(t.Context(), newTestHandOff(t, pkp, newTestSessionKey(t), now.Add(-time.Minute), now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Revoke(t.Context(), pkp, nil); !ok || err != nil {
		t.Fatalf("Revoke = %v, %v", ok, err)
	}
	attempts := 0
	s.beforeWrite = func() {
		attempts++
		if attempts == 1 {
			if err := s.stream.Purge(t.Context(), jetstream.WithPurgeSubject(s.subject+pkp.Hex())); err != nil {
				t.Errorf("purge the marker: %v", err)
			}
		}
	}
	res, err := s.Put(t.Context(), newTestHandOff(t, pkp, newTestSessionKey(t), now, now.Add(time.Hour)))
	if err != nil {
		t.Fatalf("Put = %v", err)
	}
	if attempts != 2 || res.Replaced {
		t.Fatalf("attempts = %d, result %+v; want a retry and a fresh write", attempts, res)
	}
}

// TestPut_NewerWriteBetweenReadAndWrite: another replica stores a newer
// delegation between Put's read and its write. Put must not overwrite it:
// its compare-and-set fails, it re-reads, and reports ErrStale.
func TestPut_NewerWriteBetweenReadAndWrite(t *testing.T) {
	s := openInternal(t, Config{})
	other, err := Open(t.Context(), s.js, Config{KEK: newTestKeyring(t, "k2")})
	if err != nil {
		t.Fatal(err)
	}
	pkp := newTestPKP(t)
	now := time.Now()
	newer := newTestHandOff(t, pkp, newTestSessionKey(t), now, now.Add(time.Hour))
	older := newTestHandOff(t, pkp, newTestSessionKey(t), now.Add(-time.Minute), now.Add(time.Hour))
	attempts := 0
	s.beforeWrite = func() {
		attempts++
		if attempts == 1 {
			if _, err := other.Put(t.Context(), newer); err != nil {
				t.Errorf("concurrent Put: %v", err)
			}
		}
	}
	if _, err := s.Put(t.Context(), older); !errors.Is(err, ErrStale) {
		t.Fatalf("Put = %v, want ErrStale", err)
	}
	list, err := s.List(t.Context())
	if err != nil || len(list) != 1 || list[0].SessionPublicKey != newer.SessionKey.PublicKey().Hex() {
		t.Fatalf("stored = %+v, %v; want the newer delegation", list, err)
	}
}

// TestPut_GivesUpWithErrConflict: a key that changes under every attempt
// ends in ErrConflict, not in an endless loop.
func TestPut_GivesUpWithErrConflict(t *testing.T) {
	s := openInternal(t, Config{})
	pkp := newTestPKP(t)
	now := time.Now()
	i := 0
	s.beforeWrite = func() {
		i++
		// Each interfering write is newer than the last but older than
		// ours, so ours stays newer and keeps retrying.
		h := newTestHandOff(t, pkp, newTestSessionKey(t), now.Add(-time.Hour+time.Duration(i)*time.Second), now.Add(time.Hour))
		hook := s.beforeWrite
		s.beforeWrite = nil
		if _, err := s.Put(t.Context(), h); err != nil {
			t.Errorf("interfering Put: %v", err)
		}
		s.beforeWrite = hook
	}
	_, err := s.Put(t.Context(), newTestHandOff(t, pkp, newTestSessionKey(t), now, now.Add(time.Hour)))
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("Put = %v, want ErrConflict", err)
	}
	if i != maxCASAttempts {
		t.Errorf("attempts = %d, want %d", i, maxCASAttempts)
	}
}
