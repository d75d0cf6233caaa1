package jsonscan

import "testing"

// TestScanner: the scanner reads what its callers' fast paths rely on
// and refuses, rather than misreads, everything else.
func TestScanner(t *testing.T) {
	// A member of every kind, skipped values of every kind nested inside.
	s := Scanner{B: []byte(` { "a" : "x-1" , "n": -42, "skip": {"k":["\"}]",{"z":[1,2]}],"e":"\\"}, "t": true, "o": {} } `)}
	got := map[string]string{}
	ok := s.Object(func(key []byte) bool {
		switch string(key) {
		case "a":
			v, ok := s.String()
			got["a"] = string(v)
			return ok
		case "n":
			n, ok := s.Integer()
			if n != -42 {
				t.Errorf("n = %d", n)
			}
			return ok
		case "o":
			return s.Object(func([]byte) bool { return false })
		default:
			got[string(key)] = "skipped"
			return s.Skip()
		}
	})
	if !ok || !s.End() || got["a"] != "x-1" || got["skip"] != "skipped" || got["t"] != "skipped" {
		t.Fatalf("ok %v, end %v, members %v", ok, s.End(), got)
	}
	for _, in := range []string{`"a\"b"`, `"a\u0041"`, "\"tab\there\"", `"é"`, `"open`, `x`} {
		s := Scanner{B: []byte(in)}
		if v, ok := s.String(); ok {
			t.Errorf("String accepted %q as %q", in, v)
		}
	}
	for _, in := range []string{`{"a" "b"}`, `{"a":"b",}`, `{"a":"b"`, `{"a":"b"}}`, `[]`} {
		s := Scanner{B: []byte(in)}
		if s.Object(func([]byte) bool { _, ok := s.String(); return ok }) && s.End() {
			t.Errorf("Object accepted %s", in)
		}
	}
}
