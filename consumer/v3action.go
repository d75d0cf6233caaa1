package consumer

import (
	_ "embed"
	"sync"

	"github.com/litsignd/litsignd/litnode"
)

// v3SignAction is litsignd's canonical Lit v3 signing action: pkp-sign jobs
// on v3 run exactly these bytes, so its CID is fixed per release and the
// operator adds it to the usage key's group once.
//
//go:embed v3sign.js
var v3SignAction string

// V3SignAction returns the source of litsignd's v3 signing action.
func V3SignAction() string { return v3SignAction }

var v3SignCID = sync.OnceValue(func() string {
	cid, err := litnode.IPFSCIDv0([]byte(v3SignAction))
	if err != nil {
		panic("v3 signing action CID: " + err.Error()) // embedded, fixed bytes
	}
	return cid
})

// V3SignActionCID returns the IPFS CIDv0 of V3SignAction, as the service
// computes it (docs/lit-v3.md §3.2).
func V3SignActionCID() string { return v3SignCID() }
