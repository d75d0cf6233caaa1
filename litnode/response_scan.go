package litnode

import "github.com/litsignd/litsignd/internal/jsonscan"

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
	var seen [9]bool
	return s.Object(func(key []byte) bool {
		var dst *string
		var i int
		switch string(key) {
		case "digest":
			dst, i = &w.Digest, 0
		case "result":
			dst, i = &w.Result, 1
		case "share_id":
			dst, i = &w.ShareID, 2
		case "peer_id":
			dst, i = &w.PeerID, 3
		case "signature_share":
			dst, i = &w.SignatureShare, 4
		case "big_r":
			dst, i = &w.BigR, 5
		case "compressed_public_key":
			dst, i = &w.CompressedPublicKey, 6
		case "public_key":
			dst, i = &w.PublicKey, 7
		case "sig_type":
			dst, i = &w.SigType, 8
		default:
			return false
		}
		if seen[i] {
			return false
		}
		seen[i] = true
		content, wrapped, ok := s.QuotedString()
		if !ok {
			return false
		}
		if wrapped {
			*dst = `"` + string(content) + `"`
		} else {
			*dst = string(content)
		}
		return true
	})
}
