package consumer

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// plainJSONString accepts only strings that encoding/json decodes to the
// bytes between the quotes: an escape, a control character, a quote or
// invalid UTF-8 sends the value to encoding/json.
func TestPlainJSONString(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want bool
	}{
		{`"hello"`, true},
		{`""`, true},
		{`"héllo ✓"`, true},
		{`"a\"b"`, false},
		{`"a\\b"`, false},
		{`"\u0041"`, false},
		{"\"a\tb\"", false},
		{"\"a\x00b\"", false},
		{"\"\xff\"", false},
		{"\"\xed\xa0\x80\"", false}, // a surrogate encoded in UTF-8 is invalid
		{`"abc`, false},
		{`abc"`, false},
		{`"`, false},
		{`null`, false},
		{`12`, false},
	} {
		s, ok := plainJSONString([]byte(tc.raw))
		if ok != tc.want {
			t.Errorf("plainJSONString(%q) ok = %v, want %v", tc.raw, ok, tc.want)
			continue
		}
		var std string
		if ok && (json.Unmarshal([]byte(tc.raw), &std) != nil || std != s) {
			t.Errorf("plainJSONString(%q) = %q; encoding/json gives %q", tc.raw, s, std)
		}
	}
}

func FuzzPlainJSONString(f *testing.F) {
	for _, s := range []string{`"hello"`, `"a\"b"`, "\"\xff\"", `"✓"`, `""`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, ok := plainJSONString(raw)
		if !ok {
			return
		}
		var std string
		if err := json.Unmarshal(raw, &std); err != nil || std != s {
			t.Fatalf("plainJSONString(%q) = %q; encoding/json gives %q, %v", raw, s, std, err)
		}
	})
}

// FuzzFillPlainStrings: for every body that passes the envelope checks,
// the fast fill of a pkp-sign body gives the strict decoder's value, and
// it declines what it cannot decide.
func FuzzFillPlainStrings(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","pkpPublicKey":"0x04ab","toSign":"hi"}`,
		`{"id":"a","toSignHex":"0x00","chain":null,"replyTo":"r.x"}`,
		`{"id":"a\u0041","toSign":"x"}`,
		`{"id":"a","toSign":5}`,
		`{"ID":"a"}`,
		`{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		env := scanEnvelope(body)
		if env.syntax != "" || env.trailing || env.dup != "" || env.depth+1 > maxJobDepth {
			return
		}
		for _, name := range env.order {
			want, known := pkpSignSchema[name]
			raw := env.fields[name]
			if !known || (string(raw) != "null" && (want != 's' || raw[0] != '"' || !validJSONText(raw))) {
				return // refused before the decode
			}
		}
		var fast jobWire
		if !fillPlainStrings(&fast, env) {
			if fast != (jobWire{}) {
				t.Fatalf("declined but set %+v", fast)
			}
			return
		}
		var strict jobWire
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&strict); err != nil {
			t.Fatalf("fast fill accepted %q, which the strict decoder refuses: %v", body, err)
		}
		if !reflect.DeepEqual(fast, strict) {
			t.Fatalf("fast fill of %q = %+v; strict decoder %+v", body, fast, strict)
		}
	})
}
