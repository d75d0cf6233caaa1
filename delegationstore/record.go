package delegationstore

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/policy"
)

// recordVersion is the version of the stored record format ("v").
const recordVersion = 1

// record is the stored form of a delegation, the value under the PKP's key:
//
//	{"v":1,
//	 "pkpPublicKey":"0x04…", "sessionPublicKey":"<64 hex>",
//	 "sealedSecret":{"kid":"…","nonce":"<b64>","ct":"<b64>"},
//	 "delegation":{<the AuthSig>},
//	 "issuedAt":"…","expiration":"…","storedAt":"…",
//	 "resources":["lit-pkp://*|pkp-signing", …],
//	 "policy":{…}}                  (optional: the owner's policy)
//
// Everything but the session secret is public material; the secret is the
// 32-byte ed25519 seed sealed with XChaCha20-Poly1305 under a KEK, with
// additional data that binds it to this record's PKP and session key.
type record struct {
	V                int             `json:"v"`
	PKPPublicKey     string          `json:"pkpPublicKey"`
	SessionPublicKey string          `json:"sessionPublicKey"`
	SealedSecret     sealedSecret    `json:"sealedSecret"`
	Delegation       litnode.AuthSig `json:"delegation"`
	IssuedAt         time.Time       `json:"issuedAt"`
	Expiration       time.Time       `json:"expiration"`
	StoredAt         time.Time       `json:"storedAt"`
	Resources        []string        `json:"resources"`
	// Policy is the owner's policy from the hand-off; absent when the
	// hand-off had none (the operator's default applies).
	Policy *policy.Policy `json:"policy,omitempty"`

	pkp     litnode.PKPPublicKey     // parsed PKPPublicKey
	session litnode.SessionPublicKey // parsed SessionPublicKey
}

// sealedSecret is a sealed session secret: the key id of the KEK, the
// 24-byte random nonce and the ciphertext with its tag (base64 in JSON).
type sealedSecret struct {
	KID   string `json:"kid"`
	Nonce []byte `json:"nonce"`
	CT    []byte `json:"ct"`
}

// newRecord builds the record of a hand-off whose delegation parsed as d,
// sealing the session secret with the keyring's current key.
func newRecord(h *litnode.HandOff, d *litnode.Delegation, kr *Keyring, storedAt time.Time) (*record, error) {
	r := &record{
		V:                recordVersion,
		PKPPublicKey:     h.PKP.Hex(),
		SessionPublicKey: d.SessionKey.Hex(),
		Delegation:       h.Delegation,
		IssuedAt:         d.IssuedAt.UTC(),
		Expiration:       d.Expiration.UTC(),
		StoredAt:         storedAt.UTC(),
		Resources:        resourceStrings(d),
		pkp:              h.PKP,
		session:          d.SessionKey,
	}
	pol, err := policy.Parse(h.Policy)
	if err != nil {
		return nil, fmt.Errorf("delegation for %s: %w", r.PKPPublicKey, err)
	}
	r.Policy = pol
	if err := r.seal(kr.Current(), h.SessionKey); err != nil {
		return nil, err
	}
	return r, nil
}

// resourceStrings lists what a delegation grants as "<resource key>|<ability>".
func resourceStrings(d *litnode.Delegation) []string {
	out := []string{}
	for _, r := range d.Resources() {
		out = append(out, r.Resource.Key()+"|"+string(r.Ability))
	}
	return out
}

// additionalData binds a sealed secret to its record: a secret cut from one
// record and pasted into another (other PKP, other session key, other key
// id) no longer authenticates.
func additionalData(pkpHex, sessionHex, kid string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "litsignd delegation secret v%d\x00%s\x00%s\x00%s", recordVersion, pkpHex, sessionHex, kid)
	return b.Bytes()
}

// seal seals key's seed into r with kek.
func (r *record) seal(kek *KEK, key *litnode.SessionKey) error {
	if key.PublicKey() != r.session {
		return fmt.Errorf("seal delegation for %s: %w: the session key is not the delegation's", r.PKPPublicKey, litnode.ErrKeyMismatch)
	}
	aead, err := kek.aead()
	if err != nil {
		return fmt.Errorf("seal delegation for %s: %w", r.PKPPublicKey, err)
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("seal delegation for %s: nonce: %w", r.PKPPublicKey, err)
	}
	seed := key.Seed()
	defer clear(seed)
	ct := aead.Seal(nil, nonce, seed, additionalData(r.PKPPublicKey, r.SessionPublicKey, kek.ID()))
	r.SealedSecret = sealedSecret{KID: kek.ID(), Nonce: nonce, CT: ct}
	return nil
}

// unseal opens the sealed secret with the keyring and checks that it is the
// secret of the record's session public key. Failures wrap ErrSealed and
// name only the PKP and the key id.
func (r *record) unseal(kr *Keyring) (*litnode.SessionKey, error) {
	s := r.SealedSecret
	kek, ok := kr.key(s.KID)
	if !ok {
		return nil, fmt.Errorf("unseal delegation for %s: %w: key id %q is not in the keyring", r.PKPPublicKey, ErrSealed, s.KID)
	}
	aead, err := kek.aead()
	if err != nil {
		return nil, fmt.Errorf("unseal delegation for %s: %w", r.PKPPublicKey, err)
	}
	if len(s.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("unseal delegation for %s: %w: nonce is %d bytes", r.PKPPublicKey, ErrSealed, len(s.Nonce))
	}
	seed, err := aead.Open(nil, s.Nonce, s.CT, additionalData(r.PKPPublicKey, r.SessionPublicKey, s.KID))
	if err != nil {
		return nil, fmt.Errorf("unseal delegation for %s: %w: ciphertext does not authenticate under key id %q", r.PKPPublicKey, ErrSealed, s.KID)
	}
	defer clear(seed)
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("unseal delegation for %s: %w: secret has the wrong size", r.PKPPublicKey, ErrSealed)
	}
	key, err := litnode.SessionKeyFromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("unseal delegation for %s: %w", r.PKPPublicKey, ErrSealed)
	}
	if key.PublicKey() != r.session {
		return nil, fmt.Errorf("unseal delegation for %s: %w: secret does not match the session public key", r.PKPPublicKey, ErrSealed)
	}
	return key, nil
}

// encode returns the record's JSON.
func (r *record) encode() ([]byte, error) {
	return json.Marshal(r)
}

// errUnsupportedVersion marks records written by a newer format.
var errUnsupportedVersion = errors.New("unsupported delegation record version")

// decodeRecord parses and checks a stored record. It does not unseal.
func decodeRecord(data []byte) (*record, error) {
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decode delegation record: %w", err)
	}
	if r.V != recordVersion {
		return nil, fmt.Errorf("decode delegation record: %w %d", errUnsupportedVersion, r.V)
	}
	pkp, err := litnode.ParsePKPPublicKey(r.PKPPublicKey)
	if err != nil || pkp.Hex() != r.PKPPublicKey {
		return nil, errors.New("decode delegation record: pkpPublicKey is not a normalised PKP public key")
	}
	session, err := litnode.ParseSessionPublicKey(r.SessionPublicKey)
	if err != nil || session.Hex() != r.SessionPublicKey {
		return nil, fmt.Errorf("decode delegation record for %s: sessionPublicKey is not 64 lowercase hex digits", r.PKPPublicKey)
	}
	if r.SealedSecret.KID == "" || len(r.SealedSecret.CT) == 0 {
		return nil, fmt.Errorf("decode delegation record for %s: no sealed secret", r.PKPPublicKey)
	}
	if r.IssuedAt.IsZero() || r.Expiration.IsZero() {
		return nil, fmt.Errorf("decode delegation record for %s: missing issuedAt or expiration", r.PKPPublicKey)
	}
	r.pkp, r.session = pkp, session
	return &r, nil
}

// parseDelegation parses the record's AuthSig and checks it against the
// record's own fields, so a record cannot claim other times or another
// session key than its delegation says.
func (r *record) parseDelegation() (*litnode.Delegation, error) {
	d, err := litnode.ParseDelegation(r.Delegation)
	if err != nil {
		return nil, fmt.Errorf("delegation record for %s: %w", r.PKPPublicKey, err)
	}
	if d.SessionKey != r.session || !d.IssuedAt.Equal(r.IssuedAt) || !d.Expiration.Equal(r.Expiration) {
		return nil, fmt.Errorf("delegation record for %s: record fields disagree with its delegation", r.PKPPublicKey)
	}
	return d, nil
}

// newerThan reports whether r should replace old: a later SIWE issued-at,
// or the same issued-at and a later expiration.
func (r *record) newerThan(old *record) bool {
	if !r.IssuedAt.Equal(old.IssuedAt) {
		return r.IssuedAt.After(old.IssuedAt)
	}
	return r.Expiration.After(old.Expiration)
}

// sameDelegation reports whether r and o hold the same delegation (same
// session key and the same AuthSig, byte for byte). Two records of the same
// delegation differ only in their nonce and storedAt.
func (r *record) sameDelegation(o *record) bool {
	return r.PKPPublicKey == o.PKPPublicKey && r.SessionPublicKey == o.SessionPublicKey && r.Delegation == o.Delegation
}

// recordIndex is the part of a stored record the index needs: decoding it
// skips the delegation's SIWE message (no grammar check) and the sealed
// secret (no unsealing).
type recordIndex struct {
	V                int       `json:"v"`
	PKPPublicKey     string    `json:"pkpPublicKey"`
	SessionPublicKey string    `json:"sessionPublicKey"`
	IssuedAt         time.Time `json:"issuedAt"`
	Expiration       time.Time `json:"expiration"`
	SealedSecret     struct {
		KID string `json:"kid"`
	} `json:"sealedSecret"`

	session litnode.SessionPublicKey
}

// decodeRecordIndex decodes the index fields of a record stored under pkp,
// with decodeRecord's checks of those fields. The full checks (and the
// delegation's own) run when the record is first used (decodeRecord,
// parseDelegation, unseal).
func decodeRecordIndex(data []byte, pkp litnode.PKPPublicKey) (*recordIndex, error) {
	r, ok := scanRecordIndex(data)
	if !ok {
		r = recordIndex{}
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("decode delegation record: %w", err)
		}
	}
	if r.V != recordVersion {
		return nil, fmt.Errorf("decode delegation record: %w %d", errUnsupportedVersion, r.V)
	}
	if r.PKPPublicKey != pkp.Hex() {
		return nil, fmt.Errorf("record for %s stored under key %s", r.PKPPublicKey, pkp.Hex())
	}
	session, err := litnode.ParseSessionPublicKey(r.SessionPublicKey)
	if err != nil || session.Hex() != r.SessionPublicKey {
		return nil, fmt.Errorf("decode delegation record for %s: sessionPublicKey is not 64 lowercase hex digits", r.PKPPublicKey)
	}
	if r.SealedSecret.KID == "" {
		return nil, fmt.Errorf("decode delegation record for %s: no sealed secret", r.PKPPublicKey)
	}
	if r.IssuedAt.IsZero() || r.Expiration.IsZero() {
		return nil, fmt.Errorf("decode delegation record for %s: missing issuedAt or expiration", r.PKPPublicKey)
	}
	r.session = session
	return &r, nil
}
