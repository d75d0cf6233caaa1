package litnode

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The hand-written pkpSign request body is the JSON value encoding/json
// writes, byte for byte when no string holds <, > or &.
func TestPKPSignBodyJSON(t *testing.T) {
	toSign := make([]int, 32)
	for i := range toSign {
		toSign[i] = i * 7
	}
	for _, msg := range []string{`{"a":"b\n"}`, `with <html> & more`} {
		body := &pkpSignBody{ToSign: toSign, SigningScheme: "EcdsaK256Sha256", Pubkey: "0x04ab",
			AuthSig: AuthSig{Sig: "ff", Algo: AlgoEd25519, DerivedVia: DerivedViaSession, SignedMessage: msg, Address: "abcd"},
			NodeSet: []nodeSetEntry{{"127.0.0.1:1", 1}, {"n2:7470", 1}}, Epoch: 18446744073709551615, AuthMethods: []any{}, KeySetID: "naga-keyset1"}
		want, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := body.appendJSON(nil)
		if !ok {
			t.Fatal("appendJSON refused a pkpSign body")
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		_ = json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("value differs:\ngot  %s\nwant %s", got, want)
		}
		if msg[0] == '{' && string(got) != string(want) {
			t.Errorf("bytes differ:\ngot  %s\nwant %s", got, want)
		}
	}
	if _, ok := (&pkpSignBody{AuthMethods: []any{map[string]any{"a": 1}}}).appendJSON(nil); ok {
		t.Error("appendJSON wrote auth methods it does not handle")
	}
}
