package litnode

import (
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
)

// The ABI fragments below are written from the tuple layouts in docs/naga-wire.md
// §2.2 and §2.3; they are not copied from @lit-protocol/contracts. Only the
// types and their order matter for the encoding; the output names are ours
// (they steer UnpackIntoInterface).

// epochComponents is LibStakingStorage.Epoch: 9 × uint256 (docs/naga-wire.md §2.2).
const epochComponents = `[
	{"name":"epochLength","type":"uint256"},
	{"name":"number","type":"uint256"},
	{"name":"rewardEpochNumber","type":"uint256"},
	{"name":"nextRewardEpochNumber","type":"uint256"},
	{"name":"endTime","type":"uint256"},
	{"name":"retries","type":"uint256"},
	{"name":"timeout","type":"uint256"},
	{"name":"startTime","type":"uint256"},
	{"name":"lastAdvanceVoteTime","type":"uint256"}
]`

// validatorComponents is LibStakingStorage.Validator: 18 fields
// (docs/naga-wire.md §2.2).
const validatorComponents = `[
	{"name":"ip","type":"uint32"},
	{"name":"ipv6","type":"uint128"},
	{"name":"port","type":"uint32"},
	{"name":"nodeAddress","type":"address"},
	{"name":"reward","type":"uint256"},
	{"name":"senderPubKey","type":"uint256"},
	{"name":"receiverPubKey","type":"uint256"},
	{"name":"lastActiveEpoch","type":"uint256"},
	{"name":"commissionRate","type":"uint256"},
	{"name":"lastRewardEpoch","type":"uint256"},
	{"name":"lastRealmId","type":"uint256"},
	{"name":"delegatedStakeAmount","type":"uint256"},
	{"name":"delegatedStakeWeight","type":"uint256"},
	{"name":"lastRewardEpochClaimedFixedCostRewards","type":"uint256"},
	{"name":"lastRewardEpochClaimedCommission","type":"uint256"},
	{"name":"operatorAddress","type":"address"},
	{"name":"uniqueDelegatingStakerCount","type":"uint256"},
	{"name":"registerAttestedWalletDisabled","type":"bool"}
]`

// stakingABIJSON holds the two Staking views litnode reads (docs/naga-wire.md §2.2):
// getActiveUnkickedValidatorStructsAndCounts(uint256) = 0xd09cd5a8 and
// epoch(uint256) = 0x5487c577.
const stakingABIJSON = `[
{
	"type":"function","name":"getActiveUnkickedValidatorStructsAndCounts","stateMutability":"view",
	"inputs":[{"name":"realmId","type":"uint256"}],
	"outputs":[
		{"name":"epoch","type":"tuple","internalType":"struct LibStakingStorage.Epoch","components":` + epochComponents + `},
		{"name":"minNodeCount","type":"uint256"},
		{"name":"validators","type":"tuple[]","internalType":"struct LibStakingStorage.Validator[]","components":` + validatorComponents + `}
	]
},
{
	"type":"function","name":"epoch","stateMutability":"view",
	"inputs":[{"name":"realmId","type":"uint256"}],
	"outputs":[
		{"name":"epoch","type":"tuple","internalType":"struct LibStakingStorage.Epoch","components":` + epochComponents + `}
	]
}
]`

// priceFeedABIJSON holds PriceFeed.getNodesForRequest(uint256,uint256[]) =
// 0x224d9449 (docs/naga-wire.md §2.3). NodeInfoAndPrices is (Validator, uint256[]).
const priceFeedABIJSON = `[
{
	"type":"function","name":"getNodesForRequest","stateMutability":"view",
	"inputs":[{"name":"realmId","type":"uint256"},{"name":"productIds","type":"uint256[]"}],
	"outputs":[
		{"name":"epochNumber","type":"uint256"},
		{"name":"minNodeCount","type":"uint256"},
		{"name":"nodes","type":"tuple[]","components":[
			{"name":"validator","type":"tuple","internalType":"struct LibStakingStorage.Validator","components":` + validatorComponents + `},
			{"name":"prices","type":"uint256[]"}
		]}
	]
}
]`

// Method names in the ABIs above.
const (
	methodValidatorSet    = "getActiveUnkickedValidatorStructsAndCounts"
	methodEpoch           = "epoch"
	methodNodesForRequest = "getNodesForRequest"
)

var (
	stakingABI   = mustParseABI(stakingABIJSON)
	priceFeedABI = mustParseABI(priceFeedABIJSON)
)

func mustParseABI(s string) abi.ABI {
	a, err := abi.JSON(strings.NewReader(s))
	if err != nil {
		panic("litnode: bad built-in ABI: " + err.Error())
	}
	return a
}

// Go mirrors of the tuples. Field order and types must match the components
// above: go-ethereum copies nested tuples field by field, by position.

type epochWire struct {
	EpochLength           *big.Int
	Number                *big.Int
	RewardEpochNumber     *big.Int
	NextRewardEpochNumber *big.Int
	EndTime               *big.Int
	Retries               *big.Int
	Timeout               *big.Int
	StartTime             *big.Int
	LastAdvanceVoteTime   *big.Int
}

type validatorWire struct {
	IP                                     uint32
	IPv6                                   *big.Int
	Port                                   uint32
	NodeAddress                            common.Address
	Reward                                 *big.Int
	SenderPubKey                           *big.Int
	ReceiverPubKey                         *big.Int
	LastActiveEpoch                        *big.Int
	CommissionRate                         *big.Int
	LastRewardEpoch                        *big.Int
	LastRealmID                            *big.Int
	DelegatedStakeAmount                   *big.Int
	DelegatedStakeWeight                   *big.Int
	LastRewardEpochClaimedFixedCostRewards *big.Int
	LastRewardEpochClaimedCommission       *big.Int
	OperatorAddress                        common.Address
	UniqueDelegatingStakerCount            *big.Int
	RegisterAttestedWalletDisabled         bool
}

type nodeInfoAndPricesWire struct {
	Validator validatorWire
	Prices    []*big.Int
}

// validatorSetWire receives getActiveUnkickedValidatorStructsAndCounts.
type validatorSetWire struct {
	Epoch        epochWire       `abi:"epoch"`
	MinNodeCount *big.Int        `abi:"minNodeCount"`
	Validators   []validatorWire `abi:"validators"`
}

// epochOnlyWire receives epoch(uint256).
type epochOnlyWire struct {
	Epoch epochWire `abi:"epoch"`
}

// nodesForRequestWire receives getNodesForRequest.
type nodesForRequestWire struct {
	EpochNumber  *big.Int                `abi:"epochNumber"`
	MinNodeCount *big.Int                `abi:"minNodeCount"`
	Nodes        []nodeInfoAndPricesWire `abi:"nodes"`
}
