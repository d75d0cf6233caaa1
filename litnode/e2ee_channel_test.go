package litnode

import (
	"encoding/json"

	"golang.org/x/crypto/nacl/box"
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
	body, _, err := ch.appendSealedRequest(nil, nil, []byte(`{"a":1}`), time.Now(), 3)
	if err != nil {
		t.Fatal(err)
	}
	var env E2EEEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	pt, sender, err := E2EEDecrypt(node, env)
	if err != nil || string(pt) != `{"a":1}` || sender != ch.local.Public {
		t.Fatalf("node decrypt = %q, %x, %v", pt, sender, err)
	}
	for name, from := range map[string]X25519KeyPair{"current": node, "previous": prev} {
		resp := E2EEEncrypt(from, ch.local.Public, []byte(`{"ok":true}`), [16]byte{7}, time.Now())
		got, _, err := e2eeOpen(&ch.local, ch, resp)
		if err != nil || string(got) != `{"ok":true}` {
			t.Errorf("%s key: open = %q, %v", name, got, err)
		}
	}
	other, _ := NewX25519KeyPair(nil)
	if _, _, err := e2eeOpen(&ch.local, ch, E2EEEncrypt(node, other.Public, []byte("x"), [16]byte{}, time.Now())); err == nil {
		t.Error("a response sealed to another key opened")
	}
}

// TestRequestEnvelopeJSON checks the hand-written request body is, byte for
// byte, the JSON encoding/json writes for E2EEEncrypt's envelope with its
// epoch, whatever the plaintext size and the reused scratch buffer hold.
func TestRequestEnvelopeJSON(t *testing.T) {
	kp, _ := NewX25519KeyPair(nil)
	node, _ := NewX25519KeyPair(nil)
	var shared [32]byte
	box.Precompute(&shared, &node.Public, &kp.Secret)
	scratch := []byte("left over from an earlier request, longer than some plaintexts")
	for _, size := range []int{0, 5, 700, 5000} {
		plaintext := make([]byte, size)
		for i := range plaintext {
			plaintext[i] = byte(i * 7)
		}
		random := [16]byte{1, 2, byte(size)}
		at := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.FixedZone("x", 3600))
		env := E2EEEncrypt(kp, node.Public, plaintext, random, at)
		want, err := json.Marshal(struct {
			E2EEEnvelope
			Epoch uint64 `json:"epoch"`
		}{env, 18446744073709551615})
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		got, scratch = appendSealedEnvelope([]byte("prefix:"), scratch, &shared, &kp.Public, &node.Public, plaintext, &random, at, 18446744073709551615)
		if string(got) != "prefix:"+string(want) {
			t.Errorf("%d-byte plaintext:\ngot  %s\nwant prefix:%s", size, got, want)
		}
	}
}
