package litnode

// scanE2EEEnvelope is a fast path for the JSON of a response envelope
// {"version":"…","payload":{"verification_key":"…","random":"…",
// "created_at":"…","ciphertext_and_tag":"…"}}, the shape every node answer
// of the encrypted endpoints has (docs/naga-wire.md §5.2). It accepts only
// input that json.Unmarshal into E2EEEnvelope decodes to the same value:
// exactly those keys (any order, each once, lower case as written), string
// values of printable ASCII without escapes, and JSON whitespace. For
// anything else ok is false and the caller uses encoding/json. The
// returned slices alias raw.
func scanE2EEEnvelope(raw []byte) (version, verificationKey, random, createdAt, ciphertext []byte, ok bool) {
	s := jsonScanner{b: raw}
	var seenVersion, seenPayload bool
	ok = s.object(func(key []byte) bool {
		switch string(key) {
		case "version":
			if seenVersion {
				return false
			}
			seenVersion = true
			version, ok = s.str()
			return ok
		case "payload":
			if seenPayload {
				return false
			}
			seenPayload = true
			var seen [4]bool
			return s.object(func(key []byte) bool {
				var dst *[]byte
				var i int
				switch string(key) {
				case "verification_key":
					dst, i = &verificationKey, 0
				case "random":
					dst, i = &random, 1
				case "created_at":
					dst, i = &createdAt, 2
				case "ciphertext_and_tag":
					dst, i = &ciphertext, 3
				default:
					return false
				}
				if seen[i] {
					return false
				}
				seen[i] = true
				*dst, ok = s.str()
				return ok
			}) && seen == [4]bool{true, true, true, true}
		}
		return false
	}) && seenVersion && seenPayload
	s.space()
	if !ok || s.i != len(s.b) {
		return nil, nil, nil, nil, nil, false
	}
	return version, verificationKey, random, createdAt, ciphertext, true
}

// jsonScanner reads the small subset of JSON scanE2EEEnvelope accepts.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) next(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes and returns its
// contents.
func (s *jsonScanner) str() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	start := s.i
	for ; s.i < len(s.b); s.i++ {
		c := s.b[s.i]
		if c == '"' {
			out := s.b[start:s.i]
			s.i++
			return out, true
		}
		if c < 0x20 || c > 0x7e || c == '\\' {
			return nil, false
		}
	}
	return nil, false
}

// object reads {"key": value, …}, calling member for each key with the
// scanner at the value; member reads the value or returns false.
func (s *jsonScanner) object(member func(key []byte) bool) bool {
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	for {
		key, ok := s.str()
		if !ok || !s.next(':') || !member(key) {
			return false
		}
		if s.next('}') {
			return true
		}
		if !s.next(',') {
			return false
		}
	}
}
