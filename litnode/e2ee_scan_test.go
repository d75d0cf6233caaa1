package litnode

import (
	"encoding/json"
	"testing"
	"time"
)

// scanSeeds are envelopes the fast path must take, and near misses it must
// leave to encoding/json.
var scanSeeds = []string{
	`{"version":"1","payload":{"verification_key":"aa","random":"bb","created_at":"2026-01-02T03:04:05.006Z","ciphertext_and_tag":"cc"}}`,
	` { "payload" : { "ciphertext_and_tag" : "cc" , "created_at":"x","random":"bb","verification_key":"aa"} , "version" : "1" } `,
	`{"version":"1","payload":{"verification_key":"aa","random":"bb","created_at":"x","ciphertext_and_tag":"cc"},"epoch":3}`,
	`{"Version":"1","payload":{"verification_key":"aa","random":"bb","created_at":"x","ciphertext_and_tag":"cc"}}`,
	`{"version":"1","version":"2","payload":{"verification_key":"aa","random":"bb","created_at":"x","ciphertext_and_tag":"cc"}}`,
	`{"version":"\u0031","payload":{"verification_key":"aa","random":"bb","created_at":"x","ciphertext_and_tag":"cc"}}`,
	`{"version":1,"payload":{"verification_key":"aa","random":"bb","created_at":"x","ciphertext_and_tag":"cc"}}`,
	`{"version":"1","payload":{"verification_key":"aa","random":"bb","created_at":"x"}}`,
	`{"version":"1","payload":{"verification_key":"aa","random":"bb","created_at":"x","ciphertext_and_tag":"cc"}}x`,
	`{"version":"1","payload":{"verification_key":"aa","random":"bb","created_at":"x","ciphertext_and_tag":"cc",}}`,
	`{"version":"é","payload":{"verification_key":"aa","random":"bb","created_at":"x","ciphertext_and_tag":"cc"}}`,
	`{"ok":false,"error":"can't decrypt","errorObject":null,"data":null}`,
	``, `{`, `{}`, `null`, `[]`,
}

// checkScanMatchesJSON fails if the fast path accepts raw but decodes it to
// something other than what encoding/json decodes.
func checkScanMatchesJSON(t *testing.T, raw []byte) {
	version, vk, random, created, ct, ok := scanE2EEEnvelope(raw)
	if !ok {
		return
	}
	var env E2EEEnvelope
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("fast path accepted what encoding/json rejects (%v): %q", err, raw)
	}
	got := E2EEEnvelope{Version: string(version), Payload: E2EEPayload{VerificationKey: string(vk), Random: string(random), CreatedAt: string(created), CiphertextAndTag: string(ct)}}
	if got != env {
		t.Fatalf("fast path decoded %q as %+v; encoding/json as %+v", raw, got, env)
	}
}

// TestScanE2EEEnvelope checks the response fast path takes the envelopes
// nodes send and decodes them as encoding/json does, and leaves every
// other shape (an extra key, a key in other case, a duplicate, an escape,
// a number, a missing field, trailing bytes) to encoding/json.
func TestScanE2EEEnvelope(t *testing.T) {
	kp, _ := NewX25519KeyPair(nil)
	env := E2EEEncrypt(kp, kp.Public, []byte(`{"ok":true,"data":{}}`), [16]byte{9}, time.Now())
	real, _ := json.Marshal(env)
	for _, raw := range append([]string{string(real)}, scanSeeds...) {
		checkScanMatchesJSON(t, []byte(raw))
	}
	for i, raw := range []string{string(real), scanSeeds[0], scanSeeds[1]} {
		if _, _, _, _, _, ok := scanE2EEEnvelope([]byte(raw)); !ok {
			t.Errorf("seed %d: the fast path refused a plain envelope: %s", i, raw)
		}
	}
	for _, raw := range scanSeeds[2:] {
		if _, _, _, _, _, ok := scanE2EEEnvelope([]byte(raw)); ok {
			t.Errorf("the fast path took %q, which it must leave to encoding/json", raw)
		}
	}
}

func FuzzScanE2EEEnvelope(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkScanMatchesJSON(t, raw) })
}
