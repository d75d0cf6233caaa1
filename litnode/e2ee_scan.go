package litnode

import "github.com/litsignd/litsignd/internal/jsonscan"

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
	s := jsonscan.Scanner{B: raw}
	var seenVersion, seenPayload bool
	ok = s.Object(func(key []byte) bool {
		switch string(key) {
		case "version":
			if seenVersion {
				return false
			}
			seenVersion = true
			version, ok = s.String()
			return ok
		case "payload":
			if seenPayload {
				return false
			}
			seenPayload = true
			var seen [4]bool
			return s.Object(func(key []byte) bool {
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
				*dst, ok = s.String()
				return ok
			}) && seen == [4]bool{true, true, true, true}
		}
		return false
	}) && seenVersion && seenPayload
	if !ok || !s.End() {
		return nil, nil, nil, nil, nil, false
	}
	return version, verificationKey, random, createdAt, ciphertext, true
}
