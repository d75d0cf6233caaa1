package devnet

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/litsignd/litsignd/litnode"
)

// Config configures a devnet. The zero value is usable.
type Config struct {
	// Nodes is the number of Lit nodes; 0 means 4.
	Nodes int
	// Threshold is the key threshold t: any t nodes of the set can sign,
	// fewer cannot. It is also the chain's minNodeCount and the t of the
	// payment check. 0 means 3; it must be between 2 and Nodes.
	Threshold int
	// Seed names a reproducible network: the BLS root key, the PKP keys,
	// the dev owner keys and the node addresses derive from it. "" means
	// "litsignd-devnet". Identity (E2EE) keys are random, as on Lit.
	Seed string
	// PKPs is the number of dev PKPs minted at start, each owned by its own
	// dev EOA whose private key PKPs returns. 0 means 3; negative means none.
	PKPs int
	// Logger receives debug logs of every request; nil discards them.
	Logger *slog.Logger
	// NodeTimeout is the node-side request timeout; a request that takes
	// longer is answered 408 request_timeout (docs/naga-wire.md §11.1, §12). 0 means
	// 30 s, Lit's default.
	NodeTimeout time.Duration
	// KeepAlive is how long a node keeps an idle keep-alive connection
	// open before closing it. 0 means 5 s, Rocket's default keep_alive
	// (a Lit node serves its endpoints with Rocket, docs/naga-wire.md §3):
	// a client that reuses connections must cope with nodes closing them.
	KeepAlive time.Duration

	// ---- Lit Actions (docs/naga-wire.md §8; execute.go) ----
	// ActionsDir is a directory of Lit Action files. Every regular file
	// directly in it is served under its IPFS CIDv0 (litnode.IPFSCIDv0) to
	// execute requests that name an ipfsId. It is indexed at Start, and
	// read again when a request names a CID not in the index. "" means no
	// directory: only inline code runs.
	ActionsDir string
	// ActionTimeout bounds one run of an action; a longer run is
	// interrupted and answered NodeJsTimeoutError (502). 0 means 30 s,
	// Lit's default.
	ActionTimeout time.Duration
	// ActionMemoryLimit bounds, in bytes, how much the live Go heap may
	// grow while an action runs (the process's heap: actions running at the
	// same time count together); beyond it the action is interrupted and
	// answered NodeJsMemoryLimitError (502). 0 means 64 MiB.
	ActionMemoryLimit uint64
	// ---- end Lit Actions ----
}

// Defaults of Config.
const (
	DefaultNodes       = 4
	DefaultThreshold   = 3
	DefaultSeed        = "litsignd-devnet"
	DefaultPKPs        = 3
	DefaultNodeTimeout = 30 * time.Second
	DefaultKeepAlive   = 5 * time.Second

	DefaultActionTimeout     = 30 * time.Second // Lit Actions
	DefaultActionMemoryLimit = 64 << 20         // Lit Actions, bytes
)

// blockInterval is how old the latest block may get before a handshake mints
// a new one, so that nonces are recent block hashes as on a live chain.
const blockInterval = 2 * time.Second

// DevPKP is a PKP of the devnet with what a test needs to use it.
type DevPKP struct {
	// PublicKey is the PKP's uncompressed public key.
	PublicKey litnode.PKPPublicKey
	// EthAddress is the PKP's Ethereum address.
	EthAddress common.Address
	// OwnerKey is the owner EOA's private key; nil for a PKP minted with
	// MintPKP to an outside owner.
	OwnerKey *ecdsa.PrivateKey
	// OwnerAddress is the owner EOA.
	OwnerAddress common.Address
}

// pkpRecord is the network's on-chain view of a PKP (PKPNFT owner and
// PKPPermissions permitted addresses). The secret itself is not kept: each
// node holds only its Shamir share.
type pkpRecord struct {
	dev       DevPKP
	permitted map[common.Address]bool
}

// Network is a running devnet: a chain endpoint and its Lit nodes, all on
// 127.0.0.1. It is safe for concurrent use.
type Network struct {
	cfg   Config
	log   *slog.Logger
	seed  []byte
	chain *Chain

	chainCfg ChainConfig
	chainLn  net.Listener
	chainSrv *http.Server
	rpcURL   string

	blsKey    litnode.BLSPublicKey
	nonceKey  []byte // network secret for the shared ECDSA nonce (docs/naga-wire.md §13.4)
	hdRoots   []string
	nodes     []*Node
	done      chan struct{}
	closeOnce sync.Once

	// now is the clock of every node; tests may replace it before use.
	now func() time.Time

	mu        sync.Mutex
	active    []bool
	prices    [NumProducts]*big.Int
	pkps      []*pkpRecord
	pkpByAddr map[common.Address]*pkpRecord
	pkpByTok  map[string]*pkpRecord
	payments  map[common.Address]PaymentMode
	mintCount int
	actions   *actionStore // Lit Actions: ActionsDir index and run counts (execute.go)
	blockMu   sync.Mutex
}

// Start builds a devnet and serves it: every node is an http.Server on its
// own 127.0.0.1:0 socket, and the chain's JSON-RPC endpoint another. It
// returns once all of them listen.
func Start(cfg Config) (*Network, error) {
	if cfg.Nodes == 0 {
		cfg.Nodes = DefaultNodes
	}
	if cfg.Threshold == 0 {
		cfg.Threshold = DefaultThreshold
	}
	if cfg.Seed == "" {
		cfg.Seed = DefaultSeed
	}
	if cfg.PKPs == 0 {
		cfg.PKPs = DefaultPKPs
	}
	if cfg.PKPs < 0 {
		cfg.PKPs = 0
	}
	if cfg.NodeTimeout <= 0 {
		cfg.NodeTimeout = DefaultNodeTimeout
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.ActionTimeout <= 0 {
		cfg.ActionTimeout = DefaultActionTimeout
	}
	if cfg.ActionMemoryLimit == 0 {
		cfg.ActionMemoryLimit = DefaultActionMemoryLimit
	}
	if cfg.Nodes < 2 || cfg.Nodes > 64 {
		return nil, fmt.Errorf("devnet: %d nodes; want 2..64", cfg.Nodes)
	}
	if cfg.Threshold < 2 || cfg.Threshold > cfg.Nodes {
		return nil, fmt.Errorf("devnet: threshold %d; want 2..%d", cfg.Threshold, cfg.Nodes)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	n := &Network{
		cfg:       cfg,
		log:       log,
		seed:      []byte(cfg.Seed),
		done:      make(chan struct{}),
		now:       time.Now,
		active:    make([]bool, cfg.Nodes),
		pkpByAddr: map[common.Address]*pkpRecord{},
		pkpByTok:  map[string]*pkpRecord{},
		payments:  map[common.Address]PaymentMode{},
	}
	for i := range n.prices {
		n.prices[i] = new(big.Int).Set(defaultPrice)
	}
	// Lit Actions (execute.go): index ActionsDir before serving.
	acts, err := newActionStore(cfg.ActionsDir, log)
	if err != nil {
		return nil, err
	}
	n.actions = acts

	// docs/naga-wire.md §13.1: the BLS root key, Shamir-split over the node ids.
	bls := litnode.NewBLSSecretKey(append([]byte("bls-root:"), n.seed...))
	n.blsKey = bls.PublicKey()
	ids := make([][32]byte, cfg.Nodes)
	for i := range ids {
		ids[i] = litnode.BLSIdentifierFromUint64(uint64(i + 1))
	}
	blsShares, err := bls.Split(cfg.Threshold, ids, newSeedStream(n.seed, "bls-split"))
	if err != nil {
		return nil, fmt.Errorf("devnet: split BLS key: %w", err)
	}
	n.nonceKey = make([]byte, 32)
	io.ReadFull(newSeedStream(n.seed, "nonce-key"), n.nonceKey)
	hd := newSeedStream(n.seed, "hd-root")
	for range 2 {
		k := hd.ecdsaKey()
		n.hdRoots = append(n.hdRoots, fmt.Sprintf("%x", crypto.CompressPubkey(&k.PublicKey)))
	}

	addrs := newSeedStream(n.seed, "contracts")
	n.chainCfg = ChainConfig{StakingAddress: addrs.address(), PriceFeedAddress: addrs.address()}
	n.chain = NewChain(n.chainCfg)
	n.chain.SetMinNodeCount(cfg.Threshold) // docs/naga-wire.md §2.2: minNodeCount is the threshold

	fail := func(err error) (*Network, error) {
		n.Close()
		return nil, err
	}
	if n.chainLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return fail(fmt.Errorf("devnet: chain listen: %w", err))
	}
	n.rpcURL = "http://" + n.chainLn.Addr().String()
	n.chainSrv = &http.Server{Handler: n.chain, ReadHeaderTimeout: 10 * time.Second}
	go n.chainSrv.Serve(n.chainLn)

	nodeKeys := newSeedStream(n.seed, "node-addresses")
	for i := range cfg.Nodes {
		nd, err := newNode(n, i, blsShares[i], nodeKeys.address(), nodeKeys.address())
		if err != nil {
			return fail(err)
		}
		n.nodes = append(n.nodes, nd)
		n.active[i] = true
	}
	n.publishValidators()

	owners := newSeedStream(n.seed, "dev-owners")
	for range cfg.PKPs {
		k := owners.ecdsaKey()
		if _, err := n.mint(crypto.PubkeyToAddress(k.PublicKey), k); err != nil {
			return fail(err)
		}
	}
	log.Info("devnet started", "nodes", cfg.Nodes, "threshold", cfg.Threshold, "rpc", n.rpcURL, "pkps", cfg.PKPs)
	return n, nil
}

// Close stops the chain endpoint and every node, and releases hanging
// requests. It is idempotent.
func (n *Network) Close() {
	n.closeOnce.Do(func() {
		close(n.done)
		for _, nd := range n.nodes {
			nd.srv.Close()
		}
		if n.chainSrv != nil {
			n.chainSrv.Close()
		} else if n.chainLn != nil {
			n.chainLn.Close()
		}
	})
}

// Shutdown stops the network gracefully, waiting for in-flight requests
// until ctx ends, then closes what is left.
func (n *Network) Shutdown(ctx context.Context) error {
	var errs []error
	for _, nd := range n.nodes {
		errs = append(errs, nd.srv.Shutdown(ctx))
	}
	if n.chainSrv != nil {
		errs = append(errs, n.chainSrv.Shutdown(ctx))
	}
	n.Close()
	return errors.Join(errs...)
}

// Chain returns the chain the network publishes its state to.
func (n *Network) Chain() *Chain { return n.chain }

// RPCURL returns the chain's JSON-RPC URL, "http://127.0.0.1:<port>".
func (n *Network) RPCURL() string { return n.rpcURL }

// ChainConfig returns the chain's configuration: chain id and the Staking
// and PriceFeed addresses.
func (n *Network) ChainConfig() ChainConfig {
	c := n.chainCfg
	if c.ChainID == 0 {
		c.ChainID = DefaultChainID
	}
	return c
}

// NetworkConfig returns a litnode.NetworkConfig for this devnet (name
// "custom", http:// node URLs, no attestation, MinimumThreshold = the key
// threshold).
func (n *Network) NetworkConfig() litnode.NetworkConfig {
	c := n.ChainConfig()
	return litnode.NetworkConfig{
		Name:             litnode.NetworkCustom,
		ChainID:          c.ChainID,
		RPCURL:           n.rpcURL,
		StakingAddress:   c.StakingAddress,
		PriceFeedAddress: c.PriceFeedAddress,
		RealmID:          1,
		HTTPProtocol:     "http://",
		MinimumThreshold: n.cfg.Threshold,
		SDKVersionHeader: devnetSDKVersion,
	}
}

// devnetSDKVersion is the SDK version header a devnet client sends.
const devnetSDKVersion = "8.0.0-devnet"

// NodeURLs returns "http://127.0.0.1:<port>" of every node currently in the
// validator set, in node order.
func (n *Network) NodeURLs() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for i, nd := range n.nodes {
		if n.active[i] {
			out = append(out, nd.url)
		}
	}
	return out
}

// Nodes returns every node, validator or not, in order.
func (n *Network) Nodes() []*Node { return append([]*Node(nil), n.nodes...) }

// NetworkPublicKey returns the BLS root public key (the handshake's
// networkPublicKey).
func (n *Network) NetworkPublicKey() litnode.BLSPublicKey { return n.blsKey }

// Threshold returns the key threshold t.
func (n *Network) Threshold() int { return n.cfg.Threshold }

// Epoch returns the current epoch number.
func (n *Network) Epoch() uint64 { return n.chain.Epoch() }

// AdvanceEpoch moves the chain to the next epoch, and every node rotates its
// identity key: previous ← current, a new current (docs/naga-wire.md §4.5, §13.2).
// A client holding handshake keys from before survives one rotation and gets
// "can't decrypt" after two.
func (n *Network) AdvanceEpoch() {
	n.mu.Lock()
	e := n.chain.Epoch() + 1
	n.chain.SetEpoch(e)
	n.mu.Unlock()
	for _, nd := range n.nodes {
		nd.rotateIdentity()
	}
	n.log.Info("devnet epoch advanced", "epoch", e)
}

// RemoveValidator takes node i out of the validator set on chain. The node
// keeps answering HTTP (its handshake still works) but refuses to sign, and
// the other nodes refuse a nodeSet that names it.
func (n *Network) RemoveValidator(i int) { n.setActive(i, false) }

// AddValidator puts node i back into the validator set.
func (n *Network) AddValidator(i int) { n.setActive(i, true) }

func (n *Network) setActive(i int, on bool) {
	if i < 0 || i >= len(n.nodes) {
		return
	}
	n.mu.Lock()
	n.active[i] = on
	n.mu.Unlock()
	n.publishValidators()
}

// publishValidators writes the validator set and prices to the chain.
func (n *Network) publishValidators() {
	n.mu.Lock()
	defer n.mu.Unlock()
	var vs []ChainNode
	for i, nd := range n.nodes {
		if !n.active[i] {
			continue
		}
		cn := ChainNode{IP: netip.AddrFrom4([4]byte{127, 0, 0, 1}), Port: uint32(nd.port), NodeAddress: nd.nodeAddress, OperatorAddress: nd.operator}
		for j := range cn.Prices {
			cn.Prices[j] = new(big.Int).Set(n.prices[j])
		}
		vs = append(vs, cn)
	}
	n.chain.SetValidators(vs)
}

// isActive reports whether node i is in the validator set.
func (n *Network) isActive(i int) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.active[i]
}

// nodeBySocket returns the node whose socket address is s, and whether it
// is a current validator.
func (n *Network) nodeBySocket(s string) (*Node, bool) {
	for i, nd := range n.nodes {
		if nd.socket == s {
			return nd, n.isActive(i)
		}
	}
	return nil, false
}

// latestBlock returns the newest block, minting one first when the newest is
// older than blockInterval, so handshakes hand out recent block hashes.
func (n *Network) latestBlock() (common.Hash, time.Time) {
	n.blockMu.Lock()
	defer n.blockMu.Unlock()
	h, ts := n.chain.LatestBlock()
	if time.Since(ts) >= blockInterval {
		h, ts = n.chain.AddBlock()
	}
	return h, ts
}

// PKPs returns the PKPs minted so far, in mint order.
func (n *Network) PKPs() []DevPKP {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]DevPKP, len(n.pkps))
	for i, r := range n.pkps {
		out[i] = r.dev
	}
	return out
}

// MintPKP mints a new PKP owned by owner: its key derives from the seed and
// the mint count, and every node receives its Shamir share. OwnerKey of the
// result is nil.
func (n *Network) MintPKP(owner common.Address) (DevPKP, error) {
	return n.mint(owner, nil)
}

func (n *Network) mint(owner common.Address, ownerKey *ecdsa.PrivateKey) (DevPKP, error) {
	n.mu.Lock()
	idx := n.mintCount
	n.mintCount++
	n.mu.Unlock()
	keys := newSeedStream(n.seed, fmt.Sprintf("pkp/%d", idx))
	x := keys.scalar()
	priv := secp256k1.NewPrivateKey(&x)
	pk, err := litnode.ParsePKPPublicKey(fmt.Sprintf("%x", priv.PubKey().SerializeUncompressed()))
	if err != nil {
		return DevPKP{}, fmt.Errorf("devnet: mint PKP: %w", err)
	}
	ids := make([]secp256k1.ModNScalar, len(n.nodes))
	for i := range ids {
		ids[i] = ecdsaID(i)
	}
	// docs/naga-wire.md §13.4 step 4: each node gets its fixed share of x.
	shares := shamirShares(x, n.cfg.Threshold, ids, keys)
	tok := pk.TokenID()
	for i, nd := range n.nodes {
		nd.setKeyShare(tok, shares[i])
	}
	priv.Zero()
	x.Zero()
	dev := DevPKP{PublicKey: pk, EthAddress: pk.Address(), OwnerKey: ownerKey, OwnerAddress: owner}
	rec := &pkpRecord{dev: dev, permitted: map[common.Address]bool{}}
	n.mu.Lock()
	n.pkps = append(n.pkps, rec)
	n.pkpByAddr[dev.EthAddress] = rec
	n.pkpByTok[tok] = rec
	n.mu.Unlock()
	n.log.Debug("devnet PKP minted", "pkp", pk.Hex(), "owner", owner.Hex())
	return dev, nil
}

// PermitAddress permits addr to use the PKP, as PKPPermissions.addPermittedAddress
// does: an EthWallet auth method or EOA session of addr then passes
// check_pkp_auth for it (docs/naga-auth.md §6 step 7).
func (n *Network) PermitAddress(pkp litnode.PKPPublicKey, addr common.Address) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	rec, ok := n.pkpByTok[pkp.TokenID()]
	if !ok {
		return fmt.Errorf("devnet: unknown PKP %s", pkp.Hex())
	}
	rec.permitted[addr] = true
	return nil
}

// RevokeAddress undoes PermitAddress.
func (n *Network) RevokeAddress(pkp litnode.PKPPublicKey, addr common.Address) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	rec, ok := n.pkpByTok[pkp.TokenID()]
	if !ok {
		return fmt.Errorf("devnet: unknown PKP %s", pkp.Hex())
	}
	delete(rec.permitted, addr)
	return nil
}

// pkpAuthorizes reports whether addr is the owner of, or permitted on, the
// PKP with token id tok, and whether the PKP exists.
func (n *Network) pkpAuthorizes(tok string, addr common.Address) (allowed, exists bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	rec, ok := n.pkpByTok[tok]
	if !ok {
		return false, false
	}
	return rec.dev.OwnerAddress == addr || rec.permitted[addr], true
}
