package litnode

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"strings"

	bls12381 "github.com/consensys/gnark-crypto/ecc/bls12-381"
	"github.com/consensys/gnark-crypto/ecc/bls12-381/fr"
	"github.com/ethereum/go-ethereum/accounts"
)

// BLSPoPDST is the hash-to-curve domain separation tag of the BLS
// proof-of-possession ciphersuite that Lit nodes sign with (docs/naga-auth.md §7,
// docs/naga-wire.md §9.4 step 5). The basic-scheme (…_NUL_) and message-augmentation
// (…_AUG_) tags are never used.
const BLSPoPDST = "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"

// blsPoPVariant is the tag of the externally tagged blsful enum that nodes
// emit, both for a share and for a combined signature (docs/naga-auth.md §7 "sig field",
// docs/naga-wire.md §9.3).
const blsPoPVariant = "ProofOfPossession"

// Sizes of the compressed (ZCash/IETF) encodings (docs/naga-auth.md §7 "groups").
const (
	blsPublicKeySize = bls12381.SizeOfG1AffineCompressed // 48
	blsSignatureSize = bls12381.SizeOfG2AffineCompressed // 96
	blsScalarSize    = fr.Bytes                          // 32
)

// compressedFlag is the top bit of the first byte of a compressed point.
const compressedFlag = 0x80

// negG1Gen is −g1, the second G1 input of the pairing check.
var negG1Gen bls12381.G1Affine

func init() {
	_, _, g1, _ := bls12381.Generators()
	negG1Gen.Neg(&g1)
}

// BLSPublicKey is a BLS12-381 public key in G1 (min-pubkey-size, docs/naga-auth.md §7),
// such as the network's root key from the handshake. The zero value is the
// identity point and is rejected by VerifyBLS; obtain keys with
// ParseBLSPublicKey or BLSSecretKey.PublicKey.
type BLSPublicKey struct {
	p bls12381.G1Affine
}

// ParseBLSPublicKey parses a compressed G1 point written as 96 hex digits,
// with or without 0x, in either case. It rejects the identity point and points
// outside the prime-order subgroup.
func ParseBLSPublicKey(hexStr string) (BLSPublicKey, error) {
	var k BLSPublicKey
	b, err := decodeHexExact(hexStr, blsPublicKeySize, true)
	if err != nil {
		return k, fmt.Errorf("%w: BLS public key: %v", ErrMalformed, err)
	}
	if b[0]&compressedFlag == 0 {
		return k, fmt.Errorf("%w: BLS public key is not a compressed G1 point", ErrMalformed)
	}
	// SetBytes checks that the point is on the curve and in the subgroup.
	if _, err := k.p.SetBytes(b); err != nil {
		return k, fmt.Errorf("%w: BLS public key: %v", ErrMalformed, err)
	}
	if k.p.IsInfinity() {
		// docs/naga-auth.md §7 "verification equation": reject an identity pk.
		return BLSPublicKey{}, fmt.Errorf("%w: BLS public key is the identity point", ErrMalformed)
	}
	return k, nil
}

// Hex returns the compressed point as 96 lowercase hex digits without 0x, the
// form of the handshake's networkPublicKey (docs/naga-auth.md §7 "verifying key").
func (k BLSPublicKey) Hex() string {
	b := k.p.Bytes()
	return hex.EncodeToString(b[:])
}

// String returns Hex.
func (k BLSPublicKey) String() string { return k.Hex() }

// Equal reports whether k and o are the same point.
func (k BLSPublicKey) Equal(o BLSPublicKey) bool { return k.p.Equal(&o.p) }

// IsZero reports whether k is the zero value (the identity point).
func (k BLSPublicKey) IsZero() bool { return k.p.IsInfinity() }

// MarshalText implements encoding.TextMarshaler with Hex.
func (k BLSPublicKey) MarshalText() ([]byte, error) { return []byte(k.Hex()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseBLSPublicKey.
func (k *BLSPublicKey) UnmarshalText(b []byte) error {
	p, err := ParseBLSPublicKey(string(b))
	if err != nil {
		return err
	}
	*k = p
	return nil
}

// BLSSessionMessage returns the 32-byte message a node BLS-signs for a
// sign_session_key request, and that a lit.bls delegation's signature is
// checked against: SHA-256("lit_session:" ‖ lowercase hex(keccak256(EIP-191(
// siweText)))) (docs/naga-auth.md §3.4 step 11 and §7 "message"; docs/naga-wire.md §9.2).
func BLSSessionMessage(siweText string) [32]byte {
	eip191 := accounts.TextHash([]byte(siweText))
	h := sha256.New()
	h.Write([]byte("lit_session:"))
	h.Write([]byte(hex.EncodeToString(eip191)))
	var m [32]byte
	h.Sum(m[:0])
	return m
}

// hashToG2 is H(m) of the PoP ciphersuite (docs/naga-auth.md §7 "DST").
func hashToG2(msg []byte) bls12381.G2Affine {
	h, err := bls12381.HashToG2(msg, []byte(BLSPoPDST))
	if err != nil {
		// Unreachable: HashToG2 fails only for a DST longer than 255
		// bytes, and BLSPoPDST is a 43-byte constant.
		panic("litnode: hash to G2: " + err.Error())
	}
	return h
}

// parseG2 decodes a 96-byte compressed G2 point in the prime-order subgroup.
// It does not reject the identity; callers decide.
func parseG2(b []byte) (bls12381.G2Affine, error) {
	var p bls12381.G2Affine
	if len(b) != blsSignatureSize {
		return p, fmt.Errorf("%w: BLS signature must be %d bytes, got %d", ErrMalformed, blsSignatureSize, len(b))
	}
	if b[0]&compressedFlag == 0 {
		return p, fmt.Errorf("%w: BLS signature is not a compressed G2 point", ErrMalformed)
	}
	// SetBytes checks that the point is on the curve and in the subgroup.
	if _, err := p.SetBytes(b); err != nil {
		return p, fmt.Errorf("%w: BLS signature: %v", ErrMalformed, err)
	}
	return p, nil
}

// VerifyBLS checks a BLS signature (96-byte compressed G2 point) on msg under
// pk with the proof-of-possession ciphersuite: e(pk, H(m)) = e(g1, σ), H being
// hash-to-G2 with BLSPoPDST (docs/naga-auth.md §7; docs/naga-wire.md §9.4 step 5). It rejects
// the identity as pk or σ. A signature that does not decode wraps
// ErrMalformed; one that decodes but does not verify wraps ErrBadSignature.
func VerifyBLS(pk BLSPublicKey, msg []byte, sigCompressed []byte) error {
	if pk.p.IsInfinity() {
		// docs/naga-auth.md §7 "verification equation": reject an identity pk.
		return fmt.Errorf("%w: BLS public key is the identity point", ErrMalformed)
	}
	sig, err := parseG2(sigCompressed)
	if err != nil {
		return err
	}
	if sig.IsInfinity() {
		// docs/naga-auth.md §7 "verification equation": reject an identity σ.
		return fmt.Errorf("%w: BLS signature is the identity point", ErrBadSignature)
	}
	h := hashToG2(msg)
	// e(pk, H(m)) · e(−g1, σ) = 1  ⇔  e(pk, H(m)) = e(g1, σ).
	ok, err := bls12381.PairingCheck([]bls12381.G1Affine{pk.p, negG1Gen}, []bls12381.G2Affine{h, sig})
	if err != nil {
		return fmt.Errorf("%w: BLS pairing: %v", ErrBadSignature, err)
	}
	if !ok {
		return fmt.Errorf("%w: BLS signature does not verify", ErrBadSignature)
	}
	return nil
}

// BLSShare is one node's BLS signature share as sent in a sign_session_key
// response (docs/naga-wire.md §9.3, docs/naga-auth.md §3.5 step 3).
type BLSShare struct {
	// Identifier is the node's Shamir x-coordinate, a BLS12-381 scalar (Fr)
	// in LITTLE-endian byte order (docs/naga-auth.md §3.5 step 3).
	Identifier [32]byte
	// Value is the share σᵢ = skᵢ·H(m), a 96-byte compressed G2 point.
	Value []byte
}

// blsShareWire is the inner object of {"ProofOfPossession":{…}}.
type blsShareWire struct {
	Identifier *string `json:"identifier"`
	Value      *string `json:"value"`
}

// ParseBLSShareJSON parses a node's signatureShare
// {"ProofOfPossession":{"identifier":"<64 hex>","value":"<192 hex>"}}
// (docs/naga-wire.md §9.3). The same object written as a JSON string is accepted
// too. Other variants (Basic, MessageAugmentation) are rejected. The
// identifier must be a canonical, nonzero little-endian scalar; the value is
// checked only for length here (CombineBLSShares decodes the point).
func ParseBLSShareJSON(raw []byte) (BLSShare, error) {
	var sh BLSShare
	inner, err := singleVariant(raw, "BLS signature share")
	if err != nil {
		return sh, err
	}
	var w blsShareWire
	if err := json.Unmarshal(inner, &w); err != nil {
		return sh, fmt.Errorf("%w: BLS signature share: %v", ErrMalformed, err)
	}
	if w.Identifier == nil || w.Value == nil {
		return sh, fmt.Errorf("%w: BLS signature share needs identifier and value", ErrMalformed)
	}
	id, err := decodeHexExact(*w.Identifier, blsScalarSize, false)
	if err != nil {
		return sh, fmt.Errorf("%w: BLS share identifier: %v", ErrMalformed, err)
	}
	copy(sh.Identifier[:], id)
	if _, err := blsIdentifierScalar(sh.Identifier); err != nil {
		return BLSShare{}, err
	}
	if sh.Value, err = decodeHexExact(*w.Value, blsSignatureSize, false); err != nil {
		return BLSShare{}, fmt.Errorf("%w: BLS share value: %v", ErrMalformed, err)
	}
	return sh, nil
}

// FormatBLSShareJSON writes a share as a node sends it:
// {"ProofOfPossession":{"identifier":"<64 lowercase hex>","value":"<192 lowercase hex>"}}
// (docs/naga-wire.md §9.3, §13.4 "sign_session_key fake" step 5).
func FormatBLSShareJSON(share BLSShare) []byte {
	var b strings.Builder
	b.WriteString(`{"` + blsPoPVariant + `":{"identifier":"`)
	b.WriteString(hex.EncodeToString(share.Identifier[:]))
	b.WriteString(`","value":"`)
	b.WriteString(hex.EncodeToString(share.Value))
	b.WriteString(`"}}`)
	return []byte(b.String())
}

// blsIdentifierScalar decodes a little-endian identifier (docs/naga-auth.md §3.5 step 3)
// into Fr. It rejects values ≥ r and zero (x = 0 would be the secret itself).
func blsIdentifierScalar(id [32]byte) (fr.Element, error) {
	x, err := fr.LittleEndian.Element(&id)
	if err != nil {
		return x, fmt.Errorf("%w: BLS share identifier is not a canonical little-endian scalar", ErrMalformed)
	}
	if x.IsZero() {
		return x, fmt.Errorf("%w: BLS share identifier is zero", ErrMalformed)
	}
	return x, nil
}

// lagrangeAtZeroFr returns λᵢ = Π_{j≠i} xⱼ/(xⱼ − xᵢ) over Fr for every i
// (docs/naga-wire.md §9.4 step 3). The xs must be distinct.
func lagrangeAtZeroFr(xs []fr.Element) []fr.Element {
	nums := make([]fr.Element, len(xs))
	dens := make([]fr.Element, len(xs))
	for i := range xs {
		nums[i].SetOne()
		dens[i].SetOne()
		for j := range xs {
			if j == i {
				continue
			}
			var d fr.Element
			d.Sub(&xs[j], &xs[i])
			nums[i].Mul(&nums[i], &xs[j])
			dens[i].Mul(&dens[i], &d)
		}
	}
	inv := fr.BatchInvert(dens)
	for i := range nums {
		nums[i].Mul(&nums[i], &inv[i])
	}
	return nums
}

// CombineBLSShares combines node signature shares into the 96-byte compressed
// signature σ = Σ λᵢ·σᵢ, Lagrange-interpolating at 0 over Fr with the
// identifiers read little-endian (docs/naga-auth.md §3.5 step 3; docs/naga-wire.md §9.4). It
// needs at least 2 shares (docs/naga-wire.md §9.4 step 1) with distinct identifiers
// and valid, non-identity G2 values. It does not verify σ: call VerifyBLS
// with the network key and the signed data (docs/naga-wire.md §9.4 step 5).
func CombineBLSShares(shares []BLSShare) ([]byte, error) {
	if len(shares) < 2 {
		return nil, fmt.Errorf("%w: need at least 2 BLS signature shares, got %d", ErrMalformed, len(shares))
	}
	xs := make([]fr.Element, len(shares))
	pts := make([]bls12381.G2Affine, len(shares))
	for i, sh := range shares {
		x, err := blsIdentifierScalar(sh.Identifier)
		if err != nil {
			return nil, fmt.Errorf("share %d: %w", i, err)
		}
		for j := range i {
			if xs[j].Equal(&x) {
				return nil, fmt.Errorf("%w: shares %d and %d have the same identifier", ErrMalformed, j, i)
			}
		}
		xs[i] = x
		p, err := parseG2(sh.Value)
		if err != nil {
			return nil, fmt.Errorf("share %d: %w", i, err)
		}
		if p.IsInfinity() {
			return nil, fmt.Errorf("%w: share %d is the identity point", ErrMalformed, i)
		}
		pts[i] = p
	}
	lambdas := lagrangeAtZeroFr(xs)
	var acc bls12381.G2Jac
	var k big.Int
	for i := range pts {
		var t bls12381.G2Jac
		t.FromAffine(&pts[i])
		t.ScalarMultiplication(&t, lambdas[i].BigInt(&k))
		if i == 0 {
			acc.Set(&t)
		} else {
			acc.AddAssign(&t)
		}
	}
	var sig bls12381.G2Affine
	sig.FromJacobian(&acc)
	if sig.IsInfinity() {
		return nil, fmt.Errorf("%w: combined BLS signature is the identity point", ErrBadSignature)
	}
	out := sig.Bytes()
	return out[:], nil
}

// singleVariant unwraps an externally tagged blsful enum {"<variant>": X}
// whose only accepted variant is ProofOfPossession (docs/naga-auth.md §7 "sig field")
// and returns X. raw may also be that object written as a JSON string.
func singleVariant(raw []byte, what string) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
		}
		raw = []byte(strings.TrimSpace(s))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	if len(m) != 1 {
		return nil, fmt.Errorf("%w: %s must be an object with the single key %s", ErrMalformed, what, blsPoPVariant)
	}
	inner, ok := m[blsPoPVariant]
	if !ok {
		for k := range m {
			// Basic (NUL DST) and MessageAugmentation (AUG DST) would parse in
			// blsful, but nodes emit ProofOfPossession only (docs/naga-auth.md §7).
			return nil, fmt.Errorf("%w: %s has variant %q; only %s is accepted", ErrMalformed, what, k, blsPoPVariant)
		}
	}
	return inner, nil
}

// ParseBLSSigJSON parses the sig field of a lit.bls AuthSig: the JSON text
// {"ProofOfPossession":"<192 hex>"} (docs/naga-auth.md §3.5 step 6, §7 "sig field"),
// and returns the 96 signature bytes. Only the ProofOfPossession variant is
// accepted; Basic and MessageAugmentation wrap ErrMalformed. The point itself
// is decoded by VerifyBLS.
func ParseBLSSigJSON(sig string) ([]byte, error) {
	inner, err := singleVariant([]byte(sig), "BLS sig")
	if err != nil {
		return nil, err
	}
	var h string
	if err := json.Unmarshal(inner, &h); err != nil {
		return nil, fmt.Errorf("%w: BLS sig %s value must be a hex string", ErrMalformed, blsPoPVariant)
	}
	b, err := decodeHexExact(h, blsSignatureSize, false)
	if err != nil {
		return nil, fmt.Errorf("%w: BLS sig: %v", ErrMalformed, err)
	}
	return b, nil
}

// FormatBLSSigJSON writes the sig field of a lit.bls AuthSig:
// {"ProofOfPossession":"<192 lowercase hex>"} (docs/naga-auth.md §3.5 step 6).
func FormatBLSSigJSON(sig []byte) string {
	return `{"` + blsPoPVariant + `":"` + hex.EncodeToString(sig) + `"}`
}

// decodeHexExact decodes hex of exactly n bytes, in either case; allow0x
// permits a 0x prefix.
func decodeHexExact(s string, n int, allow0x bool) ([]byte, error) {
	s = strings.TrimSpace(s)
	if allow0x {
		s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	}
	if len(s) != 2*n {
		return nil, fmt.Errorf("want %d hex digits, got %d", 2*n, len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, errors.New("not hex")
	}
	return b, nil
}

// BLSSecretKey is a BLS12-381 secret key (a nonzero Fr scalar). It exists for
// local devnets and tests, which play the network (docs/naga-wire.md §13.1); a
// litsignd client never holds one. Its value never prints: String, GoString,
// Format and LogValue redact it. The zero value is not a valid key.
type BLSSecretKey struct {
	s fr.Element
}

// blsKeygenDST separates NewBLSSecretKey's hash-to-field from every other use.
const blsKeygenDST = "LITSIGND-TEST-BLS12381-KEYGEN-V1"

// NewBLSSecretKey derives a secret key deterministically from seed by hashing
// it to a nonzero Fr scalar (RFC 9380 hash_to_field with expand_message_xmd
// SHA-256). It is not the IETF BLS KeyGen; use it for devnets and tests only.
func NewBLSSecretKey(seed []byte) BLSSecretKey {
	msg := append([]byte(nil), seed...)
	for ctr := byte(0); ; ctr++ {
		es, err := fr.Hash(msg, []byte(blsKeygenDST), 1)
		if err != nil {
			// Unreachable: fr.Hash fails only for a DST over 255 bytes.
			panic("litnode: hash to Fr: " + err.Error())
		}
		if !es[0].IsZero() {
			return BLSSecretKey{s: es[0]}
		}
		// Probability 1/r: retry with a counter appended.
		msg = append(append([]byte(nil), seed...), ctr)
	}
}

// ParseBLSSecretKey parses a secret key written as 32 bytes of big-endian hex
// (0x optional), the form of the vectors' identities.blsNetworkSecretKeyHex.
// The scalar must be canonical (< r) and nonzero.
func ParseBLSSecretKey(hexStr string) (BLSSecretKey, error) {
	var k BLSSecretKey
	b, err := decodeHexExact(hexStr, blsScalarSize, true)
	if err != nil {
		return k, fmt.Errorf("%w: BLS secret key: %v", ErrMalformed, err)
	}
	defer clear(b)
	if err := k.s.SetBytesCanonical(b); err != nil {
		return BLSSecretKey{}, fmt.Errorf("%w: BLS secret key is not a canonical scalar", ErrMalformed)
	}
	if k.s.IsZero() {
		return BLSSecretKey{}, fmt.Errorf("%w: BLS secret key is zero", ErrMalformed)
	}
	return k, nil
}

// PublicKey returns sk·g1.
func (s BLSSecretKey) PublicKey() BLSPublicKey {
	var k BLSPublicKey
	var e big.Int
	k.p.ScalarMultiplicationBase(s.s.BigInt(&e))
	return k
}

// Sign returns the 96-byte compressed signature sk·H(msg) with BLSPoPDST
// (docs/naga-auth.md §7).
func (s BLSSecretKey) Sign(msg []byte) []byte {
	return signG2(&s.s, msg)
}

// signG2 returns the compressed x·H(msg).
func signG2(x *fr.Element, msg []byte) []byte {
	h := hashToG2(msg)
	var e big.Int
	var sig bls12381.G2Affine
	sig.ScalarMultiplication(&h, x.BigInt(&e))
	out := sig.Bytes()
	return out[:]
}

// Split Shamir-shares the key over Fr (docs/naga-wire.md §13.1): a random polynomial
// f of degree threshold−1 with f(0) = sk, and one share f(xᵢ) per identifier.
// ids are little-endian scalars (docs/naga-auth.md §3.5 step 3) and must be canonical,
// nonzero and distinct; 1 ≤ threshold ≤ len(ids). rnd supplies the
// coefficients (crypto/rand when nil).
func (s BLSSecretKey) Split(threshold int, ids [][32]byte, rnd io.Reader) ([]BLSSecretKeyShare, error) {
	if threshold < 1 || threshold > len(ids) {
		return nil, fmt.Errorf("%w: BLS split: threshold %d out of range 1..%d", ErrMalformed, threshold, len(ids))
	}
	if s.s.IsZero() {
		return nil, fmt.Errorf("%w: BLS split: zero secret key", ErrMalformed)
	}
	xs := make([]fr.Element, len(ids))
	for i, id := range ids {
		x, err := blsIdentifierScalar(id)
		if err != nil {
			return nil, fmt.Errorf("BLS split: id %d: %w", i, err)
		}
		for j := range i {
			if xs[j].Equal(&x) {
				return nil, fmt.Errorf("%w: BLS split: ids %d and %d are equal", ErrMalformed, j, i)
			}
		}
		xs[i] = x
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	coeffs := make([]fr.Element, threshold)
	coeffs[0] = s.s
	var buf [64]byte
	for i := 1; i < threshold; i++ {
		if _, err := io.ReadFull(rnd, buf[:]); err != nil {
			return nil, fmt.Errorf("BLS split: read randomness: %w", err)
		}
		coeffs[i].SetBytes(buf[:]) // 512 bits reduced mod r: negligible bias
	}
	clear(buf[:])
	shares := make([]BLSSecretKeyShare, len(ids))
	for i := range ids {
		// Horner: f(x) = c0 + x(c1 + x(c2 + …)).
		var y fr.Element
		for j := threshold - 1; j >= 0; j-- {
			y.Mul(&y, &xs[i])
			y.Add(&y, &coeffs[j])
		}
		shares[i] = BLSSecretKeyShare{Identifier: ids[i], s: y}
	}
	for i := range coeffs {
		coeffs[i].SetZero()
	}
	return shares, nil
}

// String redacts the key.
func (s BLSSecretKey) String() string { return "BLSSecretKey(REDACTED)" }

// GoString redacts the key.
func (s BLSSecretKey) GoString() string { return s.String() }

// Format redacts the key for every verb.
func (s BLSSecretKey) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// LogValue redacts the key in log/slog output.
func (s BLSSecretKey) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// BLSSecretKeyShare is one node's Shamir share skᵢ of the network BLS key,
// for devnets and tests (docs/naga-wire.md §13.1). Its scalar never prints.
type BLSSecretKeyShare struct {
	// Identifier is the node's x-coordinate, a little-endian Fr scalar, sent
	// as the share's identifier (docs/naga-wire.md §13.4 "sign_session_key fake"
	// step 5).
	Identifier [32]byte
	s          fr.Element
}

// SignShare returns the node's signature share σᵢ = skᵢ·H(msg) with
// BLSPoPDST (docs/naga-wire.md §13.4 "sign_session_key fake" step 4).
func (s BLSSecretKeyShare) SignShare(msg []byte) BLSShare {
	return BLSShare{Identifier: s.Identifier, Value: signG2(&s.s, msg)}
}

// String redacts the scalar.
func (s BLSSecretKeyShare) String() string {
	return "BLSSecretKeyShare{identifier:" + hex.EncodeToString(s.Identifier[:]) + " secret:REDACTED}"
}

// GoString redacts the scalar.
func (s BLSSecretKeyShare) GoString() string { return s.String() }

// Format redacts the scalar for every verb.
func (s BLSSecretKeyShare) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// LogValue redacts the scalar in log/slog output.
func (s BLSSecretKeyShare) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("identifier", hex.EncodeToString(s.Identifier[:])),
		slog.String("secret", "REDACTED"))
}

// BLSIdentifierFromUint64 returns n as a 32-byte little-endian identifier
// (docs/naga-auth.md §3.5 step 3: the vector shares use 258, 3 and 7).
func BLSIdentifierFromUint64(n uint64) [32]byte {
	var id [32]byte
	binary.LittleEndian.PutUint64(id[:8], n)
	return id
}
