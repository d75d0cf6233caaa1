package delegationstore

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/litsignd/litsignd/policy"
)

// BackendLitV3 names the Lit v3 ("Chipotle") backend in hand-offs and in
// stored records (docs/lit-v3.md).
const BackendLitV3 = "lit-v3"

// BackendNaga names a Naga (Lit v8) delegation in a Summary.
const BackendNaga = "naga"

// v3RecordVersion is the version of the stored v3 credential format.
const v3RecordVersion = 1

// v3Key matches the KV key of a v3 credential: the PKP's wallet address,
// "0x" + 40 lowercase hex. A Naga delegation's key is the PKP's public key
// (132 characters), so the two never collide in the one bucket.
var v3Key = regexp.MustCompile(`^0x[0-9a-f]{40}$`)

// IsV3Key reports whether a KV key of the delegations bucket holds a v3
// credential (a wallet address) rather than a Naga delegation.
func IsV3Key(key string) bool { return v3Key.MatchString(key) }

// V3Credential is a stored Lit v3 credential with its unsealed usage key.
// Treat UsageKey as the bearer secret it is: it redacts itself when
// printed or logged.
type V3Credential struct {
	// Address is the PKP's wallet address, "0x" + 40 lowercase hex (the
	// v3 pkpId, and the KV key).
	Address string
	// UsageKey is the usage API key (base64 of 32 bytes).
	UsageKey UsageKey
	// KeyHash is keccak256 of the usage key string, "0x" + 64 hex: the
	// key's on-chain identity, safe to log.
	KeyHash string
	// GroupID is the group the client granted the PKP and litsignd's
	// signing action in (informational: the service checks it).
	GroupID string
	// Policy is the client's optional policy object, as sent.
	Policy json.RawMessage
	// ExpiresAt is the client-set expiry; zero means none (v3 keys do
	// not expire by themselves).
	ExpiresAt time.Time
	StoredAt  time.Time
	Revision  uint64
}

// UsageKey is a v3 usage API key. It never prints itself.
type UsageKey string

// String redacts the key.
func (UsageKey) String() string { return "REDACTED" }

// GoString redacts the key.
func (UsageKey) GoString() string { return "REDACTED" }

// Format redacts the key for every verb.
func (UsageKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("REDACTED")) }

// LogValue redacts the key.
func (UsageKey) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// MarshalText redacts the key.
func (UsageKey) MarshalText() ([]byte, error) { return []byte("REDACTED"), nil }

// Reveal returns the key itself, for the Authorization header.
func (k UsageKey) Reveal() string { return string(k) }

// V3KeyHash returns keccak256 of the usage key's UTF-8 bytes as "0x" + 64
// hex: how the service identifies a key (docs/lit-v3.md §2.2).
func V3KeyHash(key string) string {
	return "0x" + hex.EncodeToString(crypto.Keccak256([]byte(key)))
}

// NormalizeV3Address checks a wallet address ("0x" + 40 hex, any case)
// and returns it lowercase.
func NormalizeV3Address(s string) (string, error) {
	l := strings.ToLower(s)
	if !v3Key.MatchString(l) {
		return "", fmt.Errorf("%q is not a wallet address (0x + 40 hex)", s)
	}
	return l, nil
}

// v3Record is the stored form of a v3 credential, the value under the
// wallet address:
//
//	{"v":1,"backend":"lit-v3","pkp":"0x<40 hex>","keyHash":"0x<64 hex>",
//	 "groupId":"…","policy":{…},"expiresAt":"…","issuedAt":"…","storedAt":"…",
//	 "sealedSecret":{"kid":"…","nonce":"<b64>","ct":"<b64>"}}
//
// Only the usage key is secret; it is sealed with XChaCha20-Poly1305 under
// the KEK with additional data binding it to the address, key hash and key
// id, so a sealed key pasted into another record does not open.
type v3Record struct {
	V         int             `json:"v"`
	Backend   string          `json:"backend"`
	PKP       string          `json:"pkp"`
	KeyHash   string          `json:"keyHash"`
	GroupID   string          `json:"groupId,omitempty"`
	Policy    json.RawMessage `json:"policy,omitempty"`
	ExpiresAt *time.Time      `json:"expiresAt,omitempty"`
	Issued    *time.Time      `json:"issuedAt,omitempty"`
	StoredAt  time.Time       `json:"storedAt"`
	Sealed    sealedSecret    `json:"sealedSecret"`
}

func v3AdditionalData(addr, keyHash, kid string) []byte {
	return fmt.Appendf(nil, "litsignd v3 usage key v%d\x00%s\x00%s\x00%s", v3RecordVersion, addr, keyHash, kid)
}

// newV3Record seals c's usage key with the keyring's current KEK.
func newV3Record(c *V3Credential, kr *Keyring, now time.Time) (*v3Record, error) {
	r := &v3Record{V: v3RecordVersion, Backend: BackendLitV3, PKP: c.Address, KeyHash: V3KeyHash(c.UsageKey.Reveal()),
		GroupID: c.GroupID, Policy: c.Policy, StoredAt: now.UTC()}
	if !c.ExpiresAt.IsZero() {
		e := c.ExpiresAt.UTC()
		r.ExpiresAt = &e
	}
	kek := kr.Current()
	aead, err := kek.aead()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	r.Sealed = sealedSecret{KID: kek.ID(), Nonce: nonce,
		CT: aead.Seal(nil, nonce, []byte(c.UsageKey.Reveal()), v3AdditionalData(r.PKP, r.KeyHash, kek.ID()))}
	return r, nil
}

var errNotV3Record = errors.New("not a v3 credential record")

// decodeV3Record parses and checks a stored v3 record without unsealing.
func decodeV3Record(data []byte) (*v3Record, error) {
	var r v3Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decode v3 credential record: %w", err)
	}
	if r.Backend != BackendLitV3 {
		return nil, errNotV3Record
	}
	if r.V != v3RecordVersion {
		return nil, fmt.Errorf("decode v3 credential record: %w %d", errUnsupportedVersion, r.V)
	}
	if !v3Key.MatchString(r.PKP) || len(r.KeyHash) != 66 || r.Sealed.KID == "" || len(r.Sealed.CT) == 0 {
		return nil, fmt.Errorf("decode v3 credential record for %q: malformed", r.PKP)
	}
	return &r, nil
}

// unseal opens the usage key and checks it against the record's key hash.
func (r *v3Record) unseal(kr *Keyring) (UsageKey, error) {
	kek, ok := kr.key(r.Sealed.KID)
	if !ok {
		return "", fmt.Errorf("unseal v3 credential for %s: %w: key id %q is not in the keyring", r.PKP, ErrSealed, r.Sealed.KID)
	}
	aead, err := kek.aead()
	if err != nil {
		return "", err
	}
	if len(r.Sealed.Nonce) != aead.NonceSize() {
		return "", fmt.Errorf("unseal v3 credential for %s: %w: bad nonce", r.PKP, ErrSealed)
	}
	pt, err := aead.Open(nil, r.Sealed.Nonce, r.Sealed.CT, v3AdditionalData(r.PKP, r.KeyHash, r.Sealed.KID))
	if err != nil {
		return "", fmt.Errorf("unseal v3 credential for %s: %w: ciphertext does not authenticate under key id %q", r.PKP, ErrSealed, r.Sealed.KID)
	}
	if V3KeyHash(string(pt)) != r.KeyHash {
		return "", fmt.Errorf("unseal v3 credential for %s: %w: key does not match its hash", r.PKP, ErrSealed)
	}
	return UsageKey(pt), nil
}

// summary lists r by its public parts (Store.List).
func (r *v3Record) summary(rev uint64) Summary {
	out := Summary{Backend: BackendLitV3, PKP: r.PKP, KeyHash: r.KeyHash, StoredAt: r.StoredAt, Revision: rev, KeyID: r.Sealed.KID}
	if r.Issued != nil {
		out.IssuedAt = *r.Issued
	}
	if r.ExpiresAt != nil {
		out.Expiration = *r.ExpiresAt
	}
	if len(r.Policy) > 0 {
		if p, err := policy.Parse(r.Policy); err == nil {
			out.Policy = p
		}
	}
	return out
}
