package litnode

import (
	"testing"
)

func FuzzDecodeEnvelope(f *testing.F) {
	key, _ := ParseSessionKeyPair(rfc8032Pub, rfc8032Seed)
	pkp, _ := ParsePKPPublicKey("0x048318535b54105d4a7aae60c08fc45f9687181b4fdfc625bd1a753fa7397fed753547f11ca8696646f2f3acb08e31016afac23e630c5d11f59f61fef57b0d2aa5")
	f.Add((&HandOff{PKP: pkp, SessionKey: key, Delegation: delegationVector(f)}).Encode())
	f.Add([]byte(`{"pkpPublicKey":"0x04","payload":"e30"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := DecodeEnvelope(data)
		if err != nil {
			return
		}
		h2, err := DecodeEnvelope(h.Encode())
		if err != nil {
			t.Fatalf("re-decode of Encode() failed: %v", err)
		}
		if h2.PKP != h.PKP || !h2.SessionKey.Equal(h.SessionKey) || h2.Delegation != h.Delegation {
			t.Fatalf("round trip differs")
		}
	})
}

func FuzzParseAuthSig(f *testing.F) {
	b, _ := delegationVector(f).MarshalJSON()
	f.Add(b)
	f.Add([]byte(`{"sig":"s","algo":null,"derivedVia":"x","signedMessage":"m\u2028<>&","address":"a"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseAuthSig(data)
		if err != nil {
			return
		}
		out, err := a.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		a2, err := ParseAuthSig(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		if a2 != a {
			t.Fatalf("round trip: %+v != %+v", a2, a)
		}
		_ = a.Kind()
	})
}
