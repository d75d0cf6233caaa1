package litnode

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bls12381 "github.com/consensys/gnark-crypto/ecc/bls12-381"
	"github.com/consensys/gnark-crypto/ecc/bls12-381/fp"
)

// cryptoAuthVectors is the part of lit-auth-vectors.json the BLS tests use.
type cryptoAuthVectors struct {
	Identities struct {
		BLSNetworkSecretKeyHex   string `json:"blsNetworkSecretKeyHex"`
		BLSNetworkPublicKeyG1Hex string `json:"blsNetworkPublicKeyG1Hex"`
	} `json:"identities"`
	NodeSignSessionKey struct {
		NodeSiweMessage       string            `json:"nodeSiweMessage"`
		EIP191HashHex         string            `json:"eip191HashHex"`
		BLSSignedDataHex      string            `json:"blsSignedDataHex"`
		BLSSignatureG2Hex     string            `json:"blsSignatureG2Hex"`
		SignatureShares       []json.RawMessage `json:"signatureShares"`
		WasmCombineOfShares01 string            `json:"wasmCombineOfShares01"`
		WasmCombineOfShares20 string            `json:"wasmCombineOfShares20"`
	} `json:"nodeSignSessionKey"`
	DelegationAuthSig struct {
		AuthSig struct {
			Sig           string `json:"sig"`
			SignedMessage string `json:"signedMessage"`
		} `json:"authSig"`
		NegativeNulDstSigG2Hex string `json:"negativeNulDstSigG2Hex"`
	} `json:"delegationAuthSig"`
}

// readCryptoVectors decodes a vectors file from testdata/, or from the shared
// spec folder when testdata/ does not have it.
func readCryptoVectors(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		b, err = os.ReadFile(filepath.Join("..", "..", "shared", "lit", "vectors", name))
	}
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
}

func loadBLSVectors(t testing.TB) cryptoAuthVectors {
	t.Helper()
	var v cryptoAuthVectors
	readCryptoVectors(t, "lit-auth-vectors.json", &v)
	return v
}

func cryptoHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

// compactJSON removes insignificant space (the vector files are indented).
func compactJSON(t testing.TB, raw []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("compact %s: %v", raw, err)
	}
	return b.Bytes()
}

func TestBLSSessionMessageVector(t *testing.T) {
	v := loadBLSVectors(t)
	m := BLSSessionMessage(v.NodeSignSessionKey.NodeSiweMessage)
	if got, want := hex.EncodeToString(m[:]), v.NodeSignSessionKey.BLSSignedDataHex; got != want {
		t.Errorf("BLSSessionMessage(nodeSiweMessage) = %s, want %s", got, want)
	}
	// The delegation's signedMessage is the same rebuilt SIWE.
	m2 := BLSSessionMessage(v.DelegationAuthSig.AuthSig.SignedMessage)
	if m2 != m {
		t.Errorf("BLSSessionMessage(delegation signedMessage) = %x, want %x", m2, m)
	}
}

func TestBLSVerifyDelegationVector(t *testing.T) {
	v := loadBLSVectors(t)
	pk, err := ParseBLSPublicKey(v.Identities.BLSNetworkPublicKeyG1Hex)
	if err != nil {
		t.Fatalf("ParseBLSPublicKey: %v", err)
	}
	if got := pk.Hex(); got != v.Identities.BLSNetworkPublicKeyG1Hex {
		t.Errorf("Hex() = %s, want %s", got, v.Identities.BLSNetworkPublicKeyG1Hex)
	}
	sig, err := ParseBLSSigJSON(v.DelegationAuthSig.AuthSig.Sig)
	if err != nil {
		t.Fatalf("ParseBLSSigJSON: %v", err)
	}
	if got := FormatBLSSigJSON(sig); got != v.DelegationAuthSig.AuthSig.Sig {
		t.Errorf("FormatBLSSigJSON = %s, want %s", got, v.DelegationAuthSig.AuthSig.Sig)
	}
	m := BLSSessionMessage(v.DelegationAuthSig.AuthSig.SignedMessage)
	if err := VerifyBLS(pk, m[:], sig); err != nil {
		t.Fatalf("VerifyBLS(vector delegation) = %v, want nil", err)
	}

	t.Run("NUL DST rejected", func(t *testing.T) {
		neg := cryptoHex(t, v.DelegationAuthSig.NegativeNulDstSigG2Hex)
		if err := VerifyBLS(pk, m[:], neg); !errors.Is(err, ErrBadSignature) {
			t.Errorf("VerifyBLS(NUL-DST sig) = %v, want ErrBadSignature", err)
		}
	})
	t.Run("other message rejected", func(t *testing.T) {
		other := BLSSessionMessage(v.DelegationAuthSig.AuthSig.SignedMessage + " ")
		if err := VerifyBLS(pk, other[:], sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("VerifyBLS(other message) = %v, want ErrBadSignature", err)
		}
	})
	t.Run("the SIWE itself is not the message", func(t *testing.T) {
		if err := VerifyBLS(pk, []byte(v.DelegationAuthSig.AuthSig.SignedMessage), sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("VerifyBLS(raw SIWE) = %v, want ErrBadSignature", err)
		}
	})
	t.Run("flipped bytes rejected", func(t *testing.T) {
		for _, i := range []int{0, 1, 47, 48, 95} {
			for _, bit := range []byte{0x01, 0x20, 0x80} {
				bad := bytes.Clone(sig)
				bad[i] ^= bit
				err := VerifyBLS(pk, m[:], bad)
				if !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrMalformed) {
					t.Errorf("VerifyBLS(byte %d ^ %#x) = %v, want rejection", i, bit, err)
				}
			}
		}
	})
	t.Run("other key rejected", func(t *testing.T) {
		other := NewBLSSecretKey([]byte("another network")).PublicKey()
		if err := VerifyBLS(other, m[:], sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("VerifyBLS(other key) = %v, want ErrBadSignature", err)
		}
	})
	t.Run("identity signature rejected", func(t *testing.T) {
		id := make([]byte, 96)
		id[0] = 0xc0
		if err := VerifyBLS(pk, m[:], id); !errors.Is(err, ErrBadSignature) {
			t.Errorf("VerifyBLS(identity σ) = %v, want ErrBadSignature", err)
		}
	})
	t.Run("identity key rejected", func(t *testing.T) {
		if err := VerifyBLS(BLSPublicKey{}, m[:], sig); !errors.Is(err, ErrMalformed) {
			t.Errorf("VerifyBLS(zero key) = %v, want ErrMalformed", err)
		}
	})
	t.Run("wrong lengths rejected", func(t *testing.T) {
		for _, b := range [][]byte{nil, sig[:95], append(bytes.Clone(sig), 0)} {
			if err := VerifyBLS(pk, m[:], b); !errors.Is(err, ErrMalformed) {
				t.Errorf("VerifyBLS(%d bytes) = %v, want ErrMalformed", len(b), err)
			}
		}
	})
}

func TestBLSSecretKeyVector(t *testing.T) {
	v := loadBLSVectors(t)
	for _, in := range []string{v.Identities.BLSNetworkSecretKeyHex, "0x" + strings.ToUpper(v.Identities.BLSNetworkSecretKeyHex)} {
		sk, err := ParseBLSSecretKey(in)
		if err != nil {
			t.Fatalf("ParseBLSSecretKey: %v", err)
		}
		if got := sk.PublicKey().Hex(); got != v.Identities.BLSNetworkPublicKeyG1Hex {
			t.Errorf("PublicKey().Hex() = %s, want %s", got, v.Identities.BLSNetworkPublicKeyG1Hex)
		}
		m := cryptoHex(t, v.NodeSignSessionKey.BLSSignedDataHex)
		if got := hex.EncodeToString(sk.Sign(m)); got != v.NodeSignSessionKey.BLSSignatureG2Hex {
			t.Errorf("Sign(blsSignedData) = %s, want %s", got, v.NodeSignSessionKey.BLSSignatureG2Hex)
		}
	}
}

func TestBLSCombineVectorShares(t *testing.T) {
	v := loadBLSVectors(t)
	n := v.NodeSignSessionKey
	shares := make([]BLSShare, len(n.SignatureShares))
	for i, raw := range n.SignatureShares {
		sh, err := ParseBLSShareJSON(raw)
		if err != nil {
			t.Fatalf("ParseBLSShareJSON(share %d): %v", i, err)
		}
		if got, want := FormatBLSShareJSON(sh), compactJSON(t, raw); !bytes.Equal(got, want) {
			t.Errorf("FormatBLSShareJSON(share %d) = %s, want %s", i, got, want)
		}
		shares[i] = sh
	}
	// docs/naga-auth.md §3.5: the identifiers are 258, 3 and 7, little-endian.
	for i, want := range []uint64{258, 3, 7} {
		if shares[i].Identifier != BLSIdentifierFromUint64(want) {
			t.Errorf("share %d identifier = %x, want LE %d", i, shares[i].Identifier, want)
		}
	}
	pk, err := ParseBLSPublicKey(v.Identities.BLSNetworkPublicKeyG1Hex)
	if err != nil {
		t.Fatal(err)
	}
	m := cryptoHex(t, n.BLSSignedDataHex)
	for _, tc := range []struct {
		name string
		idx  []int
		want string
	}{
		{"all", []int{0, 1, 2}, n.BLSSignatureG2Hex},
		{"01", []int{0, 1}, n.WasmCombineOfShares01},
		{"20", []int{2, 0}, n.WasmCombineOfShares20},
		{"12", []int{1, 2}, n.BLSSignatureG2Hex},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sub []BLSShare
			for _, i := range tc.idx {
				sub = append(sub, shares[i])
			}
			sig, err := CombineBLSShares(sub)
			if err != nil {
				t.Fatalf("CombineBLSShares: %v", err)
			}
			if got := hex.EncodeToString(sig); got != tc.want {
				t.Errorf("CombineBLSShares = %s, want %s", got, tc.want)
			}
			if err := VerifyBLS(pk, m, sig); err != nil {
				t.Errorf("VerifyBLS(combined) = %v", err)
			}
		})
	}
}

// TestBLSCombineSDKWasmVector is docs/naga-wire.md §9.4: the shares of js-sdk
// packages/wasm/src/lib/bls.spec.ts, whose wasm blsCombine output is given.
func TestBLSCombineSDKWasmVector(t *testing.T) {
	raws := []string{
		`{"ProofOfPossession":{"identifier":"0d7c3c5d7578af7d20cb3d52059de204b07eb164092c8107df3914d4bfabe647","value":"a2204142962f7d35b2e18f16f5880e0092a3765e3b595ea437687cd88a04916dcfc2fd55b43f335949e2023071153abf0bfbc28b46ec13a3790c2639a2f40b517c2358996c31e11669f24442c650faaf4af166dde3c325fe9565ecf6872c85b4"}}`,
		`{"ProofOfPossession":{"identifier":"46cd21a0d05fdd76f0640d4d9353c297eec75d7644723da318a9bfe19f9c2863","value":"a74ba6452138869712fb7a9c109fc6bda1b587f046adc9b23289f6aadefb127dbb2ec3667c23ce40f0447405bcd19bed04cdd046166d6726b60e342dafdfeca21e0d2e15ad23d11c2b7785d7790278929a974ed02f892169e4a7e4fd99781790"}}`,
		`{"ProofOfPossession":{"identifier":"d5595f162d312545ea6d58efa6a9430801f229b0a088dab8267f8b722da5d658","value":"845bdefd8aa0ca99bd587062253eb6bbabbe55153ecaeb52c6ac9d29b29f2d2fd9d9a9e193fdd3bb1b23e9f31dff290d0dc9a1aab8c74f78f99add32e49b3fd9b7626f12dc852d442978c70fd3e684638d782e4aeca1981ce80fb03d64f46563"}}`,
	}
	const (
		rootKey = "8acb0d87dcd4fc8ecb971690b5aa28ed74b205ae449dbb558729c7cff87eec278a6959eb3ee3c03366e0eabac42db3e4"
		msgHex  = "5e5c6741b9ce59bca0d3a0e8cb335cebf3b5e873f4c7bf777982d9b6b9972520"
		want    = "9690c538a878b5628685070b3be15a64b1bfb4fc39beb5049f4ae5da1cd7dab5a4d5daf123aa5ecbb19739282eab3a800916bef79f824dcaae82ccf16c2c11debb6ee2a05fdf6dc9ec6fa3aa08dc8f6e4960ab5d570623200811c641999a2b1c"
	)
	var shares []BLSShare
	for i, raw := range raws {
		sh, err := ParseBLSShareJSON([]byte(raw))
		if err != nil {
			t.Fatalf("ParseBLSShareJSON(%d): %v", i, err)
		}
		shares = append(shares, sh)
	}
	sig, err := CombineBLSShares(shares)
	if err != nil {
		t.Fatalf("CombineBLSShares: %v", err)
	}
	if got := hex.EncodeToString(sig); got != want {
		t.Errorf("CombineBLSShares = %s, want %s", got, want)
	}
	pk, err := ParseBLSPublicKey(rootKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyBLS(pk, cryptoHex(t, msgHex), sig); err != nil {
		t.Errorf("VerifyBLS(combined) = %v", err)
	}
}

func TestBLSSplitSignCombineRoundTrip(t *testing.T) {
	sk := NewBLSSecretKey([]byte("litnode bls round trip"))
	pk := sk.PublicKey()
	ids := make([][32]byte, 4)
	for i := range ids {
		if _, err := rand.Read(ids[i][:31]); err != nil { // top byte 0: below r
			t.Fatal(err)
		}
	}
	keyShares, err := sk.Split(3, ids, nil)
	if err != nil {
		t.Fatalf("Split: %v", err)
	}
	msg := BLSSessionMessage("round trip")
	want := sk.Sign(msg[:])
	sigShares := make([]BLSShare, len(keyShares))
	for i, ks := range keyShares {
		sigShares[i] = ks.SignShare(msg[:])
		// Through the wire form.
		if sigShares[i], err = ParseBLSShareJSON(FormatBLSShareJSON(sigShares[i])); err != nil {
			t.Fatalf("share %d wire round trip: %v", i, err)
		}
	}
	subsets := [][]int{{0, 1, 2}, {0, 1, 3}, {0, 2, 3}, {1, 2, 3}, {3, 1, 0}, {0, 1, 2, 3}}
	for _, sub := range subsets {
		var in []BLSShare
		for _, i := range sub {
			in = append(in, sigShares[i])
		}
		sig, err := CombineBLSShares(in)
		if err != nil {
			t.Fatalf("CombineBLSShares(%v): %v", sub, err)
		}
		if !bytes.Equal(sig, want) {
			t.Errorf("CombineBLSShares(%v) = %x, want the full-key signature %x", sub, sig, want)
		}
		if err := VerifyBLS(pk, msg[:], sig); err != nil {
			t.Errorf("VerifyBLS(combine %v) = %v", sub, err)
		}
	}
	// Below the threshold the combination is a wrong signature.
	sig, err := CombineBLSShares(sigShares[:2])
	if err != nil {
		t.Fatalf("CombineBLSShares(2 of t=3): %v", err)
	}
	if err := VerifyBLS(pk, msg[:], sig); !errors.Is(err, ErrBadSignature) {
		t.Errorf("VerifyBLS(2 of t=3) = %v, want ErrBadSignature", err)
	}
}

func TestBLSSplitErrors(t *testing.T) {
	sk := NewBLSSecretKey([]byte("split errors"))
	one, two := BLSIdentifierFromUint64(1), BLSIdentifierFromUint64(2)
	var over [32]byte
	for i := range over {
		over[i] = 0xff // ≥ r as a little-endian scalar
	}
	for _, tc := range []struct {
		name string
		t    int
		ids  [][32]byte
	}{
		{"threshold 0", 0, [][32]byte{one, two}},
		{"threshold above n", 3, [][32]byte{one, two}},
		{"zero id", 2, [][32]byte{one, {}}},
		{"duplicate id", 2, [][32]byte{one, one}},
		{"non-canonical id", 2, [][32]byte{one, over}},
	} {
		if _, err := sk.Split(tc.t, tc.ids, nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Split = %v, want ErrMalformed", tc.name, err)
		}
	}
	if _, err := sk.Split(2, [][32]byte{one, two}, bytes.NewReader(nil)); err == nil {
		t.Error("Split with an empty reader succeeded")
	}
	if _, err := (BLSSecretKey{}).Split(2, [][32]byte{one, two}, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("zero key Split = %v, want ErrMalformed", err)
	}
}

func TestBLSCombineErrors(t *testing.T) {
	v := loadBLSVectors(t)
	var shares []BLSShare
	for _, raw := range v.NodeSignSessionKey.SignatureShares {
		sh, err := ParseBLSShareJSON(raw)
		if err != nil {
			t.Fatal(err)
		}
		shares = append(shares, sh)
	}
	mod := func(f func(s []BLSShare)) []BLSShare {
		c := make([]BLSShare, len(shares))
		for i := range shares {
			c[i] = BLSShare{Identifier: shares[i].Identifier, Value: bytes.Clone(shares[i].Value)}
		}
		f(c)
		return c
	}
	for _, tc := range []struct {
		name   string
		shares []BLSShare
	}{
		{"none", nil},
		{"one", shares[:1]},
		{"duplicate identifier", []BLSShare{shares[0], shares[0]}},
		{"zero identifier", mod(func(s []BLSShare) { s[1].Identifier = [32]byte{} })},
		{"short value", mod(func(s []BLSShare) { s[1].Value = s[1].Value[:95] })},
		{"not a point", mod(func(s []BLSShare) { s[1].Value[5] ^= 0xff })},
		{"uncompressed flag", mod(func(s []BLSShare) { s[1].Value[0] &^= 0x80 })},
		{"identity value", mod(func(s []BLSShare) { s[1].Value = append([]byte{0xc0}, make([]byte, 95)...) })},
	} {
		if _, err := CombineBLSShares(tc.shares); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: CombineBLSShares = %v, want ErrMalformed", tc.name, err)
		}
	}
}

func TestParseBLSSigJSON(t *testing.T) {
	v := loadBLSVectors(t)
	sigHex := v.NodeSignSessionKey.BLSSignatureG2Hex
	good := []string{
		`{"ProofOfPossession":"` + sigHex + `"}`,
		`{"ProofOfPossession":"` + strings.ToUpper(sigHex) + `"}`,
		` { "ProofOfPossession" : "` + sigHex + `" } `,
	}
	for _, s := range good {
		b, err := ParseBLSSigJSON(s)
		if err != nil || hex.EncodeToString(b) != sigHex {
			t.Errorf("ParseBLSSigJSON(%q) = %x, %v", s, b, err)
		}
	}
	bad := []string{
		``, `null`, `[]`, `"x"`, `{}`,
		`{"Basic":"` + sigHex + `"}`,
		`{"MessageAugmentation":"` + sigHex + `"}`,
		`{"ProofOfPossession":"` + sigHex + `","Basic":"` + sigHex + `"}`,
		`{"ProofOfPossession":"` + sigHex[:190] + `"}`,
		`{"ProofOfPossession":"0x` + sigHex[2:] + `"}`,
		`{"ProofOfPossession":"` + sigHex[:190] + `zz"}`,
		`{"ProofOfPossession":42}`,
		`{"ProofOfPossession":{"identifier":"00","value":"00"}}`,
		sigHex,
	}
	for _, s := range bad {
		if _, err := ParseBLSSigJSON(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseBLSSigJSON(%.60q) = %v, want ErrMalformed", s, err)
		}
	}
}

func TestParseBLSShareJSON(t *testing.T) {
	v := loadBLSVectors(t)
	raw := compactJSON(t, v.NodeSignSessionKey.SignatureShares[0])
	// A share written as a JSON string is accepted.
	quoted, _ := json.Marshal(string(raw))
	sh, err := ParseBLSShareJSON(quoted)
	if err != nil {
		t.Fatalf("ParseBLSShareJSON(quoted) = %v", err)
	}
	if !bytes.Equal(FormatBLSShareJSON(sh), raw) {
		t.Errorf("quoted share parsed to %s", FormatBLSShareJSON(sh))
	}
	val := strings.Repeat("a", 192)
	id := strings.Repeat("0", 62) + "01"
	for _, s := range []string{
		``, `{}`, `{"ProofOfPossession":{}}`,
		`{"ProofOfPossession":{"identifier":"` + id + `"}}`,
		`{"Basic":{"identifier":"` + id + `","value":"` + val + `"}}`,
		`{"ProofOfPossession":{"identifier":"` + id[:62] + `","value":"` + val + `"}}`,
		`{"ProofOfPossession":{"identifier":"` + strings.Repeat("0", 64) + `","value":"` + val + `"}}`,
		`{"ProofOfPossession":{"identifier":"` + strings.Repeat("f", 64) + `","value":"` + val + `"}}`,
		`{"ProofOfPossession":{"identifier":"` + id + `","value":"` + val[:190] + `"}}`,
		`{"ProofOfPossession":{"identifier":7,"value":"` + val + `"}}`,
	} {
		if _, err := ParseBLSShareJSON([]byte(s)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseBLSShareJSON(%.70q) = %v, want ErrMalformed", s, err)
		}
	}
}

func TestParseBLSPublicKey(t *testing.T) {
	v := loadBLSVectors(t)
	h := v.Identities.BLSNetworkPublicKeyG1Hex
	for _, s := range []string{h, "0x" + h, strings.ToUpper(h)} {
		k, err := ParseBLSPublicKey(s)
		if err != nil || k.Hex() != h {
			t.Errorf("ParseBLSPublicKey(%q) = %v, %v", s, k, err)
		}
	}
	k, _ := ParseBLSPublicKey(h)
	var k2 BLSPublicKey
	if err := k2.UnmarshalText([]byte(h)); err != nil || !k2.Equal(k) {
		t.Errorf("UnmarshalText = %v, %v", k2, err)
	}
	if k.Equal(NewBLSSecretKey([]byte("x")).PublicKey()) {
		t.Error("Equal(other key) = true")
	}
	identity := "c0" + strings.Repeat("0", 94)
	b := cryptoHex(t, h)
	b[20] ^= 0x01
	for _, s := range []string{
		"", identity, h[:94], h + "00", "zz" + h[2:],
		"0" + h[1:], // compression flag cleared
		hex.EncodeToString(b),
		offSubgroupG1(t),
	} {
		if _, err := ParseBLSPublicKey(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseBLSPublicKey(%.40q) = %v, want ErrMalformed", s, err)
		}
	}
	if !(BLSPublicKey{}).IsZero() || k.IsZero() {
		t.Error("IsZero wrong")
	}
}

// offSubgroupG1 returns the compressed hex of a point on the G1 curve
// y² = x³ + 4 that is not in the prime-order subgroup.
func offSubgroupG1(t *testing.T) string {
	t.Helper()
	var four fp.Element
	four.SetUint64(4)
	for x := uint64(1); x < 1000; x++ {
		var p bls12381.G1Affine
		p.X.SetUint64(x)
		var y2 fp.Element
		y2.Square(&p.X).Mul(&y2, &p.X).Add(&y2, &four)
		if p.Y.Sqrt(&y2) == nil {
			continue
		}
		if !p.IsOnCurve() || p.IsInSubGroup() {
			continue
		}
		xb := p.X.Bytes()
		xb[0] |= 0x80 // compressed; the y sign bit does not matter here
		return hex.EncodeToString(xb[:])
	}
	t.Fatal("no off-subgroup point found")
	return ""
}

func TestParseBLSSecretKeyErrors(t *testing.T) {
	r := "73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001" // the Fr modulus
	for _, s := range []string{"", strings.Repeat("0", 64), r, "zz" + r[2:], r[:62]} {
		if _, err := ParseBLSSecretKey(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseBLSSecretKey(%q) = %v, want ErrMalformed", s, err)
		}
	}
}

func TestNewBLSSecretKeyDeterministic(t *testing.T) {
	a, b := NewBLSSecretKey([]byte("seed")), NewBLSSecretKey([]byte("seed"))
	if !a.PublicKey().Equal(b.PublicKey()) {
		t.Error("NewBLSSecretKey is not deterministic")
	}
	if a.PublicKey().Equal(NewBLSSecretKey([]byte("seed2")).PublicKey()) {
		t.Error("different seeds gave the same key")
	}
	if a.PublicKey().IsZero() {
		t.Error("NewBLSSecretKey gave the zero key")
	}
}

func TestBLSSecretsNeverPrint(t *testing.T) {
	v := loadBLSVectors(t)
	sk, err := ParseBLSSecretKey(v.Identities.BLSNetworkSecretKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	shares, err := sk.Split(2, [][32]byte{BLSIdentifierFromUint64(1), BLSIdentifierFromUint64(2)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logged, nil))
	logger.Info("k", "sk", sk, "share", shares[0])
	var outs []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		outs = append(outs, fmt.Sprintf(f, sk), fmt.Sprintf(f, shares[0]), fmt.Sprintf(f, &sk))
	}
	outs = append(outs, logged.String())
	secretDec := fmt.Sprint(sk.s.String())
	for _, o := range outs {
		if !strings.Contains(o, "REDACTED") {
			t.Errorf("output %q does not say REDACTED", o)
		}
		if strings.Contains(strings.ToLower(o), v.Identities.BLSNetworkSecretKeyHex) || strings.Contains(o, secretDec) {
			t.Errorf("output %q leaks the secret", o)
		}
	}
}

// FuzzParseBLSShareJSON checks that no input makes the share and sig parsers
// or the combiner panic, and that errors wrap the sentinels.
func FuzzParseBLSShareJSON(f *testing.F) {
	v := loadBLSVectors(f)
	for _, raw := range v.NodeSignSessionKey.SignatureShares {
		f.Add([]byte(raw))
	}
	f.Add([]byte(v.DelegationAuthSig.AuthSig.Sig))
	other, err := ParseBLSShareJSON(v.NodeSignSessionKey.SignatureShares[1])
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if _, err := ParseBLSSigJSON(string(raw)); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("ParseBLSSigJSON error %v does not wrap ErrMalformed", err)
		}
		sh, err := ParseBLSShareJSON(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseBLSShareJSON error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if _, err := CombineBLSShares([]BLSShare{sh, other}); err != nil &&
			!errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) {
			t.Fatalf("CombineBLSShares error %v wraps no sentinel", err)
		}
	})
}
