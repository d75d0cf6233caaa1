// Package jsonscan reads the small subset of JSON that litsignd's hot
// paths decode without encoding/json: objects, strings without escapes
// (and strings that are one quoted string), integers, the literals, values
// skipped unread and values passed over checked. A caller uses it as a fast path
// that accepts only input encoding/json would decode to the same value,
// and falls back to encoding/json on anything the scanner refuses.
package jsonscan

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Scanner reads JSON from B, starting at I.
type Scanner struct {
	B []byte
	I int
}

// Space skips JSON whitespace.
func (s *Scanner) Space() {
	for s.I < len(s.B) {
		switch s.B[s.I] {
		case ' ', '\t', '\n', '\r':
			s.I++
		default:
			return
		}
	}
}

// Eat skips whitespace and then c, reporting whether c was there.
func (s *Scanner) Eat(c byte) bool {
	s.Space()
	if s.I < len(s.B) && s.B[s.I] == c {
		s.I++
		return true
	}
	return false
}

// End reports whether only whitespace is left.
func (s *Scanner) End() bool {
	s.Space()
	return s.I == len(s.B)
}

// String reads a string of printable ASCII without escapes and returns its
// contents (aliasing B). Anything else (an escape, a control character, a
// byte above 0x7e, whose UTF-8 encoding/json might rewrite) is refused.
func (s *Scanner) String() ([]byte, bool) {
	if !s.Eat('"') {
		return nil, false
	}
	start := s.I
	for ; s.I < len(s.B); s.I++ {
		c := s.B[s.I]
		if c == '"' {
			out := s.B[start:s.I]
			s.I++
			return out, true
		}
		if c < 0x20 || c > 0x7e || c == '\\' {
			return nil, false
		}
	}
	return nil, false
}

// Integer reads a decimal integer.
func (s *Scanner) Integer() (int, bool) {
	s.Space()
	start := s.I
	for s.I < len(s.B) && (s.B[s.I] == '-' || s.B[s.I] >= '0' && s.B[s.I] <= '9') {
		s.I++
	}
	n, err := strconv.Atoi(string(s.B[start:s.I]))
	return n, err == nil
}

// Object reads {"key": value, …}, calling member for each key with the
// scanner at the value; member must read the value (or Skip it) or return
// false.
func (s *Scanner) Object(member func(key []byte) bool) bool {
	if !s.Eat('{') {
		return false
	}
	if s.Eat('}') {
		return true
	}
	for {
		key, ok := s.String()
		if !ok || !s.Eat(':') || !member(key) {
			return false
		}
		if s.Eat('}') {
			return true
		}
		if !s.Eat(',') {
			return false
		}
	}
}

// Skip passes over one value of any type without checking it.
func (s *Scanner) Skip() bool {
	s.Space()
	if s.I >= len(s.B) {
		return false
	}
	switch s.B[s.I] {
	case '"':
		for j := s.I + 1; j < len(s.B); j++ {
			switch s.B[j] {
			case '\\':
				j++
			case '"':
				s.I = j + 1
				return true
			}
		}
		return false
	case '{', '[':
		depth := 0
		for j := s.I; j < len(s.B); j++ {
			switch s.B[j] {
			case '"':
				s.I = j
				if !s.Skip() {
					return false
				}
				j = s.I - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.I = j + 1
					return true
				}
			}
		}
		return false
	default:
		start := s.I
		for s.I < len(s.B) && bytes.IndexByte([]byte(",}] \t\r\n"), s.B[s.I]) < 0 {
			s.I++
		}
		return s.I > start
	}
}

// Literal reads the literal lit (true, false or null) after whitespace.
// What follows it is the caller's to check (a ',' or a closing bracket).
func (s *Scanner) Literal(lit string) bool {
	s.Space()
	if bytes.HasPrefix(s.B[s.I:], []byte(lit)) {
		s.I += len(lit)
		return true
	}
	return false
}

// QuotedString reads a string that is either printable ASCII without
// escapes, like String, or exactly one such string in escaped quotes, as
// "\"ABC\"" (a JSON-encoded string inside a JSON string). It returns
// the contents between the quotes (aliasing B) and whether they were
// wrapped in escaped quotes: the decoded value is `"` + content + `"` then.
// Any other escape, and a quote or backslash inside the wrapped contents,
// is refused.
func (s *Scanner) QuotedString() (content []byte, wrapped, ok bool) {
	save := s.I
	if content, ok = s.String(); ok {
		return content, false, true
	}
	s.I = save
	if !s.Eat('"') || !bytes.HasPrefix(s.B[s.I:], []byte(`\"`)) {
		return nil, false, false
	}
	s.I += 2
	start := s.I
	for ; s.I < len(s.B); s.I++ {
		c := s.B[s.I]
		if c == '\\' {
			if !bytes.HasPrefix(s.B[s.I:], []byte(`\""`)) {
				return nil, false, false
			}
			content = s.B[start:s.I]
			s.I += 3
			return content, true, true
		}
		if c < 0x20 || c > 0x7e || c == '"' {
			return nil, false, false
		}
	}
	return nil, false, false
}

// Value passes over one value and returns its bytes (aliasing B) if they
// are one valid JSON value, as encoding/json checks it; anything else is
// refused.
func (s *Scanner) Value() ([]byte, bool) {
	s.Space()
	start := s.I
	if !s.Skip() {
		return nil, false
	}
	v := s.B[start:s.I]
	return v, json.Valid(v)
}
