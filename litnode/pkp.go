package litnode

import (
	"encoding/hex"
	"fmt"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// PKPPublicKey is a PKP's uncompressed secp256k1 public key (65 bytes,
// 0x04‖X‖Y). Its zero value is invalid; use ParsePKPPublicKey.
type PKPPublicKey [65]byte

// ParsePKPPublicKey parses a PKP public key written as hex, with or without
// 0x, in either case. The key must be an uncompressed point on secp256k1.
func ParsePKPPublicKey(s string) (PKPPublicKey, error) {
	var k PKPPublicKey
	h := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
	if len(h) != 130 {
		return k, fmt.Errorf("%w: PKP public key must be 65 bytes (130 hex digits), got %d hex digits", ErrMalformed, len(h))
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return k, fmt.Errorf("%w: PKP public key is not hex", ErrMalformed)
	}
	if b[0] != 0x04 {
		return k, fmt.Errorf("%w: PKP public key must be uncompressed (0x04 prefix)", ErrMalformed)
	}
	// decred's field arithmetic: the same checks as crypto.UnmarshalPubkey
	// (coordinates below p, the point on the curve) at a fraction of the
	// cost of its math/big ones.
	if _, err := secp256k1.ParsePubKey(b); err != nil {
		return k, fmt.Errorf("%w: PKP public key is not a point on secp256k1", ErrMalformed)
	}
	copy(k[:], b)
	return k, nil
}

// Hex returns the normalised form "0x04" + 128 lowercase hex digits. It is
// the key litsignd stores delegations under.
func (k PKPPublicKey) Hex() string { return "0x" + hex.EncodeToString(k[:]) }

// String returns Hex.
func (k PKPPublicKey) String() string { return k.Hex() }

// Address returns the PKP's Ethereum address (keccak256 of X‖Y).
func (k PKPPublicKey) Address() common.Address {
	return common.BytesToAddress(crypto.Keccak256(k[1:])[12:])
}

// TokenID returns the PKP's token id as Lit nodes write it: lowercase hex of
// keccak256 of the 65-byte key, without 0x (docs/naga-auth.md §3.1).
func (k PKPPublicKey) TokenID() string { return hex.EncodeToString(crypto.Keccak256(k[:])) }

// ResourceKey returns the ReCap resource key "lit-pkp://<token id>".
func (k PKPPublicKey) ResourceKey() string { return "lit-pkp://" + k.TokenID() }

// IsZero reports whether k is the zero value.
func (k PKPPublicKey) IsZero() bool { return k[0] == 0 }

// MarshalText implements encoding.TextMarshaler.
func (k PKPPublicKey) MarshalText() ([]byte, error) { return []byte(k.Hex()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *PKPPublicKey) UnmarshalText(b []byte) error {
	p, err := ParsePKPPublicKey(string(b))
	if err != nil {
		return err
	}
	*k = p
	return nil
}
