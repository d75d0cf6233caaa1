package litnode

import (
	"fmt"

	"github.com/ethereum/go-ethereum/common"
)

// Product is a PriceFeed product id as the v8 SDK numbers them
// (docs/naga-wire.md §10.1). It is the column index of the prices that
// PriceFeed.getNodesForRequest returns.
type Product int

// Product ids (docs/naga-wire.md §10.1, the SDK's pricing-manager constants). The
// node and the Solidity enum order the columns differently (docs/naga-wire.md §14,
// open question 1); these are the ids the SDK sends and reads.
const (
	ProductDecryption     Product = 0 // DECRYPTION: encryption sign
	ProductSign           Product = 1 // SIGN: pkpSign
	ProductLitAction      Product = 2 // LIT_ACTION: executeJs
	ProductSignSessionKey Product = 3 // SIGN_SESSION_KEY: sign_session_key
)

// AllProducts returns the four product ids in order, the list the SDK passes
// to getNodesForRequest (docs/naga-wire.md §2.3).
func AllProducts() []Product {
	return []Product{ProductDecryption, ProductSign, ProductLitAction, ProductSignSessionKey}
}

// String returns the SDK's name of the product.
func (p Product) String() string {
	switch p {
	case ProductDecryption:
		return "DECRYPTION"
	case ProductSign:
		return "SIGN"
	case ProductLitAction:
		return "LIT_ACTION"
	case ProductSignSessionKey:
		return "SIGN_SESSION_KEY"
	}
	return fmt.Sprintf("Product(%d)", int(p))
}

// Names of the preset networks (docs/naga-wire.md §2.1).
const (
	NetworkNagaDev  = "naga-dev"
	NetworkNagaTest = "naga-test"
	NetworkNaga     = "naga" // mainnet (the SDK's nagaMainnet)
	NetworkCustom   = "custom"
)

// NetworkConfig says where a Lit network lives: its chain, its contracts and
// how to reach and trust its nodes. Use Preset for the public networks; build
// one by hand (Name "custom") for a local network.
type NetworkConfig struct {
	// Name is the network id: "naga-dev", "naga-test", "naga" or "custom".
	Name string
	// ChainID is the EVM chain id of the chain holding the contracts
	// (175188 Chronicle Yellowstone, 175200 Lit Chain). DialChain checks
	// the RPC endpoint against it unless it is 0.
	ChainID int64
	// RPCURL is the chain's JSON-RPC endpoint.
	RPCURL string
	// StakingAddress is the Staking contract (validator set, epoch).
	StakingAddress common.Address
	// PriceFeedAddress is the PriceFeed contract (node prices).
	PriceFeedAddress common.Address
	// RealmID is the staking realm. 0 means 1, the only realm the SDK uses
	// (docs/naga-wire.md §2.2).
	RealmID int64
	// HTTPProtocol is prepended to "ip:port" to form node URLs: "https://"
	// on real networks, "http://" on a local one (docs/naga-wire.md §2.2). Empty
	// means "https://".
	HTTPProtocol string
	// RequireAttestation says whether the SDK requires SEV-SNP attestation
	// in the handshake (docs/naga-wire.md §2.1, §4.4).
	RequireAttestation bool
	// MinimumThreshold is the SDK's floor on the signing threshold, 3 on
	// every Naga network (docs/naga-wire.md §2.1, §4.3).
	MinimumThreshold int
	// SDKVersionHeader is the X-Lit-SDK-Version value, "<sdkVersion>-<network>"
	// (docs/naga-wire.md §3).
	SDKVersionHeader string
	// StaticNodes, when non-empty, replaces on-chain discovery: these node
	// URLs are used as they are. ChainReader itself ignores the field.
	StaticNodes []string
}

// sdkVersion is the v8 SDK version the SDK reports (docs/naga-wire.md §0, §3).
const sdkVersion = "8.0.0"

// Chain RPC endpoints (docs/naga-wire.md §2.1), without the trailing slash the SDK
// env files carry: @lit-protocol/contracts writes config.rpcUrl without one.
const (
	yellowstoneRPCURL = "https://yellowstone-rpc.litprotocol.com"
	litChainRPCURL    = "https://lit-chain-rpc.litprotocol.com"
)

// Preset returns the configuration of a public Naga network: "naga-dev",
// "naga-test" or "naga" (docs/naga-wire.md §2.1, addresses from
// @lit-protocol/contracts 0.9.1). Addresses change when a network is
// redeployed, so callers should let configuration override them.
func Preset(name string) (NetworkConfig, error) {
	cfg := NetworkConfig{
		Name:             name,
		RealmID:          1,
		HTTPProtocol:     "https://",
		MinimumThreshold: 3,
		SDKVersionHeader: sdkVersion + "-" + name,
	}
	switch name {
	case NetworkNagaDev:
		cfg.ChainID = 175188
		cfg.RPCURL = yellowstoneRPCURL
		cfg.StakingAddress = common.HexToAddress("0x544ac098670a266d3598B543aefBEbAb0A2C86C6")
		cfg.PriceFeedAddress = common.HexToAddress("0xa997f8DE767d59ecb47A76B421E0C5a1764dD945")
		cfg.RequireAttestation = false
	case NetworkNagaTest:
		cfg.ChainID = 175188
		cfg.RPCURL = yellowstoneRPCURL
		cfg.StakingAddress = common.HexToAddress("0x149a054CE79A379Ae5E97f5B984B993233b28061")
		cfg.PriceFeedAddress = common.HexToAddress("0x3C18D220947e38EE2BD702ddf353Ab8940a7c72A")
		cfg.RequireAttestation = true
	case NetworkNaga:
		cfg.ChainID = 175200
		cfg.RPCURL = litChainRPCURL
		cfg.StakingAddress = common.HexToAddress("0x8a861B3640c1ff058CCB109ba11CA3224d228159")
		cfg.PriceFeedAddress = common.HexToAddress("0x88F5535Fa6dA5C225a3C06489fE4e3405b87608C")
		cfg.RequireAttestation = true
	default:
		return NetworkConfig{}, fmt.Errorf("unknown Lit network %q (want %s, %s or %s)",
			name, NetworkNagaDev, NetworkNagaTest, NetworkNaga)
	}
	return cfg, nil
}

// realmID returns the configured realm, defaulting to 1.
func (c NetworkConfig) realmID() int64 {
	if c.RealmID == 0 {
		return 1
	}
	return c.RealmID
}

// httpProtocol returns the configured node URL scheme, defaulting to https.
func (c NetworkConfig) httpProtocol() string {
	if c.HTTPProtocol == "" {
		return "https://"
	}
	return c.HTTPProtocol
}
