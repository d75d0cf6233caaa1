package litnode

import (
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A minimal valid message and a full one, built field by field so the
// rejection cases below can vary one line at a time.
const (
	siweTestAddr  = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
	siweTestNonce = "0xc3499b18b20f3f696e413a75c8130232d2afd38f29487e154a0ac37ad163ba37"
)

func siweTestLines(statement string, tail ...string) string {
	lines := []string{
		"localhost wants you to sign in with your Ethereum account:",
		siweTestAddr,
		"",
	}
	if statement != "" {
		lines = append(lines, statement)
	}
	lines = append(lines, "",
		"URI: lit:session:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
		"Version: 1",
		"Chain ID: 1",
		"Nonce: "+siweTestNonce,
		"Issued At: 2025-06-01T12:00:00.000Z",
	)
	return strings.Join(append(lines, tail...), "\n")
}

func TestParseSIWEVectors(t *testing.T) {
	v := authVectors(t)
	tests := []struct {
		name     string
		text     string
		issuedAt string
	}{
		{"client", vstr(t, v, "signSessionKeyRequest", "clientSiweMessage"), "2025-06-01T12:00:00.000Z"},
		{"captured request", vstr(t, v, "signSessionKeyRequest", "captured", "requestBody", "siweMessage"), "2025-06-01T12:00:00.000Z"},
		{"node", vstr(t, v, "nodeSignSessionKey", "nodeSiweMessage"), "2025-06-01T11:59:48Z"},
		{"delegation", vstr(t, v, "delegationAuthSig", "authSig", "signedMessage"), "2025-06-01T11:59:48Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseSIWE(tc.text)
			if err != nil {
				t.Fatalf("ParseSIWE(%q) = %v, want nil error", tc.text, err)
			}
			if got := m.String(); got != tc.text {
				t.Fatalf("ParseSIWE(…).String() =\n%s\nwant\n%s", got, tc.text)
			}
			want := SIWEMessage{
				Domain:         "localhost",
				Address:        vstr(t, v, "identities", "pkpEthAddress"),
				Statement:      m.Statement,
				URI:            vstr(t, v, "sessionKeyPair", "sessionKeyUri"),
				Version:        "1",
				ChainID:        1,
				Nonce:          vstr(t, v, "identities", "blockhashNonce"),
				IssuedAt:       tc.issuedAt,
				ExpirationTime: "2025-06-02T12:00:00.000Z",
				Resources:      m.Resources,
			}
			if !reflect.DeepEqual(*m, want) {
				t.Errorf("ParseSIWE(%s) = %+v, want %+v", tc.name, *m, want)
			}
			if !strings.HasPrefix(m.Statement, "Lit Protocol PKP session signature I further authorize") {
				t.Errorf("ParseSIWE(%s).Statement = %q", tc.name, m.Statement)
			}
			if urns := m.RecapURNs(); len(urns) != 1 || len(m.Resources) != 1 {
				t.Errorf("ParseSIWE(%s).RecapURNs() = %q, want the one resource", tc.name, urns)
			}
		})
	}
}

func TestParseSIWEFields(t *testing.T) {
	tests := []struct {
		name string
		text string
		want SIWEMessage
	}{
		{
			name: "no statement",
			text: siweTestLines(""),
			want: SIWEMessage{Domain: "localhost", Address: siweTestAddr, URI: "lit:session:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
				Version: "1", ChainID: 1, Nonce: siweTestNonce, IssuedAt: "2025-06-01T12:00:00.000Z"},
		},
		{
			name: "every optional field",
			text: siweTestLines("Some statement with 'quotes' (and) punctuation: ok.",
				"Expiration Time: 2025-06-02T12:00:00.000Z",
				"Not Before: 2025-06-01T11:00:00Z",
				"Request ID: req-1",
				"Resources:",
				"- https://example.com/a?b=c#d",
				"- urn:recap:eyJhdHQiOnt9LCJwcmYiOltdfQ",
				"- ipfs://Qm"),
			want: SIWEMessage{Domain: "localhost", Address: siweTestAddr, Statement: "Some statement with 'quotes' (and) punctuation: ok.",
				URI: "lit:session:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", Version: "1", ChainID: 1,
				Nonce: siweTestNonce, IssuedAt: "2025-06-01T12:00:00.000Z", ExpirationTime: "2025-06-02T12:00:00.000Z",
				NotBefore: "2025-06-01T11:00:00Z", RequestID: "req-1",
				Resources: []string{"https://example.com/a?b=c#d", "urn:recap:eyJhdHQiOnt9LCJwcmYiOltdfQ", "ipfs://Qm"}},
		},
		{
			name: "whitespace and unicode statement",
			text: siweTestLines(" Ünïcödé, \"quotes\" & 100% "),
			want: SIWEMessage{Domain: "localhost", Address: siweTestAddr, Statement: " Ünïcödé, \"quotes\" & 100% ",
				URI:     "lit:session:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
				Version: "1", ChainID: 1, Nonce: siweTestNonce, IssuedAt: "2025-06-01T12:00:00.000Z"},
		},
		{
			name: "domain with port and large chain id",
			text: strings.Replace(strings.Replace(siweTestLines(""), "localhost", "localhost:3000", 1), "Chain ID: 1", "Chain ID: 175188", 1),
			want: SIWEMessage{Domain: "localhost:3000", Address: siweTestAddr, URI: "lit:session:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
				Version: "1", ChainID: 175188, Nonce: siweTestNonce, IssuedAt: "2025-06-01T12:00:00.000Z"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSIWE(tc.text)
			if err != nil {
				t.Fatalf("ParseSIWE(%q) = %v, want nil error", tc.text, err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("ParseSIWE(%q) = %+v, want %+v", tc.text, *got, tc.want)
			}
			if s := got.String(); s != tc.text {
				t.Errorf("ParseSIWE(%q).String() = %q", tc.text, s)
			}
			if urns, want := got.RecapURNs(), 0; strings.Contains(tc.text, "urn:recap:") {
				if len(urns) != 1 || urns[0] != "urn:recap:eyJhdHQiOnt9LCJwcmYiOltdfQ" {
					t.Errorf("RecapURNs() = %q, want the one urn:recap resource", urns)
				}
			} else if len(urns) != want {
				t.Errorf("RecapURNs() = %q, want none", urns)
			}
		})
	}
}

func TestParseSIWERejects(t *testing.T) {
	valid := siweTestLines("A statement.", "Expiration Time: 2025-06-02T12:00:00.000Z", "Resources:", "- urn:recap:x")
	if _, err := ParseSIWE(valid); err != nil {
		t.Fatalf("ParseSIWE(%q) = %v, want the base case to parse", valid, err)
	}
	tests := []struct {
		name string
		text string
	}{
		{"empty", ""},
		{"lowercase address", strings.Replace(valid, siweTestAddr, strings.ToLower(siweTestAddr), 1)},
		{"uppercase address", strings.Replace(valid, siweTestAddr, "0x"+strings.ToUpper(siweTestAddr[2:]), 1)},
		{"bad checksum", strings.Replace(valid, siweTestAddr, "0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266", 1)},
		{"address without 0x", strings.Replace(valid, siweTestAddr, siweTestAddr[2:]+"00", 1)},
		{"short address", strings.Replace(valid, siweTestAddr, siweTestAddr[:41], 1)},
		{"trailing newline", valid + "\n"},
		{"CRLF line endings", strings.ReplaceAll(valid, "\n", "\r\n")},
		{"version 2", strings.Replace(valid, "Version: 1", "Version: 2", 1)},
		{"missing version", strings.Replace(valid, "Version: 1\n", "", 1)},
		{"chain id with leading zero", strings.Replace(valid, "Chain ID: 1", "Chain ID: 01", 1)},
		{"chain id overflow", strings.Replace(valid, "Chain ID: 1", "Chain ID: 99999999999999999999", 1)},
		{"short nonce", strings.Replace(valid, siweTestNonce, "0xabc", 1)},
		{"nonce with punctuation", strings.Replace(valid, siweTestNonce, siweTestNonce+"!", 1)},
		{"missing issued at", strings.Replace(valid, "Issued At: 2025-06-01T12:00:00.000Z\n", "", 1)},
		{"bad issued at", strings.Replace(valid, "2025-06-01T12:00:00.000Z", "2025-06-01 12:00:00", 1)},
		{"fields out of order", strings.Replace(valid, "Version: 1\nChain ID: 1", "Chain ID: 1\nVersion: 1", 1)},
		{"unknown line", strings.Replace(valid, "Resources:", "Foo: bar\nResources:", 1)},
		{"empty request id", strings.Replace(valid, "Resources:", "Request ID: \nResources:", 1)},
		{"resources without items", strings.TrimSuffix(valid, "\n- urn:recap:x")},
		{"resource without dash", strings.Replace(valid, "- urn:recap:x", "urn:recap:x", 1)},
		{"resource with space", strings.Replace(valid, "- urn:recap:x", "- urn:recap:x y", 1)},
		{"scheme before domain", "https://" + valid},
		{"domain with path", strings.Replace(valid, "localhost wants", "localhost/x wants", 1)},
		{"no domain", strings.Replace(valid, "localhost wants", " wants", 1)},
		{"missing blank line before statement", strings.Replace(valid, siweTestAddr+"\n\n", siweTestAddr+"\n", 1)},
		{"two statement lines", strings.Replace(valid, "A statement.", "A statement.\nSecond line.", 1)},
		{"uri with space", strings.Replace(valid, "URI: lit:session:", "URI: lit:session: ", 1)},
		{"invalid utf-8 in statement", strings.Replace(valid, "A statement.", "A \xff statement.", 1)},
		{"non-ASCII resource", strings.Replace(valid, "- urn:recap:x", "- urn:recap:x\u00e9", 1)},
		{"relative URI", strings.Replace(valid, "URI: lit:session:", "URI: session/", 1)},
		{"URI scheme starting with a digit", strings.Replace(valid, "URI: lit:session:", "URI: 1it:session:", 1)},
		{"relative resource", strings.Replace(valid, "- urn:recap:x", "- /a/b", 1)},
		{"empty resource", strings.Replace(valid, "- urn:recap:x", "- ", 1)},
		{"non-ASCII URI", strings.Replace(valid, "URI: lit:session:", "URI: lit:session:\u00e9", 1)},
		{"non-ASCII domain", strings.Replace(valid, "localhost wants", "l\u00f6calhost wants", 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSIWE(tc.text)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseSIWE(%q) = %+v, %v; want ErrMalformed", tc.text, got, err)
			}
		})
	}
}

// The client SIWE built from scratch, as createPKPSiweMessage and
// addRecapToSiweMessage build it, equals the SDK's bytes (docs/naga-auth.md §3.3).
func TestSIWEBuildClientVector(t *testing.T) {
	v := authVectors(t)
	pkp, err := ParsePKPPublicKey(vstr(t, v, "identities", "pkpPublicKey"))
	if err != nil {
		t.Fatal(err)
	}
	var reqs []ResourceAbilityRequest
	for i := range 3 {
		ab := vstr(t, v, "signSessionKeyRequest", "inputs", "shorthand", i, 0)
		id := vstr(t, v, "signSessionKeyRequest", "inputs", "shorthand", i, 1)
		r, err := ParseResourceShorthand(ab + ":" + id)
		if err != nil {
			t.Fatalf("ParseResourceShorthand(%q) = %v", ab+":"+id, err)
		}
		reqs = append(reqs, r...)
	}
	m := &SIWEMessage{
		Domain:         "localhost",
		Address:        pkp.Address().Hex(),
		Statement:      "Lit Protocol PKP session signature",
		URI:            "lit:session:" + vstr(t, v, "sessionKeyPair", "publicKey"),
		Version:        "1",
		ChainID:        1,
		Nonce:          vstr(t, v, "signSessionKeyRequest", "inputs", "nonce"),
		IssuedAt:       "2025-06-01T12:00:00.000Z",
		ExpirationTime: vstr(t, v, "signSessionKeyRequest", "inputs", "expiration"),
	}
	AddRecapToSIWE(m, RecapFromRequests(reqs))
	if got, want := m.String(), vstr(t, v, "signSessionKeyRequest", "clientSiweMessage"); got != want {
		t.Errorf("client SIWE =\n%s\nwant\n%s", got, want)
	}
}

func TestSIWEEIP191Hash(t *testing.T) {
	v := authVectors(t)
	msg := vstr(t, v, "nodeSignSessionKey", "nodeSiweMessage")
	h := EIP191Hash(msg)
	if got, want := hex.EncodeToString(h[:]), vstr(t, v, "nodeSignSessionKey", "eip191HashHex"); got != want {
		t.Errorf("EIP191Hash(node SIWE) = %s, want %s", got, want)
	}
	// keccak256("\x19Ethereum Signed Message:\n0") of the empty message.
	h = EIP191Hash("")
	if got, want := hex.EncodeToString(h[:]), "5f35dce98ba4fba25530a026ed80b2cecdaa31091ba4958b99b52ea1d068adad"; got != want {
		t.Errorf("EIP191Hash(\"\") = %s, want %s", got, want)
	}
}

func TestSIWETimes(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"2025-06-01T12:00:00.000Z", time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), false},
		{"2025-06-01T11:59:48Z", time.Date(2025, 6, 1, 11, 59, 48, 0, time.UTC), false},
		{"2025-06-01t11:59:48.5z", time.Date(2025, 6, 1, 11, 59, 48, 5e8, time.UTC), false},
		{"2025-06-01T13:59:48+02:00", time.Date(2025, 6, 1, 11, 59, 48, 0, time.UTC), false},
		{"2025-06-01 11:59:48Z", time.Time{}, true},
		{"2025-13-01T11:59:48Z", time.Time{}, true},
		{"yesterday", time.Time{}, true},
	}
	for _, tc := range tests {
		m := &SIWEMessage{IssuedAt: tc.in, ExpirationTime: tc.in, NotBefore: tc.in}
		got, err := m.IssuedAtTime()
		if (err != nil) != tc.wantErr || !got.Equal(tc.want) {
			t.Errorf("IssuedAtTime(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if tc.wantErr && !errors.Is(err, ErrMalformed) {
			t.Errorf("IssuedAtTime(%q) error = %v, want ErrMalformed", tc.in, err)
		}
		exp, ok, err := m.ExpirationTimeValue()
		if (err != nil) != tc.wantErr || ok == tc.wantErr || !exp.Equal(tc.want) {
			t.Errorf("ExpirationTimeValue(%q) = %v, %v, %v; want %v", tc.in, exp, ok, err, tc.want)
		}
		nbf, ok, err := m.NotBeforeValue()
		if (err != nil) != tc.wantErr || ok == tc.wantErr || !nbf.Equal(tc.want) {
			t.Errorf("NotBeforeValue(%q) = %v, %v, %v; want %v", tc.in, nbf, ok, err, tc.want)
		}
	}

	var empty SIWEMessage
	if _, err := empty.IssuedAtTime(); !errors.Is(err, ErrMalformed) {
		t.Errorf("IssuedAtTime() of an empty message = %v, want ErrMalformed", err)
	}
	if _, ok, err := empty.ExpirationTimeValue(); ok || err != nil {
		t.Errorf("ExpirationTimeValue() of an empty message = %v, %v; want false, nil", ok, err)
	}
	if _, ok, err := empty.NotBeforeValue(); ok || err != nil {
		t.Errorf("NotBeforeValue() of an empty message = %v, %v; want false, nil", ok, err)
	}
}

func TestSIWERecapURNs(t *testing.T) {
	m := &SIWEMessage{Resources: []string{"urn:recap:a", "https://x", "urn:recap:b", "urn:other"}}
	if got, want := m.RecapURNs(), []string{"urn:recap:a", "urn:recap:b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("RecapURNs() = %q, want %q", got, want)
	}
	if got := (&SIWEMessage{}).RecapURNs(); got != nil {
		t.Errorf("RecapURNs() of no resources = %q, want nil", got)
	}
}
