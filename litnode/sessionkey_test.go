package litnode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const (
	rfc8032Seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	rfc8032Pub  = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
)

func TestSessionKeyPairVector(t *testing.T) {
	v := authVectors(t)
	pub, sec := vstr(t, v, "sessionKeyPair", "publicKey"), vstr(t, v, "sessionKeyPair", "secretKey")
	k, err := ParseSessionKeyPair(pub, sec)
	if err != nil {
		t.Fatalf("ParseSessionKeyPair: %v", err)
	}
	if got, want := k.URI(), vstr(t, v, "sessionKeyPair", "sessionKeyUri"); got != want {
		t.Errorf("URI() = %q, want %q", got, want)
	}
	if got := k.RevealSecretHex(); got != sec {
		t.Errorf("RevealSecretHex() = %q, want %q", got, sec)
	}
	// The SDK's own generateSessionKeyPair shape: a 32-byte seed secret.
	sample := vget(t, v, "sessionKeyPairShape", "sample").(map[string]any)
	if _, err := ParseSessionKeyPair(sample["publicKey"].(string), sample["secretKey"].(string)); err != nil {
		t.Errorf("ParseSessionKeyPair(SDK sample) = %v", err)
	}
}

func TestGenerateSessionKey(t *testing.T) {
	k, err := GenerateSessionKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := k.PublicKey().Hex()
	if len(pub) != 64 || strings.ToLower(pub) != pub {
		t.Errorf("public key %q: want 64 lowercase hex", pub)
	}
	if s := k.RevealSecretHex(); len(s) != 64 {
		t.Errorf("secret hex length %d, want 64", len(s))
	}
	k2, err := ParseSessionKeyPair(pub, k.RevealSecretHex())
	if err != nil || !k2.Equal(k) {
		t.Fatalf("round trip: %v", err)
	}
	msg := []byte("hello")
	if !k.PublicKey().Verify(msg, k.Sign(msg)) {
		t.Error("signature does not verify")
	}
}

func TestParseSessionKeyPairForms(t *testing.T) {
	tests := []struct {
		name, pub, sec string
		wantErr        error
	}{
		{"seed", rfc8032Pub, rfc8032Seed, nil},
		{"v7 64-byte seed||pub", rfc8032Pub, rfc8032Seed + rfc8032Pub, nil},
		{"v7 form with wrong public half", rfc8032Pub, rfc8032Seed + strings.Repeat("11", 32), ErrKeyMismatch},
		{"pub of another key", strings.Repeat("ab", 32), rfc8032Seed, ErrKeyMismatch},
		{"short secret", rfc8032Pub, rfc8032Seed[:62], ErrMalformed},
		{"48-byte secret", rfc8032Pub, rfc8032Seed + rfc8032Seed[:32], ErrMalformed},
		{"non-hex secret", rfc8032Pub, strings.Repeat("zz", 32), ErrMalformed},
		{"short public", rfc8032Pub[:10], rfc8032Seed, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSessionKeyPair(tc.pub, tc.sec)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("ParseSessionKeyPair = %v, want %v", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), rfc8032Seed) {
				t.Errorf("error %q leaks the secret", err)
			}
		})
	}
}

func TestSessionKeyNeverPrintsSecret(t *testing.T) {
	k, err := ParseSessionKeyPair(rfc8032Pub, rfc8032Seed)
	if err != nil {
		t.Fatal(err)
	}
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		outputs = append(outputs, fmt.Sprintf(verb, k))
	}
	type holder struct{ Key *SessionKey }
	outputs = append(outputs, fmt.Sprintf("%+v", holder{k}), fmt.Sprint(k))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "key", k)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "key", k)
	outputs = append(outputs, buf.String())
	j, _ := json.Marshal(holder{k})
	outputs = append(outputs, string(j))
	for _, out := range outputs {
		if strings.Contains(strings.ToLower(out), rfc8032Seed[:16]) {
			t.Errorf("output leaks the secret: %s", out)
		}
	}
	if !strings.Contains(outputs[0], rfc8032Pub) {
		t.Errorf("%%v = %q, want the public key shown", outputs[0])
	}
}
