// Package jsonscan reads the small subset of JSON that litsignd's hot
// paths decode without encoding/json: objects, strings without escapes,
// integers, and values skipped unread. A caller uses it as a fast path
// that accepts only input encoding/json would decode to the same value,
// and falls back to encoding/json on anything the scanner refuses.
package jsonscan

import (
	"bytes"
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
