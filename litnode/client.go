package litnode

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"sort"
	"sync"
	"time"
)

// ChainSource is what the client reads from the chain. *ChainReader
// implements it.
type ChainSource interface {
	ValidatorSet(ctx context.Context) (ValidatorSet, error)
	Epoch(ctx context.Context) (EpochInfo, error)
	NodesForRequest(ctx context.Context, products []Product) (epoch uint64, minNodeCount int, nodes []NodePrice, err error)
}

// AttestationMode says what the client does about SEV-SNP attestation.
type AttestationMode int

const (
	// AttestationAuto checks attestation where the network requires it. This
	// build cannot check AMD SEV-SNP reports, so on such networks the
	// handshake fails with ErrAttestationUnsupported.
	AttestationAuto AttestationMode = iota
	// AttestationSkip trusts TLS alone, even where the network requires
	// attestation; every handshake logs a warning.
	AttestationSkip
)

// Client talks to a Lit network. Configure it, then call operations; the
// first one connects. One Client keeps one connection state (handshake,
// identity keys, threshold, prices) shared by all concurrent operations and
// refreshed on epoch change and on failures. It is safe for concurrent use.
type Client struct {
	// Network says where the network is. Required.
	Network NetworkConfig
	// Chain reads validators, epoch and prices. Nil means dial
	// Network.RPCURL on first use. With Network.StaticNodes and no RPC URL,
	// nodes are used as listed with zero prices.
	Chain ChainSource
	// HTTPClient sends node requests. Nil means a client with sane limits.
	HTTPClient *http.Client
	// Attestation: see AttestationMode.
	Attestation AttestationMode
	// HandshakeTimeout bounds one node's handshake (default 10 s).
	HandshakeTimeout time.Duration
	// RequestTimeout bounds one node request (default 45 s: longer than a
	// node's own 30 s, so its 408 reaches us; docs/naga-wire.md §12).
	RequestTimeout time.Duration
	// MaxAttempts, when positive, caps the attempts of one operation; the
	// per-reason budgets of docs/naga-wire.md §11.4 apply in any case.
	MaxAttempts int
	// RetryBackoff is the backoff unit: retry n of a reason waits n units
	// (default 1 s, as the SDK).
	RetryBackoff time.Duration
	// PriceTTL is how long node prices are reused (default 3 s, as the SDK).
	PriceTTL time.Duration
	// MaxStateAge: WatchEpoch re-handshakes a connection older than this
	// even without an epoch change, so a quiet client stays fresh (new
	// identity keys, node set, blockhash). Default 10 min.
	MaxStateAge time.Duration
	// Logger receives client logs; nil discards.
	Logger *slog.Logger
	// Observe, when set, is called after every node request and refresh,
	// for metrics. It must be fast and safe for concurrent use.
	Observe func(Observation)
	// FreshE2EEKeys makes a new X25519 key pair (and shared key) per node
	// per request, as the SDKs do. By default one key pair per node is made
	// on first use after each handshake and reused until the next one (an
	// epoch change, a refresh after a failure, or MaxStateAge); see
	// docs/e2ee-key-reuse.md for why that is safe.
	FreshE2EEKeys bool
	// Now and Rand are for tests; nil means time.Now and crypto/rand.
	Now  func() time.Time
	Rand io.Reader

	initOnce  sync.Once
	initErr   error
	refreshMu sync.Mutex
	mu        sync.RWMutex
	state     *connState
	gen       uint64
	penalties map[string]penalty
	closeRPC  func()
}

// Observation reports one node request or one refresh.
type Observation struct {
	Op       string // handshake, pkp_sign, sign_session_key, execute_js, refresh
	Node     string // empty for refresh
	Duration time.Duration
	Err      error
	Code     string // the node's error code, if any
}

// State is a snapshot of the client's connection to the network.
type State struct {
	Epoch            uint64
	Threshold        int
	NetworkPublicKey BLSPublicKey
	LatestBlockhash  string
	Nodes            []string // handshaken nodes, sorted
	ConnectedAt      time.Time
}

type nodeConn struct {
	url         string
	identityKey [32]byte
	epoch       uint64
	// e2ee is this connection's client key pair for the node, made on first
	// use and shared by all requests until the next handshake (see
	// Client.FreshE2EEKeys and docs/e2ee-key-reuse.md).
	e2ee *lazyChannel
}

type connState struct {
	State
	nodes    map[string]nodeConn
	priceMu  sync.Mutex
	prices   map[string][]*big.Int // by node URL, indexed by Product
	pricedAt time.Time
}

type penalty struct {
	score int
	until time.Time
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) rand() io.Reader {
	if c.Rand != nil {
		return c.Rand
	}
	return rand.Reader
}

func (c *Client) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (c *Client) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return defaultHTTPClient
}

// defaultHTTPClient sends plain http:// node requests on the caller's
// goroutine (directTransport) and https:// ones through http.Transport.
var defaultHTTPClient = &http.Client{Transport: newDirectTransport(&http.Transport{
	Proxy:               nil,
	MaxIdleConnsPerHost: 64,
	IdleConnTimeout:     90 * time.Second,
	ForceAttemptHTTP2:   true,
	// A request (hex ciphertext of a few KiB) and its answer each fit one
	// buffer: one write and few reads per request instead of one per 4 KiB.
	WriteBufferSize: 32 << 10,
	ReadBufferSize:  32 << 10,
})}

func durationOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (c *Client) observe(o Observation) {
	if c.Observe != nil {
		c.Observe(o)
	}
}

func (c *Client) init(ctx context.Context) error {
	c.initOnce.Do(func() {
		c.penalties = map[string]penalty{}
		if c.Network.RequireAttestation && c.Attestation != AttestationSkip {
			c.initErr = fmt.Errorf("%w: network %s requires SEV-SNP attestation; skip it explicitly (trusting TLS only) or use a network that does not require it", ErrAttestationUnsupported, c.Network.Name)
			return
		}
		if c.Chain == nil && c.Network.RPCURL != "" {
			r, closeFn, err := DialChain(ctx, c.Network)
			if err != nil {
				c.initErr = fmt.Errorf("dial chain: %w", err)
				return
			}
			c.Chain, c.closeRPC = r, closeFn
		}
		if c.Chain == nil && len(c.Network.StaticNodes) == 0 {
			c.initErr = errors.New("lit client: no chain RPC URL and no static nodes")
		}
	})
	return c.initErr
}

// Close releases the chain connection the client dialled, if any.
func (c *Client) Close() {
	if c.closeRPC != nil {
		c.closeRPC()
	}
}

// Connect runs discovery and the handshake now, if not done yet.
func (c *Client) Connect(ctx context.Context) error {
	_, err := c.current(ctx)
	return err
}

// State returns the current connection state; ok is false before the first
// successful handshake.
func (c *Client) State() (State, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.state == nil {
		return State{}, false
	}
	s := c.state.State
	s.Nodes = append([]string(nil), s.Nodes...)
	return s, true
}

// current returns the connection state, connecting if needed.
func (c *Client) current(ctx context.Context) (*connState, error) {
	if err := c.init(ctx); err != nil {
		return nil, err
	}
	c.mu.RLock()
	s, gen := c.state, c.gen
	c.mu.RUnlock()
	if s != nil {
		return s, nil
	}
	if err := c.refresh(ctx, gen); err != nil {
		return nil, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.state, nil
}

// Refresh re-reads the chain and re-runs the handshake now.
func (c *Client) Refresh(ctx context.Context) error {
	if err := c.init(ctx); err != nil {
		return err
	}
	c.mu.RLock()
	gen := c.gen
	c.mu.RUnlock()
	return c.refresh(ctx, gen)
}

// refresh replaces the state unless another refresh finished since the
// caller saw generation seen: concurrent failures share one refresh.
func (c *Client) refresh(ctx context.Context, seen uint64) error {
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	c.mu.RLock()
	done := c.gen != seen && c.state != nil
	c.mu.RUnlock()
	if done {
		return nil
	}
	start := time.Now()
	s, err := c.connect(ctx)
	c.observe(Observation{Op: "refresh", Duration: time.Since(start), Err: err})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.state = s
	c.gen++
	c.mu.Unlock()
	c.logger().Info("lit network connected", "epoch", s.Epoch, "threshold", s.Threshold, "nodes", len(s.Nodes))
	return nil
}

// WatchEpoch polls the chain epoch every interval and refreshes the
// connection when it changes, until ctx ends (docs/naga-wire.md §2.2: the SDK
// re-handshakes when the Staking state returns to Active).
func (c *Client) WatchEpoch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.init(ctx); err != nil || c.Chain == nil {
			continue
		}
		e, err := c.Chain.Epoch(ctx)
		if err != nil {
			c.logger().Warn("lit chain epoch poll failed", "err", err)
			continue
		}
		c.mu.RLock()
		s, gen := c.state, c.gen
		c.mu.RUnlock()
		switch {
		case s != nil && s.Epoch != e.Number:
			c.logger().Info("lit epoch changed", "from", s.Epoch, "to", e.Number)
			if err := c.refresh(ctx, gen); err != nil {
				c.logger().Warn("lit refresh after epoch change failed", "err", err)
			}
		case s != nil && c.now().Sub(s.ConnectedAt) > durationOr(c.MaxStateAge, 10*time.Minute):
			if err := c.refresh(ctx, gen); err != nil {
				c.logger().Warn("lit periodic refresh failed", "err", err)
			}
		}
	}
}

// quotes returns the connected nodes' prices for product, cached for PriceTTL.
func (c *Client) quotes(ctx context.Context, s *connState, product Product) ([]NodeQuote, error) {
	s.priceMu.Lock()
	defer s.priceMu.Unlock()
	if s.prices == nil || c.now().Sub(s.pricedAt) > durationOr(c.PriceTTL, 3*time.Second) {
		prices := map[string][]*big.Int{}
		if c.Chain != nil {
			_, _, nodes, err := c.Chain.NodesForRequest(ctx, AllProducts())
			if err != nil {
				return nil, fmt.Errorf("%w: read node prices: %v", ErrNodeUnavailable, err)
			}
			for _, n := range nodes {
				prices[n.Validator.URL] = n.Prices
			}
		}
		s.prices, s.pricedAt = prices, c.now()
	}
	out := make([]NodeQuote, 0, len(s.nodes))
	for _, url := range s.Nodes {
		q := NodeQuote{URL: url, Price: new(big.Int)}
		if p := s.prices[url]; int(product) < len(p) && p[product] != nil {
			q.Price = p[product]
		} else if c.Chain != nil && len(s.prices) > 0 {
			continue // not in the price feed: not a node of this epoch
		}
		out = append(out, q)
	}
	return out, nil
}

// selectTargets picks the threshold cheapest nodes among the least recently
// failed: nodes that failed in the last 30 s are left out while enough
// others remain, so a retry after a failure uses another node set.
//
// exclude names one node to leave out if enough others remain: the node most
// often present in this operation's failed node sets (see suspects).
func (c *Client) selectTargets(ctx context.Context, s *connState, product Product, userMaxPrice *big.Int, exclude string) ([]Target, error) {
	qs, err := c.quotes(ctx, s, product)
	if err != nil {
		return nil, err
	}
	if exclude != "" && len(qs) > s.Threshold {
		for i, q := range qs {
			if q.URL == exclude {
				qs = append(qs[:i:i], qs[i+1:]...)
				break
			}
		}
	}
	now := c.now()
	scores := make(map[string]int, len(qs))
	c.mu.RLock()
	for _, q := range qs {
		if p, ok := c.penalties[q.URL]; ok && now.Before(p.until) {
			scores[q.URL] = p.score
		}
	}
	c.mu.RUnlock()
	sort.SliceStable(qs, func(i, j int) bool { return scores[qs[i].URL] < scores[qs[j].URL] })
	if len(qs) > s.Threshold {
		cut := s.Threshold
		for cut < len(qs) && scores[qs[cut].URL] == scores[qs[s.Threshold-1].URL] {
			cut++
		}
		qs = qs[:cut]
	}
	return SelectCheapest(qs, s.Threshold, userMaxPrice)
}

// suspects tracks, within one operation, how often each node was in a node
// set whose shares did not combine. ECDSA shares are additive, so a bad share
// cannot be traced to its node; leaving out the most suspected node on the
// next attempt converges on the culprit within threshold attempts.
type suspects map[string]int

func (sp suspects) add(targets []Target) {
	for _, t := range targets {
		sp[t.URL]++
	}
}

// blame records the failure of an attempt: nodes named by a node error are
// the prime suspects; a failure no node can be blamed for (shares that do not
// combine) counts against every node of the set.
func (sp suspects) blame(err error, targets []Target) {
	var named bool
	var walk func(error)
	walk = func(err error) {
		var ne *NodeError
		if errors.As(err, &ne) && ne.Node != "" {
			sp[ne.Node] += 100
			named = true
		}
		if op, ok := err.(*OpError); ok {
			for _, e := range op.Errs {
				walk(e)
			}
		}
	}
	walk(err)
	if !named {
		sp.add(targets)
	}
}

// top returns the most suspected node ("" if none); ties go to the smallest URL.
func (sp suspects) top() string {
	best, n := "", 0
	for url, k := range sp {
		if k > n || k == n && url < best {
			best, n = url, k
		}
	}
	return best
}

// penalise records that node failed; weight says how strongly.
func (c *Client) penalise(url string, weight int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.penalties[url]
	if c.now().After(p.until) {
		p.score = 0
	}
	p.score += weight
	p.until = c.now().Add(30 * time.Second)
	c.penalties[url] = p
}
