package devnet_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	ethereum "github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/litsignd/litsignd/litnode/devnet"
)

var (
	stakingAddr   = common.HexToAddress("0x00000000000000000000000000000000000005A1")
	priceFeedAddr = common.HexToAddress("0x00000000000000000000000000000000000005A2")
)

// Selectors as docs/naga-wire.md §2.2 and §2.3 document them.
var (
	selValidatorSet    = mustHex("d09cd5a8")
	selEpoch           = mustHex("5487c577")
	selNodesForRequest = mustHex("224d9449")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// startChain serves a new Chain on loopback and returns it with an ethclient.
func startChain(t *testing.T) (*devnet.Chain, *httptest.Server, *ethclient.Client) {
	t.Helper()
	chain := devnet.NewChain(devnet.ChainConfig{ChainID: 175188, StakingAddress: stakingAddr, PriceFeedAddress: priceFeedAddr, RealmID: 1})
	srv := httptest.NewServer(chain)
	t.Cleanup(srv.Close)
	client, err := ethclient.DialContext(t.Context(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return chain, srv, client
}

// word encodes v as one 32-byte ABI word.
func word(v uint64) []byte { return common.LeftPadBytes(new(big.Int).SetUint64(v).Bytes(), 32) }

func calldata(sel []byte, words ...[]byte) []byte {
	return append(append([]byte(nil), sel...), bytes.Join(words, nil)...)
}

// words splits ABI output into 32-byte words as integers.
func words(t *testing.T, out []byte) []*big.Int {
	t.Helper()
	if len(out)%32 != 0 {
		t.Fatalf("output length %d is not a multiple of 32", len(out))
	}
	ws := make([]*big.Int, len(out)/32)
	for i := range ws {
		ws[i] = new(big.Int).SetBytes(out[32*i : 32*i+32])
	}
	return ws
}

func ethCall(t *testing.T, client *ethclient.Client, to common.Address, data []byte) ([]byte, error) {
	t.Helper()
	return client.CallContract(t.Context(), ethereum.CallMsg{To: &to, Data: data}, nil)
}

func testNodes() []devnet.ChainNode {
	return []devnet.ChainNode{
		{
			IP: netip.MustParseAddr("127.0.0.1"), Port: 7470,
			NodeAddress:     common.HexToAddress("0x1111111111111111111111111111111111111111"),
			OperatorAddress: common.HexToAddress("0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
			Prices:          [4]*big.Int{big.NewInt(10), big.NewInt(11), big.NewInt(12), big.NewInt(13)},
		},
		{
			IP: netip.MustParseAddr("192.168.0.1"), Port: 443,
			NodeAddress:     common.HexToAddress("0x2222222222222222222222222222222222222222"),
			OperatorAddress: common.HexToAddress("0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
			Prices:          [4]*big.Int{big.NewInt(20), nil, big.NewInt(22), big.NewInt(23)},
		},
	}
}

// TestChain_ValidatorSetLayout decodes getActiveUnkickedValidatorStructsAndCounts
// word by word, independently of go-ethereum's tuple decoding, against the
// layout of docs/naga-wire.md §2.2.
func TestChain_ValidatorSetLayout(t *testing.T) {
	chain, _, client := startChain(t)
	chain.SetValidators(testNodes())
	chain.SetEpoch(7)
	chain.SetMinNodeCount(2)

	out, err := ethCall(t, client, stakingAddr, calldata(selValidatorSet, word(1)))
	if err != nil {
		t.Fatalf("eth_call: %v", err)
	}
	w := words(t, out)
	// 9 epoch words, minNodeCount, offset, length, 2 × 18 validator words.
	if want := 9 + 1 + 1 + 1 + 2*18; len(w) != want {
		t.Fatalf("got %d words, want %d", len(w), want)
	}
	checks := []struct {
		name string
		idx  int
		want *big.Int
	}{
		{"epochLength", 0, big.NewInt(devnet.EpochLength)},
		{"number", 1, big.NewInt(7)},
		{"rewardEpochNumber", 2, big.NewInt(7)},
		{"nextRewardEpochNumber", 3, big.NewInt(8)},
		{"timeout", 6, big.NewInt(devnet.EpochTimeout)},
		{"minNodeCount", 9, big.NewInt(2)},
		{"validators offset", 10, big.NewInt(11 * 32)},
		{"validators length", 11, big.NewInt(2)},
		{"v0 ip", 12, big.NewInt(0x7f000001)},
		{"v0 ipv6", 13, big.NewInt(0)},
		{"v0 port", 14, big.NewInt(7470)},
		{"v0 nodeAddress", 15, new(big.Int).SetBytes(testNodes()[0].NodeAddress.Bytes())},
		{"v0 lastActiveEpoch", 12 + 7, big.NewInt(7)},
		{"v0 lastRealmId", 12 + 10, big.NewInt(1)},
		{"v0 operatorAddress", 12 + 15, new(big.Int).SetBytes(testNodes()[0].OperatorAddress.Bytes())},
		{"v0 registerAttestedWalletDisabled", 12 + 17, big.NewInt(0)},
		{"v1 ip", 30, big.NewInt(0xC0A80001)}, // docs/naga-wire.md §2.2 example
		{"v1 port", 32, big.NewInt(443)},
	}
	for _, c := range checks {
		if w[c.idx].Cmp(c.want) != 0 {
			t.Errorf("word %d (%s) = %v, want %v", c.idx, c.name, w[c.idx], c.want)
		}
	}
	start, end := w[7].Int64(), w[4].Int64()
	if end-start != devnet.EpochLength {
		t.Errorf("endTime − startTime = %d, want %d", end-start, devnet.EpochLength)
	}
	if d := time.Since(time.Unix(start, 0)); d < -time.Second || d > time.Minute {
		t.Errorf("startTime %d is not about now", start)
	}
}

func TestChain_EpochView(t *testing.T) {
	chain, _, client := startChain(t)
	if got := chain.Epoch(); got != 1 {
		t.Errorf("new chain Epoch() = %d, want 1", got)
	}
	chain.SetEpoch(42)
	out, err := ethCall(t, client, stakingAddr, calldata(selEpoch, word(1)))
	if err != nil {
		t.Fatalf("eth_call epoch(1): %v", err)
	}
	w := words(t, out)
	if len(w) != 9 {
		t.Fatalf("epoch(1) returned %d words, want 9", len(w))
	}
	if w[1].Uint64() != 42 || chain.Epoch() != 42 {
		t.Errorf("epoch number = %v (Epoch() = %d), want 42", w[1], chain.Epoch())
	}
}

// TestChain_NodesForRequestLayout walks the dynamic encoding of
// getNodesForRequest(1, [3, 1]) (docs/naga-wire.md §2.3).
func TestChain_NodesForRequestLayout(t *testing.T) {
	chain, _, client := startChain(t)
	chain.SetValidators(testNodes())
	chain.SetEpoch(5)
	// realmId, offset of productIds, length 2, 3, 1
	out, err := ethCall(t, client, priceFeedAddr, calldata(selNodesForRequest, word(1), word(64), word(2), word(3), word(1)))
	if err != nil {
		t.Fatalf("eth_call getNodesForRequest: %v", err)
	}
	w := words(t, out)
	if w[0].Uint64() != 5 {
		t.Errorf("epochNumber = %v, want 5", w[0])
	}
	if w[1].Uint64() != 3 { // automatic: 2 validators → clamped to 3
		t.Errorf("minNodeCount = %v, want 3", w[1])
	}
	arr := int(w[2].Uint64() / 32)
	if n := w[arr].Uint64(); n != 2 {
		t.Fatalf("node count = %d, want 2", n)
	}
	content := arr + 1
	wantPrices := [][2]uint64{{13, 11}, {23, 0}} // products 3 and 1; node 1 has a nil SIGN price
	wantIP := []uint64{0x7f000001, 0xC0A80001}
	for i := range 2 {
		elem := content + int(w[content+i].Uint64()/32)
		if got := w[elem].Uint64(); got != wantIP[i] {
			t.Errorf("node %d ip = %#x, want %#x", i, got, wantIP[i])
		}
		prices := elem + int(w[elem+18].Uint64()/32) // 19th head word: offset of prices
		if n := w[prices].Uint64(); n != 2 {
			t.Fatalf("node %d has %d prices, want 2", i, n)
		}
		for j := range 2 {
			if got := w[prices+1+j].Uint64(); got != wantPrices[i][j] {
				t.Errorf("node %d price %d = %d, want %d", i, j, got, wantPrices[i][j])
			}
		}
	}
}

func revertReason(t *testing.T, err error) string {
	t.Helper()
	var de rpc.DataError
	var ec rpc.Error
	if !errors.As(err, &de) || !errors.As(err, &ec) {
		t.Fatalf("error %v (%T) carries no JSON-RPC code and data", err, err)
	}
	if ec.ErrorCode() != 3 {
		t.Errorf("error code = %d, want 3 (execution reverted)", ec.ErrorCode())
	}
	s, _ := de.ErrorData().(string)
	data, err := hexutil.Decode(s)
	if err != nil {
		t.Fatalf("revert data %q: %v", s, err)
	}
	if len(data) == 0 {
		return ""
	}
	reason, err := abi.UnpackRevert(data)
	if err != nil {
		t.Fatalf("unpack revert %x: %v", data, err)
	}
	return reason
}

func TestChain_CallReverts(t *testing.T) {
	chain, _, client := startChain(t)
	chain.SetValidators(testNodes())
	tests := []struct {
		name   string
		to     common.Address
		data   []byte
		reason string // substring; "" means a bare revert
	}{
		{"unknown selector on Staking", stakingAddr, calldata(mustHex("deadbeef"), word(1)), "unknown function selector"},
		{"PriceFeed view on Staking", stakingAddr, calldata(selNodesForRequest, word(1), word(64), word(0)), "unknown function selector"},
		{"no selector", stakingAddr, []byte{0xd0}, "no function selector"},
		{"unknown realm", stakingAddr, calldata(selEpoch, word(2)), "unknown realm 2"},
		{"unknown product", priceFeedAddr, calldata(selNodesForRequest, word(1), word(64), word(1), word(4)), "unknown product id 4"},
		{"truncated arguments", stakingAddr, selEpoch, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ethCall(t, client, tc.to, tc.data)
			if err == nil {
				t.Fatal("eth_call succeeded, want a revert")
			}
			got := revertReason(t, err)
			if tc.reason == "" && got != "" || !strings.Contains(got, tc.reason) {
				t.Errorf("revert reason = %q, want %q", got, tc.reason)
			}
		})
	}
}

func TestChain_CallWithoutCode(t *testing.T) {
	_, _, client := startChain(t)
	other := common.HexToAddress("0x0000000000000000000000000000000000000bad")
	out, err := ethCall(t, client, other, calldata(selEpoch, word(1)))
	if err != nil || len(out) != 0 {
		t.Errorf("eth_call to an address without code = %x, %v; want empty output", out, err)
	}
	code, err := client.CodeAt(t.Context(), other, nil)
	if err != nil || len(code) != 0 {
		t.Errorf("CodeAt(other) = %x, %v; want empty", code, err)
	}
	code, err = client.CodeAt(t.Context(), stakingAddr, nil)
	if err != nil || len(code) == 0 {
		t.Errorf("CodeAt(Staking) = %x, %v; want some code", code, err)
	}
}

func TestChain_Blocks(t *testing.T) {
	chain, _, client := startChain(t)
	ctx := t.Context()

	genesis, _ := chain.LatestBlock()
	hash, ts := chain.AddBlock()
	if ts.Nanosecond() != 0 || time.Since(ts) > time.Minute || time.Until(ts) > time.Second {
		t.Errorf("AddBlock time %v is not the current whole second", ts)
	}
	if h, lts := chain.LatestBlock(); h != hash || !lts.Equal(ts) {
		t.Errorf("LatestBlock() = %v, %v; want %v, %v", h, lts, hash, ts)
	}
	if n, bts, ok := chain.BlockByHash(hash); !ok || n != 1 || !bts.Equal(ts) {
		t.Errorf("BlockByHash = %d, %v, %v; want 1, %v, true", n, bts, ok, ts)
	}
	if _, _, ok := chain.BlockByHash(common.Hash{1}); ok {
		t.Error("BlockByHash(unknown) ok = true")
	}

	head, err := client.HeaderByHash(ctx, hash)
	if err != nil {
		t.Fatalf("HeaderByHash: %v", err)
	}
	if head.Time != uint64(ts.Unix()) || head.Number.Uint64() != 1 || head.ParentHash != genesis {
		t.Errorf("header = time %d number %v parent %v; want %d, 1, %v", head.Time, head.Number, head.ParentHash, ts.Unix(), genesis)
	}
	if head.Hash() != hash {
		t.Errorf("served header hashes to %v, minted hash %v", head.Hash(), hash)
	}
	latest, err := client.HeaderByNumber(ctx, nil)
	if err != nil || latest.Hash() != hash {
		t.Errorf("HeaderByNumber(latest) = %v, %v; want hash %v", latest, err, hash)
	}
	first, err := client.HeaderByNumber(ctx, big.NewInt(0))
	if err != nil || first.Hash() != genesis {
		t.Errorf("HeaderByNumber(0) = %v, %v; want hash %v", first, err, genesis)
	}
	if _, err := client.HeaderByNumber(ctx, big.NewInt(9)); !errors.Is(err, ethereum.NotFound) {
		t.Errorf("HeaderByNumber(9) error = %v, want NotFound", err)
	}
	if _, err := client.HeaderByHash(ctx, common.Hash{1}); !errors.Is(err, ethereum.NotFound) {
		t.Errorf("HeaderByHash(unknown) error = %v, want NotFound", err)
	}
	blk, err := client.BlockByHash(ctx, hash)
	if err != nil || blk.Hash() != hash || len(blk.Transactions()) != 0 {
		t.Errorf("BlockByHash = %v, %v; want the empty block %v", blk, err, hash)
	}
	if n, err := client.BlockNumber(ctx); err != nil || n != 1 {
		t.Errorf("BlockNumber = %d, %v; want 1", n, err)
	}

	other := devnet.NewChain(devnet.ChainConfig{})
	if h, _ := other.LatestBlock(); h == genesis {
		t.Error("two chains minted the same genesis hash")
	}
}

func TestChain_ChainIDAndBatch(t *testing.T) {
	_, srv, client := startChain(t)
	if id, err := client.ChainID(t.Context()); err != nil || id.Int64() != 175188 {
		t.Errorf("ChainID = %v, %v; want 175188", id, err)
	}
	if id, err := client.NetworkID(t.Context()); err != nil || id.Int64() != 175188 {
		t.Errorf("NetworkID = %v, %v; want 175188", id, err)
	}

	rc, err := rpc.DialContext(t.Context(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var chainID hexutil.Uint64
	var version string
	var number hexutil.Uint64
	var nothing any
	batch := []rpc.BatchElem{
		{Method: "eth_chainId", Result: &chainID},
		{Method: "net_version", Result: &version},
		{Method: "eth_blockNumber", Result: &number},
		{Method: "eth_sendRawTransaction", Args: []any{"0x00"}, Result: &nothing},
	}
	if err := rc.BatchCallContext(t.Context(), batch); err != nil {
		t.Fatalf("batch: %v", err)
	}
	for _, e := range batch[:3] {
		if e.Error != nil {
			t.Errorf("%s: %v", e.Method, e.Error)
		}
	}
	if chainID != 175188 || version != "175188" || number != 0 {
		t.Errorf("batch results = %d, %q, %d; want 175188, \"175188\", 0", chainID, version, number)
	}
	var ec rpc.Error
	if !errors.As(batch[3].Error, &ec) || ec.ErrorCode() != -32601 {
		t.Errorf("unknown method error = %v, want code -32601", batch[3].Error)
	}
}

// TestChain_RawJSONRPC covers what a real client rarely sends.
func TestChain_RawJSONRPC(t *testing.T) {
	_, srv, _ := startChain(t)
	post := func(body string) (int, string) {
		t.Helper()
		resp, err := http.Post(srv.URL, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	errCode := func(body string) int {
		t.Helper()
		var r struct {
			Error *struct{ Code int } `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &r); err != nil || r.Error == nil {
			t.Fatalf("response %q is not a JSON-RPC error", body)
		}
		return r.Error.Code
	}
	tests := []struct {
		name, body string
		code       int
	}{
		{"parse error", `{"jsonrpc":"2.0",`, -32700},
		{"empty batch", `[]`, -32600},
		{"no version", `{"id":1,"method":"eth_chainId"}`, -32600},
		{"unknown method", `{"jsonrpc":"2.0","id":1,"method":"eth_mining"}`, -32601},
		{"params not an array", `{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":{}}`, -32602},
		{"bad block tag", `{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["newest",false]}`, -32602},
		{"call without to", `{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{"input":"0x5487c577"},"latest"]}`, -32602},
	}
	for _, tc := range tests {
		if _, body := post(tc.body); errCode(body) != tc.code {
			t.Errorf("%s: response %s, want error code %d", tc.name, body, tc.code)
		}
	}

	// A call may carry "data" instead of "input" (ethers, viem).
	_, body := post(`{"jsonrpc":"2.0","id":"a","method":"eth_call","params":[{"to":"` + stakingAddr.Hex() + `","data":"0x5487c577` + hex.EncodeToString(word(1)) + `"}]}`)
	var r struct {
		ID     string        `json:"id"`
		Result hexutil.Bytes `json:"result"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.ID != "a" || len(r.Result) != 9*32 {
		t.Errorf("eth_call with data: %s", body)
	}

	// Notifications get no answer.
	if status, body := post(`[{"jsonrpc":"2.0","method":"eth_chainId"}]`); status != http.StatusOK || body != "" {
		t.Errorf("notification batch: %d %q, want 200 and no body", status, body)
	}

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET status = %d, want 405", resp.StatusCode)
	}
}

func TestChain_MinNodeCount(t *testing.T) {
	chain, _, client := startChain(t)
	minNodes := func() uint64 {
		t.Helper()
		out, err := ethCall(t, client, stakingAddr, calldata(selValidatorSet, word(1)))
		if err != nil {
			t.Fatal(err)
		}
		return words(t, out)[9].Uint64()
	}
	nodes := make([]devnet.ChainNode, 9)
	for i := range nodes {
		nodes[i] = devnet.ChainNode{IP: netip.MustParseAddr("127.0.0.1"), Port: uint32(7000 + i)}
	}
	for _, tc := range []struct{ n, want int }{{0, 3}, {4, 3}, {5, 3}, {6, 4}, {9, 6}} {
		chain.SetValidators(nodes[:tc.n])
		if got := minNodes(); got != uint64(tc.want) {
			t.Errorf("automatic minNodeCount with %d validators = %d, want %d", tc.n, got, tc.want)
		}
	}
	chain.SetMinNodeCount(0)
	if got := minNodes(); got != 0 {
		t.Errorf("after SetMinNodeCount(0): %d, want 0", got)
	}
	chain.SetMinNodeCount(-1)
	if got := minNodes(); got != 6 {
		t.Errorf("after SetMinNodeCount(-1): %d, want automatic 6", got)
	}
}

func TestChain_SetValidatorsRejectsIPv6(t *testing.T) {
	chain := devnet.NewChain(devnet.ChainConfig{})
	defer func() {
		if recover() == nil {
			t.Error("SetValidators with an IPv6 address did not panic")
		}
	}()
	chain.SetValidators([]devnet.ChainNode{{IP: netip.MustParseAddr("::1"), Port: 1}})
}

// TestChain_Concurrent races state changes against reads; run with -race.
func TestChain_Concurrent(t *testing.T) {
	chain, _, client := startChain(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 20 {
			chain.SetEpoch(uint64(i))
			chain.SetValidators(testNodes()[:i%2+1])
			chain.AddBlock()
		}
	})
	for range 2 {
		wg.Go(func() {
			for range 20 {
				if _, err := client.CallContract(ctx, ethereum.CallMsg{To: &stakingAddr, Data: calldata(selValidatorSet, word(1))}, nil); err != nil {
					t.Error(err)
					return
				}
				if _, err := client.HeaderByNumber(ctx, nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// An epoch change emits Staking StateChanged(Active), which go-ethereum's
// FilterLogs finds (the SDK's state manager polls these logs, docs/naga-wire.md §2.2).
func TestChainStateChangedLogs(t *testing.T) {
	staking := common.HexToAddress("0x00000000000000000000000000000000000000aa")
	c := devnet.NewChain(devnet.ChainConfig{StakingAddress: staking})
	srv := httptest.NewServer(c)
	defer srv.Close()
	ec, err := ethclient.Dial(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	topic := common.HexToHash("0x551dc40198cc79684bb69e4931dba4ac16e4598792ee1c0a5000aeea366d7bb6")
	q := ethereum.FilterQuery{Addresses: []common.Address{staking}, Topics: [][]common.Hash{{topic}}}
	logs, err := ec.FilterLogs(context.Background(), q)
	if err != nil || len(logs) != 0 {
		t.Fatalf("before any epoch change: %v, %v", logs, err)
	}
	c.SetEpoch(2)
	c.SetEpoch(3)
	logs, err = ec.FilterLogs(context.Background(), q)
	if err != nil || len(logs) != 2 {
		t.Fatalf("after two epoch changes: %d logs, %v", len(logs), err)
	}
	if logs[0].BlockNumber >= logs[1].BlockNumber || new(big.Int).SetBytes(logs[1].Data).Sign() != 0 {
		t.Errorf("logs %+v: want increasing blocks and newState 0 (Active)", logs)
	}
	q.FromBlock = new(big.Int).SetUint64(logs[1].BlockNumber)
	if logs, _ := ec.FilterLogs(context.Background(), q); len(logs) != 1 {
		t.Errorf("fromBlock filter: %d logs, want 1", len(logs))
	}
	q.Addresses = []common.Address{common.HexToAddress("0x01")}
	if logs, _ := ec.FilterLogs(context.Background(), q); len(logs) != 0 {
		t.Errorf("address filter: %d logs, want 0", len(logs))
	}
}
