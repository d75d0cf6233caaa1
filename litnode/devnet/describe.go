package devnet

import (
	"encoding/hex"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/litsignd/litsignd/litnode"
)

// Description is what a client needs to use the devnet, as JSON (what
// `litsignd dev` prints).
type Description struct {
	Network NetworkDescription `json:"network"`
	PKPs    []PKPDescription   `json:"pkps"`
}

// NetworkDescription describes the chain and the nodes.
type NetworkDescription struct {
	// Nodes are the URLs of the current validators.
	Nodes []string `json:"nodes"`
	// RPCURL is the chain's JSON-RPC endpoint.
	RPCURL string `json:"rpcUrl"`
	// NetworkPublicKey is the BLS root key, 96 lowercase hex digits.
	NetworkPublicKey string `json:"networkPublicKey"`
	// Threshold is the key threshold t.
	Threshold int `json:"threshold"`
	// ChainID is the chain's id.
	ChainID int64 `json:"chainId"`
	// StakingAddress and PriceFeedAddress are the contracts the chain
	// answers for (EIP-55).
	StakingAddress   string `json:"stakingAddress"`
	PriceFeedAddress string `json:"priceFeedAddress"`
	// Epoch is the current epoch.
	Epoch uint64 `json:"epoch"`
}

// NetworkConfig is the Lit client configuration for the described
// network, the same as Network.NetworkConfig gives in process.
func (d NetworkDescription) NetworkConfig() litnode.NetworkConfig {
	return litnode.NetworkConfig{
		Name:             litnode.NetworkCustom,
		ChainID:          d.ChainID,
		RPCURL:           d.RPCURL,
		StakingAddress:   common.HexToAddress(d.StakingAddress),
		PriceFeedAddress: common.HexToAddress(d.PriceFeedAddress),
		RealmID:          1,
		HTTPProtocol:     "http://",
		MinimumThreshold: d.Threshold,
		SDKVersionHeader: devnetSDKVersion,
	}
}

// PKPDescription describes one PKP and its owner.
type PKPDescription struct {
	// PublicKey is "0x04…" (130 hex digits).
	PublicKey string `json:"publicKey"`
	// EthAddress is the PKP's address (EIP-55).
	EthAddress string `json:"ethAddress"`
	// OwnerPrivateKey is the dev owner's key, "0x" + 64 hex; omitted for a
	// PKP minted to an outside owner.
	OwnerPrivateKey string `json:"ownerPrivateKey,omitempty"`
	// OwnerAddress is the owner EOA (EIP-55).
	OwnerAddress string `json:"ownerAddress"`
}

// Description describes the network as it is now. It contains the dev
// owners' private keys: it is for local development only.
func (n *Network) Description() Description {
	c := n.ChainConfig()
	d := Description{Network: NetworkDescription{
		Nodes:            n.NodeURLs(),
		RPCURL:           n.rpcURL,
		NetworkPublicKey: n.blsKey.Hex(),
		Threshold:        n.cfg.Threshold,
		ChainID:          c.ChainID,
		StakingAddress:   c.StakingAddress.Hex(),
		PriceFeedAddress: c.PriceFeedAddress.Hex(),
		Epoch:            n.Epoch(),
	}, PKPs: []PKPDescription{}}
	for _, p := range n.PKPs() {
		pd := PKPDescription{PublicKey: p.PublicKey.Hex(), EthAddress: p.EthAddress.Hex(), OwnerAddress: p.OwnerAddress.Hex()}
		if p.OwnerKey != nil {
			pd.OwnerPrivateKey = "0x" + hex.EncodeToString(crypto.FromECDSA(p.OwnerKey))
		}
		d.PKPs = append(d.PKPs, pd)
	}
	return d
}
