package litnode_test

import (
	"context"
	"encoding/hex"
	"errors"
	"math/big"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ethereum "github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/litnode/devnet"
)

const testChainID = 31337

var (
	testStaking   = common.HexToAddress("0x5a00000000000000000000000000000000000001")
	testPriceFeed = common.HexToAddress("0x5a00000000000000000000000000000000000002")
)

// devChain serves a devnet chain on loopback and returns it with a network
// configuration pointing at it.
func devChain(t *testing.T) (*devnet.Chain, litnode.NetworkConfig) {
	t.Helper()
	chain := devnet.NewChain(devnet.ChainConfig{ChainID: testChainID, StakingAddress: testStaking, PriceFeedAddress: testPriceFeed, RealmID: 1})
	srv := httptest.NewServer(chain)
	t.Cleanup(srv.Close)
	cfg := litnode.NetworkConfig{
		Name:             litnode.NetworkCustom,
		ChainID:          testChainID,
		RPCURL:           srv.URL,
		StakingAddress:   testStaking,
		PriceFeedAddress: testPriceFeed,
		RealmID:          1,
		HTTPProtocol:     "http://",
		MinimumThreshold: 3,
	}
	return chain, cfg
}

func dial(t *testing.T, cfg litnode.NetworkConfig) *litnode.ChainReader {
	t.Helper()
	r, closeFn, err := litnode.DialChain(t.Context(), cfg)
	if err != nil {
		t.Fatalf("DialChain: %v", err)
	}
	t.Cleanup(closeFn)
	return r
}

func addr(b byte) common.Address { return common.BytesToAddress([]byte{b}) }

func prices(base int64) [4]*big.Int {
	return [4]*big.Int{big.NewInt(base), big.NewInt(base + 1), big.NewInt(base + 2), big.NewInt(base + 3)}
}

// testValidators lists nodes out of order, with a duplicate URL. The
// non-loopback addresses are data only: nothing dials them.
func testValidators() []devnet.ChainNode {
	lo := netip.MustParseAddr("127.0.0.1")
	return []devnet.ChainNode{
		{IP: lo, Port: 7472, NodeAddress: addr(3), OperatorAddress: addr(0x33), Prices: prices(300)},
		{IP: netip.MustParseAddr("15.235.83.220"), Port: 7470, NodeAddress: addr(4), OperatorAddress: addr(0x44), Prices: prices(400)},
		{IP: lo, Port: 7470, NodeAddress: addr(1), OperatorAddress: addr(0x11), Prices: prices(100)},
		{IP: netip.MustParseAddr("192.168.0.1"), Port: 443, NodeAddress: addr(5), OperatorAddress: addr(0x55), Prices: prices(500)},
		{IP: lo, Port: 7471, NodeAddress: addr(2), OperatorAddress: addr(0x22), Prices: prices(200)},
		{IP: lo, Port: 7470, NodeAddress: addr(9), OperatorAddress: addr(0x99), Prices: prices(900)}, // same URL as NodeAddress 1
	}
}

func TestChainReader_ValidatorSet(t *testing.T) {
	chain, cfg := devChain(t)
	chain.SetValidators(testValidators())
	chain.SetEpoch(17)
	chain.SetMinNodeCount(4)
	r := dial(t, cfg)

	set, err := r.ValidatorSet(t.Context())
	if err != nil {
		t.Fatalf("ValidatorSet: %v", err)
	}
	wantURLs := []string{
		"http://127.0.0.1:7470",
		"http://127.0.0.1:7471",
		"http://127.0.0.1:7472",
		"http://15.235.83.220:7470",
		"http://192.168.0.1:443",
	}
	if got := set.URLs(); !slices.Equal(got, wantURLs) {
		t.Errorf("URLs = %q, want %q", got, wantURLs)
	}
	if set.MinNodeCount != 4 {
		t.Errorf("MinNodeCount = %d, want 4", set.MinNodeCount)
	}
	v := set.Validators[0] // the first of the two 127.0.0.1:7470 entries on chain
	want := litnode.Validator{URL: "http://127.0.0.1:7470", IP: netip.MustParseAddr("127.0.0.1"), Port: 7470, NodeAddress: addr(1), OperatorAddress: addr(0x11)}
	if v != want {
		t.Errorf("Validators[0] = %+v, want %+v", v, want)
	}
	if v := set.Validators[4]; v.IP != netip.MustParseAddr("192.168.0.1") || v.Port != 443 || v.NodeAddress != addr(5) {
		t.Errorf("Validators[4] = %+v, want 192.168.0.1:443 node 0x…05", v)
	}
	e := set.Epoch
	if e.Number != 17 || e.RewardEpochNumber != 17 || e.NextRewardEpochNumber != 18 {
		t.Errorf("epoch numbers = %d/%d/%d, want 17/17/18", e.Number, e.RewardEpochNumber, e.NextRewardEpochNumber)
	}
	if e.EpochLength != devnet.EpochLength || e.EndTime != e.StartTime+devnet.EpochLength || e.Timeout != devnet.EpochTimeout {
		t.Errorf("epoch timing = %+v", e)
	}
	if got := e.SDKStartTime(); got.Unix() != int64(e.StartTime) || time.Since(got) > time.Minute {
		t.Errorf("SDKStartTime() = %v, want startTime %d ≈ now", got, e.StartTime)
	}
}

func TestChainReader_ValidatorSetHTTPS(t *testing.T) {
	chain, cfg := devChain(t)
	chain.SetValidators(testValidators()[:3])
	cfg.HTTPProtocol = "" // defaults to https://
	set, err := dial(t, cfg).ValidatorSet(t.Context())
	if err != nil {
		t.Fatalf("ValidatorSet: %v", err)
	}
	if got, want := set.URLs()[0], "https://127.0.0.1:7470"; got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
}

func TestChainReader_ValidatorSetChecks(t *testing.T) {
	chain, cfg := devChain(t)
	r := dial(t, cfg)

	chain.SetValidators(testValidators())
	chain.SetMinNodeCount(0)
	if _, err := r.ValidatorSet(t.Context()); !errors.Is(err, litnode.ErrInvalidChainData) {
		t.Errorf("minNodeCount 0: error = %v, want ErrInvalidChainData", err)
	}

	// Six entries but five distinct URLs: a threshold of 6 cannot be met.
	chain.SetMinNodeCount(6)
	if _, err := r.ValidatorSet(t.Context()); !errors.Is(err, litnode.ErrNotEnoughNodes) {
		t.Errorf("5 validators, minNodeCount 6: error = %v, want ErrNotEnoughNodes", err)
	}

	// The automatic threshold is 3; two validators are too few.
	chain.SetMinNodeCount(-1)
	chain.SetValidators(testValidators()[:2])
	if _, err := r.ValidatorSet(t.Context()); !errors.Is(err, litnode.ErrNotEnoughNodes) {
		t.Errorf("2 validators, minNodeCount 3: error = %v, want ErrNotEnoughNodes", err)
	}
	chain.SetValidators(testValidators()[:3])
	if set, err := r.ValidatorSet(t.Context()); err != nil || len(set.Validators) != 3 || set.MinNodeCount != 3 {
		t.Errorf("3 validators: %+v, %v; want 3 validators, minNodeCount 3", set, err)
	}
}

func TestChainReader_Epoch(t *testing.T) {
	chain, cfg := devChain(t)
	r := dial(t, cfg)
	for _, n := range []uint64{1, 2, 1 << 40} {
		chain.SetEpoch(n)
		e, err := r.Epoch(t.Context())
		if err != nil {
			t.Fatalf("Epoch: %v", err)
		}
		if e.Number != n {
			t.Errorf("after SetEpoch(%d): Epoch().Number = %d", n, e.Number)
		}
	}
}

func TestChainReader_NodesForRequest(t *testing.T) {
	chain, cfg := devChain(t)
	nodes := testValidators()[:3]
	nodes[1].Prices[litnode.ProductSign] = nil // reads as 0
	chain.SetValidators(nodes)
	chain.SetEpoch(9)
	chain.SetMinNodeCount(2)
	r := dial(t, cfg)

	for _, products := range [][]litnode.Product{
		litnode.AllProducts(),
		{litnode.ProductSignSessionKey, litnode.ProductSign},
		{},
	} {
		epoch, minNodes, got, err := r.NodesForRequest(t.Context(), products)
		if err != nil {
			t.Fatalf("NodesForRequest(%v): %v", products, err)
		}
		if epoch != 9 || minNodes != 2 || len(got) != len(nodes) {
			t.Fatalf("NodesForRequest(%v) = epoch %d, minNodeCount %d, %d nodes; want 9, 2, %d", products, epoch, minNodes, len(got), len(nodes))
		}
		for i, np := range got {
			wantURL := "http://" + nodes[i].IP.String() + ":" + big.NewInt(int64(nodes[i].Port)).String()
			if np.Validator.URL != wantURL || np.Validator.NodeAddress != nodes[i].NodeAddress {
				t.Errorf("node %d = %+v, want URL %s (contract order)", i, np.Validator, wantURL)
			}
			if len(np.Prices) != len(products) {
				t.Fatalf("node %d: %d prices for %d products", i, len(np.Prices), len(products))
			}
			for j, p := range products {
				want := new(big.Int)
				if nodes[i].Prices[p] != nil {
					want.Set(nodes[i].Prices[p])
				}
				if np.Prices[j].Cmp(want) != 0 {
					t.Errorf("node %d price of %v = %v, want %v", i, p, np.Prices[j], want)
				}
			}
		}
	}

	if _, _, _, err := r.NodesForRequest(t.Context(), []litnode.Product{4}); err == nil {
		t.Error("NodesForRequest(product 4) succeeded, want the contract's revert")
	}
}

// recordingCaller records the selectors a ChainReader sends.
type recordingCaller struct {
	next ethereum.ContractCaller
	mu   sync.Mutex
	sels map[string]common.Address
}

func (c *recordingCaller) CallContract(ctx context.Context, msg ethereum.CallMsg, block *big.Int) ([]byte, error) {
	c.mu.Lock()
	c.sels[hex.EncodeToString(msg.Data[:4])] = *msg.To
	c.mu.Unlock()
	return c.next.CallContract(ctx, msg, block)
}

// TestChainReader_Selectors checks the selectors our ABI produces against
// docs/naga-wire.md §2.2 and §2.3, and the contract each goes to.
func TestChainReader_Selectors(t *testing.T) {
	chain, cfg := devChain(t)
	chain.SetValidators(testValidators())
	client, err := ethclient.DialContext(t.Context(), cfg.RPCURL)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	rec := &recordingCaller{next: client, sels: map[string]common.Address{}}
	r := litnode.NewChainReader(rec, cfg)
	if _, err := r.ValidatorSet(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Epoch(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := r.NodesForRequest(t.Context(), litnode.AllProducts()); err != nil {
		t.Fatal(err)
	}
	want := map[string]common.Address{
		"d09cd5a8": testStaking,   // getActiveUnkickedValidatorStructsAndCounts(uint256)
		"5487c577": testStaking,   // epoch(uint256)
		"224d9449": testPriceFeed, // getNodesForRequest(uint256,uint256[])
	}
	if len(rec.sels) != len(want) {
		t.Errorf("selectors sent = %v, want %v", rec.sels, want)
	}
	for sel, to := range want {
		if got, ok := rec.sels[sel]; !ok || got != to {
			t.Errorf("selector 0x%s sent to %v (sent: %v), want %v", sel, got, ok, to)
		}
	}
}

func TestChainReader_WrongContract(t *testing.T) {
	chain, cfg := devChain(t)
	chain.SetValidators(testValidators())

	noCode := cfg
	noCode.StakingAddress = common.HexToAddress("0x000000000000000000000000000000000000dead")
	if _, err := dial(t, noCode).ValidatorSet(t.Context()); !errors.Is(err, litnode.ErrInvalidChainData) {
		t.Errorf("Staking without code: error = %v, want ErrInvalidChainData", err)
	}

	otherRealm := cfg
	otherRealm.RealmID = 2
	if _, err := dial(t, otherRealm).Epoch(t.Context()); err == nil || !strings.Contains(err.Error(), "execution reverted") {
		t.Errorf("unknown realm: error = %v, want a revert", err)
	}
}

func TestDialChain(t *testing.T) {
	chain, cfg := devChain(t)
	ctx := t.Context()

	client, err := ethclient.DialContext(ctx, cfg.RPCURL)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if id, err := client.ChainID(ctx); err != nil || id.Int64() != testChainID {
		t.Errorf("eth_chainId = %v, %v; want %d", id, err, testChainID)
	}

	hash, ts := chain.AddBlock()
	head, err := client.HeaderByHash(ctx, hash)
	if err != nil {
		t.Fatalf("HeaderByHash: %v", err)
	}
	if head.Time != uint64(ts.Unix()) {
		t.Errorf("header timestamp = %d, want %d", head.Time, ts.Unix())
	}

	wrong := cfg
	wrong.ChainID = 175188
	if _, _, err := litnode.DialChain(ctx, wrong); err == nil || !strings.Contains(err.Error(), "chain id") {
		t.Errorf("DialChain with the wrong chain id: error = %v", err)
	}
	unchecked := cfg
	unchecked.ChainID = 0
	dial(t, unchecked)
	if _, _, err := litnode.DialChain(ctx, litnode.NetworkConfig{}); err == nil {
		t.Error("DialChain without an RPC URL succeeded")
	}
}

func TestPreset(t *testing.T) {
	tests := []struct {
		name                string
		chainID             int64
		rpc                 string
		staking, priceFeed  string
		requireAttestation  bool
		sdkVersionHeaderWas string
	}{
		{"naga-dev", 175188, "https://yellowstone-rpc.litprotocol.com",
			"0x544ac098670a266d3598B543aefBEbAb0A2C86C6", "0xa997f8DE767d59ecb47A76B421E0C5a1764dD945", false, "8.0.0-naga-dev"},
		{"naga-test", 175188, "https://yellowstone-rpc.litprotocol.com",
			"0x149a054CE79A379Ae5E97f5B984B993233b28061", "0x3C18D220947e38EE2BD702ddf353Ab8940a7c72A", true, "8.0.0-naga-test"},
		{"naga", 175200, "https://lit-chain-rpc.litprotocol.com",
			"0x8a861B3640c1ff058CCB109ba11CA3224d228159", "0x88F5535Fa6dA5C225a3C06489fE4e3405b87608C", true, "8.0.0-naga"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := litnode.Preset(tc.name)
			if err != nil {
				t.Fatalf("Preset(%q): %v", tc.name, err)
			}
			if cfg.Name != tc.name || cfg.ChainID != tc.chainID || cfg.RPCURL != tc.rpc {
				t.Errorf("Preset(%q) = name %q chain %d rpc %q", tc.name, cfg.Name, cfg.ChainID, cfg.RPCURL)
			}
			// Compare the checksummed spelling: a typo in case would show.
			if cfg.StakingAddress.Hex() != tc.staking || cfg.PriceFeedAddress.Hex() != tc.priceFeed {
				t.Errorf("Preset(%q) addresses = %s, %s; want %s, %s", tc.name, cfg.StakingAddress.Hex(), cfg.PriceFeedAddress.Hex(), tc.staking, tc.priceFeed)
			}
			if cfg.RequireAttestation != tc.requireAttestation || cfg.RealmID != 1 || cfg.MinimumThreshold != 3 ||
				cfg.HTTPProtocol != "https://" || cfg.SDKVersionHeader != tc.sdkVersionHeaderWas || cfg.StaticNodes != nil {
				t.Errorf("Preset(%q) = %+v", tc.name, cfg)
			}
		})
	}
	for _, name := range []string{"", "naga-local", "datil", "NAGA-DEV", "custom"} {
		if _, err := litnode.Preset(name); err == nil {
			t.Errorf("Preset(%q) succeeded, want an error", name)
		}
	}
}

func TestChainProductString(t *testing.T) {
	for p, want := range map[litnode.Product]string{
		litnode.ProductDecryption: "DECRYPTION", litnode.ProductSign: "SIGN",
		litnode.ProductLitAction: "LIT_ACTION", litnode.ProductSignSessionKey: "SIGN_SESSION_KEY", 7: "Product(7)",
	} {
		if got := p.String(); got != want {
			t.Errorf("Product(%d).String() = %q, want %q", int(p), got, want)
		}
	}
	if got := litnode.AllProducts(); !slices.Equal(got, []litnode.Product{0, 1, 2, 3}) {
		t.Errorf("AllProducts() = %v", got)
	}
}
