package litnode

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/ethereum/go-ethereum/crypto"
)

// ecdsaCombineVector is one entry of network-vectors.json ecdsaCombine
// (docs/naga-wire.md §7.5 "Verified vectors").
type ecdsaCombineVector struct {
	Name            string   `json:"name"`
	DigestHex       string   `json:"digestHex"`
	BigR            string   `json:"bigR"`
	SignatureShares []string `json:"signatureShares"`
	PublicKey       string   `json:"publicKey"`
	WantR           string   `json:"wantR"`
	WantS           string   `json:"wantS"`
	WantLowSNegated bool     `json:"wantLowSNegated"`
	WantRecoveryID  byte     `json:"wantRecoveryId"`
}

func loadECDSAVectors(t testing.TB) []ecdsaCombineVector {
	t.Helper()
	var v struct {
		ECDSACombine []ecdsaCombineVector `json:"ecdsaCombine"`
	}
	readCryptoVectors(t, "network-vectors.json", &v)
	if len(v.ECDSACombine) == 0 {
		t.Fatal("no ecdsaCombine vectors")
	}
	return v.ECDSACombine
}

// vectorShareJSON writes a vector share the way a current node sends it
// (docs/naga-wire.md §7.4): quoted UPPER hex scalars, quoted lowercase keys.
func vectorShareJSON(vec ecdsaCombineVector, i int, wrapped bool) []byte {
	pub := cryptoHexNoT(vec.PublicKey)
	inner := map[string]string{
		"digest":                vec.DigestHex,
		"result":                "success",
		"share_id":              `"` + strings.Repeat("0", 63) + string(rune('1'+i)) + `"`,
		"peer_id":               "5d6549a9",
		"signature_share":       `"` + vec.SignatureShares[i] + `"`,
		"big_r":                 `"` + vec.BigR + `"`,
		"compressed_public_key": `"` + hex.EncodeToString(compressSEC1(pub)) + `"`,
		"public_key":            `"` + vec.PublicKey + `"`,
		"sig_type":              "EcdsaK256Sha256",
	}
	var v any = inner
	if wrapped {
		v = map[string]any{"EcdsaSignedMessageShare": inner}
	}
	b, _ := json.Marshal(v)
	return b
}

func cryptoHexNoT(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func vectorShares(t *testing.T, vec ecdsaCombineVector) []ECDSAShare {
	t.Helper()
	var out []ECDSAShare
	for i := range vec.SignatureShares {
		sh, err := ParseECDSAShare(vectorShareJSON(vec, i, i%2 == 0))
		if err != nil {
			t.Fatalf("%s: ParseECDSAShare(%d): %v", vec.Name, i, err)
		}
		out = append(out, sh)
	}
	return out
}

func TestCombineECDSASharesVectors(t *testing.T) {
	for _, vec := range loadECDSAVectors(t) {
		t.Run(vec.Name, func(t *testing.T) {
			shares := vectorShares(t, vec)
			sig, err := CombineECDSAShares(shares)
			if err != nil {
				t.Fatalf("CombineECDSAShares: %v", err)
			}
			if got := strings.ToUpper(hex.EncodeToString(sig.R[:])); got != vec.WantR {
				t.Errorf("r = %s, want %s", got, vec.WantR)
			}
			if got := strings.ToUpper(hex.EncodeToString(sig.S[:])); got != vec.WantS {
				t.Errorf("s = %s, want %s", got, vec.WantS)
			}
			if sig.RecoveryID != vec.WantRecoveryID {
				t.Errorf("recovery id = %d, want %d", sig.RecoveryID, vec.WantRecoveryID)
			}
			// Low-s flag: the raw sum exceeded n/2 exactly when s ≠ Σ sᵢ.
			raw := sumSharesBig(t, vec.SignatureShares)
			negated := !strings.EqualFold(raw, vec.WantS)
			if negated != vec.WantLowSNegated {
				t.Errorf("low-s negated = %v, want %v (raw sum %s)", negated, vec.WantLowSNegated, raw)
			}
			if hex.EncodeToString(sig.PublicKey) != vec.PublicKey || hex.EncodeToString(sig.Digest) != vec.DigestHex || sig.SigType != ECDSASigTypeK256 {
				t.Errorf("signature metadata = %x %x %s", sig.PublicKey, sig.Digest, sig.SigType)
			}
			eth := sig.Ethereum()
			if eth[64] != 27+vec.WantRecoveryID {
				t.Errorf("Ethereum() v = %d, want %d", eth[64], 27+vec.WantRecoveryID)
			}
			rs := sig.RS()
			if !bytes.Equal(rs[:], eth[:64]) {
				t.Error("RS() differs from Ethereum()[:64]")
			}
			rec, err := crypto.Ecrecover(sig.Digest, append(rs[:], sig.RecoveryID))
			if err != nil || !bytes.Equal(rec, sig.PublicKey) {
				t.Errorf("Ecrecover = %x, %v; want the public key", rec, err)
			}
			// Order does not matter: it is a plain sum.
			rev := []ECDSAShare{shares[2], shares[0], shares[1]}
			if sig2, err := CombineECDSAShares(rev); err != nil || sig2.S != sig.S {
				t.Errorf("reordered combine = %v, %v", sig2, err)
			}
		})
	}
}

// secpN is the secp256k1 group order, for arithmetic independent of the
// code under test.
var secpN, _ = new(big.Int).SetString("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16)

// sumSharesBig returns Σ sᵢ mod n as 64 upper-hex digits, with math/big.
func sumSharesBig(t *testing.T, shares []string) string {
	t.Helper()
	acc := new(big.Int)
	for _, h := range shares {
		acc.Add(acc, new(big.Int).SetBytes(cryptoHex(t, h)))
	}
	acc.Mod(acc, secpN)
	return strings.ToUpper(hex.EncodeToString(acc.FillBytes(make([]byte, 32))))
}

// negModN returns n − s, with math/big.
func negModN(s [32]byte) [32]byte {
	v := new(big.Int).Sub(secpN, new(big.Int).SetBytes(s[:]))
	var out [32]byte
	v.Mod(v, secpN).FillBytes(out[:])
	return out
}

func TestCombineECDSASharesRejects(t *testing.T) {
	vec := loadECDSAVectors(t)[0]
	other := loadECDSAVectors(t)[1]
	base := vectorShares(t, vec)
	mod := func(f func(s []ECDSAShare)) []ECDSAShare {
		c := make([]ECDSAShare, len(base))
		for i, s := range base {
			s.Digest = bytes.Clone(s.Digest)
			s.BigR = bytes.Clone(s.BigR)
			s.PublicKey = bytes.Clone(s.PublicKey)
			c[i] = s
		}
		f(c)
		return c
	}
	for _, tc := range []struct {
		name   string
		shares []ECDSAShare
		want   error
	}{
		{"none", nil, ErrMalformed},
		{"one", base[:1], ErrMalformed},
		{"different R", mod(func(s []ECDSAShare) { s[1].BigR = cryptoHex(t, other.BigR) }), ErrMalformed},
		{"different digest", mod(func(s []ECDSAShare) { s[2].Digest[0] ^= 1 }), ErrMalformed},
		{"different public key", mod(func(s []ECDSAShare) { s[0].PublicKey = cryptoHex(t, other.PublicKey) }), ErrMalformed},
		{"failed share", mod(func(s []ECDSAShare) { s[1].Result = "fail" }), ErrMalformed},
		{"other sig type", mod(func(s []ECDSAShare) {
			for i := range s {
				s[i].SigType = "EcdsaP256Sha256"
			}
		}), ErrMalformed},
		{"R not on curve", mod(func(s []ECDSAShare) {
			for i := range s {
				s[i].BigR = append([]byte{0x02}, bytes.Repeat([]byte{0xff}, 32)...)
			}
		}), ErrMalformed},
		{"short digest", mod(func(s []ECDSAShare) {
			for i := range s {
				s[i].Digest = s[i].Digest[:31]
			}
		}), ErrMalformed},
		{"tampered share", mod(func(s []ECDSAShare) { s[1].SignatureShare[31] ^= 1 }), ErrBadSignature},
		{"subset of the node set", base[:2], ErrBadSignature},
		{"digest changed on all", mod(func(s []ECDSAShare) {
			for i := range s {
				s[i].Digest[0] ^= 1
			}
		}), ErrBadSignature},
		{"another key on all", mod(func(s []ECDSAShare) {
			for i := range s {
				s[i].PublicKey = cryptoHex(t, other.PublicKey)
			}
		}), ErrBadSignature},
		{"s sums to zero", mod(func(s []ECDSAShare) { s[1].SignatureShare = negModN(s[0].SignatureShare) })[:2], ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := CombineECDSAShares(tc.shares); !errors.Is(err, tc.want) {
				t.Errorf("CombineECDSAShares = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseECDSAShareForms(t *testing.T) {
	vec := loadECDSAVectors(t)[0]
	wrapped := vectorShareJSON(vec, 0, true)
	bare := vectorShareJSON(vec, 0, false)
	quoted, _ := json.Marshal(string(wrapped))
	lower := []byte(strings.NewReplacer(vec.SignatureShares[0], strings.ToLower(vec.SignatureShares[0]), vec.BigR, strings.ToLower(vec.BigR)).Replace(string(wrapped)))
	// Very old nodes quoted the digest in upper case (docs/naga-wire.md §7.4).
	oldDigest := []byte(strings.Replace(string(bare), `"digest":"`+vec.DigestHex+`"`, `"digest":"\"`+strings.ToUpper(vec.DigestHex)+`\""`, 1))
	// A share with compressed_public_key only.
	var m map[string]string
	_ = json.Unmarshal(bare, &m)
	delete(m, "public_key")
	compOnly, _ := json.Marshal(m)

	want, err := ParseECDSAShare(wrapped)
	if err != nil {
		t.Fatal(err)
	}
	if want.ShareID != strings.Repeat("0", 63)+"1" || want.PeerID != "5d6549a9" || want.Result != "success" ||
		strings.ToUpper(hex.EncodeToString(want.SignatureShare[:])) != vec.SignatureShares[0] ||
		strings.ToUpper(hex.EncodeToString(want.BigR)) != vec.BigR || hex.EncodeToString(want.PublicKey) != vec.PublicKey {
		t.Fatalf("ParseECDSAShare = %+v", want)
	}
	for name, raw := range map[string][]byte{"bare": bare, "quoted": quoted, "lowercase": lower, "old digest": oldDigest, "compressed key only": compOnly} {
		got, err := ParseECDSAShare(raw)
		if err != nil {
			t.Errorf("%s: ParseECDSAShare = %v", name, err)
			continue
		}
		if !equalECDSAShare(got, want) {
			t.Errorf("%s: ParseECDSAShare = %+v, want %+v", name, got, want)
		}
	}
}

func TestParseECDSAShareFailurePlaceholder(t *testing.T) {
	raw := []byte(`{"EcdsaSignedMessageShare":{"digest":"","result":"fail","share_id":"","peer_id":"ab","signature_share":"","big_r":"","compressed_public_key":"","public_key":"","sig_type":"EcdsaK256Sha256"}}`)
	sh, err := ParseECDSAShare(raw)
	if err != nil {
		t.Fatalf("ParseECDSAShare(fail placeholder) = %v", err)
	}
	if sh.Result != "fail" || sh.PeerID != "ab" {
		t.Errorf("placeholder = %+v", sh)
	}
	good := vectorShares(t, loadECDSAVectors(t)[0])
	if _, err := CombineECDSAShares(append(good, sh)); !errors.Is(err, ErrMalformed) {
		t.Errorf("combine with a placeholder = %v, want ErrMalformed", err)
	}
}

func TestParseECDSAShareMalformed(t *testing.T) {
	vec := loadECDSAVectors(t)[0]
	bare := vectorShareJSON(vec, 0, false)
	edit := func(key, val string) []byte {
		var m map[string]any
		_ = json.Unmarshal(bare, &m)
		if val == "<delete>" {
			delete(m, key)
			if key == "public_key" {
				delete(m, "compressed_public_key")
			}
		} else {
			m[key] = val
		}
		b, _ := json.Marshal(m)
		return b
	}
	other := loadECDSAVectors(t)[1]
	cases := map[string][]byte{
		"empty":               nil,
		"null":                []byte("null"),
		"array":               []byte("[]"),
		"empty object":        []byte("{}"),
		"truncated":           bare[:len(bare)/2],
		"frost":               []byte(`{"FrostSignedMessageShare":{"result":"success"}}`),
		"extra outer key":     []byte(`{"EcdsaSignedMessageShare":` + string(bare) + `,"x":1}`),
		"wrong field type":    []byte(`{"result":"success","digest":7}`),
		"sig type":            edit("sig_type", "EcdsaP256Sha256"),
		"no sig type":         edit("sig_type", "<delete>"),
		"digest short":        edit("digest", vec.DigestHex[:62]),
		"digest not hex":      edit("digest", "zz"+vec.DigestHex[2:]),
		"share short":         edit("signature_share", `"`+vec.SignatureShares[0][:62]+`"`),
		"share 0x":            edit("signature_share", `"0x`+vec.SignatureShares[0][2:]+`"`),
		"big_r uncompressed":  edit("big_r", `"04`+vec.BigR[2:]+`"`),
		"big_r short":         edit("big_r", `"`+vec.BigR[:64]+`"`),
		"public key 02":       edit("public_key", `"02`+vec.PublicKey[2:]+`"`),
		"public key off":      edit("public_key", `"`+vec.PublicKey[:128]+`00"`),
		"no public keys":      edit("public_key", "<delete>"),
		"keys differ":         edit("compressed_public_key", `"`+hex.EncodeToString(compressSEC1(cryptoHex(t, other.PublicKey)))+`"`),
		"compressed key bad":  edit("compressed_public_key", `"05`+strings.Repeat("00", 32)+`"`),
		"quoted not a string": []byte(`"{"`),
	}
	for name, raw := range cases {
		if _, err := ParseECDSAShare(raw); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: ParseECDSAShare = %v, want ErrMalformed", name, err)
		}
	}
}

func TestFormatECDSAShareJSON(t *testing.T) {
	vec := loadECDSAVectors(t)[0]
	sh := vectorShares(t, vec)[0]
	got := FormatECDSAShareJSON(sh)
	// docs/naga-wire.md §7.4, field by field and in order.
	want := `{"EcdsaSignedMessageShare":{"digest":"` + vec.DigestHex + `","result":"success","share_id":"\"` +
		strings.Repeat("0", 63) + `1\"","peer_id":"5d6549a9","signature_share":"\"` + vec.SignatureShares[0] +
		`\"","big_r":"\"` + vec.BigR + `\"","compressed_public_key":"\"028f9710cb7eeea2cfa126d9103e471c776a2d1b5263d29176587d1a86b12dc039\"","public_key":"\"` +
		vec.PublicKey + `\"","sig_type":"EcdsaK256Sha256"}}`
	if string(got) != want {
		t.Errorf("FormatECDSAShareJSON =\n%s\nwant\n%s", got, want)
	}
	back, err := ParseECDSAShare(got)
	if err != nil || !equalECDSAShare(back, sh) {
		t.Errorf("ParseECDSAShare(Format) = %+v, %v; want %+v", back, err, sh)
	}
}

func TestMakeECDSASharesCombine(t *testing.T) {
	secret := [32]byte(crypto.Keccak256([]byte("litnode test pkp")))
	key, err := crypto.ToECDSA(secret[:])
	if err != nil {
		t.Fatal(err)
	}
	pub := crypto.FromECDSAPub(&key.PublicKey)
	ids := make([][32]byte, 4)
	for i := range ids {
		copy(ids[i][:], crypto.Keccak256([]byte{byte(i)}))
		ids[i][0] &= 0x7f // below n
	}
	subsets := [][]int{{0, 1, 2}, {0, 1, 3}, {0, 2, 3}, {1, 2, 3}}
	for n, sub := range subsets {
		set := make([][32]byte, len(sub))
		for i, j := range sub {
			set[i] = ids[j]
		}
		digest := [32]byte(crypto.Keccak256([]byte{byte(n), 'm'}))
		k := [32]byte(crypto.Keccak256([]byte{byte(n), 'k'}))
		ss, bigR, err := MakeECDSAShares(secret, digest, k, set)
		if err != nil {
			t.Fatalf("MakeECDSAShares(%v): %v", sub, err)
		}
		shares := make([]ECDSAShare, len(ss))
		for i := range ss {
			sh := ECDSAShare{
				Digest: digest[:], ShareID: strings.ToUpper(hex.EncodeToString(set[i][:])), PeerID: "abc",
				SignatureShare: ss[i], BigR: bigR, PublicKey: pub, SigType: ECDSASigTypeK256, Result: "success",
			}
			// Through the wire form of a node.
			back, err := ParseECDSAShare(FormatECDSAShareJSON(sh))
			if err != nil {
				t.Fatalf("ParseECDSAShare(Format): %v", err)
			}
			if !equalECDSAShare(back, sh) {
				t.Fatalf("round trip = %+v, want %+v", back, sh)
			}
			shares[i] = back
		}
		sig, err := CombineECDSAShares(shares)
		if err != nil {
			t.Fatalf("CombineECDSAShares(%v): %v", sub, err)
		}
		eth := sig.Ethereum()
		eth[64] -= 27
		rec, err := crypto.Ecrecover(digest[:], eth[:])
		if err != nil || !bytes.Equal(rec, pub) {
			t.Errorf("subset %v: Ecrecover = %x, %v; want %x", sub, rec, err, pub)
		}
		if !crypto.VerifySignature(pub, digest[:], eth[:64]) {
			t.Errorf("subset %v: VerifySignature failed", sub)
		}
		// Lagrange-weighted for exactly this set: a subset does not verify.
		if _, err := CombineECDSAShares(shares[:2]); !errors.Is(err, ErrBadSignature) {
			t.Errorf("subset %v: combine of 2 = %v, want ErrBadSignature", sub, err)
		}
	}
}

func TestMakeECDSASharesErrors(t *testing.T) {
	one, two := [32]byte{31: 1}, [32]byte{31: 2}
	var n [32]byte // the group order
	copy(n[:], cryptoHex(t, "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"))
	ids := [][32]byte{one, two}
	for _, tc := range []struct {
		name      string
		secret, k [32]byte
		ids       [][32]byte
	}{
		{"zero secret", [32]byte{}, one, ids},
		{"secret = n", n, one, ids},
		{"zero k", one, [32]byte{}, ids},
		{"k = n", one, n, ids},
		{"one id", one, one, ids[:1]},
		{"zero id", one, one, [][32]byte{one, {}}},
		{"duplicate id", one, one, [][32]byte{two, two}},
		{"id = n", one, one, [][32]byte{one, n}},
	} {
		if _, _, err := MakeECDSAShares(tc.secret, [32]byte{}, tc.k, tc.ids); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: MakeECDSAShares = %v, want ErrMalformed", tc.name, err)
		}
	}
}

func equalECDSAShare(a, b ECDSAShare) bool {
	return bytes.Equal(a.Digest, b.Digest) && a.ShareID == b.ShareID && a.PeerID == b.PeerID &&
		a.SignatureShare == b.SignatureShare && bytes.Equal(a.BigR, b.BigR) &&
		bytes.Equal(a.PublicKey, b.PublicKey) && a.SigType == b.SigType && a.Result == b.Result
}

// FuzzParseECDSAShare checks that no input makes ParseECDSAShare or
// CombineECDSAShares panic, and that errors wrap the sentinels.
func FuzzParseECDSAShare(f *testing.F) {
	for _, vec := range loadECDSAVectors(f) {
		for i := range vec.SignatureShares {
			f.Add(vectorShareJSON(vec, i, true))
			f.Add(vectorShareJSON(vec, i, false))
		}
	}
	f.Add([]byte(`{"EcdsaSignedMessageShare":{"result":"fail"}}`))
	vec := loadECDSAVectors(f)[0]
	f.Fuzz(func(t *testing.T, raw []byte) {
		sh, err := ParseECDSAShare(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseECDSAShare error %v does not wrap ErrMalformed", err)
			}
			return
		}
		other, err := ParseECDSAShare(vectorShareJSON(vec, 1, true))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := CombineECDSAShares([]ECDSAShare{sh, other}); err != nil &&
			!errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) {
			t.Fatalf("CombineECDSAShares error %v wraps no sentinel", err)
		}
		if sh.Result == "success" {
			back, err := ParseECDSAShare(FormatECDSAShareJSON(sh))
			if err != nil {
				t.Fatalf("ParseECDSAShare(Format(%+v)) = %v", sh, err)
			}
			sh.ShareID = strings.ToUpper(sh.ShareID)
			if !equalECDSAShare(back, sh) {
				t.Fatalf("round trip = %+v, want %+v", back, sh)
			}
		}
	})
}

// TestCombineRecoveryIDMatchesEcrecover: the recovery id read from the
// verification point is the one go-ethereum's ecrecover (libsecp256k1)
// needs to give back the PKP's key, for random keys, nonces and digests
// (both parities and both low-s branches occur), and the signature
// verifies under decred's own ECDSA verification.
func TestCombineRecoveryIDMatchesEcrecover(t *testing.T) {
	seen := map[byte]int{}
	for i := range 300 {
		var secret, k, digest [32]byte
		rand.Read(secret[:])
		rand.Read(k[:])
		rand.Read(digest[:])
		secret[0], k[0] = 0x11, 0x22 // below n
		ids := [][32]byte{{31: 1}, {31: 2}, {31: byte(3 + i%5)}}
		ss, bigR, err := MakeECDSAShares(secret, digest, k, ids)
		if err != nil {
			t.Fatal(err)
		}
		pub := secp256k1.PrivKeyFromBytes(secret[:]).PubKey()
		shares := make([]ECDSAShare, len(ss))
		for j := range ss {
			shares[j] = ECDSAShare{Digest: digest[:], SignatureShare: ss[j], BigR: bigR, PublicKey: pub.SerializeUncompressed(), SigType: ECDSASigTypeK256, Result: ecdsaShareSuccess}
		}
		sig, err := CombineECDSAShares(shares)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		var rs [65]byte
		copy(rs[:32], sig.R[:])
		copy(rs[32:64], sig.S[:])
		rs[64] = sig.RecoveryID
		rec, err := crypto.Ecrecover(digest[:], rs[:])
		if err != nil || !bytes.Equal(rec, pub.SerializeUncompressed()) {
			t.Fatalf("case %d: ecrecover with v=%d gives %x (%v), want the PKP key", i, sig.RecoveryID, rec, err)
		}
		var r, s secp256k1.ModNScalar
		r.SetBytes(&sig.R)
		s.SetBytes(&sig.S)
		if !secpecdsa.NewSignature(&r, &s).Verify(digest[:], pub) || s.IsOverHalfOrder() {
			t.Fatalf("case %d: the combined signature does not verify or is not low-s", i)
		}
		seen[sig.RecoveryID]++
		// A share off by one never combines.
		shares[1].SignatureShare[31] ^= 1
		if _, err := CombineECDSAShares(shares); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("case %d: a corrupted share combined: %v", i, err)
		}
	}
	if seen[0] == 0 || seen[1] == 0 {
		t.Fatalf("recovery ids seen %v: both parities must occur", seen)
	}
}
