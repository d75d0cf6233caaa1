package litnode

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
)

var vectorNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func vectorNetworkKey(t testing.TB) BLSPublicKey {
	t.Helper()
	k, err := ParseBLSPublicKey(vstr(t, authVectors(t), "identities", "blsNetworkPublicKeyG1Hex"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func vectorNetworkSecret(t testing.TB) BLSSecretKey {
	t.Helper()
	k, err := ParseBLSSecretKey(vstr(t, authVectors(t), "identities", "blsNetworkSecretKeyHex"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func vectorPKP(t testing.TB) PKPPublicKey {
	t.Helper()
	k, err := ParsePKPPublicKey(vstr(t, authVectors(t), "identities", "pkpPublicKey"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func vectorSessionPub(t testing.TB) SessionPublicKey {
	t.Helper()
	k, err := ParseSessionPublicKey(rfc8032Pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The built vector delegation verifies as a node would check it.
func TestVerifyVectorDelegation(t *testing.T) {
	d, err := Verify(delegationVector(t), VerifyOptions{NetworkKey: vectorNetworkKey(t), SessionKey: vectorSessionPub(t), PKP: vectorPKP(t), Now: vectorNow})
	if err != nil {
		t.Fatalf("Verify(vector) = %v", err)
	}
	if got, want := d.Expiration, time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Expiration = %v, want %v", got, want)
	}
	pkp := vectorPKP(t)
	for _, tc := range []struct {
		resource string
		ability  Ability
		want     bool
	}{
		{pkp.ResourceKey(), AbilityPKPSigning, true},
		{"lit-litaction://QmAnything", AbilityLitActionExecution, true},
		{"lit-accesscontrolcondition://x/y", AbilityACCDecryption, true},
		{"lit-accesscontrolcondition://x/y", AbilityACCSigning, false},
		{"lit-paymentdelegation://*", AbilityPaymentDelegation, false},
	} {
		if got := d.Grants(tc.resource, tc.ability); got != tc.want {
			t.Errorf("Grants(%s, %s) = %v, want %v", tc.resource, tc.ability, got, tc.want)
		}
	}
}

// The NUL-DST signature of the same message is rejected (docs/naga-auth.md §7).
func TestVerifyRejectsNulDST(t *testing.T) {
	a := delegationVector(t)
	a.Sig = FormatBLSSigJSON(mustHex(t, vstr(t, authVectors(t), "delegationAuthSig", "negativeNulDstSigG2Hex")))
	_, err := Verify(a, VerifyOptions{NetworkKey: vectorNetworkKey(t), SessionKey: vectorSessionPub(t), PKP: vectorPKP(t), Now: vectorNow})
	if !errors.Is(err, ErrBadSignature) {
		t.Fatalf("Verify(NUL DST) = %v, want ErrBadSignature", err)
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func baseSIWE(t testing.TB) *SIWEMessage {
	t.Helper()
	m, err := ParseSIWE(vstr(t, authVectors(t), "nodeSignSessionKey", "nodeSiweMessage"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func blsSign(t testing.TB, key BLSSecretKey, m *SIWEMessage, pkp PKPPublicKey) AuthSig {
	t.Helper()
	text := m.String()
	h := BLSSessionMessage(text)
	return AuthSig{Sig: FormatBLSSigJSON(key.Sign(h[:])), Algo: AlgoLitBLS, DerivedVia: DerivedViaBLS, SignedMessage: text, Address: pkp.Address().Hex()}
}

func TestVerifyTampered(t *testing.T) {
	key := vectorNetworkSecret(t)
	pkp := vectorPKP(t)
	other := NewBLSSecretKey([]byte("another network"))
	otherSession, _ := GenerateSessionKey(nil)
	eoa, _ := crypto.GenerateKey()
	opts := VerifyOptions{NetworkKey: vectorNetworkKey(t), SessionKey: vectorSessionPub(t), PKP: pkp, Now: vectorNow}

	// Sanity: re-signing the vector message gives the vector signature.
	if got := blsSign(t, key, baseSIWE(t), pkp); got != delegationVector(t) {
		t.Fatalf("re-signed vector differs:\n got %+v\nwant %+v", got, delegationVector(t))
	}

	signed := func(edit func(m *SIWEMessage)) func(t *testing.T) AuthSig {
		return func(t *testing.T) AuthSig {
			m := baseSIWE(t)
			edit(m)
			return blsSign(t, key, m, pkp)
		}
	}
	after := func(edit func(a *AuthSig)) func(t *testing.T) AuthSig {
		return func(t *testing.T) AuthSig {
			a := delegationVector(t)
			edit(&a)
			return a
		}
	}
	recapWith := func(att string) string {
		return "urn:recap:" + base64.RawURLEncoding.EncodeToString([]byte(`{"att":`+att+`,"prf":[]}`))
	}

	tests := []struct {
		name string
		make func(t *testing.T) AuthSig
		opts func(o *VerifyOptions)
		want error
	}{
		{"flipped BLS signature byte", after(func(a *AuthSig) {
			sig, _ := ParseBLSSigJSON(a.Sig)
			sig[50] ^= 0x01
			a.Sig = FormatBLSSigJSON(sig)
		}), nil, ErrBadSignature},
		{"signed by another BLS key", func(t *testing.T) AuthSig { return blsSign(t, other, baseSIWE(t), pkp) }, nil, ErrBadSignature},
		{"verified against another network's key", after(func(a *AuthSig) {}), func(o *VerifyOptions) { o.NetworkKey = other.PublicKey() }, ErrBadSignature},
		{"URI of another session key", signed(func(m *SIWEMessage) { m.URI = otherSession.URI() }), nil, ErrURIMismatch},
		{"URI with uppercase hex", signed(func(m *SIWEMessage) { m.URI = SessionKeyURIPrefix + strings.ToUpper(rfc8032Pub) }), nil, ErrURIMismatch},
		{"URI not a session key", signed(func(m *SIWEMessage) { m.URI = "https://example.org" }), nil, ErrURIMismatch},
		{"statement edited, re-signed", signed(func(m *SIWEMessage) {
			m.Statement = strings.Replace(m.Statement, "'Signing' for 'lit-pkp://*'. (4)", "'Signing' for 'lit-pkp://x'. (4)", 1)
		}), nil, ErrStatementMismatch},
		{"statement edited, not re-signed", after(func(a *AuthSig) {
			a.SignedMessage = strings.Replace(a.SignedMessage, "Lit Protocol PKP", "Lit protocol PKP", 1)
		}), nil, ErrBadSignature},
		{"ReCap resource escalated, not re-signed", after(func(a *AuthSig) {
			m, _ := ParseSIWE(a.SignedMessage)
			r, _ := DecodeRecapURN(m.Resources[0])
			r.AddAbility("lit-paymentdelegation://*", "Auth", "Auth", nil)
			m.Resources[0] = r.EncodeURN()
			a.SignedMessage = m.String()
		}), nil, ErrBadSignature},
		{"ReCap keys unsorted, re-signed", signed(func(m *SIWEMessage) {
			m.Resources = []string{recapWith(`{"lit-pkp://*":{"Threshold/Signing":[{}]},"lit-litaction://*":{"Threshold/Execution":[{}]}}`)}
		}), nil, ErrMalformed},
		{"no ReCap, re-signed", signed(func(m *SIWEMessage) { m.Resources = nil }), nil, ErrScope},
		{"expired", after(func(a *AuthSig) {}), func(o *VerifyOptions) { o.Now = time.Date(2025, 6, 2, 12, 0, 0, 1e6, time.UTC) }, ErrExpired},
		{"not yet valid", signed(func(m *SIWEMessage) { m.NotBefore = "2025-06-01T13:00:00.000Z" }), nil, ErrNotYetValid},
		{"window over 30 days", signed(func(m *SIWEMessage) { m.ExpirationTime = "2025-07-02T12:00:00.000Z" }), nil, ErrLifetimeTooLong},
		{"expiration before issuedAt", signed(func(m *SIWEMessage) {
			m.IssuedAt = "2025-06-03T12:00:00Z"
			m.ExpirationTime = "2025-06-02T12:00:00.000Z"
		}), func(o *VerifyOptions) {}, ErrLifetimeTooLong},
		{"no expiration", signed(func(m *SIWEMessage) { m.ExpirationTime = "" }), nil, ErrMalformed},
		{"address is not the PKP", signed(func(m *SIWEMessage) { m.Address = crypto.PubkeyToAddress(eoa.PublicKey).Hex() }), nil, ErrAddressMismatch},
		{"address not checksummed", after(func(a *AuthSig) {
			a.SignedMessage = strings.Replace(a.SignedMessage, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266", 1)
		}), nil, ErrMalformed},
		{"derivedVia web3.eth.personal.sign with a BLS sig", after(func(a *AuthSig) { a.DerivedVia = DerivedViaWallet; a.Algo = "" }), nil, ErrWrongKind},
		{"lit.bls without algo", after(func(a *AuthSig) { a.Algo = "" }), nil, ErrWrongKind},
		{"session sig as capability", after(func(a *AuthSig) { a.DerivedVia = DerivedViaSession; a.Algo = AlgoEd25519 }), nil, ErrWrongKind},
		{"Basic-variant BLS sig JSON", after(func(a *AuthSig) { a.Sig = strings.Replace(a.Sig, "ProofOfPossession", "Basic", 1) }), nil, ErrBadSignature},
		{"sig not JSON", after(func(a *AuthSig) { a.Sig = "0x1234" }), nil, ErrBadSignature},
		{"SIWE garbage", after(func(a *AuthSig) { a.SignedMessage = "hello" }), nil, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := opts
			if tc.opts != nil {
				tc.opts(&o)
			}
			_, err := Verify(tc.make(t), o)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

// An AuthSig with an extra key never gets as far as Verify: the strict
// decoder rejects it, as the node does (docs/naga-auth.md §2).
func TestVerifyExtraAuthSigKey(t *testing.T) {
	a := delegationVector(t)
	b, _ := json.Marshal(a)
	b = append(b[:len(b)-1], `,"extra":"x"}`...)
	if _, err := ParseAuthSig(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("ParseAuthSig(extra key) = %v, want ErrMalformed", err)
	}
}

// An EOA capability is accepted the way nodes accept it: EIP-191 recovery.
func TestVerifyWalletCapability(t *testing.T) {
	eoa, _ := crypto.GenerateKey()
	m := baseSIWE(t)
	m.Address = crypto.PubkeyToAddress(eoa.PublicKey).Hex()
	a := walletSign(t, eoa, m)
	opts := VerifyOptions{SessionKey: vectorSessionPub(t), Now: vectorNow}
	if _, err := Verify(a, opts); !errors.Is(err, ErrWrongKind) {
		t.Errorf("Verify(wallet, AllowWallet=false) = %v, want ErrWrongKind", err)
	}
	opts.AllowWallet = true
	if _, err := Verify(a, opts); err != nil {
		t.Errorf("Verify(wallet) = %v", err)
	}
	other, _ := crypto.GenerateKey()
	forged := walletSign(t, other, m)
	forged.Address = a.Address
	if _, err := Verify(forged, opts); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify(wallet signed by another key) = %v, want ErrBadSignature", err)
	}
	short := a
	short.Sig = "0x1234"
	if _, err := Verify(short, opts); !errors.Is(err, ErrMalformed) {
		t.Errorf("Verify(short wallet sig) = %v, want ErrMalformed", err)
	}
}

func walletSign(t testing.TB, key *ecdsa.PrivateKey, m *SIWEMessage) AuthSig {
	t.Helper()
	a, err := WalletAuthSig(key, m.String())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestValidateLikeSDKVectors(t *testing.T) {
	v := authVectors(t)
	a := delegationVector(t)
	// The generator's inputs (gen-lit-auth-vectors.js §5).
	seed := sha256.Sum256([]byte("other"))
	otherKey, _ := SessionKeyFromSeed(seed[:])
	otherURI := otherKey.PublicKey().Hex()
	inputs := map[string]struct {
		a   AuthSig
		uri string
	}{
		"valid, uri given as bare pubkey":           {a, rfc8032Pub},
		"valid, uri given with lit:session: prefix": {a, SessionKeyURIPrefix + rfc8032Pub},
		"other session key":                         {a, otherURI},
		"expired":                                   {withMsg(a, strings.Replace(a.SignedMessage, "Expiration Time: 2025-06-02T12:00:00.000Z", "Expiration Time: 2025-06-01T11:00:00.000Z", 1)), rfc8032Pub},
		"unparseable expiration":                    {withMsg(a, strings.Replace(a.SignedMessage, "Expiration Time: 2025-06-02T12:00:00.000Z", "Expiration Time: not-a-date", 1)), rfc8032Pub},
		"URI line removed (falls back to substring search of the whole message)": {withMsg(a, strings.Replace(a.SignedMessage, "URI: lit:session:"+rfc8032Pub+"\n", "", 1)), rfc8032Pub},
		"BLS sig garbage (not checked)":                                          {AuthSig{Sig: `{"ProofOfPossession":"00"}`, Algo: a.Algo, DerivedVia: a.DerivedVia, SignedMessage: a.SignedMessage, Address: a.Address}, rfc8032Pub},
	}
	for _, c := range vget(t, v, "validateDelegationAuthSig", "cases").([]any) {
		cs := c.(map[string]any)
		label := cs["label"].(string)
		in, ok := inputs[label]
		if !ok {
			t.Errorf("no input for vector case %q", label)
			continue
		}
		err := ValidateLikeSDK(in.a, in.uri, vectorNow)
		if cs["ok"].(bool) {
			if err != nil {
				t.Errorf("%s: ValidateLikeSDK = %v, want ok", label, err)
			}
			continue
		}
		if err == nil || err.Error() != cs["error"].(string) {
			t.Errorf("%s: ValidateLikeSDK = %v, want %q", label, err, cs["error"])
		}
		if !errors.Is(err, ErrSDKValidation) {
			t.Errorf("%s: error does not match ErrSDKValidation", label)
		}
	}
}

func withMsg(a AuthSig, msg string) AuthSig {
	a.SignedMessage = msg
	return a
}
