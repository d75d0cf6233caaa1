package litnode

import (
	"bytes"
	"errors"
	"math/big"
	"strings"
	"testing"
)

func TestIPFSCIDv0KnownAnswers(t *testing.T) {
	for _, tc := range []struct {
		data string
		want string
	}{
		{"", "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"},
		{"hello world\n", "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"},
		{"hello world", "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"},
	} {
		got, err := IPFSCIDv0([]byte(tc.data))
		if err != nil {
			t.Fatalf("%q: %v", tc.data, err)
		}
		if got != tc.want {
			t.Errorf("IPFSCIDv0(%q) = %s, want %s", tc.data, got, tc.want)
		}
	}
}

func TestIPFSCIDv0Sizes(t *testing.T) {
	// The largest single chunk works (its varints take 3 bytes); one byte
	// more is refused.
	full := bytes.Repeat([]byte{'a'}, IPFSChunkSize)
	cid, err := IPFSCIDv0(full)
	if err != nil || len(cid) != 46 || !strings.HasPrefix(cid, "Qm") {
		t.Fatalf("256 KiB: %q %v", cid, err)
	}
	if _, err := IPFSCIDv0(append(full, 'a')); !errors.Is(err, ErrIPFSTooLarge) {
		t.Fatalf("256 KiB + 1: %v", err)
	}
	// Different content, different CID.
	a, _ := IPFSCIDv0([]byte("Lit.Actions.setResponse({response: 'a'})"))
	b, _ := IPFSCIDv0([]byte("Lit.Actions.setResponse({response: 'b'})"))
	if a == b {
		t.Fatal("same CID for different code")
	}
}

func TestIPFSBase58Encode(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want string
	}{
		{nil, ""},
		{[]byte{0}, "1"},
		{[]byte{0, 0, 1}, "112"},
		{[]byte{57}, "z"},
		{[]byte{58}, "21"},
		{[]byte("hello world"), "StV1DL6CwTryKyV"},
	} {
		if got := base58Encode(tc.in); got != tc.want {
			t.Errorf("base58(%x) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Cross-check against math/big on a multihash-sized input.
	in := make([]byte, 34)
	for i := range in {
		in[i] = byte(i*37 + 11)
	}
	n := new(big.Int).SetBytes(in)
	var ref []byte
	for n.Sign() > 0 {
		m := new(big.Int)
		n.DivMod(n, big.NewInt(58), m)
		ref = append([]byte{base58Alphabet[m.Int64()]}, ref...)
	}
	if got := base58Encode(in); got != string(ref) {
		t.Fatalf("base58 %s, want %s", got, ref)
	}
}
