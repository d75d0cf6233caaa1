package litv3

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"

	"github.com/ethereum/go-ethereum/crypto"
)

// ErrBadKey is returned by ParseUsageKey for a string that is not a v3 API
// key.
var ErrBadKey = errors.New("litv3: not a Lit v3 API key")

var accountHashShape = regexp.MustCompile(`^0x[0-9a-fA-F]{64}$`)

// UsageKey is a Lit v3 API key: standard base64 with padding of 32 bytes, 44
// characters (docs/lit-v3.md §2.2). It is a bearer secret: String,
// GoString, Format, LogValue and MarshalJSON redact it; Reveal is the one
// way to read it. The zero value is no key.
type UsageKey struct{ s string }

// ParseUsageKey checks the shape of a key (surrounding white space is
// trimmed, as the server does). A precomputed account hash (0x + 64 hex),
// which v1.2+ servers reject with 401, is refused here with a specific
// error.
func ParseUsageKey(s string) (UsageKey, error) {
	s = strings.TrimSpace(s)
	if accountHashShape.MatchString(s) {
		return UsageKey{}, fmt.Errorf("%w: this looks like a precomputed account hash (0x + 64 hex), not the raw key", ErrBadKey)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(s) != 44 || len(b) != 32 {
		return UsageKey{}, fmt.Errorf("%w: want standard base64 of 32 bytes (44 characters ending in '=')", ErrBadKey)
	}
	return UsageKey{s: s}, nil
}

// KeyFromSecret is the key whose 32 bytes are secret (the server mints a key
// as base64 of a fresh secp256k1 private key).
func KeyFromSecret(secret []byte) (UsageKey, error) {
	if len(secret) != 32 {
		return UsageKey{}, fmt.Errorf("%w: secret must be 32 bytes", ErrBadKey)
	}
	return UsageKey{s: base64.StdEncoding.EncodeToString(secret)}, nil
}

// IsZero reports whether k is the zero value.
func (k UsageKey) IsZero() bool { return k.s == "" }

// Reveal returns the key string, for the Authorization header and sealing.
func (k UsageKey) Reveal() string { return k.s }

// Hash is the key's on-chain identity: keccak256 of the key string's UTF-8
// bytes (docs/lit-v3.md §2.2). It is not secret.
func (k UsageKey) Hash() [32]byte { return crypto.Keccak256Hash([]byte(k.s)) }

// HashHex is Hash as 0x + 64 lowercase hex, the api_key_hash of list_api_keys.
func (k UsageKey) HashHex() string { h := k.Hash(); return "0x" + hex.EncodeToString(h[:]) }

// String redacts the secret; it shows a prefix of the public hash.
func (k UsageKey) String() string {
	if k.s == "" {
		return "UsageKey(none)"
	}
	return "UsageKey{hash:" + k.HashHex()[:10] + "… secret:REDACTED}"
}

// GoString redacts the secret.
func (k UsageKey) GoString() string { return k.String() }

// Format redacts the secret for every verb.
func (k UsageKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue redacts the secret in log/slog output.
func (k UsageKey) LogValue() slog.Value {
	if k.s == "" {
		return slog.StringValue("none")
	}
	return slog.GroupValue(slog.String("hash", k.HashHex()), slog.String("secret", "REDACTED"))
}

// MarshalJSON redacts: a key is serialised only on purpose, through Reveal.
func (k UsageKey) MarshalJSON() ([]byte, error) { return []byte(`"REDACTED"`), nil }

// MarshalText redacts, so encoders that prefer text do too.
func (k UsageKey) MarshalText() ([]byte, error) { return []byte("REDACTED"), nil }
