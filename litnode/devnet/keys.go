package devnet

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// seedStream is a deterministic byte stream: SHA-256(seed ‖ 0 ‖ label ‖ 0 ‖
// counter) blocks. Every key of the devnet derives from the Config seed
// through its own label, so a seed names one reproducible network.
type seedStream struct {
	seed, label []byte
	ctr         uint64
	buf         []byte
}

func newSeedStream(seed []byte, label string) *seedStream {
	return &seedStream{seed: seed, label: []byte(label)}
}

// Read implements io.Reader; it never fails.
func (s *seedStream) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(s.buf) == 0 {
			h := sha256.New()
			h.Write(s.seed)
			h.Write([]byte{0})
			h.Write(s.label)
			h.Write([]byte{0})
			var c [8]byte
			binary.BigEndian.PutUint64(c[:], s.ctr)
			h.Write(c[:])
			s.ctr++
			s.buf = h.Sum(nil)
		}
		k := copy(p[n:], s.buf)
		s.buf = s.buf[k:]
		n += k
	}
	return n, nil
}

// scalar reads a nonzero secp256k1 scalar (rejection sampling).
func (s *seedStream) scalar() secp256k1.ModNScalar {
	var b [32]byte
	for {
		io.ReadFull(s, b[:])
		var x secp256k1.ModNScalar
		if overflow := x.SetBytes(&b); overflow == 0 && !x.IsZero() {
			return x
		}
	}
}

// ecdsaKey reads a secp256k1 private key.
func (s *seedStream) ecdsaKey() *ecdsa.PrivateKey {
	x := s.scalar()
	b := x.Bytes()
	k, err := crypto.ToECDSA(b[:])
	if err != nil {
		panic("devnet: derive key: " + err.Error()) // unreachable: x is in [1, n−1]
	}
	return k
}

// address reads 20 bytes as an Ethereum address.
func (s *seedStream) address() common.Address {
	var a common.Address
	io.ReadFull(s, a[:])
	return a
}

// ecdsaID returns node i's Shamir identifier for ECDSA shares: i+1 as a
// secp256k1 scalar (docs/naga-wire.md §13.4 "pkpSign fake" step 4: fixed per node).
func ecdsaID(i int) secp256k1.ModNScalar {
	var id secp256k1.ModNScalar
	id.SetInt(uint32(i + 1))
	return id
}

// shamirShares splits x over the ids with a polynomial of degree t−1 whose
// other coefficients come from rnd (docs/naga-wire.md §13.1, §13.4 step 4). Each
// node then holds only its own share xᵢ = f(idᵢ).
func shamirShares(x secp256k1.ModNScalar, t int, ids []secp256k1.ModNScalar, rnd *seedStream) []secp256k1.ModNScalar {
	coeffs := make([]secp256k1.ModNScalar, t)
	coeffs[0] = x
	for j := 1; j < t; j++ {
		coeffs[j] = rnd.scalar()
	}
	out := make([]secp256k1.ModNScalar, len(ids))
	for i := range ids {
		var y secp256k1.ModNScalar // Horner
		for j := t - 1; j >= 0; j-- {
			y.Mul(&ids[i]).Add(&coeffs[j])
		}
		out[i] = y
	}
	return out
}

// lagrangeAt0 returns λ of member `self` of the set ids:
// Π_{j≠self} idⱼ/(idⱼ − id_self) mod n (docs/naga-wire.md §13.4 step 5). The ids
// must be distinct.
func lagrangeAt0(ids []secp256k1.ModNScalar, self int) secp256k1.ModNScalar {
	var num, den secp256k1.ModNScalar
	num.SetInt(1)
	den.SetInt(1)
	for j := range ids {
		if j == self {
			continue
		}
		var d secp256k1.ModNScalar
		d.NegateVal(&ids[self]).Add(&ids[j])
		num.Mul(&ids[j])
		den.Mul(&d)
	}
	den.InverseNonConst()
	return *num.Mul(&den)
}

// deriveNonce derives the per-request ECDSA nonce k that every node of one
// request computes alike (docs/naga-wire.md §13.4 "pkpSign fake" step 2):
// HMAC-SHA256(networkSecret, request id ‖ digest ‖ public key ‖ sorted node
// set ‖ counter) mod n, nonzero. A different request id, message, key or
// node set gives an unrelated k.
func deriveNonce(secret []byte, requestID string, digest []byte, pubkey []byte, sortedSet []string, variant byte) secp256k1.ModNScalar {
	for ctr := uint32(0); ; ctr++ {
		m := hmac.New(sha256.New, secret)
		writeField := func(b []byte) {
			var l [8]byte
			binary.BigEndian.PutUint64(l[:], uint64(len(b)))
			m.Write(l[:])
			m.Write(b)
		}
		writeField([]byte("litsignd-devnet/ecdsa-nonce/v1"))
		writeField([]byte(requestID))
		writeField(digest)
		writeField(pubkey)
		for _, s := range sortedSet {
			writeField([]byte(s))
		}
		var c [5]byte
		c[0] = variant
		binary.BigEndian.PutUint32(c[1:], ctr)
		m.Write(c[:])
		var b [32]byte
		copy(b[:], m.Sum(nil))
		var k secp256k1.ModNScalar
		if overflow := k.SetBytes(&b); overflow == 0 && !k.IsZero() {
			return k
		}
	}
}

// ecdsaSignShare computes node share sᵢ = λᵢ·k⁻¹·(z + xᵢ·r) mod n and the
// compressed R = k·G (docs/naga-wire.md §13.4 "pkpSign fake" steps 3 and 5).
func ecdsaSignShare(xi, lambda, k secp256k1.ModNScalar, digest [32]byte) (s [32]byte, bigR []byte, err error) {
	var R secp256k1.JacobianPoint
	secp256k1.ScalarBaseMultNonConst(&k, &R)
	R.ToAffine()
	bigR = secp256k1.NewPublicKey(&R.X, &R.Y).SerializeCompressed()
	var r secp256k1.ModNScalar
	r.SetByteSlice(bigR[1:]) // r = x(R) mod n
	if r.IsZero() {
		return s, nil, fmt.Errorf("nonce gives r = 0")
	}
	var z secp256k1.ModNScalar
	z.SetBytes(&digest)
	var kinv secp256k1.ModNScalar
	kinv.InverseValNonConst(&k)
	var si secp256k1.ModNScalar
	si.Mul2(&xi, &r).Add(&z).Mul(&kinv).Mul(&lambda)
	return si.Bytes(), bigR, nil
}

// ---- ed25519 strictness (docs/naga-auth.md §6 step 1) ----

// ed25519 field prime p = 2^255 − 19 and curve constant d = −121665/121666.
var (
	edP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	edD = func() *big.Int {
		num := new(big.Int).Neg(big.NewInt(121665))
		den := new(big.Int).ModInverse(big.NewInt(121666), edP)
		return num.Mul(num, den).Mod(num, edP)
	}()
)

// edY reads the y coordinate of a 32-byte point encoding, reduced mod p, as
// curve25519-dalek does (the top bit is x's sign).
func edY(enc []byte) *big.Int {
	be := make([]byte, 32)
	for i := range 32 {
		be[31-i] = enc[i]
	}
	be[0] &= 0x7f
	y := new(big.Int).SetBytes(be)
	return y.Mod(y, edP)
}

// edDecompresses reports whether enc is the encoding of a point on
// edwards25519: x² = (y² − 1)/(d·y² + 1) must be a square mod p. This is
// the check behind the node's VerifyingKey::from_bytes
// [NodeAuthSigSessionKeyConversionError] (docs/naga-auth.md §6 step 1).
func edDecompresses(enc []byte) bool {
	if len(enc) != 32 {
		return false
	}
	y := edY(enc)
	y2 := new(big.Int).Mul(y, y)
	y2.Mod(y2, edP)
	u := new(big.Int).Sub(y2, big.NewInt(1))
	v := new(big.Int).Mul(edD, y2)
	v.Add(v, big.NewInt(1)).Mod(v, edP)
	if v.Sign() == 0 {
		return false
	}
	x2 := u.Mul(u, new(big.Int).ModInverse(v, edP))
	x2.Mod(x2, edP)
	if x2.Sign() == 0 {
		return true
	}
	e := new(big.Int).Rsh(new(big.Int).Sub(edP, big.NewInt(1)), 1)
	return new(big.Int).Exp(x2, e, edP).Cmp(big.NewInt(1)) == 0 // Euler's criterion
}

// edSmallOrder reports whether enc encodes a point of order dividing 8, which
// ed25519-dalek's verify_strict rejects both as public key and as the
// signature's R (docs/naga-auth.md §6 step 1, §10 q5). The eight torsion points have
// y ∈ {1, −1, 0} (orders 1, 2, 4) or d·y⁴ + 2·y² − 1 = 0 (order 8: doubling
// gives y = 0). Non-canonical encodings (y ≥ p) reduce to these too.
func edSmallOrder(enc []byte) bool {
	y := edY(enc)
	pm1 := new(big.Int).Sub(edP, big.NewInt(1))
	if y.Sign() == 0 || y.Cmp(big.NewInt(1)) == 0 || y.Cmp(pm1) == 0 {
		return true
	}
	y2 := new(big.Int).Mul(y, y)
	y2.Mod(y2, edP)
	f := new(big.Int).Mul(edD, new(big.Int).Mul(y2, y2))
	f.Add(f, new(big.Int).Lsh(y2, 1))
	f.Sub(f, big.NewInt(1))
	return f.Mod(f, edP).Sign() == 0
}
