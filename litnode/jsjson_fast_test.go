package litnode

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// appendJSStringRef is the byte-at-a-time form of appendJSString that the
// run-copying one replaced; both must write the same bytes.
func appendJSStringRef(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"':
				b = append(b, '\\', '"')
			case c == '\\':
				b = append(b, '\\', '\\')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, fmt.Sprintf(`\u%04x`, c)...)
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

func TestAppendJSStringMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "Z", "0", " ", "\"", "\\", "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f", "<", "&", "é", "€", "😀", "\u2028", "\xff", "\xe2\x82", "\xc3"}
	cases := []string{"", "plain", "\xff", "end\\", "\"", "😀\xf0\x9f"}
	for range 5000 {
		var s []byte
		for range r.IntN(40) {
			s = append(s, alphabet[r.IntN(len(alphabet))]...)
		}
		cases = append(cases, string(s))
	}
	for _, s := range cases {
		want := appendJSStringRef([]byte("x"), s)
		if got := appendJSString([]byte("x"), s); string(got) != string(want) {
			t.Fatalf("appendJSString(%q) = %q, want %q", s, got, want)
		}
	}
}
