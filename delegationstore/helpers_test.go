package delegationstore

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/litsignd/litsignd/litnode"
)

// siweTime writes a time as the SDK does (milliseconds, Z).
func siweTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// newTestPKP returns a fresh PKP public key (a random secp256k1 point).
func newTestPKP(t testing.TB) litnode.PKPPublicKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pkp, err := litnode.ParsePKPPublicKey(hex.EncodeToString(crypto.FromECDSAPub(&k.PublicKey)))
	if err != nil {
		t.Fatal(err)
	}
	return pkp
}

// newTestSessionKey returns a fresh session key.
func newTestSessionKey(t testing.TB) *litnode.SessionKey {
	t.Helper()
	k, err := litnode.GenerateSessionKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newTestHandOff builds a hand-off with a lit.bls-shaped delegation AuthSig
// from pkp to session, with the given SIWE Issued At and Expiration Time
// and a ReCap granting pkp-signing on every PKP. Its signature is a
// placeholder: the store parses delegations, it does not verify them.
func newTestHandOff(t testing.TB, pkp litnode.PKPPublicKey, session *litnode.SessionKey, issued, exp time.Time) *litnode.HandOff {
	t.Helper()
	var nonce [32]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		t.Fatal(err)
	}
	m := &litnode.SIWEMessage{
		Domain:         "localhost",
		Address:        pkp.Address().Hex(),
		Statement:      "Lit Protocol PKP session signature",
		URI:            session.URI(),
		Version:        "1",
		ChainID:        1,
		Nonce:          "0x" + hex.EncodeToString(nonce[:]),
		IssuedAt:       siweTime(issued),
		ExpirationTime: siweTime(exp),
	}
	r := litnode.NewRecap()
	r.AddAbility("lit-pkp://*", "Threshold", "Signing", nil)
	litnode.AddRecapToSIWE(m, r)
	a := litnode.AuthSig{
		Sig:           `{"ProofOfPossession":"00"}`,
		Algo:          litnode.AlgoLitBLS,
		DerivedVia:    litnode.DerivedViaBLS,
		SignedMessage: m.String(),
		Address:       pkp.Address().Hex(),
	}
	if _, err := litnode.ParseDelegation(a); err != nil {
		t.Fatalf("test delegation does not parse: %v", err)
	}
	return &litnode.HandOff{PKP: pkp, SessionKey: session, Delegation: a}
}

// newTestKeyring returns a keyring with fresh keys named by ids, the first
// current.
func newTestKeyring(t testing.TB, ids ...string) *Keyring {
	t.Helper()
	var keys []*KEK
	for _, id := range ids {
		k, err := GenerateKEK(id)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	r, err := NewKeyring(keys[0], keys[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
