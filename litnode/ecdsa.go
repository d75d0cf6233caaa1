package litnode

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// ECDSASigTypeK256 is the sig_type of a secp256k1 ECDSA share
// (docs/naga-wire.md §7.4), the only ECDSA scheme litnode combines.
const ECDSASigTypeK256 = "EcdsaK256Sha256"

// ecdsaShareVariant is the tag of an ECDSA share in a pkpSign or executeJs
// response (docs/naga-wire.md §7.4).
const ecdsaShareVariant = "EcdsaSignedMessageShare"

// ecdsaShareSuccess is the result of a usable share (docs/naga-wire.md §7.4, §7.5
// "Inputs").
const ecdsaShareSuccess = "success"

// Encoded sizes on secp256k1.
const (
	secpScalarSize       = 32
	secpCompressedSize   = 33
	secpUncompressedSize = 65
)

// ECDSAShare is one node's ECDSA signature share (docs/naga-wire.md §7.4), with the
// JSON quotes stripped and the hex decoded.
type ECDSAShare struct {
	// Digest is the 32-byte message hash the nodes signed (toSign).
	Digest []byte
	// ShareID is the participant scalar as the node wrote it (hex, quotes
	// stripped). Informational.
	ShareID string
	// PeerID is the node's peer id (lowercase hex). Informational.
	PeerID string
	// SignatureShare is sᵢ, a big-endian scalar, already Lagrange-weighted
	// for the node set (docs/naga-wire.md §7.3 step 8).
	SignatureShare [32]byte
	// BigR is the presignature point R, 33-byte compressed SEC1.
	BigR []byte
	// PublicKey is the PKP public key, 65-byte uncompressed SEC1 (0x04…).
	PublicKey []byte
	// SigType is the signing scheme, "EcdsaK256Sha256".
	SigType string
	// Result is "success" for a usable share. Any other value marks a
	// failure placeholder, whose other fields ParseECDSAShare leaves unset.
	Result string
}

// ecdsaShareWire is the inner object of {"EcdsaSignedMessageShare":{…}},
// in the field order of docs/naga-wire.md §7.4.
type ecdsaShareWire struct {
	Digest              string `json:"digest"`
	Result              string `json:"result"`
	ShareID             string `json:"share_id"`
	PeerID              string `json:"peer_id"`
	SignatureShare      string `json:"signature_share"`
	BigR                string `json:"big_r"`
	CompressedPublicKey string `json:"compressed_public_key"`
	PublicKey           string `json:"public_key"`
	SigType             string `json:"sig_type"`
}

// stripJSONQuotes removes one pair of literal quotes: several share fields
// are JSON-encoded strings (docs/naga-wire.md §7.4, §7.5 step 2).
func stripJSONQuotes(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	return s
}

// decodeShareHex decodes a share field: quotes stripped, either case,
// exactly n bytes.
func decodeShareHex(field, v string, n int) ([]byte, error) {
	b, err := decodeHexExact(stripJSONQuotes(v), n, false)
	if err != nil {
		return nil, fmt.Errorf("%w: ECDSA share %s: %v", ErrMalformed, field, err)
	}
	return b, nil
}

// ParseECDSAShare parses an ECDSA signature share: either
// {"EcdsaSignedMessageShare":{…}} or the bare inner object, which older
// nodes send (docs/naga-wire.md §7.4); the same written as a JSON string, as
// executeJs signedData carries it (docs/naga-wire.md §13.4), is accepted too. It
// strips the JSON quotes of share_id, signature_share, big_r, public_key,
// compressed_public_key and digest, and reads hex in either case.
//
// A share whose result is not "success" is a failure placeholder: it is
// returned without error, with only Result, SigType, ShareID and PeerID set,
// so that callers can count it; CombineECDSAShares rejects it.
func ParseECDSAShare(raw []byte) (ECDSAShare, error) {
	var sh ECDSAShare
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return sh, fmt.Errorf("%w: ECDSA share: %v", ErrMalformed, err)
		}
		raw = bytes.TrimSpace([]byte(s))
	}
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(raw, &outer); err != nil {
		return sh, fmt.Errorf("%w: ECDSA share: %v", ErrMalformed, err)
	}
	if inner, ok := outer[ecdsaShareVariant]; ok {
		if len(outer) != 1 {
			return sh, fmt.Errorf("%w: ECDSA share: unexpected keys beside %s", ErrMalformed, ecdsaShareVariant)
		}
		raw = inner
	} else {
		for _, other := range []string{"FrostSignedMessageShare", "BlsSignedMessageShare"} {
			if _, ok := outer[other]; ok {
				return sh, fmt.Errorf("%w: %s is not an ECDSA share", ErrMalformed, other)
			}
		}
	}
	var w ecdsaShareWire
	if err := json.Unmarshal(raw, &w); err != nil {
		return sh, fmt.Errorf("%w: ECDSA share: %v", ErrMalformed, err)
	}
	return shareFromWire(&w)
}

// shareFromWire checks and decodes the fields of a share as JSON gave
// them (ParseECDSAShare, or the fast path of scanPKPSignShare).
func shareFromWire(w *ecdsaShareWire) (ECDSAShare, error) {
	var sh ECDSAShare
	sh.Result = w.Result
	sh.SigType = w.SigType
	sh.ShareID = stripJSONQuotes(w.ShareID)
	sh.PeerID = w.PeerID
	if w.Result == "" {
		return ECDSAShare{}, fmt.Errorf("%w: ECDSA share has no result", ErrMalformed)
	}
	if w.Result != ecdsaShareSuccess {
		return sh, nil
	}
	if w.SigType != ECDSASigTypeK256 {
		return ECDSAShare{}, fmt.Errorf("%w: ECDSA share sig_type %q is not supported (want %s)", ErrMalformed, w.SigType, ECDSASigTypeK256)
	}
	var err error
	// docs/naga-wire.md §7.4: digest is unquoted lowercase hex now; very old nodes
	// quoted it in upper case.
	if sh.Digest, err = decodeShareHex("digest", w.Digest, secpScalarSize); err != nil {
		return ECDSAShare{}, err
	}
	s, err := decodeShareHex("signature_share", w.SignatureShare, secpScalarSize)
	if err != nil {
		return ECDSAShare{}, err
	}
	copy(sh.SignatureShare[:], s)
	if sh.BigR, err = decodeShareHex("big_r", w.BigR, secpCompressedSize); err != nil {
		return ECDSAShare{}, err
	}
	if sh.BigR[0] != 0x02 && sh.BigR[0] != 0x03 {
		return ECDSAShare{}, fmt.Errorf("%w: ECDSA share big_r is not a compressed point", ErrMalformed)
	}
	if sh.PublicKey, err = parseSharePublicKey(w.PublicKey, w.CompressedPublicKey); err != nil {
		return ECDSAShare{}, err
	}
	return sh, nil
}

// parseSharePublicKey returns the 65-byte uncompressed key from public_key,
// or from compressed_public_key when public_key is absent; when both are
// present they must be the same point.
func parseSharePublicKey(uncompressed, compressed string) ([]byte, error) {
	var pub []byte
	if stripJSONQuotes(uncompressed) != "" {
		b, err := decodeShareHex("public_key", uncompressed, secpUncompressedSize)
		if err != nil {
			return nil, err
		}
		if b[0] != 0x04 {
			return nil, fmt.Errorf("%w: ECDSA share public_key must be uncompressed (04…)", ErrMalformed)
		}
		if _, err := secp256k1.ParsePubKey(b); err != nil {
			return nil, fmt.Errorf("%w: ECDSA share public_key: %v", ErrMalformed, err)
		}
		pub = b
	}
	if stripJSONQuotes(compressed) != "" {
		b, err := decodeShareHex("compressed_public_key", compressed, secpCompressedSize)
		if err != nil {
			return nil, err
		}
		// With public_key present (a checked point), equal to its
		// compression is proof enough that b is a valid compressed point:
		// no square root (DecompressY) per share on the hot path.
		if pub != nil && bytes.Equal(compressSEC1(pub), b) {
			return pub, nil
		}
		k, err := secp256k1.ParsePubKey(b)
		if err != nil || (b[0] != 0x02 && b[0] != 0x03) {
			return nil, fmt.Errorf("%w: ECDSA share compressed_public_key is not a compressed point", ErrMalformed)
		}
		if pub != nil {
			return nil, fmt.Errorf("%w: ECDSA share public_key and compressed_public_key differ", ErrMalformed)
		}
		pub = k.SerializeUncompressed()
	}
	if pub == nil {
		return nil, fmt.Errorf("%w: ECDSA share has no public key", ErrMalformed)
	}
	return pub, nil
}

// compressSEC1 compresses a 65-byte uncompressed SEC1 point without checking
// it; it returns nil for any other length.
func compressSEC1(pub []byte) []byte {
	if len(pub) != secpUncompressedSize {
		return nil
	}
	out := make([]byte, secpCompressedSize)
	out[0] = 0x02 | pub[64]&1
	copy(out[1:], pub[1:33])
	return out
}

// FormatECDSAShareJSON writes a share as a current node does (docs/naga-wire.md §7.4,
// §13.4 "pkpSign fake" step 6): {"EcdsaSignedMessageShare":{…}} with digest
// as unquoted lowercase hex; share_id, signature_share and big_r as quoted
// UPPER hex; compressed_public_key and public_key as quoted lowercase hex;
// peer_id unquoted; result "success" and sig_type "EcdsaK256Sha256" unless
// the share says otherwise.
func FormatECDSAShareJSON(share ECDSAShare) []byte {
	quote := func(s string) string { return `"` + s + `"` }
	w := ecdsaShareWire{
		Digest:              hex.EncodeToString(share.Digest),
		Result:              share.Result,
		ShareID:             quote(strings.ToUpper(share.ShareID)),
		PeerID:              share.PeerID,
		SignatureShare:      quote(strings.ToUpper(hex.EncodeToString(share.SignatureShare[:]))),
		BigR:                quote(strings.ToUpper(hex.EncodeToString(share.BigR))),
		CompressedPublicKey: quote(hex.EncodeToString(compressSEC1(share.PublicKey))),
		PublicKey:           quote(hex.EncodeToString(share.PublicKey)),
		SigType:             share.SigType,
	}
	if w.Result == "" {
		w.Result = ecdsaShareSuccess
	}
	if w.SigType == "" {
		w.SigType = ECDSASigTypeK256
	}
	b, err := json.Marshal(map[string]ecdsaShareWire{ecdsaShareVariant: w})
	if err != nil {
		// Unreachable: the value holds strings only.
		panic("litnode: marshal ECDSA share: " + err.Error())
	}
	return b
}

// ECDSASignature is a combined secp256k1 ECDSA signature (docs/naga-wire.md §7.6
// "Go suggestion").
type ECDSASignature struct {
	// R and S are big-endian; S is low (≤ n/2).
	R, S [32]byte
	// RecoveryID is 0 or 1.
	RecoveryID byte
	// PublicKey is the 65-byte uncompressed key the signature verifies under.
	PublicKey []byte
	// Digest is the 32-byte hash that was signed.
	Digest []byte
	// SigType is "EcdsaK256Sha256".
	SigType string
}

// Ethereum returns the 65-byte r‖s‖v signature with v = 27 + RecoveryID
// (docs/naga-wire.md §7.5 step 8).
func (s ECDSASignature) Ethereum() [65]byte {
	var out [65]byte
	copy(out[:32], s.R[:])
	copy(out[32:64], s.S[:])
	out[64] = 27 + s.RecoveryID
	return out
}

// RS returns the 64-byte r‖s signature (the JS SDK's signature, without 0x
// and upper-casing; docs/naga-wire.md §7.6).
func (s ECDSASignature) RS() [64]byte {
	var out [64]byte
	copy(out[:32], s.R[:])
	copy(out[32:], s.S[:])
	return out
}

// CombineECDSAShares combines the shares of one pkpSign or executeJs signing
// exactly as docs/naga-wire.md §7.5 does. The shares must be exactly the node set's
// (they are Lagrange-weighted for it), at least 2, all with result "success",
// sig_type EcdsaK256Sha256 and the same R, digest and public key:
// s = Σ sᵢ mod n, r = x(R) mod n, r and s nonzero, s normalised to low-s, the
// prehash signature verified against the public key, and the recovery id
// read from the point the verification computes (the id trial ecrecover
// finds). Inconsistent or malformed shares wrap
// ErrMalformed; a sum that does not verify wraps ErrBadSignature.
func CombineECDSAShares(shares []ECDSAShare) (ECDSASignature, error) {
	var out ECDSASignature
	// docs/naga-wire.md §7.5 "Inputs": the combine function needs at least 2.
	if len(shares) < 2 {
		return out, fmt.Errorf("%w: need at least 2 ECDSA signature shares, got %d", ErrMalformed, len(shares))
	}
	first := shares[0]
	for i, sh := range shares {
		switch {
		case sh.Result != ecdsaShareSuccess:
			return out, fmt.Errorf("%w: ECDSA share %d has result %q", ErrMalformed, i, sh.Result)
		case sh.SigType != ECDSASigTypeK256:
			return out, fmt.Errorf("%w: ECDSA share %d has sig_type %q", ErrMalformed, i, sh.SigType)
		case len(sh.Digest) != secpScalarSize:
			return out, fmt.Errorf("%w: ECDSA share %d digest is %d bytes, want 32", ErrMalformed, i, len(sh.Digest))
		case len(sh.BigR) != secpCompressedSize:
			return out, fmt.Errorf("%w: ECDSA share %d big_r is %d bytes, want 33", ErrMalformed, i, len(sh.BigR))
		case len(sh.PublicKey) != secpUncompressedSize || sh.PublicKey[0] != 0x04:
			return out, fmt.Errorf("%w: ECDSA share %d public key is not 65-byte uncompressed", ErrMalformed, i)
		}
		// docs/naga-wire.md §7.5 step 1: all shares carry the same R.
		if !bytes.Equal(sh.BigR, first.BigR) {
			return out, fmt.Errorf("%w: ECDSA share %d has a different R (incompatible signature shares)", ErrMalformed, i)
		}
		if !bytes.Equal(sh.Digest, first.Digest) {
			return out, fmt.Errorf("%w: ECDSA share %d signed a different digest", ErrMalformed, i)
		}
		if !bytes.Equal(sh.PublicKey, first.PublicKey) {
			return out, fmt.Errorf("%w: ECDSA share %d has a different public key", ErrMalformed, i)
		}
	}
	pub, err := secp256k1.ParsePubKey(first.PublicKey)
	if err != nil {
		return out, fmt.Errorf("%w: ECDSA public key: %v", ErrMalformed, err)
	}
	// docs/naga-wire.md §7.5 steps 2–3: s = Σ sᵢ mod n, a plain sum.
	var s secp256k1.ModNScalar
	for i := range shares {
		var si secp256k1.ModNScalar
		si.SetBytes(&shares[i].SignatureShare) // reduces mod n (step 2)
		s.Add(&si)
	}
	// docs/naga-wire.md §7.5 step 4: r = x(R) mod n.
	var r secp256k1.ModNScalar
	r.SetByteSlice(first.BigR[1:])
	// docs/naga-wire.md §7.5 step 6: low-s.
	if s.IsOverHalfOrder() {
		s.Negate()
	}
	// docs/naga-wire.md §7.5 steps 1, 5, 7 and 8: R a point, r and s
	// nonzero, the prehash signature verified, and the recovery id.
	x, v, verified := verifyPrehash(first.Digest, &r, &s, pub)
	// Step 1. R is a compressed point: the verification point's x is R's
	// (so on the curve) or, only when the check fails, a square root says.
	if first.BigR[0] != 0x02 && first.BigR[0] != 0x03 ||
		!(verified && bytes.Equal(x[:], first.BigR[1:])) && !onCurveCompressed(first.BigR) {
		return out, fmt.Errorf("%w: ECDSA big_r is not a compressed secp256k1 point", ErrMalformed)
	}
	// Step 5.
	if r.IsZero() || s.IsZero() {
		return out, fmt.Errorf("%w: combined ECDSA r or s is zero", ErrBadSignature)
	}
	// Step 7.
	if !verified {
		return out, fmt.Errorf("%w: combined ECDSA signature does not verify", ErrBadSignature)
	}
	out.R = r.Bytes()
	out.S = s.Bytes()
	// Step 8. Ethereum's v names the verification point's y parity, for
	// x < n only (the SDK's trial ecrecover finds the same v, or none).
	if out.R != x {
		return ECDSASignature{}, fmt.Errorf("%w: no recovery id yields the public key", ErrBadSignature)
	}
	out.RecoveryID = v
	out.PublicKey = bytes.Clone(first.PublicKey)
	out.Digest = bytes.Clone(first.Digest)
	out.SigType = first.SigType
	return out, nil
}

// ecdsaCoeffLabel separates MakeECDSAShares' polynomial coefficients.
const ecdsaCoeffLabel = "litnode/ecdsa-share-polynomial/v1"

// MakeECDSAShares plays a node set for one ECDSA signing, as a fake network
// does (docs/naga-wire.md §13.4 "pkpSign fake" steps 3–5). secret is the PKP key x,
// k the per-request nonce (both big-endian scalars in [1, n−1]; k must never
// repeat across digests), and ids the node set's identifiers (big-endian
// scalars, nonzero and distinct, at least 2).
//
// x is Shamir-shared as xᵢ = f(idᵢ) with f(0) = x and degree len(ids)−1;
// the coefficients are derived from x alone, so each id keeps the same share
// across requests of a same-size set, like a real node. Share i is
// sᵢ = λᵢ·k⁻¹·(z + xᵢ·r) mod n with λᵢ = Π_{j≠i} idⱼ/(idⱼ − idᵢ), z the
// digest and r = x(k·G) mod n, so Σ sᵢ = k⁻¹(z + x·r): CombineECDSAShares
// of exactly these shares gives a valid signature. It returns the sᵢ in the
// order of ids and the compressed R.
func MakeECDSAShares(secret [32]byte, digest [32]byte, k [32]byte, ids [][32]byte) ([][32]byte, []byte, error) {
	if len(ids) < 2 {
		return nil, nil, fmt.Errorf("%w: need at least 2 ECDSA share ids, got %d", ErrMalformed, len(ids))
	}
	x, err := nonzeroScalar("secret", &secret)
	if err != nil {
		return nil, nil, err
	}
	kk, err := nonzeroScalar("nonce k", &k)
	if err != nil {
		return nil, nil, err
	}
	xs := make([]secp256k1.ModNScalar, len(ids))
	for i := range ids {
		id, err := nonzeroScalar("id", &ids[i])
		if err != nil {
			return nil, nil, fmt.Errorf("id %d: %w", i, err)
		}
		for j := range i {
			if xs[j].Equals(&id) {
				return nil, nil, fmt.Errorf("%w: ECDSA share ids %d and %d are equal", ErrMalformed, j, i)
			}
		}
		xs[i] = id
	}
	// docs/naga-wire.md §13.4 step 3: R = k·G, r = x(R) mod n.
	var R secp256k1.JacobianPoint
	secp256k1.ScalarBaseMultNonConst(&kk, &R)
	R.ToAffine()
	bigR := secp256k1.NewPublicKey(&R.X, &R.Y).SerializeCompressed()
	var r secp256k1.ModNScalar
	r.SetByteSlice(bigR[1:])
	if r.IsZero() {
		return nil, nil, fmt.Errorf("%w: nonce k gives r = 0", ErrMalformed)
	}
	var z secp256k1.ModNScalar
	z.SetBytes(&digest) // z = digest mod n
	// docs/naga-wire.md §13.4 step 4: Shamir-split x over the ids.
	coeffs := ecdsaPolynomial(x, &secret, len(ids))
	// docs/naga-wire.md §13.4 step 5.
	lambdas := lagrangeAtZeroN(xs)
	var kinv secp256k1.ModNScalar
	kinv.InverseValNonConst(&kk)
	out := make([][32]byte, len(ids))
	var sum secp256k1.ModNScalar
	for i := range ids {
		var xi secp256k1.ModNScalar // f(idᵢ) by Horner
		for j := len(coeffs) - 1; j >= 0; j-- {
			xi.Mul(&xs[i]).Add(&coeffs[j])
		}
		var si secp256k1.ModNScalar
		si.Mul2(&xi, &r).Add(&z).Mul(&kinv).Mul(&lambdas[i])
		sum.Add(&si)
		out[i] = si.Bytes()
		xi.Zero()
	}
	for i := range coeffs {
		coeffs[i].Zero()
	}
	if sum.IsZero() {
		return nil, nil, fmt.Errorf("%w: nonce k gives s = 0", ErrMalformed)
	}
	return out, bigR, nil
}

// nonzeroScalar reads a big-endian scalar that must be in [1, n−1].
func nonzeroScalar(what string, b *[32]byte) (secp256k1.ModNScalar, error) {
	var s secp256k1.ModNScalar
	if overflow := s.SetBytes(b); overflow != 0 {
		return s, fmt.Errorf("%w: ECDSA %s is not below the group order", ErrMalformed, what)
	}
	if s.IsZero() {
		return s, fmt.Errorf("%w: ECDSA %s is zero", ErrMalformed, what)
	}
	return s, nil
}

// ecdsaPolynomial returns the coefficients c₀ = x, c₁ … c_{t−1} of a Shamir
// polynomial, the latter derived as HMAC-SHA256(x, label ‖ t ‖ j) mod n.
func ecdsaPolynomial(x secp256k1.ModNScalar, secret *[32]byte, t int) []secp256k1.ModNScalar {
	coeffs := make([]secp256k1.ModNScalar, t)
	coeffs[0] = x
	mac := hmac.New(sha256.New, secret[:])
	var buf [32]byte
	for j := 1; j < t; j++ {
		mac.Reset()
		mac.Write([]byte(ecdsaCoeffLabel))
		var n [16]byte
		binary.BigEndian.PutUint64(n[:8], uint64(t))
		binary.BigEndian.PutUint64(n[8:], uint64(j))
		mac.Write(n[:])
		mac.Sum(buf[:0])
		coeffs[j].SetBytes(&buf)
	}
	clear(buf[:])
	return coeffs
}

// lagrangeAtZeroN returns λᵢ = Π_{j≠i} idⱼ/(idⱼ − idᵢ) mod n for every i
// (docs/naga-wire.md §13.4 step 5). The ids must be distinct.
func lagrangeAtZeroN(ids []secp256k1.ModNScalar) []secp256k1.ModNScalar {
	out := make([]secp256k1.ModNScalar, len(ids))
	for i := range ids {
		var num, den secp256k1.ModNScalar
		num.SetInt(1)
		den.SetInt(1)
		for j := range ids {
			if j == i {
				continue
			}
			var d secp256k1.ModNScalar
			d.NegateVal(&ids[i]).Add(&ids[j]) // idⱼ − idᵢ
			num.Mul(&ids[j])
			den.Mul(&d)
		}
		den.InverseNonConst()
		out[i].Mul2(&num, &den)
	}
	return out
}

// verifyPrehash verifies the ECDSA signature (r, s) of a 32-byte digest
// under pub and returns the point R' = u₁·G + u₂·Q the verification
// computes, as its affine x and the parity of its y: the signature is
// valid when x mod n = r, and its recovery id is the parity when x < n.
// r or s zero never verifies.
func verifyPrehash(digest []byte, r, s *secp256k1.ModNScalar, pub *secp256k1.PublicKey) (x [32]byte, yOdd byte, ok bool) {
	if r.IsZero() || s.IsZero() {
		return x, 0, false
	}
	var e, w, u1, u2 secp256k1.ModNScalar
	e.SetByteSlice(digest) // 256-bit digest: bits2int is the value mod n
	w.InverseValNonConst(s)
	u1.Mul2(&e, &w)
	u2.Mul2(r, &w)
	var q, a, b, sum secp256k1.JacobianPoint
	pub.AsJacobian(&q)
	secp256k1.ScalarBaseMultNonConst(&u1, &a)
	secp256k1.ScalarMultNonConst(&u2, &q, &b)
	secp256k1.AddNonConst(&a, &b, &sum)
	if (sum.X.IsZero() && sum.Y.IsZero()) || sum.Z.IsZero() {
		return x, 0, false
	}
	sum.ToAffine()
	x = *sum.X.Bytes()
	var xn secp256k1.ModNScalar
	xn.SetBytes(&x) // reduces mod n
	if !xn.Equals(r) {
		return x, 0, false
	}
	return x, byte(sum.Y.IsOddBit()), true
}

// onCurveCompressed reports whether p is a valid compressed point.
func onCurveCompressed(p []byte) bool {
	_, err := secp256k1.ParsePubKey(p)
	return err == nil
}
