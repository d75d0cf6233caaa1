package litnode

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// SessionKeyURIPrefix is the SIWE URI prefix of a session key (docs/naga-auth.md §1).
const SessionKeyURIPrefix = "lit:session:"

// SessionPublicKey is a session key's ed25519 public key.
type SessionPublicKey [ed25519.PublicKeySize]byte

// ParseSessionPublicKey parses 64 hex digits (0x and the lit:session: prefix
// are tolerated on input; output is always bare lowercase hex).
func ParseSessionPublicKey(s string) (SessionPublicKey, error) {
	var p SessionPublicKey
	s = strings.TrimPrefix(strings.TrimSpace(s), SessionKeyURIPrefix)
	s = strings.TrimPrefix(s, "0x")
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(p) {
		return p, fmt.Errorf("%w: session public key must be 32 bytes of hex", ErrMalformed)
	}
	copy(p[:], b)
	return p, nil
}

// Hex returns 64 lowercase hex digits without 0x, the form Lit uses
// everywhere (docs/naga-auth.md §1 "Case matters").
func (p SessionPublicKey) Hex() string { return hex.EncodeToString(p[:]) }

// String returns Hex.
func (p SessionPublicKey) String() string { return p.Hex() }

// URI returns the session key URI "lit:session:<hex>".
func (p SessionPublicKey) URI() string { return SessionKeyURIPrefix + p.Hex() }

// MarshalText implements encoding.TextMarshaler.
func (p SessionPublicKey) MarshalText() ([]byte, error) { return []byte(p.Hex()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *SessionPublicKey) UnmarshalText(b []byte) error {
	k, err := ParseSessionPublicKey(string(b))
	if err != nil {
		return err
	}
	*p = k
	return nil
}

// Verify reports whether sig is a valid ed25519 signature of msg by p.
func (p SessionPublicKey) Verify(msg, sig []byte) bool {
	return len(sig) == ed25519.SignatureSize && ed25519.Verify(p[:], msg, sig)
}

// SessionKey is a session key pair. Its secret never prints: String,
// GoString, Format and LogValue redact it. The zero value is not usable;
// create one with GenerateSessionKey or ParseSessionKeyPair. A SessionKey is
// immutable and safe for concurrent use.
type SessionKey struct {
	priv ed25519.PrivateKey
	pub  SessionPublicKey
}

// GenerateSessionKey makes a fresh session key from rnd (crypto/rand when nil).
func GenerateSessionKey(rnd io.Reader) (*SessionKey, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(rnd, seed); err != nil {
		return nil, fmt.Errorf("generate session key: %w", err)
	}
	return SessionKeyFromSeed(seed)
}

// SessionKeyFromSeed builds a session key from its 32-byte seed.
func SessionKeyFromSeed(seed []byte) (*SessionKey, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: session secret key must be a 32-byte seed", ErrMalformed)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	k := &SessionKey{priv: priv}
	copy(k.pub[:], priv[ed25519.SeedSize:])
	return k, nil
}

// ParseSessionKeyPair parses the hand-off form {publicKey, secretKey}: both
// lowercase hex without 0x. The secret is the 32-byte seed (v8); the v7-era
// 64-byte seed‖public form is accepted by taking its seed, after checking
// its public half (docs/naga-auth.md §1). The public key must match the secret
// (ErrKeyMismatch).
func ParseSessionKeyPair(publicHex, secretHex string) (*SessionKey, error) {
	pub, err := ParseSessionPublicKey(publicHex)
	if err != nil {
		return nil, err
	}
	sec, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(secretHex), "0x"))
	if err != nil {
		return nil, fmt.Errorf("%w: session secret key is not hex", ErrMalformed)
	}
	defer clear(sec)
	switch len(sec) {
	case ed25519.SeedSize:
	case ed25519.PrivateKeySize:
		if subtle.ConstantTimeCompare(sec[ed25519.SeedSize:], pub[:]) != 1 {
			return nil, fmt.Errorf("%w: the 64-byte secret key's public half differs from publicKey", ErrKeyMismatch)
		}
	default:
		return nil, fmt.Errorf("%w: session secret key must be 32 bytes (or the 64-byte seed‖public form), got %d", ErrMalformed, len(sec))
	}
	k, err := SessionKeyFromSeed(sec[:ed25519.SeedSize])
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(k.pub[:], pub[:]) != 1 {
		return nil, fmt.Errorf("%w: publicKey is not the public key of secretKey", ErrKeyMismatch)
	}
	return k, nil
}

// PublicKey returns the session public key.
func (k *SessionKey) PublicKey() SessionPublicKey { return k.pub }

// URI returns the session key URI "lit:session:<public hex>".
func (k *SessionKey) URI() string { return k.pub.URI() }

// Sign signs msg with plain ed25519 (RFC 8032, no prehash).
func (k *SessionKey) Sign(msg []byte) []byte { return ed25519.Sign(k.priv, msg) }

// Seed returns a copy of the 32-byte secret seed. Callers that hold it are
// responsible for not leaking it (delegationstore seals it at once).
func (k *SessionKey) Seed() []byte { return append([]byte(nil), k.priv.Seed()...) }

// RevealSecretHex returns the secret seed as lowercase hex, the form of the
// hand-off envelope's secretKey. The name makes every use easy to audit.
func (k *SessionKey) RevealSecretHex() string { return hex.EncodeToString(k.priv.Seed()) }

// Equal reports whether k and o are the same key, in constant time.
func (k *SessionKey) Equal(o *SessionKey) bool {
	return k != nil && o != nil && subtle.ConstantTimeCompare(k.priv, o.priv) == 1
}

// String redacts the secret.
func (k *SessionKey) String() string {
	if k == nil {
		return "SessionKey(nil)"
	}
	return "SessionKey{public:" + k.pub.Hex() + " secret:REDACTED}"
}

// GoString redacts the secret.
func (k *SessionKey) GoString() string { return k.String() }

// Format redacts the secret for every verb, %#v and %x included.
func (k *SessionKey) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// LogValue redacts the secret in log/slog output.
func (k *SessionKey) LogValue() slog.Value {
	if k == nil {
		return slog.StringValue("nil")
	}
	return slog.GroupValue(slog.String("public", k.pub.Hex()), slog.String("secret", "REDACTED"))
}

// MarshalJSON refuses: a session key is serialised only through the explicit
// hand-off envelope encoder, never by accident.
func (k *SessionKey) MarshalJSON() ([]byte, error) {
	return []byte(`"REDACTED"`), nil
}
