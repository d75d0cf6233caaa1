package jsonscan

import (
	"strings"
	"testing"
)

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

// TestQuotedStringLiteralValue: a share field written as a JSON string
// inside a JSON string reads as its contents; the literals and checked
// values read exactly; anything they cannot read exactly is refused.
func TestQuotedStringLiteralValue(t *testing.T) {
	for in, want := range map[string]struct {
		content string
		wrapped bool
	}{
		`"ABC"`:       {"ABC", false},
		` "\"ABC\""`:  {"ABC", true},
		`"\"\""`:      {"", true},
		`"\" a b \""`: {" a b ", true},
	} {
		s := Scanner{B: []byte(in)}
		c, w, ok := s.QuotedString()
		if !ok || string(c) != want.content || w != want.wrapped || !s.End() {
			t.Errorf("QuotedString(%s) = %q, %v, %v; want %q, %v", in, c, w, ok, want.content, want.wrapped)
		}
	}
	for _, in := range []string{`"\"AB"`, `"\"A\"B\""`, `"\"A\\B\""`, `"\"A\"x"`, `"\"A\n\""`, `"\u0022A\""`, `"\"é\""`, `"\"A\"`} {
		s := Scanner{B: []byte(in)}
		if c, w, ok := s.QuotedString(); ok {
			t.Errorf("QuotedString accepted %s as %q (wrapped %v)", in, c, w)
		}
	}
	s := Scanner{B: []byte(` true,null`)}
	if !s.Literal("true") || !s.Eat(',') || s.Literal("true") || !s.Literal("null") || !s.End() {
		t.Errorf("Literal misread %q at %d", s.B, s.I)
	}
	for in, want := range map[string]bool{
		` [1, 2, {"a": "\"]"}]`: true, `{"a":1}`: true, `"x\u0041"`: true, `-1.5e3`: true,
		`[1,]`: false, `{"a"}`: false, `"\q"`: false, `01`: false, `tru`: false, `[1 2]`: false,
	} {
		s := Scanner{B: []byte(in)}
		v, ok := s.Value()
		if ok != want || ok && string(v) != strings.TrimSpace(in) {
			t.Errorf("Value(%s) = %q, %v; want ok %v", in, v, ok, want)
		}
	}
}
