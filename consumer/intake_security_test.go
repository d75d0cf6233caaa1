package consumer_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/litnode"
)

func rejectedWith(reason string) func(consumer.DelegationEvent) bool {
	return func(ev consumer.DelegationEvent) bool {
		return ev.Type == consumer.EventRejected && ev.Reason == reason
	}
}

func (e *intakeEnv) revoke(pkp litnode.PKPPublicKey, key *litnode.SessionKey, at time.Time) []byte {
	e.t.Helper()
	b, _ := json.Marshal(consumer.SignRevocation(pkp, key, at))
	e.publish(e.topo.RevocationsSubject(), b)
	return b
}

func (e *intakeEnv) sealed(h *litnode.HandOff) []byte {
	e.t.Helper()
	sealed, err := consumer.Seal(e.sealing.PublicKey(), h.PayloadJSON())
	if err != nil {
		e.t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"pkpPublicKey": h.PKP.Hex(), "sealedPayload": base64.RawURLEncoding.EncodeToString(sealed)})
	return body
}

// Attack: a hand-off captured before its revocation is published again.
// Before: stored again. After: rejected "revoked", nothing stored.
func TestAttackReplayedRevokedHandOff(t *testing.T) {
	e := newIntakeEnv(t, time.Minute)
	p := e.net.PKPs()[0]
	h := e.handOff(p, "pkp-signing:*", 15*time.Minute)
	captured := h.Encode()
	e.publish(e.topo.DelegationsSubject(), captured)
	e.waitEvent("stored", storedFor(h))
	e.revoke(p.PublicKey, h.SessionKey, time.Now())
	e.waitEvent("revoked", func(ev consumer.DelegationEvent) bool { return ev.Type == consumer.EventRevoked })
	// Barrier: the job path sees nothing once the revoked event is out.
	if _, err := e.store.Get(context.Background(), p.PublicKey); !errors.Is(err, delegationstore.ErrNotFound) {
		t.Fatalf("Get after the revoked event = %v, want ErrNotFound", err)
	}

	e.publish(e.topo.DelegationsSubject(), captured)
	ev := e.waitEvent("rejected replay", func(ev consumer.DelegationEvent) bool { return ev.Type == consumer.EventRejected })
	if ev.Reason != consumer.ReasonRevoked {
		t.Fatalf("replayed revoked hand-off: reason %q (%s), want %q", ev.Reason, ev.Message, consumer.ReasonRevoked)
	}
	// Sealed, too.
	e.publish(e.topo.DelegationsSubject(), e.sealed(h))
	e.waitEvent("rejected sealed replay", rejectedWith(consumer.ReasonRevoked))
	kv, _ := e.js.KeyValue(context.Background(), e.topo.DelegationsBucket)
	if _, err := kv.Get(context.Background(), p.PublicKey.Hex()); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("the revoked delegation is stored again: %v", err)
	}
}

// Attack: a revocation is replayed (within its freshness window) after the
// client delegated again. Before: it could delete the re-delegation.
// After: the re-delegation stays.
func TestAttackReplayedRevocationAfterRedelegation(t *testing.T) {
	e := newIntakeEnv(t, time.Minute)
	p := e.net.PKPs()[0]
	h1 := e.handOff(p, "pkp-signing:*", 15*time.Minute)
	e.publish(e.topo.DelegationsSubject(), h1.Encode())
	e.waitEvent("stored h1", storedFor(h1))
	rev := e.revoke(p.PublicKey, h1.SessionKey, time.Now())
	e.waitEvent("revoked", func(ev consumer.DelegationEvent) bool { return ev.Type == consumer.EventRevoked })

	h2 := e.handOff(p, "pkp-signing:*", 15*time.Minute)
	e.publish(e.topo.DelegationsSubject(), h2.Encode())
	e.waitEvent("stored h2", storedFor(h2))
	// The captured revocation, published again (other Nats-Msg-Id).
	if _, err := e.js.Publish(context.Background(), e.topo.RevocationsSubject(), rev, jetstream.WithMsgID("replay")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replayed revocation handled", func() bool { return e.streamMsgs() == 0 })
	d, err := e.store.Get(context.Background(), p.PublicKey)
	if err != nil || d.SessionKey.PublicKey() != h2.SessionKey.PublicKey() {
		t.Fatalf("the re-delegation is gone after a replayed revocation: %v", err)
	}
}

// Plain hand-offs are refused unless accepted; the refused one is erased.
func TestIntakePlainNotAccepted(t *testing.T) {
	e := newIntakeEnvPlain(t, time.Minute, false)
	p := e.net.PKPs()[0]
	h := e.handOff(p, "pkp-signing:*", 15*time.Minute)
	e.publish(e.topo.DelegationsSubject(), h.Encode())
	ev := e.waitEvent("rejected plain", func(ev consumer.DelegationEvent) bool { return ev.Type == consumer.EventRejected })
	if ev.Reason != consumer.ReasonPlainNotAccepted {
		t.Fatalf("plain hand-off: reason %q, want %q", ev.Reason, consumer.ReasonPlainNotAccepted)
	}
	waitFor(t, "the refused plain envelope erased", func() bool {
		e.sdMu.Lock()
		defer e.sdMu.Unlock()
		return e.sdOK == 1
	})
	if _, err := e.store.Get(context.Background(), p.PublicKey); !errors.Is(err, delegationstore.ErrNotFound) {
		t.Fatalf("a refused plain hand-off was stored: %v", err)
	}
	e.publish(e.topo.DelegationsSubject(), e.sealed(h))
	e.waitEvent("sealed stored", storedFor(h))
	waitFor(t, "sealed", func() bool { return e.streamMsgs() == 0 })
	e.assertNotInStoreDir(map[string][]byte{"secret hex": []byte(h.SessionKey.RevealSecretHex())})
}

// The policy travels inside the sealed box and is stored; a malformed one
// is rejected invalid_policy before any signature check.
func TestIntakePolicy(t *testing.T) {
	e := newIntakeEnv(t, time.Minute)
	p := e.net.PKPs()[0]
	bad := e.handOff(p, "pkp-signing:*", 15*time.Minute)
	bad.Policy = []byte(`{"kinds":["sign-anything"]}`)
	e.publish(e.topo.DelegationsSubject(), e.sealed(bad))
	e.waitEvent("invalid policy", rejectedWith(consumer.ReasonInvalidPolicy))

	h := e.handOff(p, "pkp-signing:*", 15*time.Minute)
	h.Policy = []byte(`{"producers":["billing"],"chains":["ethereum"],"maxJobsPerMinute":10}`)
	e.publish(e.topo.DelegationsSubject(), e.sealed(h))
	e.waitEvent("stored", storedFor(h))
	waitFor(t, "policy in the cache", func() bool {
		d, err := e.store.Get(context.Background(), p.PublicKey)
		return err == nil && d.Policy != nil && d.Policy.MaxJobsPerMinute == 10 && d.Policy.Producers[0] == "billing"
	})
}

// Attack: a hand-off larger than intake accepts. Before: LIT_DELEGATIONS
// stored messages up to 1 MiB. After: the stream refuses it at publish.
func TestAttackOversizeDelegationAtTheStream(t *testing.T) {
	e := newIntakeEnv(t, time.Minute)
	body := []byte(`{"pkpPublicKey":"0x04","payload":"` + strings.Repeat("x", consumer.MaxEnvelopeBytes) + `"}`)
	if _, err := e.js.Publish(context.Background(), e.topo.DelegationsSubject(), body); err == nil {
		t.Fatal("the delegations stream accepted a message over MaxEnvelopeBytes")
	}
	if n := e.streamMsgs(); n != 0 {
		t.Fatalf("%d messages in the stream", n)
	}
}
