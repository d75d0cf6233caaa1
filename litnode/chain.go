package litnode

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strconv"
	"time"

	ethereum "github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
)

// Validator is one node of the active, unkicked validator set
// (docs/naga-wire.md §2.2).
type Validator struct {
	// URL is HTTPProtocol + "a.b.c.d:port", the node's base URL.
	URL string
	// IP is the node's IPv4 address, unpacked from the big-endian uint32.
	IP netip.Addr
	// Port is the node's port.
	Port uint32
	// NodeAddress is the node's signing address; session signatures name
	// the node by URL, not by this address.
	NodeAddress common.Address
	// OperatorAddress is the staker's operator address.
	OperatorAddress common.Address
}

// EpochInfo is the Staking Epoch struct (docs/naga-wire.md §2.2). Times are UNIX
// seconds, lengths seconds.
type EpochInfo struct {
	Number                uint64 // the epoch sent in requests (epochState.currentNumber)
	EpochLength           uint64
	RewardEpochNumber     uint64
	NextRewardEpochNumber uint64
	EndTime               uint64
	Retries               uint64
	Timeout               uint64
	StartTime             uint64
	LastAdvanceVoteTime   uint64
}

// SDKStartTime returns the epoch start as the SDK derives it,
// EndTime − EpochLength (docs/naga-wire.md §2.2 "Derived values"), rather than the
// StartTime field.
func (e EpochInfo) SDKStartTime() time.Time {
	if e.EpochLength > e.EndTime {
		return time.Unix(0, 0)
	}
	return time.Unix(int64(e.EndTime-e.EpochLength), 0)
}

// ValidatorSet is what Staking.getActiveUnkickedValidatorStructsAndCounts
// says about the network (docs/naga-wire.md §2.2).
type ValidatorSet struct {
	Epoch EpochInfo
	// MinNodeCount is the chain's signing threshold
	// (currentValidatorCountForConsensus), never 0.
	MinNodeCount int
	// Validators are deduplicated by URL and sorted by URL, as lit-rust-sdk
	// does; there are at least MinNodeCount of them.
	Validators []Validator
}

// URLs returns the validators' URLs in order.
func (s ValidatorSet) URLs() []string {
	urls := make([]string, len(s.Validators))
	for i, v := range s.Validators {
		urls[i] = v.URL
	}
	return urls
}

// NodePrice is one node of PriceFeed.getNodesForRequest with its prices
// (docs/naga-wire.md §2.3).
type NodePrice struct {
	Validator Validator
	// Prices[j] is the price, in wei of the chain's token, of the j-th
	// product passed to NodesForRequest.
	Prices []*big.Int
}

// ChainReader reads the Lit contracts through any go-ethereum
// ContractCaller (an *ethclient.Client, a simulated backend, or a fake).
// It is safe for concurrent use if the caller is.
type ChainReader struct {
	caller ethereum.ContractCaller
	cfg    NetworkConfig
}

// NewChainReader returns a ChainReader that calls the contracts of cfg
// through caller. Only StakingAddress, PriceFeedAddress, RealmID and
// HTTPProtocol of cfg are used.
func NewChainReader(caller ethereum.ContractCaller, cfg NetworkConfig) *ChainReader {
	return &ChainReader{caller: caller, cfg: cfg}
}

// DialChain connects to cfg.RPCURL and returns a ChainReader and a function
// that closes the connection. When cfg.ChainID is not 0 it asks the endpoint
// for its chain id and fails on a mismatch, so a wrong RPC URL cannot
// silently serve another network's contracts.
func DialChain(ctx context.Context, cfg NetworkConfig) (*ChainReader, func(), error) {
	if cfg.RPCURL == "" {
		return nil, nil, errors.New("dial chain: no RPC URL configured")
	}
	client, err := ethclient.DialContext(ctx, cfg.RPCURL)
	if err != nil {
		return nil, nil, fmt.Errorf("dial chain %s: %w", cfg.RPCURL, err)
	}
	if cfg.ChainID != 0 {
		id, err := client.ChainID(ctx)
		if err != nil {
			client.Close()
			return nil, nil, fmt.Errorf("dial chain %s: read chain id: %w", cfg.RPCURL, err)
		}
		if !id.IsInt64() || id.Int64() != cfg.ChainID {
			client.Close()
			return nil, nil, fmt.Errorf("dial chain %s: chain id is %s, want %d", cfg.RPCURL, id, cfg.ChainID)
		}
	}
	return NewChainReader(client, cfg), client.Close, nil
}

// ValidatorSet reads Staking.getActiveUnkickedValidatorStructsAndCounts
// (docs/naga-wire.md §2.2) and makes the SDK's checks: minNodeCount is not 0 and
// there are at least minNodeCount validators (counted after deduplication).
func (c *ChainReader) ValidatorSet(ctx context.Context) (ValidatorSet, error) {
	const op = "read validator set"
	var out validatorSetWire
	if err := c.call(ctx, c.cfg.StakingAddress, stakingABI, methodValidatorSet, &out, c.realm()); err != nil {
		return ValidatorSet{}, fmt.Errorf("%s: %w", op, err)
	}
	epoch, err := epochFromWire(out.Epoch)
	if err != nil {
		return ValidatorSet{}, fmt.Errorf("%s: %w", op, err)
	}
	minNodes, err := smallInt("minNodeCount", out.MinNodeCount)
	if err != nil {
		return ValidatorSet{}, fmt.Errorf("%s: %w", op, err)
	}
	if minNodes == 0 {
		return ValidatorSet{}, fmt.Errorf("%s: %w: minNodeCount is 0", op, ErrInvalidChainData)
	}
	vals := make([]Validator, len(out.Validators))
	for i, w := range out.Validators {
		vals[i] = c.validatorFromWire(w)
	}
	slices.SortStableFunc(vals, func(a, b Validator) int { return cmp.Compare(a.URL, b.URL) })
	vals = slices.CompactFunc(vals, func(a, b Validator) bool { return a.URL == b.URL })
	if len(vals) < minNodes {
		return ValidatorSet{}, fmt.Errorf("%s: %w: %d validators, minNodeCount %d", op, ErrNotEnoughNodes, len(vals), minNodes)
	}
	return ValidatorSet{Epoch: epoch, MinNodeCount: minNodes, Validators: vals}, nil
}

// Epoch reads Staking.epoch(realmId) (docs/naga-wire.md §2.2).
func (c *ChainReader) Epoch(ctx context.Context) (EpochInfo, error) {
	var out epochOnlyWire
	if err := c.call(ctx, c.cfg.StakingAddress, stakingABI, methodEpoch, &out, c.realm()); err != nil {
		return EpochInfo{}, fmt.Errorf("read epoch: %w", err)
	}
	e, err := epochFromWire(out.Epoch)
	if err != nil {
		return EpochInfo{}, fmt.Errorf("read epoch: %w", err)
	}
	return e, nil
}

// NodesForRequest reads PriceFeed.getNodesForRequest(realmId, products)
// (docs/naga-wire.md §2.3). Each node's Prices are indexed like products. Nodes come
// in the contract's order; the SDK's stable price sort depends on it.
func (c *ChainReader) NodesForRequest(ctx context.Context, products []Product) (epoch uint64, minNodeCount int, nodes []NodePrice, err error) {
	const op = "read node prices"
	ids := make([]*big.Int, len(products))
	for i, p := range products {
		if p < 0 {
			return 0, 0, nil, fmt.Errorf("%s: negative product id %d", op, int(p))
		}
		ids[i] = big.NewInt(int64(p))
	}
	var out nodesForRequestWire
	if err := c.call(ctx, c.cfg.PriceFeedAddress, priceFeedABI, methodNodesForRequest, &out, c.realm(), ids); err != nil {
		return 0, 0, nil, fmt.Errorf("%s: %w", op, err)
	}
	if epoch, err = uint64Field("epochNumber", out.EpochNumber); err != nil {
		return 0, 0, nil, fmt.Errorf("%s: %w", op, err)
	}
	if minNodeCount, err = smallInt("minNodeCount", out.MinNodeCount); err != nil {
		return 0, 0, nil, fmt.Errorf("%s: %w", op, err)
	}
	nodes = make([]NodePrice, len(out.Nodes))
	for i, n := range out.Nodes {
		if len(n.Prices) != len(products) {
			return 0, 0, nil, fmt.Errorf("%s: %w: node %d has %d prices for %d products", op, ErrInvalidChainData, i, len(n.Prices), len(products))
		}
		nodes[i] = NodePrice{Validator: c.validatorFromWire(n.Validator), Prices: n.Prices}
	}
	return epoch, minNodeCount, nodes, nil
}

// call packs method(args…), runs it as an eth_call at the latest block and
// unpacks the result into out.
func (c *ChainReader) call(ctx context.Context, to common.Address, contract abi.ABI, method string, out any, args ...any) error {
	data, err := contract.Pack(method, args...)
	if err != nil {
		return fmt.Errorf("pack %s: %w", method, err)
	}
	res, err := c.caller.CallContract(ctx, ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil {
		return fmt.Errorf("call %s on %s: %w", method, to, err)
	}
	if len(res) == 0 {
		// What a chain answers for an address without code.
		return fmt.Errorf("call %s on %s: %w: empty result (no contract at this address?)", method, to, ErrInvalidChainData)
	}
	if err := contract.UnpackIntoInterface(out, method, res); err != nil {
		return fmt.Errorf("decode %s: %w: %v", method, ErrInvalidChainData, err)
	}
	return nil
}

func (c *ChainReader) realm() *big.Int { return big.NewInt(c.cfg.realmID()) }

// validatorFromWire turns a Validator tuple into a Validator; the URL is
// protocol + dotted IPv4 + ":" + port (docs/naga-wire.md §2.2 "Node URL").
func (c *ChainReader) validatorFromWire(w validatorWire) Validator {
	ip := netip.AddrFrom4([4]byte{byte(w.IP >> 24), byte(w.IP >> 16), byte(w.IP >> 8), byte(w.IP)})
	return Validator{
		URL:             c.cfg.httpProtocol() + ip.String() + ":" + strconv.FormatUint(uint64(w.Port), 10),
		IP:              ip,
		Port:            w.Port,
		NodeAddress:     w.NodeAddress,
		OperatorAddress: w.OperatorAddress,
	}
}

func epochFromWire(w epochWire) (EpochInfo, error) {
	var e EpochInfo
	fields := []struct {
		name string
		src  *big.Int
		dst  *uint64
	}{
		{"epochLength", w.EpochLength, &e.EpochLength},
		{"number", w.Number, &e.Number},
		{"rewardEpochNumber", w.RewardEpochNumber, &e.RewardEpochNumber},
		{"nextRewardEpochNumber", w.NextRewardEpochNumber, &e.NextRewardEpochNumber},
		{"endTime", w.EndTime, &e.EndTime},
		{"retries", w.Retries, &e.Retries},
		{"timeout", w.Timeout, &e.Timeout},
		{"startTime", w.StartTime, &e.StartTime},
		{"lastAdvanceVoteTime", w.LastAdvanceVoteTime, &e.LastAdvanceVoteTime},
	}
	for _, f := range fields {
		v, err := uint64Field("epoch."+f.name, f.src)
		if err != nil {
			return EpochInfo{}, err
		}
		*f.dst = v
	}
	return e, nil
}

func uint64Field(name string, v *big.Int) (uint64, error) {
	if v == nil || !v.IsUint64() {
		return 0, fmt.Errorf("%w: %s = %v does not fit in 64 bits", ErrInvalidChainData, name, v)
	}
	return v.Uint64(), nil
}

// smallInt converts a count such as minNodeCount; anything above 2^31−1 is
// nonsense for a node count.
func smallInt(name string, v *big.Int) (int, error) {
	if v == nil || !v.IsInt64() || v.Int64() < 0 || v.Int64() > 1<<31-1 {
		return 0, fmt.Errorf("%w: %s = %v is out of range", ErrInvalidChainData, name, v)
	}
	return int(v.Int64()), nil
}
