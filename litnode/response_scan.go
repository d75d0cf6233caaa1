package litnode

import (
	"slices"

	"github.com/litsignd/litsignd/internal/jsonscan"
)

// Fast paths for the two JSON layers of a successful pkpSign answer, the
// per-job hot path (docs/naga-wire.md §3, §7.4): the decrypted
// GenericResponse and its data, {success, signedData, signatureShare}.
// Like scanE2EEEnvelope, each accepts only input that encoding/json
// decodes to the same value (exact lower-case keys, each at most once,
// nothing unknown, values of the one expected shape, checked JSON where a
// value is passed over); for anything else ok is false and the caller
// decodes with encoding/json. FuzzScanPKPSignResponse holds them to that.

// scanGenericOK reads a successful GenericResponse:
// {"ok":true,"error":null,"errorObject":null,"data":{…}} with error and
// errorObject optional. It returns data (aliasing pt): one valid JSON
// object.
func scanGenericOK(pt []byte) (data []byte, ok bool) {
	s := jsonscan.Scanner{B: pt}
	var seen [4]bool
	ok = s.Object(func(key []byte) bool {
		i := -1
		switch string(key) {
		case "ok":
			i = 0
		case "error":
			i = 1
		case "errorObject":
			i = 2
		case "data":
			i = 3
		}
		if i < 0 || seen[i] {
			return false
		}
		seen[i] = true
		switch i {
		case 0:
			return s.Literal("true")
		case 1, 2:
			return s.Literal("null")
		}
		s.Space()
		if s.I >= len(s.B) || s.B[s.I] != '{' {
			return false
		}
		var valid bool
		data, valid = s.Value()
		return valid
	}) && seen[0] && seen[3]
	if !ok || !s.End() {
		return nil, false
	}
	return data, true
}

// scanPKPSignShare reads pkpSign's data, {"success":true,"signedData":…,
// "signatureShare":{"EcdsaSignedMessageShare":{…}}} (signedData optional
// and passed over), and returns the share's fields as encoding/json would
// decode them into ecdsaShareWire. The share fields are strings, each
// either plain or one JSON-encoded string (docs/naga-wire.md §7.4).
func scanPKPSignShare(data []byte) (w ecdsaShareWire, ok bool) {
	s := jsonscan.Scanner{B: data}
	var seenSuccess, seenSigned, seenShare bool
	ok = s.Object(func(key []byte) bool {
		switch string(key) {
		case "success":
			if seenSuccess {
				return false
			}
			seenSuccess = true
			return s.Literal("true")
		case "signedData":
			if seenSigned {
				return false
			}
			seenSigned = true
			_, valid := s.Value()
			return valid
		case "signatureShare":
			if seenShare {
				return false
			}
			seenShare = true
			var seenVariant bool
			return s.Object(func(key []byte) bool {
				if string(key) != ecdsaShareVariant || seenVariant {
					return false
				}
				seenVariant = true
				return scanShareFields(&s, &w)
			}) && seenVariant
		}
		return false
	}) && seenSuccess && seenShare
	if !ok || !s.End() {
		return ecdsaShareWire{}, false
	}
	return w, true
}

// scanShareFields reads the share object's string fields into w.
func scanShareFields(s *jsonscan.Scanner, w *ecdsaShareWire) bool {
	type field struct {
		key string
		dst *string
	}
	fields := [...]field{
		{"digest", &w.Digest}, {"result", &w.Result}, {"share_id", &w.ShareID}, {"peer_id", &w.PeerID},
		{"signature_share", &w.SignatureShare}, {"big_r", &w.BigR}, {"compressed_public_key", &w.CompressedPublicKey},
		{"public_key", &w.PublicKey}, {"sig_type", &w.SigType},
	}
	var seen [len(fields)]bool
	return s.Object(func(key []byte) bool {
		i := slices.IndexFunc(fields[:], func(f field) bool { return f.key == string(key) })
		if i < 0 || seen[i] {
			return false
		}
		seen[i] = true
		content, wrapped, ok := s.QuotedString()
		if !ok {
			return false
		}
		if wrapped {
			*fields[i].dst = `"` + string(content) + `"`
		} else {
			*fields[i].dst = string(content)
		}
		return true
	})
}
