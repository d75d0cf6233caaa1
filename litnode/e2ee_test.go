package litnode

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// e2eeVector is network-vectors.json e2ee (docs/naga-wire.md §5.6).
type e2eeVector struct {
	ClientSecretKeyHex  string       `json:"clientSecretKeyHex"`
	ClientPublicKeyHex  string       `json:"clientPublicKeyHex"`
	NodeSecretKeyHex    string       `json:"nodeSecretKeyHex"`
	NodeIdentityKeyHex  string       `json:"nodeIdentityKeyHex"`
	RandomHex           string       `json:"randomHex"`
	CreatedAt           string       `json:"createdAt"`
	UnixSeconds         int64        `json:"unixSeconds"`
	NonceHex            string       `json:"nonceHex"`
	Plaintext           string       `json:"plaintext"`
	CiphertextAndTagHex string       `json:"ciphertextAndTagHex"`
	Envelope            E2EEEnvelope `json:"envelope"`
}

func loadE2EEVector(t testing.TB) e2eeVector {
	t.Helper()
	var v struct {
		E2EE e2eeVector `json:"e2ee"`
	}
	readCryptoVectors(t, "network-vectors.json", &v)
	return v.E2EE
}

func key32(t testing.TB, h string) [32]byte {
	t.Helper()
	return [32]byte(cryptoHex(t, h))
}

func TestE2EEVectorEncrypt(t *testing.T) {
	v := loadE2EEVector(t)
	client := X25519KeyPairFromSecret(key32(t, v.ClientSecretKeyHex))
	node := X25519KeyPairFromSecret(key32(t, v.NodeSecretKeyHex))
	if got := hex.EncodeToString(client.Public[:]); got != v.ClientPublicKeyHex {
		t.Errorf("client public = %s, want %s", got, v.ClientPublicKeyHex)
	}
	if got := hex.EncodeToString(node.Public[:]); got != v.NodeIdentityKeyHex {
		t.Errorf("node public = %s, want %s", got, v.NodeIdentityKeyHex)
	}
	now, err := time.Parse(time.RFC3339, v.CreatedAt)
	if err != nil {
		t.Fatal(err)
	}
	if now.Unix() != v.UnixSeconds {
		t.Fatalf("vector time %d, want %d", now.Unix(), v.UnixSeconds)
	}
	random := [16]byte(cryptoHex(t, v.RandomHex))
	nonce := e2eeNonce(&random, v.UnixSeconds, &node.Public, &client.Public)
	if got := hex.EncodeToString(nonce[:]); got != v.NonceHex {
		t.Errorf("nonce = %s, want %s", got, v.NonceHex)
	}
	// Independent nonce: SHA-512 of the aad spelled out (docs/naga-wire.md §5.6).
	var aad bytes.Buffer
	aad.WriteByte(1)
	aad.Write(random[:])
	binary.Write(&aad, binary.BigEndian, uint64(v.UnixSeconds))
	aad.Write(node.Public[:])
	aad.Write(client.Public[:])
	if sum := sha512.Sum512(aad.Bytes()); !bytes.Equal(sum[:24], nonce[:]) || aad.Len() != 89 {
		t.Errorf("nonce differs from SHA-512(aad)[:24]")
	}
	// The time zone of now does not matter: created_at is written in UTC.
	for _, at := range []time.Time{now, now.In(time.FixedZone("X", 3600))} {
		env := E2EEEncrypt(client, node.Public, []byte(v.Plaintext), random, at)
		if env != v.Envelope {
			t.Errorf("E2EEEncrypt(%v) = %+v, want %+v", at, env, v.Envelope)
		}
	}
	// Milliseconds show in created_at but not in the nonce (whole seconds).
	env := E2EEEncrypt(client, node.Public, []byte(v.Plaintext), random, now.Add(999*time.Millisecond))
	if env.Payload.CiphertextAndTag != v.CiphertextAndTagHex || env.Payload.CreatedAt != "2025-01-01T00:00:00.999Z" {
		t.Errorf("E2EEEncrypt(+999ms) = %+v", env)
	}
	// The JSON is the envelope of §5.2.
	b, err := json.Marshal(v.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON := `{"version":"1","payload":{"verification_key":"` + v.ClientPublicKeyHex + `","random":"` + v.RandomHex +
		`","created_at":"` + v.CreatedAt + `","ciphertext_and_tag":"` + v.CiphertextAndTagHex + `"}}`
	if string(b) != wantJSON {
		t.Errorf("envelope JSON = %s, want %s", b, wantJSON)
	}
}

func TestE2EEVectorDecrypt(t *testing.T) {
	v := loadE2EEVector(t)
	node := X25519KeyPairFromSecret(key32(t, v.NodeSecretKeyHex))
	pt, sender, err := E2EEDecrypt(node, v.Envelope)
	if err != nil {
		t.Fatalf("E2EEDecrypt(vector) = %v", err)
	}
	if string(pt) != v.Plaintext {
		t.Errorf("plaintext = %q, want %q", pt, v.Plaintext)
	}
	if hex.EncodeToString(sender[:]) != v.ClientPublicKeyHex {
		t.Errorf("sender = %x, want %s", sender, v.ClientPublicKeyHex)
	}
	// Only the whole seconds of created_at matter (docs/naga-wire.md §5.1 step 8):
	// the chrono form and a fraction decrypt too; another second does not.
	for _, at := range []string{"2025-01-01T00:00:00Z", "2025-01-01T00:00:00.123456789+00:00", "2025-01-01T01:00:00.5+01:00"} {
		env := v.Envelope
		env.Payload.CreatedAt = at
		if _, _, err := E2EEDecrypt(node, env); err != nil {
			t.Errorf("created_at %s: E2EEDecrypt = %v", at, err)
		}
	}
	env := v.Envelope
	env.Payload.CreatedAt = "2025-01-01T00:00:01.000Z"
	if _, _, err := E2EEDecrypt(node, env); !errors.Is(err, ErrDecrypt) || errors.Is(err, ErrMalformed) {
		t.Errorf("created_at +1 s: E2EEDecrypt = %v, want ErrDecrypt only", err)
	}
	// The decoded envelope round-trips through JSON with an extra epoch key.
	var parsed E2EEEnvelope
	raw := `{"version":"1","payload":{"verification_key":"` + v.ClientPublicKeyHex + `","random":"` + v.RandomHex +
		`","created_at":"` + v.CreatedAt + `","ciphertext_and_tag":"` + v.CiphertextAndTagHex + `"},"epoch":12}`
	if err := json.Unmarshal([]byte(raw), &parsed); err != nil || parsed != v.Envelope {
		t.Errorf("unmarshal with epoch = %+v, %v", parsed, err)
	}
}

func TestE2EERoundTrip(t *testing.T) {
	client, err := NewX25519KeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	node, err := NewX25519KeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 51, 1000, 1 << 16} {
		pt := make([]byte, n)
		rand.Read(pt)
		// Request: client → node.
		req, err := E2EESeal(client, node.Public, pt)
		if err != nil {
			t.Fatal(err)
		}
		got, sender, err := E2EEDecrypt(node, req)
		if err != nil || !bytes.Equal(got, pt) || sender != client.Public {
			t.Fatalf("request of %d bytes: E2EEDecrypt = %d bytes, %x, %v", n, len(got), sender, err)
		}
		// Response: node → the request's verification_key.
		resp, err := E2EESeal(node, sender, pt)
		if err != nil {
			t.Fatal(err)
		}
		got, from, err := E2EEDecrypt(client, resp)
		if err != nil || !bytes.Equal(got, pt) || from != node.Public {
			t.Fatalf("response of %d bytes: E2EEDecrypt = %d bytes, %x, %v", n, len(got), from, err)
		}
		if !strings.HasPrefix(resp.Payload.CiphertextAndTag, strings.Repeat("0", 32)) {
			t.Errorf("ciphertext_and_tag lacks the 16 zero bytes")
		}
	}
	if _, err := NewX25519KeyPair(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Error("NewX25519KeyPair(short reader) succeeded")
	}
}

func TestE2EEDecryptFailures(t *testing.T) {
	v := loadE2EEVector(t)
	node := X25519KeyPairFromSecret(key32(t, v.NodeSecretKeyHex))
	client := X25519KeyPairFromSecret(key32(t, v.ClientSecretKeyHex))
	good := v.Envelope
	edit := func(f func(p *E2EEPayload)) E2EEEnvelope {
		e := good
		f(&e.Payload)
		return e
	}
	ct := v.CiphertextAndTagHex
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == '0' {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
		return string(b)
	}
	other, _ := NewX25519KeyPair(nil)
	for _, tc := range []struct {
		name      string
		key       X25519KeyPair
		env       E2EEEnvelope
		malformed bool
	}{
		{"wrong recipient key", other, good, false},
		{"sender's own key", client, good, false},
		{"zero key pair", X25519KeyPair{}, good, false},
		{"tampered ciphertext", node, edit(func(p *E2EEPayload) { p.CiphertextAndTag = flip(ct, len(ct)-1) }), false},
		{"tampered tag", node, edit(func(p *E2EEPayload) { p.CiphertextAndTag = flip(ct, 33) }), false},
		{"tampered random", node, edit(func(p *E2EEPayload) { p.Random = flip(p.Random, 0) }), false},
		{"other verification key", node, edit(func(p *E2EEPayload) { p.VerificationKey = hex.EncodeToString(other.Public[:]) }), false},
		{"missing zero prefix", node, edit(func(p *E2EEPayload) { p.CiphertextAndTag = ct[32:] }), true},
		{"nonzero prefix", node, edit(func(p *E2EEPayload) { p.CiphertextAndTag = "01" + ct[2:] }), true},
		{"too short", node, edit(func(p *E2EEPayload) { p.CiphertextAndTag = ct[:62] }), true},
		{"empty ciphertext", node, edit(func(p *E2EEPayload) { p.CiphertextAndTag = "" }), true},
		{"ciphertext not hex", node, edit(func(p *E2EEPayload) { p.CiphertextAndTag = ct[:len(ct)-2] + "zz" }), true},
		{"ciphertext odd length", node, edit(func(p *E2EEPayload) { p.CiphertextAndTag = ct[:len(ct)-1] }), true},
		{"verification key 31 bytes", node, edit(func(p *E2EEPayload) { p.VerificationKey = p.VerificationKey[:62] }), true},
		{"verification key 33 bytes", node, edit(func(p *E2EEPayload) { p.VerificationKey += "00" }), true},
		{"verification key 0x", node, edit(func(p *E2EEPayload) { p.VerificationKey = "0x" + p.VerificationKey }), true},
		{"verification key not hex", node, edit(func(p *E2EEPayload) { p.VerificationKey = "zz" + p.VerificationKey[2:] }), true},
		{"random 15 bytes", node, edit(func(p *E2EEPayload) { p.Random = p.Random[:30] }), true},
		{"random not hex", node, edit(func(p *E2EEPayload) { p.Random = "zz" + p.Random[2:] }), true},
		{"created_at missing", node, edit(func(p *E2EEPayload) { p.CreatedAt = "" }), true},
		{"created_at unix", node, edit(func(p *E2EEPayload) { p.CreatedAt = "1735689600" }), true},
		{"version 2", node, func() E2EEEnvelope { e := good; e.Version = "2"; return e }(), true},
		{"zero envelope", node, E2EEEnvelope{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pt, _, err := E2EEDecrypt(tc.key, tc.env)
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("E2EEDecrypt = %q, %v; want ErrDecrypt", pt, err)
			}
			if errors.Is(err, ErrMalformed) != tc.malformed {
				t.Errorf("E2EEDecrypt = %v; wraps ErrMalformed = %v, want %v", err, !tc.malformed, tc.malformed)
			}
			if pt != nil {
				t.Errorf("plaintext %q returned with an error", pt)
			}
		})
	}
}

func TestE2EEKeyPairNeverPrintsSecret(t *testing.T) {
	v := loadE2EEVector(t)
	kp := X25519KeyPairFromSecret(key32(t, v.ClientSecretKeyHex))
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("k", "kp", kp)
	js, err := json.Marshal(kp)
	if err != nil {
		t.Fatal(err)
	}
	outs := []string{logged.String(), string(js)}
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		outs = append(outs, fmt.Sprintf(f, kp), fmt.Sprintf(f, &kp))
	}
	secretDec := fmt.Sprint(kp.Secret[:]) // "[7 7 7 …]"
	for _, o := range outs {
		if !strings.Contains(o, "REDACTED") || !strings.Contains(o, v.ClientPublicKeyHex) {
			t.Errorf("output %q should show the public key and REDACTED", o)
		}
		if strings.Contains(strings.ToLower(o), v.ClientSecretKeyHex) || strings.Contains(o, secretDec) {
			t.Errorf("output %q leaks the secret", o)
		}
	}
}

// FuzzE2EEDecrypt checks that no envelope makes E2EEDecrypt panic or return
// an error that wraps neither sentinel.
func FuzzE2EEDecrypt(f *testing.F) {
	v := loadE2EEVector(f)
	p := v.Envelope.Payload
	f.Add(v.Envelope.Version, p.VerificationKey, p.Random, p.CreatedAt, p.CiphertextAndTag)
	f.Add("1", "", "", "", "")
	node := X25519KeyPairFromSecret(key32(f, v.NodeSecretKeyHex))
	f.Fuzz(func(t *testing.T, ver, vk, random, created, ct string) {
		env := E2EEEnvelope{Version: ver, Payload: E2EEPayload{vk, random, created, ct}}
		pt, _, err := E2EEDecrypt(node, env)
		if err != nil && !errors.Is(err, ErrDecrypt) {
			t.Fatalf("error %v does not wrap ErrDecrypt", err)
		}
		if err == nil && env == v.Envelope && string(pt) != v.Plaintext {
			t.Fatalf("vector decrypted to %q", pt)
		}
	})
}
