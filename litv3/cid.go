package litv3

import (
	"math/big"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/litsignd/litsignd/litnode"
)

// CID is the name the service gives inline code: the IPFS CIDv0 of exactly
// these UTF-8 bytes (docs/lit-v3.md §3.2). It is what an operator adds to a
// group. Sources over 256 KiB (multi-chunk DAGs) are not supported.
func CID(code string) (string, error) { return litnode.IPFSCIDv0([]byte(code)) }

// CIDHash is the on-chain action id: keccak256 of the CID string
// (docs/lit-v3.md §3.2), as add_group's cid_hashes_permitted and list_actions
// use it.
func CIDHash(cid string) [32]byte { return crypto.Keccak256Hash([]byte(cid)) }

// CIDHashDecimal is CIDHash as a decimal uint256, as the 403 message prints
// it.
func CIDHashDecimal(cid string) string {
	h := CIDHash(cid)
	return new(big.Int).SetBytes(h[:]).String()
}
