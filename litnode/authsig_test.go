package litnode

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAuthSigStrict(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    AuthSig
		wantErr bool
	}{
		{"bls", `{"sig":"s","algo":"LIT_BLS","derivedVia":"lit.bls","signedMessage":"m","address":"0xA"}`,
			AuthSig{Sig: "s", Algo: "LIT_BLS", DerivedVia: "lit.bls", SignedMessage: "m", Address: "0xA"}, false},
		{"algo absent", `{"sig":"s","derivedVia":"web3.eth.personal.sign","signedMessage":"m","address":"0xA"}`,
			AuthSig{Sig: "s", DerivedVia: "web3.eth.personal.sign", SignedMessage: "m", Address: "0xA"}, false},
		{"algo null", `{"sig":"s","algo":null,"derivedVia":"x","signedMessage":"m","address":"0xA"}`,
			AuthSig{Sig: "s", DerivedVia: "x", SignedMessage: "m", Address: "0xA"}, false},
		{"unknown key", `{"sig":"s","derivedVia":"x","signedMessage":"m","address":"a","extra":1}`, AuthSig{}, true},
		{"missing sig", `{"derivedVia":"x","signedMessage":"m","address":"a"}`, AuthSig{}, true},
		{"missing address", `{"sig":"s","derivedVia":"x","signedMessage":"m"}`, AuthSig{}, true},
		{"number sig", `{"sig":1,"derivedVia":"x","signedMessage":"m","address":"a"}`, AuthSig{}, true},
		{"null sig", `{"sig":null,"derivedVia":"x","signedMessage":"m","address":"a"}`, AuthSig{}, true},
		{"trailing", `{"sig":"s","derivedVia":"x","signedMessage":"m","address":"a"} {}`, AuthSig{}, true},
		{"array", `[]`, AuthSig{}, true},
		{"empty", ``, AuthSig{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAuthSig([]byte(tc.in))
			if tc.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("ParseAuthSig(%s) = %v, want ErrMalformed", tc.in, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseAuthSig(%s) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestAuthSigKind(t *testing.T) {
	tests := []struct {
		derivedVia, algo string
		want             AuthSigKind
	}{
		{"litSessionSignViaNacl", "ed25519", KindSession},
		{"litSessionSignViaNacl", "", KindWallet},
		{"lit.bls", "LIT_BLS", KindBLSNetwork},
		{"lit.bls", "", KindWallet}, // docs/naga-auth.md §2: treated as an ECDSA wallet sig
		{"EIP1271", "", KindContract},
		{"EIP1271_SHA256", "", KindContract},
		{"web3.eth.personal.sign", "", KindWallet},
		{"anything", "x", KindWallet},
	}
	for _, tc := range tests {
		if got := (AuthSig{DerivedVia: tc.derivedVia, Algo: tc.algo}).Kind(); got != tc.want {
			t.Errorf("Kind(%q, %q) = %v, want %v", tc.derivedVia, tc.algo, got, tc.want)
		}
	}
}

// The SDK writes a PKP delegation as sig, algo, derivedVia, signedMessage,
// address; the session-sig vector embeds it that way, byte for byte.
func TestAuthSigMarshalMatchesSDK(t *testing.T) {
	v := authVectors(t)
	a := delegationVector(t)
	got, err := a.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	msg := vstr(t, v, "pkpSessionSigs", "sessionSigs", "https://node-c.example.org:443", "signedMessage")
	if !strings.Contains(msg, string(got)) {
		t.Errorf("MarshalJSON = %s\nnot found in the SDK's session sig message", got)
	}
	back, err := ParseAuthSig(got)
	if err != nil || back != a {
		t.Errorf("round trip = %+v, %v", back, err)
	}
}

// delegationVector returns the vectors' lit.bls delegation AuthSig.
func delegationVector(t testing.TB) AuthSig {
	t.Helper()
	v := authVectors(t)
	return AuthSig{
		Sig:           vstr(t, v, "delegationAuthSig", "authSig", "sig"),
		Algo:          vstr(t, v, "delegationAuthSig", "authSig", "algo"),
		DerivedVia:    vstr(t, v, "delegationAuthSig", "authSig", "derivedVia"),
		SignedMessage: vstr(t, v, "delegationAuthSig", "authSig", "signedMessage"),
		Address:       vstr(t, v, "delegationAuthSig", "authSig", "address"),
	}
}
