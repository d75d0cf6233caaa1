package litnode

import (
	"encoding/json"
	"testing"
	"time"
)

// TestE2EEChannelMatchesEnvelopeFunctions checks that a channel's precomputed
// shared key seals what E2EEDecrypt opens, opens what E2EEEncrypt seals
// back, and that a response from another identity key (the node's previous
// one) still opens through the slow path.
func TestE2EEChannelMatchesEnvelopeFunctions(t *testing.T) {
	node, _ := NewX25519KeyPair(nil)
	prev, _ := NewX25519KeyPair(nil)
	ch, err := newE2EEChannel(nil, node.Public)
	if err != nil {
		t.Fatal(err)
	}
	env, err := ch.seal([]byte(`{"a":1}`), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pt, sender, err := E2EEDecrypt(node, env)
	if err != nil || string(pt) != `{"a":1}` || sender != ch.local.Public {
		t.Fatalf("node decrypt = %q, %x, %v", pt, sender, err)
	}
	for name, from := range map[string]X25519KeyPair{"current": node, "previous": prev} {
		resp := E2EEEncrypt(from, ch.local.Public, []byte(`{"ok":true}`), [16]byte{7}, time.Now())
		got, err := ch.open(resp)
		if err != nil || string(got) != `{"ok":true}` {
			t.Errorf("%s key: open = %q, %v", name, got, err)
		}
	}
	other, _ := NewX25519KeyPair(nil)
	if _, err := ch.open(E2EEEncrypt(node, other.Public, []byte("x"), [16]byte{}, time.Now())); err == nil {
		t.Error("a response sealed to another key opened")
	}
}

// TestRequestEnvelopeJSON checks the hand-written request body is the JSON
// encoding/json writes for the envelope with its epoch.
func TestRequestEnvelopeJSON(t *testing.T) {
	kp, _ := NewX25519KeyPair(nil)
	env := E2EEEncrypt(kp, kp.Public, []byte("hello"), [16]byte{1, 2}, time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC))
	want, err := json.Marshal(struct {
		E2EEEnvelope
		Epoch uint64 `json:"epoch"`
	}{env, 18446744073709551615})
	if err != nil {
		t.Fatal(err)
	}
	if got := appendRequestEnvelope(nil, &env, 18446744073709551615); string(got) != string(want) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
