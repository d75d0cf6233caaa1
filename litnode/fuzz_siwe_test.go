package litnode

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseSIWE checks that ParseSIWE never panics, that every rejection
// wraps ErrMalformed, and that whatever parses re-renders to the identical
// text and parses again to the same message.
func FuzzParseSIWE(f *testing.F) {
	v := authVectors(f)
	for _, path := range [][]any{
		{"signSessionKeyRequest", "clientSiweMessage"},
		{"nodeSignSessionKey", "nodeSiweMessage"},
		{"delegationAuthSig", "authSig", "signedMessage"},
	} {
		f.Add(vstr(f, v, path...))
	}
	f.Add(siweTestLines(""))
	f.Add(siweTestLines("A statement.", "Expiration Time: 2025-06-02T12:00:00.000Z", "Not Before: 2025-06-01T11:00:00Z",
		"Request ID: req-1", "Resources:", "- https://example.com/a?b=c#d", "- urn:recap:eyJhdHQiOnt9LCJwcmYiOltdfQ"))
	f.Add(strings.ToLower(siweTestLines("")))
	f.Fuzz(func(t *testing.T, text string) {
		m, err := ParseSIWE(text)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseSIWE(%q) = %v, want ErrMalformed", text, err)
			}
			return
		}
		if got := m.String(); got != text {
			t.Fatalf("ParseSIWE(%q).String() = %q", text, got)
		}
		again, err := ParseSIWE(m.String())
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("ParseSIWE(String()) = %+v, %v; want %+v", again, err, m)
		}
		// These must not panic on anything that parsed.
		_, _ = m.IssuedAtTime()
		_, _, _ = m.ExpirationTimeValue()
		_, _, _ = m.NotBeforeValue()
		_, _ = VerifyRecapStatements(m)
		EIP191Hash(text)
	})
}

// FuzzDecodeRecapURN checks that DecodeRecapURN never panics, that every
// rejection wraps ErrMalformed, and that whatever decodes re-encodes to the
// identical URN.
func FuzzDecodeRecapURN(f *testing.F) {
	v := authVectors(f)
	for _, path := range [][]any{
		{"signSessionKeyRequest", "clientSiweMessage"},
		{"nodeSignSessionKey", "nodeSiweMessage"},
	} {
		m, err := ParseSIWE(vstr(f, v, path...))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(m.Resources[0])
	}
	for _, s := range []string{
		`{"att":{},"prf":[]}`,
		`{"att":{"x://1":{"a/b":[{"a":[1,2.5,-3,true,false,null,"s",{"b":{}}],"z":"<>&"},{}]}},"prf":["bafy"]}`,
		`{"att":{"x://1":{"a/b":[{"n":1e+21,"m":1e-7}]}},"prf":[]}`,
		`{"prf":[],"att":{}}`,
		"{\"att\":{\"x://1\":{\"a/b\":[{\"\U0001F600\":1,\"\uE000\":\"\\u0000\"}]}},\"prf\":[]}",
	} {
		f.Add(recapTestURN(s))
	}
	f.Add("urn:recap:e30=")
	f.Fuzz(func(t *testing.T, urn string) {
		r, err := DecodeRecapURN(urn)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeRecapURN(%q) = %v, want ErrMalformed", urn, err)
			}
			return
		}
		if got := r.EncodeURN(); got != urn {
			t.Fatalf("DecodeRecapURN(%q).EncodeURN() = %q", urn, got)
		}
		// These must not panic on anything that decoded.
		st := r.Statement()
		if !strings.HasPrefix(st, recapStatementPrefix) {
			t.Fatalf("Statement() = %q", st)
		}
		for res, abs := range r.Att {
			prefix, _, ok := strings.Cut(res, "://")
			_, hasWild := r.Att[prefix+"://*"]
			for ab := range abs {
				// A wildcard key without the ability hides the exact key
				// (node semantics), so only these lookups must succeed.
				if got := r.Grants(res, ab); !got && (!ok || !hasWild || prefix+"://*" == res) {
					t.Fatalf("Grants(%q, %q) = false for a listed ability", res, ab)
				}
			}
		}
		RequestsFromRecap(r)
		m := &SIWEMessage{Statement: "S", Resources: []string{urn}}
		if _, err := VerifyRecapStatements(m); !errors.Is(err, ErrStatementMismatch) {
			t.Fatalf("VerifyRecapStatements(no recap statement) = %v, want ErrStatementMismatch", err)
		}
		AddRecapToSIWE(m, r)
		if _, err := VerifyRecapStatements(m); err != nil {
			t.Fatalf("VerifyRecapStatements(after AddRecapToSIWE) = %v", err)
		}
	})
}
