package devnet

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
)

// DefaultChainID is the chain id a Chain reports when ChainConfig.ChainID is
// 0: Anvil's 31337, the chain naga-local runs on (docs/naga-wire.md §2.1).
const DefaultChainID = 31337

// Epoch timing a Chain reports (docs/naga-wire.md §2.2 Epoch struct).
const (
	// EpochLength is the epochLength of every epoch, in seconds.
	EpochLength = 3600
	// EpochTimeout is the epoch's timeout field, in seconds.
	EpochTimeout = 60
)

// NumProducts is the number of PriceFeed product ids (docs/naga-wire.md §10.1).
const NumProducts = 4

// ChainConfig configures a Chain.
type ChainConfig struct {
	// ChainID is what eth_chainId and net_version report; 0 means
	// DefaultChainID.
	ChainID int64
	// StakingAddress is where the Staking views answer (docs/naga-wire.md §2.2).
	StakingAddress common.Address
	// PriceFeedAddress is where PriceFeed.getNodesForRequest answers
	// (docs/naga-wire.md §2.3). It may equal StakingAddress.
	PriceFeedAddress common.Address
	// RealmID is the only realm the contracts know; 0 means 1. Calls for
	// another realm revert.
	RealmID int64
}

// ChainNode is one validator as the Staking and PriceFeed contracts list it.
type ChainNode struct {
	// IP is the node's IPv4 address (an IPv4-mapped IPv6 address is
	// accepted). It goes on chain as a big-endian uint32 (docs/naga-wire.md §2.2).
	IP netip.Addr
	// Port is the node's port.
	Port uint32
	// NodeAddress is the node's signing address.
	NodeAddress common.Address
	// OperatorAddress is the staker's operator address.
	OperatorAddress common.Address
	// Prices is indexed by product id (docs/naga-wire.md §10.1): decryption, sign,
	// Lit action, sign session key. A nil price reads as 0.
	Prices [NumProducts]*big.Int
}

// A Chain is a minimal Ethereum JSON-RPC endpoint (an http.Handler) for the
// local Lit network. It holds the validator set, the epoch, minNodeCount and
// a list of blocks, answers the Staking and PriceFeed views a Lit client
// reads (docs/naga-wire.md §2.2, §2.3) and serves block headers that go-ethereum's
// ethclient decodes. It keeps no history: eth_call always sees the current
// state. A Chain is safe for concurrent use.
type Chain struct {
	chainID          uint64
	stakingAddress   common.Address
	priceFeedAddress common.Address
	realmID          int64
	extra            []byte // random; in every header, so block hashes differ between chains

	mu          sync.Mutex
	nodes       []ChainNode
	epoch       uint64
	epochStart  uint64 // UNIX seconds
	minNodes    int
	minNodesSet bool
	blocks      []*block // index = block number
	byHash      map[common.Hash]*block
	logs        []chainLog // Staking events, in block order
}

// chainLog is an event log the chain emitted.
type chainLog struct {
	block   *block
	address common.Address
	topics  []common.Hash
	data    []byte
}

// stateChangedTopic is topic0 of Staking's StateChanged(uint8 newState)
// (docs/naga-wire.md §2.2); newState 0 is Active.
var stateChangedTopic = common.HexToHash("0x551dc40198cc79684bb69e4931dba4ac16e4598792ee1c0a5000aeea366d7bb6")

type block struct {
	header *types.Header
	hash   common.Hash
	size   uint64
}

// NewChain returns a Chain at epoch 1 with no validators, an automatic
// minNodeCount (see SetMinNodeCount) and a genesis block (number 0) stamped
// with the current time.
func NewChain(cfg ChainConfig) *Chain {
	c := &Chain{
		chainID:          DefaultChainID,
		stakingAddress:   cfg.StakingAddress,
		priceFeedAddress: cfg.PriceFeedAddress,
		realmID:          1,
		extra:            make([]byte, 32),
		byHash:           make(map[common.Hash]*block),
	}
	if cfg.ChainID != 0 {
		c.chainID = uint64(cfg.ChainID)
	}
	if cfg.RealmID != 0 {
		c.realmID = cfg.RealmID
	}
	if _, err := rand.Read(c.extra); err != nil {
		panic("devnet: " + err.Error())
	}
	c.SetEpoch(1)
	c.AddBlock()
	return c
}

// SetValidators replaces the active, unkicked validator set. The nodes are
// listed on chain in this order. It panics if a node's IP is not IPv4.
func (c *Chain) SetValidators(nodes []ChainNode) {
	cp := make([]ChainNode, len(nodes))
	for i, n := range nodes {
		if !n.IP.Unmap().Is4() {
			panic(fmt.Sprintf("devnet: validator %d: IP %v is not IPv4", i, n.IP))
		}
		n.IP = n.IP.Unmap()
		for j, p := range n.Prices {
			if p != nil {
				n.Prices[j] = new(big.Int).Set(p)
			}
		}
		cp[i] = n
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodes = cp
}

// SetEpoch starts epoch number now: the Epoch struct then reads
// startTime = now (whole seconds), epochLength = EpochLength,
// endTime = startTime + EpochLength, rewardEpochNumber = number and
// nextRewardEpochNumber = number + 1.
func (c *Chain) SetEpoch(number uint64) {
	now := uint64(time.Now().Unix())
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := c.epoch != 0 && c.epoch != number
	c.epoch = number
	c.epochStart = now
	if changed {
		// A new epoch is Active again: Staking emits StateChanged(Active),
		// the SDK's re-handshake signal (docs/naga-wire.md §2.2), in a new block.
		b := c.addBlockLocked()
		c.logs = append(c.logs, chainLog{block: b, address: c.stakingAddress, topics: []common.Hash{stateChangedTopic}, data: make([]byte, 32)})
	}
}

// Epoch returns the current epoch number.
func (c *Chain) Epoch() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// SetMinNodeCount sets the minNodeCount (the signing threshold) both views
// return; 0 is allowed, to exercise clients' checks. A negative n restores
// the automatic value, which follows the Staking contract's getThreshold
// (docs/naga-wire.md §2.2): 3 for up to 4 validators, ⌊2·count/3⌋ above (the clamp
// parameters are assumed, the formula is documented).
func (c *Chain) SetMinNodeCount(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.minNodes, c.minNodesSet = n, n >= 0
}

// minNodeCountLocked returns the minNodeCount the views report.
func (c *Chain) minNodeCountLocked() int {
	if c.minNodesSet {
		return c.minNodes
	}
	const clampCount, clampAt = 4, 3
	if len(c.nodes) <= clampCount {
		return clampAt
	}
	return 2 * len(c.nodes) / 3
}

// AddBlock mints a new block on top of the latest one, stamped with the
// current time in whole seconds (never earlier than its parent), and returns
// its hash and timestamp. The hash is the real Keccak-256 hash of the RLP
// header that eth_getBlockBy* serve.
func (c *Chain) AddBlock() (hash common.Hash, ts time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.addBlockLocked()
	return b.hash, time.Unix(int64(b.header.Time), 0)
}

func (c *Chain) addBlockLocked() *block {
	now := uint64(time.Now().Unix())
	h := &types.Header{
		UncleHash:   types.EmptyUncleHash,
		Root:        types.EmptyRootHash,
		TxHash:      types.EmptyTxsHash,
		ReceiptHash: types.EmptyReceiptsHash,
		Difficulty:  new(big.Int),
		Number:      new(big.Int).SetUint64(uint64(len(c.blocks))),
		GasLimit:    30_000_000,
		Time:        now,
		Extra:       c.extra,
		BaseFee:     big.NewInt(1_000_000_000),
	}
	if n := len(c.blocks); n > 0 {
		parent := c.blocks[n-1].header
		h.ParentHash = c.blocks[n-1].hash
		h.Time = max(h.Time, parent.Time)
	}
	b := &block{header: h, hash: h.Hash(), size: types.NewBlockWithHeader(h).Size()}
	c.blocks = append(c.blocks, b)
	c.byHash[b.hash] = b
	return b
}

// LatestBlock returns the hash and timestamp of the newest block.
func (c *Chain) LatestBlock() (common.Hash, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.blocks[len(c.blocks)-1]
	return b.hash, time.Unix(int64(b.header.Time), 0)
}

// BlockByHash returns the number and timestamp of the block with hash h, and
// whether there is one.
func (c *Chain) BlockByHash(h common.Hash) (number uint64, ts time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.byHash[h]
	if !ok {
		return 0, time.Time{}, false
	}
	return b.header.Number.Uint64(), time.Unix(int64(b.header.Time), 0), true
}

// ---- JSON-RPC 2.0 over HTTP ----

// maxRequestBytes bounds a request body.
const maxRequestBytes = 1 << 20

// JSON-RPC error codes (JSON-RPC 2.0; 3 is go-ethereum's "execution
// reverted").
const (
	codeParseError     = -32700
	codeInvalidRequest = -32600
	codeMethodNotFound = -32601
	codeInvalidParams  = -32602
	codeReverted       = 3
)

type rpcRequest struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

var jsonNull = json.RawMessage("null")

// ServeHTTP answers JSON-RPC 2.0 requests, single or batched, sent with
// POST: eth_chainId, net_version, eth_blockNumber, eth_getBlockByNumber,
// eth_getBlockByHash, eth_getCode and eth_call. Other methods get error
// -32601; a call to an unknown function of a known contract reverts (error
// code 3 with Error(string) data, as go-ethereum reports reverts).
func (c *Chain) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "JSON-RPC needs POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	out := c.handleBody(body)
	w.Header().Set("Content-Type", "application/json")
	if out == nil { // only notifications: nothing to say
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Write(out)
}

// handleBody answers a request body; nil means no response (notifications).
func (c *Chain) handleBody(body []byte) []byte {
	if !json.Valid(body) {
		return mustJSON(errorResponse(jsonNull, codeParseError, "parse error"))
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		var msgs []json.RawMessage
		if err := json.Unmarshal(body, &msgs); err != nil {
			return mustJSON(errorResponse(jsonNull, codeParseError, "parse error"))
		}
		if len(msgs) == 0 {
			return mustJSON(errorResponse(jsonNull, codeInvalidRequest, "empty batch"))
		}
		var resps []rpcResponse
		for _, m := range msgs {
			if resp, ok := c.handleMessage(m); ok {
				resps = append(resps, resp)
			}
		}
		if len(resps) == 0 {
			return nil
		}
		return mustJSON(resps)
	}
	resp, ok := c.handleMessage(body)
	if !ok {
		return nil
	}
	return mustJSON(resp)
}

// handleMessage answers one request object; ok is false for a notification.
func (c *Chain) handleMessage(msg json.RawMessage) (resp rpcResponse, ok bool) {
	var req rpcRequest
	if err := json.Unmarshal(msg, &req); err != nil || req.JSONRPC != "2.0" || req.Method == "" {
		return errorResponse(jsonNull, codeInvalidRequest, "invalid request"), true
	}
	result, rerr := c.dispatch(req.Method, req.Params)
	if req.ID == nil {
		return rpcResponse{}, false
	}
	if rerr != nil {
		return rpcResponse{JSONRPC: "2.0", ID: req.ID, Error: rerr}, true
	}
	raw, err := json.Marshal(result)
	if err != nil {
		return errorResponse(req.ID, -32603, "internal error: "+err.Error()), true
	}
	return rpcResponse{JSONRPC: "2.0", ID: req.ID, Result: raw}, true
}

func errorResponse(id json.RawMessage, code int, msg string) rpcResponse {
	return rpcResponse{JSONRPC: "2.0", ID: id, Error: &rpcError{Code: code, Message: msg}}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("devnet: " + err.Error())
	}
	return b
}

func invalidParams(format string, args ...any) *rpcError {
	return &rpcError{Code: codeInvalidParams, Message: "invalid params: " + fmt.Sprintf(format, args...)}
}

// dispatch runs one method. A nil result marshals as JSON null.
func (c *Chain) dispatch(method string, rawParams json.RawMessage) (any, *rpcError) {
	var params []json.RawMessage
	if len(rawParams) > 0 && !bytes.Equal(rawParams, jsonNull) {
		if err := json.Unmarshal(rawParams, &params); err != nil {
			return nil, invalidParams("params must be an array")
		}
	}
	switch method {
	case "eth_chainId":
		return hexutil.Uint64(c.chainID), nil
	case "net_version":
		return strconv.FormatUint(c.chainID, 10), nil
	case "eth_blockNumber":
		c.mu.Lock()
		defer c.mu.Unlock()
		return hexutil.Uint64(len(c.blocks) - 1), nil
	case "eth_getBlockByNumber":
		if len(params) < 1 {
			return nil, invalidParams("missing block number")
		}
		var tag string
		if err := json.Unmarshal(params[0], &tag); err != nil {
			return nil, invalidParams("block number: %v", err)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		n, err := c.blockNumberLocked(tag)
		if err != nil {
			return nil, invalidParams("%v", err)
		}
		if n >= uint64(len(c.blocks)) {
			return nil, nil
		}
		return c.blocks[n].rpc(), nil
	case "eth_getBlockByHash":
		if len(params) < 1 {
			return nil, invalidParams("missing block hash")
		}
		var h common.Hash
		if err := json.Unmarshal(params[0], &h); err != nil {
			return nil, invalidParams("block hash: %v", err)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if b, ok := c.byHash[h]; ok {
			return b.rpc(), nil
		}
		return nil, nil
	case "eth_getLogs":
		if len(params) < 1 {
			return nil, invalidParams("missing filter")
		}
		return c.getLogs(params[0])
	case "eth_getCode":
		if len(params) < 1 {
			return nil, invalidParams("missing address")
		}
		var a common.Address
		if err := json.Unmarshal(params[0], &a); err != nil {
			return nil, invalidParams("address: %v", err)
		}
		if a == c.stakingAddress || a == c.priceFeedAddress {
			return hexutil.Bytes{0xfe}, nil // some code: the contracts exist
		}
		return hexutil.Bytes{}, nil
	case "eth_call":
		if len(params) < 1 {
			return nil, invalidParams("missing call object")
		}
		var call struct {
			To    *common.Address `json:"to"`
			Input *hexutil.Bytes  `json:"input"`
			Data  *hexutil.Bytes  `json:"data"`
		}
		if err := json.Unmarshal(params[0], &call); err != nil {
			return nil, invalidParams("call object: %v", err)
		}
		if call.To == nil {
			return nil, invalidParams("eth_call without \"to\" is not supported")
		}
		var data []byte
		if call.Input != nil {
			data = *call.Input
		} else if call.Data != nil {
			data = *call.Data
		}
		return c.call(*call.To, data)
	}
	return nil, &rpcError{Code: codeMethodNotFound, Message: fmt.Sprintf("the method %s does not exist/is not available", method)}
}

// blockNumberLocked resolves a block tag or hex number.
func (c *Chain) blockNumberLocked(tag string) (uint64, error) {
	switch tag {
	case "latest", "pending", "safe", "finalized":
		return uint64(len(c.blocks) - 1), nil
	case "earliest":
		return 0, nil
	}
	n, err := hexutil.DecodeUint64(tag)
	if err != nil {
		return 0, fmt.Errorf("block number %q: %v", tag, err)
	}
	return n, nil
}

// rpcBlock is a block as eth_getBlockBy* return it, without transactions.
type rpcBlock struct {
	Number           hexutil.Uint64   `json:"number"`
	Hash             common.Hash      `json:"hash"`
	ParentHash       common.Hash      `json:"parentHash"`
	Nonce            types.BlockNonce `json:"nonce"`
	MixHash          common.Hash      `json:"mixHash"`
	Sha3Uncles       common.Hash      `json:"sha3Uncles"`
	LogsBloom        types.Bloom      `json:"logsBloom"`
	StateRoot        common.Hash      `json:"stateRoot"`
	Miner            common.Address   `json:"miner"`
	Difficulty       *hexutil.Big     `json:"difficulty"`
	ExtraData        hexutil.Bytes    `json:"extraData"`
	Size             hexutil.Uint64   `json:"size"`
	GasLimit         hexutil.Uint64   `json:"gasLimit"`
	GasUsed          hexutil.Uint64   `json:"gasUsed"`
	Timestamp        hexutil.Uint64   `json:"timestamp"`
	TransactionsRoot common.Hash      `json:"transactionsRoot"`
	ReceiptsRoot     common.Hash      `json:"receiptsRoot"`
	BaseFeePerGas    *hexutil.Big     `json:"baseFeePerGas"`
	Transactions     []common.Hash    `json:"transactions"`
	Uncles           []common.Hash    `json:"uncles"`
}

func (b *block) rpc() rpcBlock {
	h := b.header
	return rpcBlock{
		Number:           hexutil.Uint64(h.Number.Uint64()),
		Hash:             b.hash,
		ParentHash:       h.ParentHash,
		Nonce:            h.Nonce,
		MixHash:          h.MixDigest,
		Sha3Uncles:       h.UncleHash,
		LogsBloom:        h.Bloom,
		StateRoot:        h.Root,
		Miner:            h.Coinbase,
		Difficulty:       (*hexutil.Big)(h.Difficulty),
		ExtraData:        h.Extra,
		Size:             hexutil.Uint64(b.size),
		GasLimit:         hexutil.Uint64(h.GasLimit),
		GasUsed:          hexutil.Uint64(h.GasUsed),
		Timestamp:        hexutil.Uint64(h.Time),
		TransactionsRoot: h.TxHash,
		ReceiptsRoot:     h.ReceiptHash,
		BaseFeePerGas:    (*hexutil.Big)(h.BaseFee),
		Transactions:     []common.Hash{},
		Uncles:           []common.Hash{},
	}
}

// ---- the contract views (docs/naga-wire.md §2.2, §2.3) ----

// Function selectors: the first four bytes of keccak256 of the canonical
// signatures, docs/naga-wire.md §2.2 (0xd09cd5a8, 0x5487c577) and §2.3 (0x224d9449).
var (
	selValidatorSet    = selector("getActiveUnkickedValidatorStructsAndCounts(uint256)")
	selEpoch           = selector("epoch(uint256)")
	selNodesForRequest = selector("getNodesForRequest(uint256,uint256[])")
	selError           = selector("Error(string)")
)

func selector(sig string) [4]byte { return [4]byte(crypto.Keccak256([]byte(sig))[:4]) }

// ABI types, built from the layouts in docs/naga-wire.md §2.2 and §2.3.
var (
	typUint256 = mustType("uint256", nil)
	typString  = mustType("string", nil)
	typEpoch   = mustType("tuple", []abi.ArgumentMarshaling{
		{Name: "epochLength", Type: "uint256"},
		{Name: "number", Type: "uint256"},
		{Name: "rewardEpochNumber", Type: "uint256"},
		{Name: "nextRewardEpochNumber", Type: "uint256"},
		{Name: "endTime", Type: "uint256"},
		{Name: "retries", Type: "uint256"},
		{Name: "timeout", Type: "uint256"},
		{Name: "startTime", Type: "uint256"},
		{Name: "lastAdvanceVoteTime", Type: "uint256"},
	})
	validatorFields = []abi.ArgumentMarshaling{
		{Name: "ip", Type: "uint32"},
		{Name: "ipv6", Type: "uint128"},
		{Name: "port", Type: "uint32"},
		{Name: "nodeAddress", Type: "address"},
		{Name: "reward", Type: "uint256"},
		{Name: "senderPubKey", Type: "uint256"},
		{Name: "receiverPubKey", Type: "uint256"},
		{Name: "lastActiveEpoch", Type: "uint256"},
		{Name: "commissionRate", Type: "uint256"},
		{Name: "lastRewardEpoch", Type: "uint256"},
		{Name: "lastRealmId", Type: "uint256"},
		{Name: "delegatedStakeAmount", Type: "uint256"},
		{Name: "delegatedStakeWeight", Type: "uint256"},
		{Name: "lastRewardEpochClaimedFixedCostRewards", Type: "uint256"},
		{Name: "lastRewardEpochClaimedCommission", Type: "uint256"},
		{Name: "operatorAddress", Type: "address"},
		{Name: "uniqueDelegatingStakerCount", Type: "uint256"},
		{Name: "registerAttestedWalletDisabled", Type: "bool"},
	}
	typValidators = mustType("tuple[]", validatorFields)
	typNodeInfos  = mustType("tuple[]", []abi.ArgumentMarshaling{
		{Name: "validator", Type: "tuple", Components: validatorFields},
		{Name: "prices", Type: "uint256[]"},
	})

	argsRealm           = abi.Arguments{{Name: "realmId", Type: typUint256}}
	argsNodesForRequest = abi.Arguments{{Name: "realmId", Type: typUint256}, {Name: "productIds", Type: mustType("uint256[]", nil)}}
	outValidatorSet     = abi.Arguments{{Type: typEpoch}, {Type: typUint256}, {Type: typValidators}}
	outEpoch            = abi.Arguments{{Type: typEpoch}}
	outNodesForRequest  = abi.Arguments{{Type: typUint256}, {Type: typUint256}, {Type: typNodeInfos}}
)

func mustType(t string, components []abi.ArgumentMarshaling) abi.Type {
	typ, err := abi.NewType(t, "", components)
	if err != nil {
		panic("devnet: " + err.Error())
	}
	return typ
}

// Go values packed into the tuples; abi tags name the components.
type epochTuple struct {
	EpochLength           *big.Int `abi:"epochLength"`
	Number                *big.Int `abi:"number"`
	RewardEpochNumber     *big.Int `abi:"rewardEpochNumber"`
	NextRewardEpochNumber *big.Int `abi:"nextRewardEpochNumber"`
	EndTime               *big.Int `abi:"endTime"`
	Retries               *big.Int `abi:"retries"`
	Timeout               *big.Int `abi:"timeout"`
	StartTime             *big.Int `abi:"startTime"`
	LastAdvanceVoteTime   *big.Int `abi:"lastAdvanceVoteTime"`
}

type validatorTuple struct {
	IP                                     uint32         `abi:"ip"`
	IPv6                                   *big.Int       `abi:"ipv6"`
	Port                                   uint32         `abi:"port"`
	NodeAddress                            common.Address `abi:"nodeAddress"`
	Reward                                 *big.Int       `abi:"reward"`
	SenderPubKey                           *big.Int       `abi:"senderPubKey"`
	ReceiverPubKey                         *big.Int       `abi:"receiverPubKey"`
	LastActiveEpoch                        *big.Int       `abi:"lastActiveEpoch"`
	CommissionRate                         *big.Int       `abi:"commissionRate"`
	LastRewardEpoch                        *big.Int       `abi:"lastRewardEpoch"`
	LastRealmID                            *big.Int       `abi:"lastRealmId"`
	DelegatedStakeAmount                   *big.Int       `abi:"delegatedStakeAmount"`
	DelegatedStakeWeight                   *big.Int       `abi:"delegatedStakeWeight"`
	LastRewardEpochClaimedFixedCostRewards *big.Int       `abi:"lastRewardEpochClaimedFixedCostRewards"`
	LastRewardEpochClaimedCommission       *big.Int       `abi:"lastRewardEpochClaimedCommission"`
	OperatorAddress                        common.Address `abi:"operatorAddress"`
	UniqueDelegatingStakerCount            *big.Int       `abi:"uniqueDelegatingStakerCount"`
	RegisterAttestedWalletDisabled         bool           `abi:"registerAttestedWalletDisabled"`
}

type nodeInfoTuple struct {
	Validator validatorTuple `abi:"validator"`
	Prices    []*big.Int     `abi:"prices"`
}

// revert returns the error a node reports for a reverted eth_call: code 3,
// "execution reverted: <reason>", data = Error(reason) ABI-encoded. An empty
// reason gives a bare revert with data "0x".
func revert(reason string) *rpcError {
	if reason == "" {
		return &rpcError{Code: codeReverted, Message: "execution reverted", Data: hexutil.Bytes{}}
	}
	enc, err := abi.Arguments{{Type: typString}}.Pack(reason)
	if err != nil {
		panic("devnet: " + err.Error())
	}
	data := append(selError[:], enc...)
	return &rpcError{Code: codeReverted, Message: "execution reverted: " + reason, Data: hexutil.Bytes(data)}
}

// call runs an eth_call against the current state. An address that is
// neither contract has no code, so the call returns empty output, as on a
// real chain.
func (c *Chain) call(to common.Address, data []byte) (any, *rpcError) {
	isStaking, isPriceFeed := to == c.stakingAddress, to == c.priceFeedAddress
	if !isStaking && !isPriceFeed {
		return hexutil.Bytes{}, nil
	}
	if len(data) < 4 {
		return nil, revert("devnet: no function selector")
	}
	sel, args := [4]byte(data[:4]), data[4:]
	c.mu.Lock()
	defer c.mu.Unlock()
	var (
		out []byte
		err error
	)
	switch {
	case isStaking && sel == selValidatorSet:
		if _, rerr := c.decodeArgs(argsRealm, args); rerr != nil {
			return nil, rerr
		}
		vals := make([]validatorTuple, len(c.nodes))
		for i, n := range c.nodes {
			vals[i] = c.validatorLocked(n)
		}
		out, err = outValidatorSet.Pack(c.epochLocked(), big.NewInt(int64(c.minNodeCountLocked())), vals)
	case isStaking && sel == selEpoch:
		if _, rerr := c.decodeArgs(argsRealm, args); rerr != nil {
			return nil, rerr
		}
		out, err = outEpoch.Pack(c.epochLocked())
	case isPriceFeed && sel == selNodesForRequest:
		in, rerr := c.decodeArgs(argsNodesForRequest, args)
		if rerr != nil {
			return nil, rerr
		}
		ids := in[1].([]*big.Int)
		for _, id := range ids {
			if !id.IsInt64() || id.Int64() >= NumProducts {
				return nil, revert("devnet: unknown product id " + id.String())
			}
		}
		nodes := make([]nodeInfoTuple, len(c.nodes))
		for i, n := range c.nodes {
			prices := make([]*big.Int, len(ids))
			for j, id := range ids {
				prices[j] = new(big.Int)
				if p := n.Prices[id.Int64()]; p != nil {
					prices[j].Set(p)
				}
			}
			nodes[i] = nodeInfoTuple{Validator: c.validatorLocked(n), Prices: prices}
		}
		out, err = outNodesForRequest.Pack(new(big.Int).SetUint64(c.epoch), big.NewInt(int64(c.minNodeCountLocked())), nodes)
	default:
		return nil, revert(fmt.Sprintf("devnet: unknown function selector %#x", sel))
	}
	if err != nil {
		panic("devnet: encode " + err.Error()) // a bug in the tuple layouts above
	}
	return hexutil.Bytes(out), nil
}

// decodeArgs decodes the call arguments and reverts unless the first one,
// realmId, is the chain's realm.
func (c *Chain) decodeArgs(args abi.Arguments, data []byte) ([]any, *rpcError) {
	in, err := args.Unpack(data)
	if err != nil {
		return nil, revert("") // Solidity reverts without a reason on bad calldata
	}
	if realm := in[0].(*big.Int); !realm.IsInt64() || realm.Int64() != c.realmID {
		return nil, revert("devnet: unknown realm " + realm.String())
	}
	return in, nil
}

// epochLocked returns the Epoch struct of the current epoch.
func (c *Chain) epochLocked() epochTuple {
	u := func(v uint64) *big.Int { return new(big.Int).SetUint64(v) }
	return epochTuple{
		EpochLength:           u(EpochLength),
		Number:                u(c.epoch),
		RewardEpochNumber:     u(c.epoch),
		NextRewardEpochNumber: u(c.epoch + 1),
		EndTime:               u(c.epochStart + EpochLength),
		Retries:               u(0),
		Timeout:               u(EpochTimeout),
		StartTime:             u(c.epochStart),
		LastAdvanceVoteTime:   u(c.epochStart),
	}
}

// validatorLocked returns the Validator struct of n: its IPv4 as a
// big-endian uint32, its port and addresses, and plausible bookkeeping.
func (c *Chain) validatorLocked(n ChainNode) validatorTuple {
	ip := n.IP.As4()
	z := func() *big.Int { return new(big.Int) }
	epoch := new(big.Int).SetUint64(c.epoch)
	return validatorTuple{
		IP:                                     uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3]),
		IPv6:                                   z(),
		Port:                                   n.Port,
		NodeAddress:                            n.NodeAddress,
		Reward:                                 z(),
		SenderPubKey:                           z(),
		ReceiverPubKey:                         z(),
		LastActiveEpoch:                        epoch,
		CommissionRate:                         z(),
		LastRewardEpoch:                        new(big.Int).Set(epoch),
		LastRealmID:                            big.NewInt(c.realmID),
		DelegatedStakeAmount:                   z(),
		DelegatedStakeWeight:                   z(),
		LastRewardEpochClaimedFixedCostRewards: z(),
		LastRewardEpochClaimedCommission:       z(),
		OperatorAddress:                        n.OperatorAddress,
		UniqueDelegatingStakerCount:            z(),
		RegisterAttestedWalletDisabled:         false,
	}
}

// logFilter is eth_getLogs' filter object.
type logFilter struct {
	Address   json.RawMessage   `json:"address"`
	FromBlock string            `json:"fromBlock"`
	ToBlock   string            `json:"toBlock"`
	Topics    []json.RawMessage `json:"topics"`
	BlockHash *common.Hash      `json:"blockHash"`
}

// rpcLog is a log as eth_getLogs returns it.
type rpcLog struct {
	Address     common.Address `json:"address"`
	Topics      []common.Hash  `json:"topics"`
	Data        hexutil.Bytes  `json:"data"`
	BlockNumber hexutil.Uint64 `json:"blockNumber"`
	BlockHash   common.Hash    `json:"blockHash"`
	TxHash      common.Hash    `json:"transactionHash"`
	TxIndex     hexutil.Uint   `json:"transactionIndex"`
	LogIndex    hexutil.Uint   `json:"logIndex"`
	Removed     bool           `json:"removed"`
}

// getLogs answers eth_getLogs over the Staking events the chain emitted:
// filtered by block range (or hash), address (one or a list) and topics
// (position-wise, null or a list of alternatives).
func (c *Chain) getLogs(raw json.RawMessage) (any, *rpcError) {
	var f logFilter
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, invalidParams("filter: %v", err)
	}
	var addrs []common.Address
	if len(f.Address) > 0 && !bytes.Equal(f.Address, jsonNull) {
		var one common.Address
		if err := json.Unmarshal(f.Address, &one); err == nil {
			addrs = []common.Address{one}
		} else if err := json.Unmarshal(f.Address, &addrs); err != nil {
			return nil, invalidParams("address: %v", err)
		}
	}
	topics := make([][]common.Hash, len(f.Topics))
	for i, t := range f.Topics {
		if len(t) == 0 || bytes.Equal(t, jsonNull) {
			continue
		}
		var one common.Hash
		if err := json.Unmarshal(t, &one); err == nil {
			topics[i] = []common.Hash{one}
		} else if err := json.Unmarshal(t, &topics[i]); err != nil {
			return nil, invalidParams("topics[%d]: %v", i, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	from, to := uint64(0), uint64(len(c.blocks)-1)
	if f.FromBlock != "" {
		n, err := c.blockNumberLocked(f.FromBlock)
		if err != nil {
			return nil, invalidParams("fromBlock: %v", err)
		}
		from = n
	}
	if f.ToBlock != "" {
		n, err := c.blockNumberLocked(f.ToBlock)
		if err != nil {
			return nil, invalidParams("toBlock: %v", err)
		}
		to = n
	}
	out := []rpcLog{}
	for i, l := range c.logs {
		n := l.block.header.Number.Uint64()
		if f.BlockHash != nil {
			if l.block.hash != *f.BlockHash {
				continue
			}
		} else if n < from || n > to {
			continue
		}
		if len(addrs) > 0 && !slices.Contains(addrs, l.address) {
			continue
		}
		match := true
		for j, alts := range topics {
			if len(alts) > 0 && (j >= len(l.topics) || !slices.Contains(alts, l.topics[j])) {
				match = false
			}
		}
		if !match {
			continue
		}
		out = append(out, rpcLog{Address: l.address, Topics: l.topics, Data: l.data, BlockNumber: hexutil.Uint64(n),
			BlockHash: l.block.hash, TxHash: crypto.Keccak256Hash(l.block.hash[:], []byte{byte(i)}), LogIndex: 0})
	}
	return out, nil
}
