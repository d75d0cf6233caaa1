package litnode

import (
	"crypto/rand"
	"testing"
)

// BenchmarkVerifyBLS measures checking a lit.bls delegation's signature:
// hash-to-G2, decoding σ with its subgroup check, and a two-pairing check.
func BenchmarkVerifyBLS(b *testing.B) {
	v := loadBLSVectors(b)
	pk, err := ParseBLSPublicKey(v.Identities.BLSNetworkPublicKeyG1Hex)
	if err != nil {
		b.Fatal(err)
	}
	sig, err := ParseBLSSigJSON(v.DelegationAuthSig.AuthSig.Sig)
	if err != nil {
		b.Fatal(err)
	}
	m := BLSSessionMessage(v.DelegationAuthSig.AuthSig.SignedMessage)
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyBLS(pk, m[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCombineBLSShares combines the 3 vector shares of a sign_session_key
// response.
func BenchmarkCombineBLSShares(b *testing.B) {
	v := loadBLSVectors(b)
	var shares []BLSShare
	for _, raw := range v.NodeSignSessionKey.SignatureShares {
		sh, err := ParseBLSShareJSON(raw)
		if err != nil {
			b.Fatal(err)
		}
		shares = append(shares, sh)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CombineBLSShares(shares); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCombineECDSAShares combines the 3 shares of vector A, including
// the verification and the trial recovery.
func BenchmarkCombineECDSAShares(b *testing.B) {
	vec := loadECDSAVectors(b)[0]
	var shares []ECDSAShare
	for i := range vec.SignatureShares {
		sh, err := ParseECDSAShare(vectorShareJSON(vec, i, true))
		if err != nil {
			b.Fatal(err)
		}
		shares = append(shares, sh)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CombineECDSAShares(shares); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkE2EERoundTrip seals a 1 KiB request to a node and opens it there.
func BenchmarkE2EERoundTrip(b *testing.B) {
	client, err := NewX25519KeyPair(nil)
	if err != nil {
		b.Fatal(err)
	}
	node, err := NewX25519KeyPair(nil)
	if err != nil {
		b.Fatal(err)
	}
	pt := make([]byte, 1024)
	rand.Read(pt)
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		env, err := E2EESeal(client, node.Public, pt)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := E2EEDecrypt(node, env); err != nil {
			b.Fatal(err)
		}
	}
}
