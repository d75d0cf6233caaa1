package litnode

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func vectorHandOff(t testing.TB) *HandOff {
	t.Helper()
	key, err := ParseSessionKeyPair(rfc8032Pub, rfc8032Seed)
	if err != nil {
		t.Fatal(err)
	}
	return &HandOff{PKP: vectorPKP(t), SessionKey: key, Delegation: delegationVector(t)}
}

// The seed's code: JSON.stringify({pkpPublicKey, payload:
// Buffer.from(JSON.stringify({sessionKeyPair, delegationAuthSig}), 'utf8').toString('base64url')}).
func TestEnvelopeEncodeMatchesSeed(t *testing.T) {
	h := vectorHandOff(t)
	env := h.Encode()
	var e map[string]string
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(env), `{"pkpPublicKey":"0x04`) || e["pkpPublicKey"] != vstr(t, authVectors(t), "identities", "pkpPublicKey") {
		t.Errorf("envelope starts %.40s", env)
	}
	if strings.ContainsAny(e["payload"], "+/=") {
		t.Errorf("payload is not unpadded base64url")
	}
	payload, _ := base64.RawURLEncoding.DecodeString(e["payload"])
	wantPrefix := `{"sessionKeyPair":{"publicKey":"` + rfc8032Pub + `","secretKey":"` + rfc8032Seed + `"},"delegationAuthSig":{"sig":`
	if !strings.HasPrefix(string(payload), wantPrefix) {
		t.Errorf("payload = %.120s…, want prefix %s", payload, wantPrefix)
	}
	got, err := DecodeEnvelope(env)
	if err != nil {
		t.Fatalf("DecodeEnvelope(Encode()) = %v", err)
	}
	if got.PKP != h.PKP || !got.SessionKey.Equal(h.SessionKey) || got.Delegation != h.Delegation {
		t.Errorf("round trip differs")
	}
}

func TestDecodeEnvelopeRejects(t *testing.T) {
	h := vectorHandOff(t)
	good := h.Encode()
	var env map[string]string
	_ = json.Unmarshal(good, &env)
	payload, _ := base64.RawURLEncoding.DecodeString(env["payload"])
	withPayload := func(p string) string {
		b, _ := json.Marshal(map[string]string{"pkpPublicKey": env["pkpPublicKey"], "payload": base64.RawURLEncoding.EncodeToString([]byte(p))})
		return string(b)
	}
	withPKP := func(k string) string {
		b, _ := json.Marshal(map[string]string{"pkpPublicKey": k, "payload": env["payload"]})
		return string(b)
	}
	swap := func(old, new string) string { return withPayload(strings.Replace(string(payload), old, new, 1)) }
	otherPKP := "0x04" + strings.Repeat("0", 0) + "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"
	tests := []struct {
		name, in, reason string
		want             error
	}{
		{"not JSON", `{"pkpPublicKey":`, ReasonInvalidJSON, ErrMalformed},
		{"JSON array", `[]`, ReasonInvalidJSON, ErrMalformed},
		{"trailing data", string(good) + `{}`, ReasonInvalidJSON, ErrMalformed},
		{"missing pkpPublicKey", `{"payload":"` + env["payload"] + `"}`, ReasonMissingField, ErrMalformed},
		{"missing payload", `{"pkpPublicKey":"` + env["pkpPublicKey"] + `"}`, ReasonMissingField, ErrMalformed},
		{"payload a number", `{"pkpPublicKey":"` + env["pkpPublicKey"] + `","payload":1}`, ReasonInvalidJSON, ErrMalformed},
		{"standard base64", `{"pkpPublicKey":"` + env["pkpPublicKey"] + `","payload":"` + base64.StdEncoding.EncodeToString(append(payload, 0xfb, 0xff)) + `"}`, ReasonInvalidBase64URL, ErrMalformed},
		{"payload not JSON", withPayload("hello"), ReasonInvalidJSON, ErrMalformed},
		{"missing sessionKeyPair", withPayload(`{"delegationAuthSig":{}}`), ReasonMissingField, ErrMalformed},
		{"missing secretKey", swap(`,"secretKey":"`+rfc8032Seed+`"`, ""), ReasonMissingField, ErrMalformed},
		{"missing delegationAuthSig", withPayload(`{"sessionKeyPair":{"publicKey":"` + rfc8032Pub + `","secretKey":"` + rfc8032Seed + `"}}`), ReasonMissingField, ErrMalformed},
		{"31-byte public key", swap(`"publicKey":"`+rfc8032Pub, `"publicKey":"`+rfc8032Pub[:62]), ReasonInvalidSessionKey, ErrMalformed},
		{"33-byte secret key", swap(rfc8032Seed, rfc8032Seed+"00"), ReasonInvalidSessionKey, ErrMalformed},
		{"session key pair mismatch", swap(rfc8032Seed, strings.Repeat("42", 32)), ReasonSessionKeyMismatch, ErrKeyMismatch},
		{"PKP key not on the curve", withPKP(env["pkpPublicKey"][:len(env["pkpPublicKey"])-2] + "00"), ReasonInvalidPKPKey, ErrMalformed},
		{"PKP key compressed", withPKP("0x02" + env["pkpPublicKey"][4:68]), ReasonInvalidPKPKey, ErrMalformed},
		{"PKP key short", withPKP("0x04abcd"), ReasonInvalidPKPKey, ErrMalformed},
		{"PKP key is not the delegation's", withPKP(otherPKP), ReasonPKPAddressMismatch, ErrAddressMismatch},
		{"extra key in delegationAuthSig", swap(`"derivedVia":"lit.bls"`, `"derivedVia":"lit.bls","x":1`), ReasonInvalidAuthSig, ErrMalformed},
		{"delegation SIWE garbage", swap(`"signedMessage":"localhost`, `"signedMessage":"garbage localhost`), ReasonInvalidSIWE, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeEnvelope([]byte(tc.in))
			var ee *EnvelopeError
			if !errors.As(err, &ee) {
				t.Fatalf("DecodeEnvelope = %v, want an *EnvelopeError", err)
			}
			if ee.Reason != tc.reason || !errors.Is(err, tc.want) {
				t.Errorf("DecodeEnvelope = %v (reason %s), want reason %s wrapping %v", err, ee.Reason, tc.reason, tc.want)
			}
			if strings.Contains(err.Error(), rfc8032Seed) {
				t.Errorf("error leaks the session secret: %v", err)
			}
		})
	}
	// A session key for another URI than the delegation's.
	other, _ := GenerateSessionKey(nil)
	h2 := &HandOff{PKP: h.PKP, SessionKey: other, Delegation: h.Delegation}
	if _, err := DecodeEnvelope(h2.Encode()); !errors.Is(err, ErrURIMismatch) {
		t.Errorf("DecodeEnvelope(other session key) = %v, want ErrURIMismatch", err)
	}
}

func BenchmarkDecodeEnvelope(b *testing.B) {
	env := vectorHandOff(b).Encode()
	b.ReportAllocs()
	b.SetBytes(int64(len(env)))
	for b.Loop() {
		if _, err := DecodeEnvelope(env); err != nil {
			b.Fatal(err)
		}
	}
}
