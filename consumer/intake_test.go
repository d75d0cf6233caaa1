package consumer_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/internal/natstest"
	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/litnode/devnet"
)

// intakeEnv is a running intake: in-process JetStream, the devnet, a Lit
// client, the delegation store and the intake consumer.
type intakeEnv struct {
	t        *testing.T
	net      *devnet.Network
	lit      *litnode.Client
	nc       *nats.Conn
	js       jetstream.JetStream
	storeDir string
	topo     consumer.Topology
	store    *delegationstore.Store
	sealing  *consumer.SealingKey
	events   chan consumer.DelegationEvent
	evMu     sync.Mutex
	seen     []consumer.DelegationEvent
	// secure deletes done and failed
	sdMu     sync.Mutex
	sdOK     int
	sdErrors []error
}

func newIntakeEnv(t *testing.T, lead time.Duration) *intakeEnv {
	t.Helper()
	return newIntakeEnvPlain(t, lead, true)
}

// newIntakeEnvPlain is newIntakeEnv with Intake.AcceptPlain set to accept.
func newIntakeEnvPlain(t *testing.T, lead time.Duration, accept bool) *intakeEnv {
	t.Helper()
	ns, url := natstest.RunJetStream(t)
	nc, js := natstest.Connect(t, url)
	n, err := devnet.Start(devnet.Config{Nodes: 4, Threshold: 3, PKPs: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	lit := &litnode.Client{Network: n.NetworkConfig(), RequestTimeout: 3 * time.Second, HandshakeTimeout: 2 * time.Second, RetryBackoff: 10 * time.Millisecond}
	t.Cleanup(lit.Close)
	ctx, cancel := context.WithCancel(context.Background())
	topo := consumer.DefaultTopology()
	if err := topo.Ensure(ctx, js); err != nil {
		t.Fatal(err)
	}
	kek, _ := delegationstore.GenerateKEK("test")
	ring, _ := delegationstore.NewKeyring(kek)
	sealing, err := consumer.DeriveSealingKey(ring.SealingMaterial())
	if err != nil {
		t.Fatal(err)
	}
	e := &intakeEnv{t: t, net: n, lit: lit, nc: nc, js: js, storeDir: ns.StoreDir(), topo: topo, sealing: sealing, events: make(chan consumer.DelegationEvent, 256)}
	events := &consumer.EventPublisher{JS: js, Topology: topo}
	store, err := delegationstore.Open(ctx, js, delegationstore.Config{Bucket: topo.DelegationsBucket, KEK: ring, ExpiringLead: lead,
		OnEvent: func(ev delegationstore.Event) {
			_ = events.Publish(context.Background(), consumer.ExpiryEvent(ev), ev.ID)
		}})
	if err != nil {
		t.Fatal(err)
	}
	e.store = store
	sub, err := nc.Subscribe(topo.Prefix+".events.>", func(m *nats.Msg) {
		var ev consumer.DelegationEvent
		if json.Unmarshal(m.Data, &ev) == nil {
			e.evMu.Lock()
			e.seen = append(e.seen, ev)
			e.evMu.Unlock()
			e.events <- ev
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, topo.DelegationsStream)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: topo.IntakeConsumer, AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 5, AckWait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	in := &consumer.Intake{
		Store: store, Events: events, Topology: topo, Sealing: sealing, MaxDeliver: 5, AcceptPlain: accept,
		NetworkKey: func(ctx context.Context) (litnode.BLSPublicKey, error) {
			if err := lit.Connect(ctx); err != nil {
				return litnode.BLSPublicKey{}, err
			}
			s, _ := lit.State()
			return s.NetworkPublicKey, nil
		},
		SecureDelete: func(ctx context.Context, seq uint64) error {
			err := stream.SecureDeleteMsg(ctx, seq)
			e.sdMu.Lock()
			defer e.sdMu.Unlock()
			if err != nil {
				e.sdErrors = append(e.sdErrors, err)
			} else {
				e.sdOK++
			}
			return err
		},
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = store.Run(ctx) }()
	go func() { defer wg.Done(); _ = consumer.Pull(ctx, cons, 4, 5*time.Second, in.Handle, nil) }()
	t.Cleanup(func() { cancel(); wg.Wait(); _ = sub.Unsubscribe() })
	<-store.Ready()
	return e
}

// handOff gets a real delegation from the devnet for a new session key.
func (e *intakeEnv) handOff(p devnet.DevPKP, resources string, ttl time.Duration) *litnode.HandOff {
	e.t.Helper()
	key, _ := litnode.GenerateSessionKey(nil)
	reqs, _ := litnode.ParseResourceShorthand(resources)
	a, err := e.lit.SignSessionKey(context.Background(), litnode.SignSessionKeyRequest{PKP: p.PublicKey, SessionKey: key.PublicKey(), Owner: p.OwnerKey, Resources: reqs, Expiration: time.Now().Add(ttl)})
	if err != nil {
		e.t.Fatalf("SignSessionKey: %v", err)
	}
	return &litnode.HandOff{PKP: p.PublicKey, SessionKey: key, Delegation: a}
}

func (e *intakeEnv) publish(subject string, body []byte) {
	e.t.Helper()
	if _, err := e.js.Publish(context.Background(), subject, body); err != nil {
		e.t.Fatalf("publish: %v", err)
	}
}

// waitEvent waits for an event matching ok.
func (e *intakeEnv) waitEvent(what string, ok func(consumer.DelegationEvent) bool) consumer.DelegationEvent {
	e.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case ev := <-e.events:
			if ok(ev) {
				return ev
			}
		case <-deadline:
			e.t.Fatalf("no %s event within 15s", what)
		}
	}
}

func (e *intakeEnv) streamMsgs() uint64 {
	e.t.Helper()
	s, err := e.js.Stream(context.Background(), e.topo.DelegationsStream)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return info.State.Msgs
}

// assertNotInStoreDir checks that no file of the JetStream store holds any
// of the needles.
func (e *intakeEnv) assertNotInStoreDir(needles map[string][]byte) {
	e.t.Helper()
	_ = filepath.WalkDir(e.storeDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for name, n := range needles {
			if bytes.Contains(b, n) {
				e.t.Errorf("%s found in JetStream store file %s", name, path)
			}
		}
		return nil
	})
}

func storedFor(h *litnode.HandOff) func(consumer.DelegationEvent) bool {
	return func(ev consumer.DelegationEvent) bool {
		return ev.Type == consumer.EventStored && ev.SessionPublicKey == h.SessionKey.PublicKey().Hex()
	}
}

func TestIntakeSeedEnvelope(t *testing.T) {
	e := newIntakeEnv(t, time.Minute)
	p := e.net.PKPs()[0]
	h := e.handOff(p, "pkp-signing:*", 15*time.Minute)
	env := h.Encode()
	e.publish(e.topo.DelegationsSubject(), env)
	e.waitEvent("stored", storedFor(h))

	// The cache follows the bucket through a watch.
	var d *delegationstore.Delegation
	waitFor(t, "delegation in the cache", func() bool {
		var err error
		d, err = e.store.Get(context.Background(), p.PublicKey)
		return err == nil
	})
	if !d.SessionKey.Equal(h.SessionKey) || d.AuthSig != h.Delegation {
		t.Fatalf("store.Get = %+v; want the published delegation", d)
	}
	kv, _ := e.js.KeyValue(context.Background(), e.topo.DelegationsBucket)
	entry, err := kv.Get(context.Background(), p.PublicKey.Hex())
	if err != nil {
		t.Fatalf("KV key %s: %v", p.PublicKey.Hex(), err)
	}
	var envObj map[string]string
	_ = json.Unmarshal(env, &envObj)
	secretHex := h.SessionKey.RevealSecretHex()
	needles := map[string][]byte{"secret hex": []byte(secretHex), "secret bytes": h.SessionKey.Seed(), "envelope payload": []byte(envObj["payload"][:64])}
	for name, n := range needles {
		if bytes.Contains(entry.Value(), n) {
			t.Errorf("raw KV value contains the %s", name)
		}
	}
	// The hand-off is gone from the stream, and erased (overwritten) first.
	waitFor(t, "delegation message removed", func() bool { return e.streamMsgs() == 0 })
	waitFor(t, "the plain envelope securely erased", func() bool {
		e.sdMu.Lock()
		defer e.sdMu.Unlock()
		return e.sdOK == 1 || len(e.sdErrors) > 0
	})
	e.sdMu.Lock()
	if e.sdOK != 1 || len(e.sdErrors) != 0 {
		t.Errorf("secure deletes: %d done, errors %v; want the plain envelope erased once", e.sdOK, e.sdErrors)
	}
	e.sdMu.Unlock()
	time.Sleep(200 * time.Millisecond)
	e.assertNotInStoreDir(needles)
}

func TestIntakeSealedEnvelope(t *testing.T) {
	e := newIntakeEnv(t, time.Minute)
	p := e.net.PKPs()[0]
	h := e.handOff(p, "pkp-signing:*", 15*time.Minute)
	// The client reads the sealing key from the daemon bucket … here from
	// the key itself; TestRun covers the KV entry.
	sealed, err := consumer.Seal(e.sealing.PublicKey(), h.PayloadJSON())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"pkpPublicKey": p.PublicKey.Hex(), "sealedPayload": base64.RawURLEncoding.EncodeToString(sealed)})
	e.publish(e.topo.DelegationsSubject(), body)
	e.waitEvent("stored", storedFor(h))
	waitFor(t, "delegation in the cache", func() bool {
		d, err := e.store.Get(context.Background(), p.PublicKey)
		return err == nil && d.SessionKey.Equal(h.SessionKey)
	})
	waitFor(t, "delegation message removed", func() bool { return e.streamMsgs() == 0 })
	e.assertNotInStoreDir(map[string][]byte{"secret hex": []byte(h.SessionKey.RevealSecretHex()), "secret bytes": h.SessionKey.Seed()})
}

func TestIntakeOlderDoesNotReplaceNewer(t *testing.T) {
	e := newIntakeEnv(t, time.Minute)
	p := e.net.PKPs()[0]
	older := e.handOff(p, "pkp-signing:*", 15*time.Minute)
	time.Sleep(1100 * time.Millisecond) // issuedAt is the nonce block's time, whole seconds
	newer := e.handOff(p, "pkp-signing:*", 15*time.Minute)
	e.publish(e.topo.DelegationsSubject(), newer.Encode())
	e.waitEvent("stored newer", storedFor(newer))
	e.publish(e.topo.DelegationsSubject(), older.Encode())
	ev := e.waitEvent("rejected older", func(ev consumer.DelegationEvent) bool { return ev.Type == consumer.EventRejected })
	if ev.Reason != consumer.ReasonSuperseded {
		t.Errorf("older delegation: reason %q, want %q", ev.Reason, consumer.ReasonSuperseded)
	}
	kv, _ := e.js.KeyValue(context.Background(), e.topo.DelegationsBucket)
	entry, err := kv.Get(context.Background(), p.PublicKey.Hex())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(entry.Value(), []byte(newer.SessionKey.PublicKey().Hex())) {
		t.Fatal("the older delegation replaced the newer one")
	}
	// A redelivered/replayed copy of the newer one is an idempotent success:
	// acked, nothing rewritten.
	e.publish(e.topo.DelegationsSubject(), newer.Encode())
	waitFor(t, "replay handled", func() bool { return e.streamMsgs() == 0 })
	if again, _ := kv.Get(context.Background(), p.PublicKey.Hex()); again.Revision() != entry.Revision() {
		t.Fatalf("a replay rewrote the stored delegation (revision %d → %d)", entry.Revision(), again.Revision())
	}
}

func TestIntakeRevocation(t *testing.T) {
	e := newIntakeEnv(t, time.Minute)
	p := e.net.PKPs()[0]
	h := e.handOff(p, "pkp-signing:*", 15*time.Minute)
	e.publish(e.topo.DelegationsSubject(), h.Encode())
	e.waitEvent("stored", storedFor(h))
	waitFor(t, "delegation in the cache", func() bool { _, err := e.store.Get(context.Background(), p.PublicKey); return err == nil })

	// Signed by another session key: rejected, nothing deleted.
	other, _ := litnode.GenerateSessionKey(nil)
	forged := consumer.SignRevocation(p.PublicKey, other, time.Now())
	forged.SessionPublicKey = h.SessionKey.PublicKey().Hex()
	b, _ := json.Marshal(forged)
	e.publish(e.topo.RevocationsSubject(), b)
	ev := e.waitEvent("rejected revocation", func(ev consumer.DelegationEvent) bool { return ev.Type == consumer.EventRejected })
	if ev.Reason != consumer.ReasonInvalidRevocation {
		t.Errorf("forged revocation: reason %q", ev.Reason)
	}
	if _, err := e.store.Get(context.Background(), p.PublicKey); err != nil {
		t.Fatalf("forged revocation deleted the delegation: %v", err)
	}

	r := consumer.SignRevocation(p.PublicKey, h.SessionKey, time.Now())
	b, _ = json.Marshal(r)
	e.publish(e.topo.RevocationsSubject(), b)
	e.waitEvent("revoked", func(ev consumer.DelegationEvent) bool { return ev.Type == consumer.EventRevoked })
	waitFor(t, "delegation gone", func() bool {
		_, err := e.store.Get(context.Background(), p.PublicKey)
		return errors.Is(err, delegationstore.ErrNotFound)
	})
}

func TestIntakeExpiry(t *testing.T) {
	e := newIntakeEnv(t, 2*time.Second)
	p := e.net.PKPs()[1]
	h := e.handOff(p, "pkp-signing:*", 4*time.Second)
	e.publish(e.topo.DelegationsSubject(), h.Encode())
	e.waitEvent("stored", storedFor(h))
	e.waitEvent("expiring", func(ev consumer.DelegationEvent) bool { return ev.Type == consumer.EventExpiring })
	e.waitEvent("expired", func(ev consumer.DelegationEvent) bool { return ev.Type == consumer.EventExpired })
	kv, _ := e.js.KeyValue(context.Background(), e.topo.DelegationsBucket)
	waitFor(t, "KV key removed by its TTL", func() bool {
		_, err := kv.Get(context.Background(), p.PublicKey.Hex())
		return errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted)
	})
}

// Bad inputs: each gives a rejected event with its reason, is terminated,
// stores nothing, and does not disturb valid deliveries interleaved with it.
func TestIntakeBadInputs(t *testing.T) {
	e := newIntakeEnv(t, time.Minute)
	p, q := e.net.PKPs()[0], e.net.PKPs()[1]
	good := e.handOff(p, "pkp-signing:*", 15*time.Minute)
	env := good.Encode()
	var envObj map[string]string
	_ = json.Unmarshal(env, &envObj)
	payload, _ := base64.RawURLEncoding.DecodeString(envObj["payload"])
	withPayload := func(s string) []byte {
		b, _ := json.Marshal(map[string]string{"pkpPublicKey": envObj["pkpPublicKey"], "payload": base64.RawURLEncoding.EncodeToString([]byte(s))})
		return b
	}
	swap := func(old, new string) []byte { return withPayload(strings.Replace(string(payload), old, new, 1)) }
	resign := func(edit func(a *litnode.AuthSig)) []byte {
		h2 := *good
		a := good.Delegation
		edit(&a)
		h2.Delegation = a
		return h2.Encode()
	}
	// Another network's BLS key signs an otherwise perfect delegation.
	other := litnode.NewBLSSecretKey([]byte("another network"))
	otherNet := resign(func(a *litnode.AuthSig) {
		m := litnode.BLSSessionMessage(a.SignedMessage)
		a.Sig = litnode.FormatBLSSigJSON(other.Sign(m[:]))
	})
	expiredDelegation := e.handOff(p, "pkp-signing:*", 2*time.Second)
	sealedGarbage, _ := json.Marshal(map[string]string{"pkpPublicKey": envObj["pkpPublicKey"], "sealedPayload": base64.RawURLEncoding.EncodeToString([]byte("not a sealed box at all, just bytes of garbage"))})
	sealedOtherKey, _ := consumer.Seal([32]byte{1, 2, 3}, good.PayloadJSON())
	sealedWrong, _ := json.Marshal(map[string]string{"pkpPublicKey": envObj["pkpPublicKey"], "sealedPayload": base64.RawURLEncoding.EncodeToString(sealedOtherKey)})
	h3 := e.handOff(q, "pkp-signing:*", 15*time.Minute)
	h3.PKP = p.PublicKey // envelope names p, delegation is q's
	time.Sleep(2100 * time.Millisecond)

	cases := []struct {
		name, reason string
		body         []byte
	}{
		{"malformed JSON", litnode.ReasonInvalidJSON, []byte(`{"pkpPublicKey":`)},
		{"JSON array", litnode.ReasonInvalidJSON, []byte(`[1,2]`)},
		{"empty body", litnode.ReasonInvalidJSON, []byte(``)},
		{"missing payload", litnode.ReasonMissingField, []byte(`{"pkpPublicKey":"` + envObj["pkpPublicKey"] + `"}`)},
		{"missing pkpPublicKey", litnode.ReasonMissingField, []byte(`{"payload":"` + envObj["payload"] + `"}`)},
		{"bad base64url", litnode.ReasonInvalidBase64URL, []byte(`{"pkpPublicKey":"` + envObj["pkpPublicKey"] + `","payload":"a+b/c"}`)},
		{"payload not JSON", litnode.ReasonInvalidJSON, withPayload("nope")},
		{"missing delegationAuthSig", litnode.ReasonMissingField, withPayload(`{"sessionKeyPair":{"publicKey":"` + good.SessionKey.PublicKey().Hex() + `","secretKey":"` + good.SessionKey.RevealSecretHex() + `"}}`)},
		{"short session public key", litnode.ReasonInvalidSessionKey, swap(`"publicKey":"`+good.SessionKey.PublicKey().Hex(), `"publicKey":"`+good.SessionKey.PublicKey().Hex()[:62])},
		{"long session secret", litnode.ReasonInvalidSessionKey, swap(good.SessionKey.RevealSecretHex(), good.SessionKey.RevealSecretHex()+"abcd")},
		{"session key pair mismatch", litnode.ReasonSessionKeyMismatch, swap(good.SessionKey.RevealSecretHex(), strings.Repeat("11", 32))},
		{"PKP key not on the curve", litnode.ReasonInvalidPKPKey, []byte(`{"pkpPublicKey":"0x04` + strings.Repeat("ab", 64) + `","payload":"` + envObj["payload"] + `"}`)},
		{"PKP/SIWE address mismatch", litnode.ReasonPKPAddressMismatch, h3.Encode()},
		{"extra AuthSig key", litnode.ReasonInvalidAuthSig, swap(`"derivedVia":"lit.bls"`, `"derivedVia":"lit.bls","extra":true`)},
		{"forged signature", consumer.ReasonBadSignature, resign(func(a *litnode.AuthSig) { a.Sig = strings.Replace(a.Sig, a.Sig[30:34], "0000", 1) })},
		{"another network's BLS key", consumer.ReasonBadSignature, otherNet},
		{"statement edited", consumer.ReasonBadSignature, resign(func(a *litnode.AuthSig) {
			a.SignedMessage = strings.Replace(a.SignedMessage, "Lit Protocol PKP session signature", "Lit Protocol PKP session signaturE", 1)
		})},
		{"wrong derivedVia", consumer.ReasonWrongKind, resign(func(a *litnode.AuthSig) { a.DerivedVia = "web3.eth.personal.sign"; a.Algo = "" })},
		{"expired delegation", consumer.ReasonExpired, expiredDelegation.Encode()},
		{"unsealable payload", consumer.ReasonUnsealable, sealedGarbage},
		{"sealed to another key", consumer.ReasonUnsealable, sealedWrong},
	}
	kv, _ := e.js.KeyValue(context.Background(), e.topo.DelegationsBucket)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.publish(e.topo.DelegationsSubject(), tc.body)
			ev := e.waitEvent("rejected", func(ev consumer.DelegationEvent) bool { return ev.Type == consumer.EventRejected })
			if ev.Reason != tc.reason {
				t.Errorf("reason = %q (%s), want %q", ev.Reason, ev.Message, tc.reason)
			}
			if strings.Contains(ev.Message, good.SessionKey.RevealSecretHex()) {
				t.Errorf("rejected event leaks the session secret")
			}
			// A valid hand-off interleaved with the bad ones still goes through.
			if i%5 == 0 {
				h := e.handOff(q, "pkp-signing:*", 15*time.Minute)
				e.publish(e.topo.DelegationsSubject(), h.Encode())
				e.waitEvent("stored interleaved", storedFor(h))
			}
		})
	}
	if _, err := kv.Get(context.Background(), p.PublicKey.Hex()); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("a bad input stored a delegation for %s: %v", p.PublicKey.Hex(), err)
	}
	waitFor(t, "every message terminated and gone", func() bool { return e.streamMsgs() == 0 })
	e.sdMu.Lock()
	if len(e.sdErrors) != 0 {
		t.Errorf("secure deletes failed: %v", e.sdErrors)
	}
	e.sdMu.Unlock()
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var _ = hex.EncodeToString
