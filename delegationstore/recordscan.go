package delegationstore

import (
	"bytes"
	"time"

	"github.com/litsignd/litsignd/internal/jsonscan"
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
	s := jsonscan.Scanner{B: data}
	if !s.Object(func(key []byte) bool {
		switch string(key) {
		case "v":
			n, ok := s.Integer()
			r.V = n
			return ok
		case "pkpPublicKey":
			v, ok := s.String()
			r.PKPPublicKey = string(v)
			return ok
		case "sessionPublicKey":
			v, ok := s.String()
			r.SessionPublicKey = string(v)
			return ok
		case "issuedAt", "expiration":
			v, ok := s.String()
			if !ok {
				return false
			}
			t, err := time.Parse(time.RFC3339, string(v))
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
			return s.Object(func(key []byte) bool {
				if string(key) == "kid" {
					v, ok := s.String()
					r.SealedSecret.KID = string(v)
					return ok
				}
				return s.Skip()
			})
		default:
			// encoding/json matches keys case-insensitively: a key that
			// differs from a wanted one only in case is not ours to skip.
			for _, k := range []string{"v", "pkpPublicKey", "sessionPublicKey", "issuedAt", "expiration", "sealedSecret"} {
				if bytes.EqualFold(key, []byte(k)) {
					return false
				}
			}
			return s.Skip()
		}
	}) {
		return recordIndex{}, false
	}
	return r, s.End()
}
