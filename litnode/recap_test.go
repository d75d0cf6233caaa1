package litnode

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// recapTestURN wraps raw JSON text as a ReCap URN, without checking it.
func recapTestURN(jsonText string) string {
	return recapURNPrefix + base64.RawURLEncoding.EncodeToString([]byte(jsonText))
}

// recapTestJSON returns the JSON inside a URN.
func recapTestJSON(t *testing.T, urn string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(urn, recapURNPrefix))
	if err != nil {
		t.Fatalf("decode %q: %v", urn, err)
	}
	return string(b)
}

// recapTestUseNumber decodes JSON text into T with json.Number for numbers,
// the representation DecodeRecapURN produces.
func recapTestUseNumber[T any](t *testing.T, text []byte) T {
	t.Helper()
	var out T
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("decode %s: %v", text, err)
	}
	return out
}

const recapTestClientStatement = "I further authorize the stated URI to perform the following actions on my behalf: " +
	"(1) 'Threshold': 'Decryption' for 'lit-accesscontrolcondition://*'. " +
	"(2) 'Threshold': 'Execution' for 'lit-litaction://*'. " +
	"(3) 'Threshold': 'Signing' for 'lit-pkp://*'."

func TestDecodeRecapURNClientVector(t *testing.T) {
	v := authVectors(t)
	m, err := ParseSIWE(vstr(t, v, "signSessionKeyRequest", "clientSiweMessage"))
	if err != nil {
		t.Fatal(err)
	}
	urn := m.Resources[0]
	r, err := DecodeRecapURN(urn)
	if err != nil {
		t.Fatalf("DecodeRecapURN(%q) = %v", urn, err)
	}
	raw, err := json.Marshal(vget(t, v, "signSessionKeyRequest", "clientRecapDecoded"))
	if err != nil {
		t.Fatal(err)
	}
	want := recapTestUseNumber[map[string]map[string][]map[string]any](t, raw)
	if !reflect.DeepEqual(r.Att, want) {
		t.Errorf("DecodeRecapURN(client).Att = %v, want %v", r.Att, want)
	}
	if len(r.Prf) != 0 {
		t.Errorf("DecodeRecapURN(client).Prf = %q, want []", r.Prf)
	}
	if got := r.EncodeURN(); got != urn {
		t.Errorf("EncodeURN() = %q, want %q", got, urn)
	}
	if got := r.Statement(); got != recapTestClientStatement {
		t.Errorf("Statement() = %q, want %q", got, recapTestClientStatement)
	}
	if !strings.HasSuffix(m.Statement, r.Statement()) {
		t.Errorf("client statement %q does not end with the recap statement", m.Statement)
	}
}

// The node merges an Auth/Auth capability on lit-resolvedauthcontext://*
// into the client's recap and rebuilds the SIWE message with the statement
// doubled (docs/naga-auth.md §3.4 steps 8-9). The rebuild must equal the vector's bytes.
func TestRecapNodeMergeVector(t *testing.T) {
	v := authVectors(t)
	client, err := ParseSIWE(vstr(t, v, "signSessionKeyRequest", "clientSiweMessage"))
	if err != nil {
		t.Fatal(err)
	}
	userRecap, err := DecodeRecapURN(client.Resources[0])
	if err != nil {
		t.Fatal(err)
	}
	nodeCap := NewRecap()
	nodeCap.AddAbility("lit-resolvedauthcontext://*", "Auth", "Auth",
		map[string]any{"auth_context": vget(t, v, "nodeSignSessionKey", "authContext")})
	merged := &Recap{Att: map[string]map[string][]map[string]any{}}
	merged.Merge(userRecap)
	merged.Merge(nodeCap)

	wantAtt := string(appendJCSValue(nil, vget(t, v, "nodeSignSessionKey", "mergedRecapAtt")))
	if got := string(appendJCSValue(nil, merged.Att)); got != wantAtt {
		t.Errorf("merged att = %s\nwant %s", got, wantAtt)
	}

	nodeText := vstr(t, v, "nodeSignSessionKey", "nodeSiweMessage")
	rebuilt := &SIWEMessage{
		Domain:         client.Domain,
		Address:        vstr(t, v, "identities", "pkpEthAddress"),
		Statement:      client.Statement + " " + merged.Statement(),
		URI:            client.URI,
		Version:        client.Version,
		ChainID:        client.ChainID,
		Nonce:          vstr(t, v, "identities", "blockhashNonce"),
		IssuedAt:       vstr(t, v, "identities", "blockTimestamp"),
		ExpirationTime: client.ExpirationTime,
		Resources:      []string{merged.EncodeURN()},
	}
	if got := rebuilt.String(); got != nodeText {
		t.Errorf("rebuilt node SIWE =\n%s\nwant\n%s", got, nodeText)
	}
	if got, want := merged.Statement(), recapTestClientStatement+
		" (4) 'Auth': 'Auth' for 'lit-resolvedauthcontext://*'."; got != want {
		t.Errorf("merged Statement() = %q, want %q", got, want)
	}

	node, err := ParseSIWE(nodeText)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := DecodeRecapURN(node.Resources[0])
	if err != nil {
		t.Fatalf("DecodeRecapURN(node) = %v", err)
	}
	if got := decoded.EncodeURN(); got != node.Resources[0] {
		t.Errorf("node URN re-encodes to %q, want %q", got, node.Resources[0])
	}
	recaps, err := VerifyRecapStatements(node)
	if err != nil || len(recaps) != 1 {
		t.Errorf("VerifyRecapStatements(node) = %v, %v; want one recap", recaps, err)
	}
}

func TestDecodeRecapURNAccepts(t *testing.T) {
	tests := []struct {
		name string
		json string
	}{
		{"empty", `{"att":{},"prf":[]}`},
		{"resource without abilities", `{"att":{"x://1":{}},"prf":[]}`},
		{"empty nota-bene list", `{"att":{"x://1":{"a/b":[]}},"prf":[]}`},
		{"wildcard ability", `{"att":{"lit-pkp://*":{"*/*":[{}]}},"prf":[]}`},
		{"ability charset", `{"att":{"x://1":{"A.z*_+-9/0-+_*.Z":[{}]}},"prf":[]}`},
		{"proofs", `{"att":{},"prf":["bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi","zQm"]}`},
		{"nested nota-bene", `{"att":{"x://1":{"a/b":[{"a":[1,2.5,-3,true,false,null,"s",{"b":{}}],"z":"<>&` + "\u2028" + `"},{}]}},"prf":[]}`},
		{"utf-16 key order", "{\"att\":{\"x://1\":{\"a/b\":[{\"\U0001F600\":1,\"\uE000\":2}]}},\"prf\":[]}"},
		{"escaped controls", `{"att":{"x://1":{"a/b":[{"k":"\u0000\u001f\b\t\n\f\r\"\\/"}]}},"prf":[]}`},
		{"numbers", `{"att":{"x://1":{"a/b":[{"a":1e+21,"b":1e-7,"c":0.000001,"d":100000000000000000000,"e":-1.5}]}},"prf":[]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			urn := recapTestURN(tc.json)
			r, err := DecodeRecapURN(urn)
			if err != nil {
				t.Fatalf("DecodeRecapURN(%s) = %v", tc.json, err)
			}
			if got := r.EncodeURN(); got != urn {
				t.Errorf("DecodeRecapURN(%s).EncodeURN() = %s", tc.json, recapTestJSON(t, got))
			}
		})
	}
}

func TestDecodeRecapURNRejects(t *testing.T) {
	deep := strings.Repeat("[", 200) + strings.Repeat("]", 200)
	padded := recapURNPrefix + base64.URLEncoding.EncodeToString([]byte(`{"att":{},"prf":[]}`))
	if !strings.HasSuffix(padded, "=") {
		t.Fatalf("test setup: %q has no padding", padded)
	}
	tests := []struct {
		name string
		urn  string
	}{
		{"no prefix", "urn:recapx:e30"},
		{"uppercase prefix", strings.ToUpper(recapURNPrefix) + "e30"},
		{"empty payload", recapURNPrefix},
		{"padding", padded},
		{"standard alphabet", recapURNPrefix + "ab+/"},
		{"bad base64 length", recapURNPrefix + "a"},
		{"non-zero trailing bits", recapURNPrefix + "e31"},
		{"newline in base64", recapURNPrefix + "eyJhdHQiOnt9LCJwcmYiOltdfQ"[:8] + "\n" + "eyJhdHQiOnt9LCJwcmYiOltdfQ"[8:]},
		{"space in base64", recapURNPrefix + " eyJhdHQiOnt9LCJwcmYiOltdfQ"},
		{"bad JSON", recapTestURN(`{"att":`)},
		{"not JSON", recapTestURN(`hello`)},
		{"trailing value", recapTestURN(`{"att":{},"prf":[]}{}`)},
		{"trailing garbage", recapTestURN(`{"att":{},"prf":[]}x`)},
		{"whitespace", recapTestURN(`{"att": {},"prf":[]}`)},
		{"trailing newline", recapTestURN("{\"att\":{},\"prf\":[]}\n")},
		{"unsorted top-level keys", recapTestURN(`{"prf":[],"att":{}}`)},
		{"unsorted resources", recapTestURN(`{"att":{"lit-pkp://*":{"Threshold/Signing":[{}]},"lit-litaction://*":{"Threshold/Execution":[{}]}},"prf":[]}`)},
		{"unsorted abilities", recapTestURN(`{"att":{"x://1":{"b/b":[{}],"a/a":[{}]}},"prf":[]}`)},
		{"unsorted nota-bene keys", recapTestURN(`{"att":{"x://1":{"a/a":[{"b":1,"a":2}]}},"prf":[]}`)},
		{"unsorted deep keys", recapTestURN(`{"att":{"x://1":{"a/a":[{"a":[{"d":1,"c":2}]}]}},"prf":[]}`)},
		{"byte order is not UTF-16 order", recapTestURN("{\"att\":{\"x://1\":{\"a/a\":[{\"\uE000\":1,\"\U0001F600\":2}]}},\"prf\":[]}")},
		{"duplicate keys", recapTestURN(`{"att":{"x://1":{"a/a":[{"a":1,"a":1}]}},"prf":[]}`)},
		{"missing att", recapTestURN(`{"prf":[]}`)},
		{"missing prf", recapTestURN(`{"att":{}}`)},
		{"extra key", recapTestURN(`{"att":{},"foo":1,"prf":[]}`)},
		{"top-level array", recapTestURN(`[]`)},
		{"att is an array", recapTestURN(`{"att":[],"prf":[]}`)},
		{"att is null", recapTestURN(`{"att":null,"prf":[]}`)},
		{"resource is an array", recapTestURN(`{"att":{"x://1":[]},"prf":[]}`)},
		{"ability without slash", recapTestURN(`{"att":{"x://1":{"Signing":[{}]}},"prf":[]}`)},
		{"ability with space", recapTestURN(`{"att":{"x://1":{"Thresh old/Signing":[{}]}},"prf":[]}`)},
		{"ability with two slashes", recapTestURN(`{"att":{"x://1":{"a/b/c":[{}]}},"prf":[]}`)},
		{"empty namespace", recapTestURN(`{"att":{"x://1":{"/b":[{}]}},"prf":[]}`)},
		{"empty name", recapTestURN(`{"att":{"x://1":{"a/":[{}]}},"prf":[]}`)},
		{"non-ASCII ability", recapTestURN(`{"att":{"x://1":{"é/b":[{}]}},"prf":[]}`)},
		{"nota-bene is an object", recapTestURN(`{"att":{"x://1":{"a/b":{}}},"prf":[]}`)},
		{"nota-bene holds null", recapTestURN(`{"att":{"x://1":{"a/b":[null]}},"prf":[]}`)},
		{"nota-bene holds an array", recapTestURN(`{"att":{"x://1":{"a/b":[[]]}},"prf":[]}`)},
		{"nota-bene holds a number", recapTestURN(`{"att":{"x://1":{"a/b":[1]}},"prf":[]}`)},
		{"nota-bene holds a string", recapTestURN(`{"att":{"x://1":{"a/b":["x"]}},"prf":[]}`)},
		{"prf holds a number", recapTestURN(`{"att":{},"prf":[1]}`)},
		{"prf is an object", recapTestURN(`{"att":{},"prf":{}}`)},
		{"invalid UTF-8", recapTestURN("{\"att\":{\"x://\xff\":{}},\"prf\":[]}")},
		{"non-canonical number 1.0", recapTestURN(`{"att":{"x://1":{"a/b":[{"n":1.0}]}},"prf":[]}`)},
		{"non-canonical number 1e0", recapTestURN(`{"att":{"x://1":{"a/b":[{"n":1e0}]}},"prf":[]}`)},
		{"non-canonical number -0", recapTestURN(`{"att":{"x://1":{"a/b":[{"n":-0}]}},"prf":[]}`)},
		{"imprecise number", recapTestURN(`{"att":{"x://1":{"a/b":[{"n":12345678901234567890}]}},"prf":[]}`)},
		{"leading zero", recapTestURN(`{"att":{"x://1":{"a/b":[{"n":01}]}},"prf":[]}`)},
		{"escaped letter", recapTestURN(`{"att":{"x://1":{"a/b":[{"s":"\u0041"}]}},"prf":[]}`)},
		{"escaped slash", recapTestURN(`{"att":{"x://1":{"a/b":[{"s":"\/"}]}},"prf":[]}`)},
		{"uppercase escape", recapTestURN(`{"att":{"x://1":{"a/b":[{"s":"\u001F"}]}},"prf":[]}`)},
		{"lone surrogate", recapTestURN(`{"att":{"x://1":{"a/b":[{"s":"\ud800"}]}},"prf":[]}`)},
		{"raw control character", recapTestURN("{\"att\":{\"x://1\":{\"a/b\":[{\"s\":\"\x01\"}]}},\"prf\":[]}")},
		{"too deep", recapTestURN(`{"att":{"x://1":{"a/b":[{"d":` + deep + `}]}},"prf":[]}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeRecapURN(tc.urn)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("DecodeRecapURN(%q) = %+v, %v; want ErrMalformed", tc.urn, got, err)
			}
		})
	}
}

type recapTestStruct struct {
	X int    `json:"x"`
	A string `json:"a"`
}

func TestRecapEncodeJCS(t *testing.T) {
	tests := []struct {
		name string
		nb   any
		want string
	}{
		{"html and separators unescaped", "<>&\u2028\u2029", `"<>&` + "\u2028\u2029" + `"`},
		{"controls", "\x00\x1f\b\t\n\f\r\"\\/\x7f", `"\u0000\u001f\b\t\n\f\r\"\\/` + "\x7f" + `"`},
		{"non-ASCII", "é\U0001F600", "\"é\U0001F600\""},
		{"invalid UTF-8", "a\xffb", "\"a\uFFFDb\""},
		{"int", 1, `1`},
		{"fraction", 1.5, `1.5`},
		{"negative zero", math.Copysign(0, -1), `0`},
		{"1e21", 1e21, `1e+21`},
		{"1e20", 1e20, `100000000000000000000`},
		{"1e-7", 1e-7, `1e-7`},
		{"1e-6", 0.000001, `0.000001`},
		{"negative small", -1.5e-10, `-1.5e-10`},
		{"max float", math.MaxFloat64, `1.7976931348623157e+308`},
		{"smallest denormal", json.Number("5e-324"), `5e-324`},
		{"big int64", int64(123456789012345678), `123456789012345680`},
		{"uint8", uint8(7), `7`},
		{"json.Number", json.Number("42"), `42`},
		{"invalid json.Number", json.Number("abc"), `null`},
		{"NaN", math.NaN(), `null`},
		{"infinity", math.Inf(1), `null`},
		{"bool and null", []any{true, false, nil}, `[true,false,null]`},
		{"utf-16 key order", map[string]any{"\uE000": 1, "\U0001F600": 2, "a": 3, "B": 4, "": 5},
			"{\"\":5,\"B\":4,\"a\":3,\"\U0001F600\":2,\"\uE000\":1}"},
		{"nested", map[string]any{"b": []any{map[string]any{"d": 1, "c": "x"}}, "a": map[string]any{}},
			`{"a":{},"b":[{"c":"x","d":1}]}`},
		{"struct through encoding/json", recapTestStruct{X: 1, A: "<"}, `{"a":"<","x":1}`},
		{"unencodable", make(chan int), `null`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRecap()
			r.AddAbility("x://1", "a", "b", map[string]any{"v": tc.nb})
			got := recapTestJSON(t, r.EncodeURN())
			want := `{"att":{"x://1":{"a/b":[{"v":` + tc.want + `}]}},"prf":[]}`
			if got != want {
				t.Errorf("EncodeURN(%#v) JSON = %s, want %s", tc.nb, got, want)
			}
		})
	}

	if got, want := recapTestJSON(t, (&Recap{}).EncodeURN()), `{"att":{},"prf":[]}`; got != want {
		t.Errorf("EncodeURN() of a zero Recap = %s, want %s", got, want)
	}
}

func TestRecapStatement(t *testing.T) {
	tests := []struct {
		name string
		att  map[string][]string // resource -> abilities
		want string
	}{
		{"empty", nil, recapStatementPrefix},
		{"resource without abilities", map[string][]string{"x://1": nil}, recapStatementPrefix},
		{"client vector", map[string][]string{
			"lit-pkp://*":                    {"Threshold/Signing"},
			"lit-litaction://*":              {"Threshold/Execution"},
			"lit-accesscontrolcondition://*": {"Threshold/Decryption"},
		}, recapTestClientStatement},
		{"namespaces and names sorted", map[string][]string{
			"x://1": {"b/z", "b/a", "a/q"},
			"w://2": {"*/*"},
		}, recapStatementPrefix + " (1) '*': '*' for 'w://2'. (2) 'a': 'q' for 'x://1'. (3) 'b': 'a', 'z' for 'x://1'."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRecap()
			for res, abs := range tc.att {
				r.Att[res] = map[string][]map[string]any{}
				for _, ab := range abs {
					ns, name, _ := strings.Cut(ab, "/")
					r.AddAbility(res, ns, name, nil)
				}
			}
			if got := r.Statement(); got != tc.want {
				t.Errorf("Statement(%v) = %q, want %q", tc.att, got, tc.want)
			}
		})
	}
}

func TestRecapAddAbility(t *testing.T) {
	var r Recap // zero value works
	r.AddAbility("x://1", "a", "b", nil)
	r.AddAbility("x://1", "a", "b", map[string]any{"k": "v"})
	r.AddAbility("x://2", "c", "d", nil)
	want := map[string]map[string][]map[string]any{
		"x://1": {"a/b": {{}, {"k": "v"}}},
		"x://2": {"c/d": {{}}},
	}
	if !reflect.DeepEqual(r.Att, want) {
		t.Errorf("AddAbility: Att = %v, want %v", r.Att, want)
	}
}

func TestRecapMerge(t *testing.T) {
	a := NewRecap()
	a.AddAbility("x://1", "a", "b", nil)
	a.Prf = []string{"p1"}
	b := NewRecap()
	b.AddAbility("x://1", "a", "b", map[string]any{"k": 1})
	b.AddAbility("x://1", "c", "d", nil)
	b.AddAbility("x://2", "e", "f", nil)
	b.Prf = []string{"p1", "p2"}
	bBefore := b.EncodeURN()

	a.Merge(b)
	a.Merge(nil)
	want := map[string]map[string][]map[string]any{
		"x://1": {"a/b": {{}, {"k": 1}}, "c/d": {{}}},
		"x://2": {"e/f": {{}}},
	}
	if !reflect.DeepEqual(a.Att, want) {
		t.Errorf("Merge: Att = %v, want %v", a.Att, want)
	}
	if !reflect.DeepEqual(a.Prf, []string{"p1", "p2"}) {
		t.Errorf("Merge: Prf = %q, want [p1 p2]", a.Prf)
	}
	a.AddAbility("x://2", "e", "f", map[string]any{"z": true})
	if got := b.EncodeURN(); got != bBefore {
		t.Errorf("Merge changed its argument: %s", recapTestJSON(t, got))
	}
}

func TestRecapGrants(t *testing.T) {
	mk := func(att map[string][]string) *Recap {
		r := NewRecap()
		for res, abs := range att {
			for _, ab := range abs {
				ns, name, _ := strings.Cut(ab, "/")
				r.AddAbility(res, ns, name, nil)
			}
		}
		return r
	}
	const id = "lit-pkp://7b8c787b0e5055300f13733856377c0b855c204ae32ed48dffddc1e059076f04"
	tests := []struct {
		name     string
		recap    *Recap
		resource string
		ability  string
		want     bool
	}{
		{"wildcard key, exact ability", mk(map[string][]string{"lit-pkp://*": {"Threshold/Signing"}}), id, "Threshold/Signing", true},
		{"exact key, exact ability", mk(map[string][]string{id: {"Threshold/Signing"}}), id, "Threshold/Signing", true},
		{"wildcard key, */*", mk(map[string][]string{"lit-pkp://*": {"*/*"}}), id, "Threshold/Signing", true},
		{"exact key, */*", mk(map[string][]string{id: {"*/*"}}), id, "Threshold/Signing", true},
		{"wildcard request on wildcard key", mk(map[string][]string{"lit-pkp://*": {"Threshold/Signing"}}), "lit-pkp://*", "Threshold/Signing", true},
		{"wrong ability", mk(map[string][]string{"lit-pkp://*": {"Threshold/Execution"}}), id, "Threshold/Signing", false},
		{"other id", mk(map[string][]string{"lit-pkp://abc": {"Threshold/Signing"}}), id, "Threshold/Signing", false},
		{"other prefix", mk(map[string][]string{"lit-litaction://*": {"*/*"}}), id, "Threshold/Signing", false},
		// The node picks the wildcard key when present and never falls back.
		{"wildcard key hides exact key", mk(map[string][]string{
			"lit-pkp://*": {"Threshold/Execution"},
			id:            {"Threshold/Signing"},
		}), id, "Threshold/Signing", false},
		{"partial ability */Signing is not a wildcard", mk(map[string][]string{"lit-pkp://*": {"*/Signing"}}), id, "Threshold/Signing", false},
		{"resource without ://", mk(map[string][]string{"weird": {"a/b"}}), "weird", "a/b", true},
		{"empty recap", NewRecap(), id, "Threshold/Signing", false},
		{"nil recap", nil, id, "Threshold/Signing", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.recap.Grants(tc.resource, tc.ability); got != tc.want {
				t.Errorf("Grants(%q, %q) = %v, want %v", tc.resource, tc.ability, got, tc.want)
			}
		})
	}
}

func TestAddRecapToSIWE(t *testing.T) {
	one := func(res, ns, name string, nb map[string]any) *Recap {
		r := NewRecap()
		r.AddAbility(res, ns, name, nb)
		return r
	}
	pkp := one("lit-pkp://*", "Threshold", "Signing", nil)
	la := one("lit-litaction://*", "Threshold", "Execution", nil)
	both := NewRecap()
	both.Merge(pkp)
	both.Merge(la)

	t.Run("no statement, no resources", func(t *testing.T) {
		m := &SIWEMessage{}
		AddRecapToSIWE(m, pkp)
		if m.Statement != pkp.Statement() || !reflect.DeepEqual(m.Resources, []string{pkp.EncodeURN()}) {
			t.Errorf("AddRecapToSIWE = %q, %q", m.Statement, m.Resources)
		}
	})
	t.Run("statement, other resources", func(t *testing.T) {
		m := &SIWEMessage{Statement: "Hello.", Resources: []string{"https://example.com"}}
		AddRecapToSIWE(m, pkp)
		if want := "Hello. " + pkp.Statement(); m.Statement != want {
			t.Errorf("Statement = %q, want %q", m.Statement, want)
		}
		if want := []string{"https://example.com", pkp.EncodeURN()}; !reflect.DeepEqual(m.Resources, want) {
			t.Errorf("Resources = %q, want %q", m.Resources, want)
		}
	})
	t.Run("merge into the last recap", func(t *testing.T) {
		m := &SIWEMessage{Statement: "Hello.", Resources: []string{"https://example.com"}}
		AddRecapToSIWE(m, pkp)
		laBefore := la.EncodeURN()
		AddRecapToSIWE(m, la)
		if want := "Hello. " + both.Statement(); m.Statement != want {
			t.Errorf("Statement = %q, want %q", m.Statement, want)
		}
		if want := []string{"https://example.com", both.EncodeURN()}; !reflect.DeepEqual(m.Resources, want) {
			t.Errorf("Resources = %q, want %q", m.Resources, want)
		}
		if la.EncodeURN() != laBefore {
			t.Errorf("AddRecapToSIWE changed its recap")
		}
	})
	t.Run("statement does not end with the last recap", func(t *testing.T) {
		m := &SIWEMessage{Statement: "Tampered.", Resources: []string{pkp.EncodeURN()}}
		AddRecapToSIWE(m, la)
		if want := "Tampered. " + la.Statement(); m.Statement != want {
			t.Errorf("Statement = %q, want %q", m.Statement, want)
		}
		if want := []string{pkp.EncodeURN(), la.EncodeURN()}; !reflect.DeepEqual(m.Resources, want) {
			t.Errorf("Resources = %q, want %q", m.Resources, want)
		}
	})
	t.Run("recap not last", func(t *testing.T) {
		m := &SIWEMessage{Statement: pkp.Statement(), Resources: []string{pkp.EncodeURN(), "https://x"}}
		AddRecapToSIWE(m, la)
		if len(m.Resources) != 3 || m.Resources[2] != la.EncodeURN() {
			t.Errorf("Resources = %q, want la appended", m.Resources)
		}
	})
	// JS merge: a list of only {} is replaced, not extended (siwe-recap merge).
	t.Run("repeated request keeps one {}", func(t *testing.T) {
		m := &SIWEMessage{Statement: "S"}
		AddRecapToSIWE(m, pkp)
		AddRecapToSIWE(m, pkp)
		if want := []string{pkp.EncodeURN()}; !reflect.DeepEqual(m.Resources, want) {
			t.Errorf("Resources = %s, want %s", recapTestJSON(t, m.Resources[0]), recapTestJSON(t, want[0]))
		}
	})
	t.Run("data then empty appends", func(t *testing.T) {
		m := &SIWEMessage{Statement: "S"}
		AddRecapToSIWE(m, one("lit-pkp://*", "Threshold", "Signing", map[string]any{"a": 1}))
		AddRecapToSIWE(m, pkp)
		want := `{"att":{"lit-pkp://*":{"Threshold/Signing":[{"a":1},{}]}},"prf":[]}`
		if got := recapTestJSON(t, m.Resources[0]); got != want {
			t.Errorf("recap = %s, want %s", got, want)
		}
	})
	t.Run("empty then data replaces", func(t *testing.T) {
		m := &SIWEMessage{Statement: "S"}
		AddRecapToSIWE(m, pkp)
		AddRecapToSIWE(m, one("lit-pkp://*", "Threshold", "Signing", map[string]any{"a": 1}))
		want := `{"att":{"lit-pkp://*":{"Threshold/Signing":[{"a":1}]}},"prf":[]}`
		if got := recapTestJSON(t, m.Resources[0]); got != want {
			t.Errorf("recap = %s, want %s", got, want)
		}
	})
}

// Adding requests one at a time, as the SDK's addRecapToSiweMessage does,
// gives the same message as adding RecapFromRequests of all of them.
func TestRecapAddRequestsOneByOne(t *testing.T) {
	reqs, err := ParseResourceShorthand("pkp-signing,lit-action-execution:QmX,pkp-signing,access-control-condition-signing:abcd/ef01,lit-payment-delegation:*")
	if err != nil {
		t.Fatal(err)
	}
	reqs[1].Data = map[string]any{"n": 1}
	all := &SIWEMessage{Statement: "Lit Protocol PKP session signature"}
	AddRecapToSIWE(all, RecapFromRequests(reqs))
	each := &SIWEMessage{Statement: "Lit Protocol PKP session signature"}
	for _, r := range reqs {
		AddRecapToSIWE(each, RecapFromRequests([]ResourceAbilityRequest{r}))
	}
	if all.Statement != each.Statement || !reflect.DeepEqual(all.Resources, each.Resources) {
		t.Errorf("all at once = %q %q\none by one = %q %q", all.Statement, all.Resources, each.Statement, each.Resources)
	}
}

func TestVerifyRecapStatements(t *testing.T) {
	v := authVectors(t)
	node, err := ParseSIWE(vstr(t, v, "nodeSignSessionKey", "nodeSiweMessage"))
	if err != nil {
		t.Fatal(err)
	}
	pkp := NewRecap()
	pkp.AddAbility("lit-pkp://*", "Threshold", "Signing", nil)
	la := NewRecap()
	la.AddAbility("lit-litaction://*", "Threshold", "Execution", nil)

	with := func(statement string, resources ...string) *SIWEMessage {
		m := *node
		m.Statement = statement
		m.Resources = resources
		return &m
	}
	tests := []struct {
		name    string
		m       *SIWEMessage
		n       int
		wantErr error
	}{
		{"node vector", node, 1, nil},
		{"no recaps", with("anything", "https://example.com"), 0, nil},
		{"statement without the recap", with("Lit Protocol PKP session signature", node.Resources...), 0, ErrStatementMismatch},
		{"tampered section", with(strings.Replace(node.Statement, "(4) 'Auth'", "(4) 'Auth '", 1), node.Resources...), 0, ErrStatementMismatch},
		{"trailing text", with(node.Statement+" ", node.Resources...), 0, ErrStatementMismatch},
		{"no statement", with("", node.Resources...), 0, ErrStatementMismatch},
		{"every recap is checked", with("x "+la.Statement(), pkp.EncodeURN(), la.EncodeURN()), 0, ErrStatementMismatch},
		{"same recap twice", with("x "+la.Statement(), la.EncodeURN(), "https://x", la.EncodeURN()), 2, nil},
		{"undecodable recap", with("x "+la.Statement(), la.EncodeURN(), recapTestURN(`{"prf":[],"att":{}}`)), 0, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := VerifyRecapStatements(tc.m)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("VerifyRecapStatements(%q) = %v, want %v", tc.m.Statement, err, tc.wantErr)
				}
				return
			}
			if err != nil || len(got) != tc.n {
				t.Errorf("VerifyRecapStatements(%q) = %d recaps, %v; want %d, nil", tc.m.Statement, len(got), err, tc.n)
			}
		})
	}
}

func TestRecapCompareUTF16(t *testing.T) {
	tests := []struct {
		a, b string
		want int // sign
	}{
		{"", "", 0},
		{"", "a", -1},
		{"a", "b", -1},
		{"B", "a", -1},
		{"ab", "a", 1},
		{"\U0001F600", "\uE000", -1}, // surrogate D83D < E000
		{"\uE000", "\U0001F600", 1},
		{"\U0001F600", "\U0001F601", -1},
		{"\U0001F600", "\U00010000", 1},
		{"\u00e9", "\U0001F600", -1},
	}
	for _, tc := range tests {
		got := compareUTF16(tc.a, tc.b)
		if (got < 0) != (tc.want < 0) || (got > 0) != (tc.want > 0) {
			t.Errorf("compareUTF16(%q, %q) = %d, want sign %d", tc.a, tc.b, got, tc.want)
		}
	}
}
