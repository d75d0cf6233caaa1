// Package devnet runs a faithful local Lit network on loopback: a JSON-RPC
// chain endpoint and N Lit nodes with real cryptography, so that code which
// works against it works the same way against naga-dev, naga-test or naga.
// It is used by tests and by `litsignd dev`.
//
// The chain (Chain) is a minimal Ethereum JSON-RPC endpoint, an http.Handler
// to serve with httptest or net/http. It answers the calls a Lit client makes
// (docs/naga-wire.md §2.2, §2.3, §13): eth_chainId, net_version,
// eth_blockNumber, eth_getBlockByNumber, eth_getBlockByHash, eth_getCode and
// eth_call to the Staking views getActiveUnkickedValidatorStructsAndCounts
// and epoch and to PriceFeed.getNodesForRequest, ABI-encoded exactly as the
// Naga contracts encode them. Its state (validators, epoch, minNodeCount,
// blocks) is set by the caller and is safe for concurrent use.
//
// devnet binds only what its caller serves; it never dials out. It does not
// import package testing, so `litsignd dev` can link it.
package devnet
