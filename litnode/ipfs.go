package litnode

import (
	"crypto/sha256"
	"fmt"
)

// IPFSChunkSize is the chunk size of `ipfs add`'s default chunker
// (size-262144). A file up to this size is a single UnixFS leaf.
const IPFSChunkSize = 256 << 10

// IPFSCIDv0 returns the CIDv0 ("Qm…") that `ipfs add --only-hash` gives for
// data with its defaults (CIDv0, UnixFS file, 256 KiB fixed-size chunker,
// balanced layout, no raw leaves). It is how a Lit node names a Lit Action
// whose code is sent inline (docs/naga-wire.md §8.1 `authSig`, docs/naga-auth.md §6 "Which
// resource is requested"), and what the SDK's getIpfsId computes.
//
// A file of at most IPFSChunkSize bytes is one dag-pb node without links
// whose Data is the UnixFS message {Type: File, Data: content, filesize:
// len}; the CID is base58btc(0x12 0x20 ‖ sha2-256(node)). Larger files are
// split into chunks under a balanced tree of link nodes, which this function
// does not build: it returns ErrIPFSTooLarge for them. Lit Actions are far
// below that size.
//
// Known answers: "" → QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH,
// "hello world\n" → QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o.
func IPFSCIDv0(data []byte) (string, error) {
	if len(data) > IPFSChunkSize {
		return "", fmt.Errorf("%w: %d bytes", ErrIPFSTooLarge, len(data))
	}
	// UnixFS Data message (unixfs.proto): Type = 1 (varint, File = 2),
	// Data = 2 (bytes, omitted when empty, as go-unixfs leaves it unset),
	// filesize = 3 (varint, always set for a file).
	unixfs := make([]byte, 0, len(data)+16)
	unixfs = protoVarintField(unixfs, 1, 2)
	if len(data) > 0 {
		unixfs = protoBytesField(unixfs, 2, data)
	}
	unixfs = protoVarintField(unixfs, 3, uint64(len(data)))
	// dag-pb PBNode: Links = 2 (none here), Data = 1. The canonical
	// encoding writes Links before Data; without links only Data remains.
	node := protoBytesField(make([]byte, 0, len(unixfs)+8), 1, unixfs)
	sum := sha256.Sum256(node)
	// Multihash: sha2-256 (0x12), 32 bytes (0x20), digest.
	mh := append([]byte{0x12, 0x20}, sum[:]...)
	return base58Encode(mh), nil
}

// protoVarintField appends a varint-typed protobuf field.
func protoVarintField(b []byte, field int, v uint64) []byte {
	b = protoUvarint(b, uint64(field)<<3|0)
	return protoUvarint(b, v)
}

// protoBytesField appends a length-delimited protobuf field.
func protoBytesField(b []byte, field int, v []byte) []byte {
	b = protoUvarint(b, uint64(field)<<3|2)
	b = protoUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func protoUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// base58Alphabet is the Bitcoin base58 alphabet (multibase base58btc).
const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// base58Encode encodes b in base58btc: each leading zero byte becomes '1',
// the rest is the big-endian number in base 58.
func base58Encode(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	// Base-58 digits, least significant first; log(256)/log(58) < 1.37.
	digits := make([]byte, 0, len(b)*137/100+1)
	for _, c := range b[zeros:] {
		carry := int(c)
		for i := range digits {
			carry += int(digits[i]) << 8
			digits[i] = byte(carry % 58)
			carry /= 58
		}
		for carry > 0 {
			digits = append(digits, byte(carry%58))
			carry /= 58
		}
	}
	out := make([]byte, 0, zeros+len(digits))
	for range zeros {
		out = append(out, '1')
	}
	for i := len(digits) - 1; i >= 0; i-- {
		out = append(out, base58Alphabet[digits[i]])
	}
	return string(out)
}
