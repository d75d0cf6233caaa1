package consumer

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/hkdf"
	"golang.org/x/crypto/nacl/box"
)

// SealingKey is litsignd's X25519 key for sealed hand-offs: clients encrypt
// the envelope payload to its public key with a NaCl sealed box
// (box.SealAnonymous = libsodium crypto_box_seal), so the session secret
// never sits in JetStream in plaintext. Every replica derives the same key
// from the KEK. It never prints its secret.
type SealingKey struct {
	public, secret [32]byte
}

// DeriveSealingKey derives the sealing key from key material (the KEK) with
// HKDF-SHA256 and a fixed label, so all replicas share it.
func DeriveSealingKey(material []byte) (*SealingKey, error) {
	if len(material) < 32 {
		return nil, errors.New("sealing key: key material must be at least 32 bytes")
	}
	k := &SealingKey{}
	if _, err := io.ReadFull(hkdf.New(sha256.New, material, nil, []byte("litsignd sealed hand-off key v1")), k.secret[:]); err != nil {
		return nil, err
	}
	pub, err := curve25519.X25519(k.secret[:], curve25519.Basepoint)
	if err != nil {
		return nil, err
	}
	copy(k.public[:], pub)
	return k, nil
}

// PublicKeyHex returns the public key as 64 lowercase hex digits.
func (k *SealingKey) PublicKeyHex() string { return hex.EncodeToString(k.public[:]) }

// PublicKey returns the public key.
func (k *SealingKey) PublicKey() [32]byte { return k.public }

// Open opens a sealed box made for this key.
func (k *SealingKey) Open(sealed []byte) ([]byte, error) {
	out, ok := box.OpenAnonymous(nil, sealed, &k.public, &k.secret)
	if !ok {
		return nil, errors.New("sealed payload does not open with litsignd's sealing key")
	}
	return out, nil
}

// Seal seals payload to a sealing public key (what a client does; used by
// litsign and tests).
func Seal(recipient [32]byte, payload []byte) ([]byte, error) {
	return box.SealAnonymous(nil, payload, &recipient, rand.Reader)
}

// ParseSealingPublicKey parses 64 hex digits.
func ParseSealingPublicKey(s string) ([32]byte, error) {
	var k [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return k, fmt.Errorf("sealing public key must be 32 bytes of hex")
	}
	copy(k[:], b)
	return k, nil
}

// String redacts the secret.
func (k *SealingKey) String() string {
	return "SealingKey{public:" + k.PublicKeyHex() + " secret:REDACTED}"
}

// Format redacts the secret for every verb.
func (k *SealingKey) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// LogValue redacts the secret.
func (k *SealingKey) LogValue() slog.Value { return slog.StringValue(k.String()) }
