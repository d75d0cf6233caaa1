package delegationstore

import (
	"bytes"
	"strconv"
	"time"
)

// scanRecordIndex reads the index fields of a stored record without
// encoding/json: one pass over the bytes, no reflection, no allocation but
// the strings it keeps. It handles what encoding/json writes for a record;
// on anything else (an escape in a field it reads, a field of another type,
// malformed nesting) it returns ok false and the caller falls back to
// encoding/json, so it never accepts a record that json.Unmarshal would
// read differently. It does not validate the values it skips: the full
// decode on first use does (decodeRecord).
func scanRecordIndex(data []byte) (r recordIndex, ok bool) {
	s := recordScanner{b: data}
	if !s.object(func(key []byte) bool {
		switch string(key) {
		case "v":
			n, ok := s.integer()
			r.V = n
			return ok
		case "pkpPublicKey":
			v, ok := s.plainString()
			r.PKPPublicKey = v
			return ok
		case "sessionPublicKey":
			v, ok := s.plainString()
			r.SessionPublicKey = v
			return ok
		case "issuedAt", "expiration":
			v, ok := s.plainString()
			if !ok {
				return false
			}
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return false
			}
			if key[0] == 'i' {
				r.IssuedAt = t
			} else {
				r.Expiration = t
			}
			return true
		case "sealedSecret":
			return s.object(func(key []byte) bool {
				if string(key) == "kid" {
					v, ok := s.plainString()
					r.SealedSecret.KID = v
					return ok
				}
				return s.skip()
			})
		default:
			// encoding/json matches keys case-insensitively: a key that
			// differs from a wanted one only in case is not ours to skip.
			for _, k := range []string{"v", "pkpPublicKey", "sessionPublicKey", "issuedAt", "expiration", "sealedSecret"} {
				if bytes.EqualFold(key, []byte(k)) {
					return false
				}
			}
			return s.skip()
		}
	}) {
		return recordIndex{}, false
	}
	s.ws()
	return r, s.i == len(s.b)
}

type recordScanner struct {
	b []byte
	i int
}

func (s *recordScanner) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *recordScanner) eat(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// object reads {"key": value, …}, calling field after each key's colon; field
// must consume the value.
func (s *recordScanner) object(field func(key []byte) bool) bool {
	if !s.eat('{') {
		return false
	}
	if s.eat('}') {
		return true
	}
	for {
		s.ws()
		key, ok := s.rawString()
		if !ok || !s.eat(':') {
			return false
		}
		s.ws()
		if !field(key) {
			return false
		}
		if s.eat(',') {
			continue
		}
		return s.eat('}')
	}
}

// rawString reads a string without escapes and returns its bytes.
func (s *recordScanner) rawString() ([]byte, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	end := bytes.IndexByte(s.b[start:], '"')
	if end < 0 {
		return nil, false
	}
	v := s.b[start : start+end]
	if bytes.IndexByte(v, '\\') >= 0 {
		return nil, false
	}
	for _, c := range v {
		if c < 0x20 {
			return nil, false
		}
	}
	s.i = start + end + 1
	return v, true
}

func (s *recordScanner) plainString() (string, bool) {
	v, ok := s.rawString()
	return string(v), ok
}

func (s *recordScanner) integer() (int, bool) {
	start := s.i
	for s.i < len(s.b) && (s.b[s.i] == '-' || s.b[s.i] >= '0' && s.b[s.i] <= '9') {
		s.i++
	}
	n, err := strconv.Atoi(string(s.b[start:s.i]))
	return n, err == nil
}

// skip passes over one value of any type.
func (s *recordScanner) skip() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		for j := s.i + 1; j < len(s.b); j++ {
			switch s.b[j] {
			case '\\':
				j++
			case '"':
				s.i = j + 1
				return true
			}
		}
		return false
	case '{', '[':
		depth := 0
		for j := s.i; j < len(s.b); j++ {
			switch s.b[j] {
			case '"':
				s.i = j
				if !s.skip() {
					return false
				}
				j = s.i - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i = j + 1
					return true
				}
			}
		}
		return false
	default:
		start := s.i
		for s.i < len(s.b) && bytes.IndexByte([]byte(",}] \t\r\n"), s.b[s.i]) < 0 {
			s.i++
		}
		return s.i > start
	}
}
