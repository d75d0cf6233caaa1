package v3fake

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Version selects which server's behaviour the fake reproduces
// (docs/lit-v3.md §0).
type Version int

const (
	// V12 is v1.2+ (the default): JSON catcher bodies, 401 for unknown
	// keys, 503 for a billing outage, writes charged only on success.
	V12 Version = iota
	// April is v1.0.x: Rocket's default catcher pages for guard failures,
	// 402 for unknown keys with billing on (500 with it off), 402 for a
	// billing outage.
	April
)

func (v Version) String() string {
	if v == April {
		return "april"
	}
	return "v1.2"
}

// Config configures a fake. The zero value is usable: v1.2 behaviour, no
// propagation delay, billing on, the service's default limits.
type Config struct {
	// Addr is the listen address; "" is 127.0.0.1 on a random port.
	Addr string
	// Version selects the error bodies and key/billing statuses.
	Version Version
	// BillingOff is April's local stack without Stripe (docs/lit-v3.md
	// §2.5): no credit checks, no charges, unknown keys fail with 500
	// AccountDoesNotExist at the permission check. April only.
	BillingOff bool
	// PropagationDelay is how long a grant or revocation takes to reach
	// /lit_action (docs/lit-v3.md §2.6; the service's is "short, variable";
	// DefaultPropagationDelay is a realistic choice, 0 is immediate).
	PropagationDelay time.Duration
	// StaleDenial models another instance's cached "false" (docs/lit-v3.md
	// §2.6: April instances cache denials for up to 60 min): once a key is
	// refused a CID (or a wallet in a CID), the refusal persists this long
	// even after the grant propagated. 0 turns it off.
	StaleDenial time.Duration
	// MaxConcurrentRuns makes the fake shed load like the service's
	// CpuAvailable guard (docs/lit-v3.md §3.3 step 2): while this many
	// actions run, /lit_action answers 429 before auth. 0 is no limit.
	MaxConcurrentRuns int
	// MasterKeyExecutes lets the account key run actions; by the contract
	// code it may not (docs/lit-v3.md §2.3, U2), which is the default.
	MasterKeyExecutes bool
	// StarterCredits is NewAccount's credit when asked for the default.
	StarterCredits int64
	// Limits of one action run; zero fields take the service defaults
	// (docs/lit-v3.md §4.6).
	ActionTimeout     time.Duration // 900 s
	MemoryLimitMB     uint64        // 64
	MaxResponseLength int           // 102400
	MaxConsoleLog     int           // 102400
	MaxCodeLength     int           // 16 MiB
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Root seeds getLitActionPrivateKey; zero is random per fake.
	Root [32]byte
}

// Defaults.
const (
	DefaultPropagationDelay  = 3 * time.Second
	DefaultActionTimeout     = 900 * time.Second
	DefaultMemoryLimitMB     = 64
	DefaultMaxResponseLength = 102400
	DefaultMaxConsoleLog     = 102400
	DefaultMaxCodeLength     = 16 << 20
	// BodyLimit is Rocket's JSON limit (413 above it).
	BodyLimit = 10 << 20
)

// Server is a running fake.
type Server struct {
	cfg   Config
	srv   *http.Server
	ln    net.Listener
	url   string
	close sync.Once

	mu       sync.Mutex
	accounts map[common.Hash]*account // by master hash
	keyIndex map[common.Hash]*account // every key hash → account
	keyAdded map[common.Hash]time.Time
	runs     map[string]int // CID → executions started
	cache    map[string]string
	// denied is when a (key, CID, wallet) check was first refused, for
	// StaleDenial; the wallet is zero for the CID check.
	denied map[denialKey]time.Time
	total  atomic.Int64

	overloaded    atomic.Bool
	inFlight      atomic.Int64
	billingOutage atomic.Bool
	newAccounts   newAccountLimiter
}

// Start serves a fake.
func Start(cfg Config) (*Server, error) {
	if cfg.ActionTimeout <= 0 {
		cfg.ActionTimeout = DefaultActionTimeout
	}
	if cfg.MemoryLimitMB == 0 {
		cfg.MemoryLimitMB = DefaultMemoryLimitMB
	}
	if cfg.MaxResponseLength <= 0 {
		cfg.MaxResponseLength = DefaultMaxResponseLength
	}
	if cfg.MaxConsoleLog <= 0 {
		cfg.MaxConsoleLog = DefaultMaxConsoleLog
	}
	if cfg.MaxCodeLength <= 0 {
		cfg.MaxCodeLength = DefaultMaxCodeLength
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Root == ([32]byte{}) {
		if _, err := rand.Read(cfg.Root[:]); err != nil {
			return nil, err
		}
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("v3fake: %w", err)
	}
	s := &Server{
		cfg: cfg, ln: ln, url: "http://" + ln.Addr().String(),
		accounts: map[common.Hash]*account{}, keyIndex: map[common.Hash]*account{},
		keyAdded: map[common.Hash]time.Time{}, runs: map[string]int{}, cache: map[string]string{}, denied: map[denialKey]time.Time{},
	}
	s.srv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the deployment root (paths are under URL + "/core/v1").
func (s *Server) URL() string { return s.url }

// Close stops the server.
func (s *Server) Close() {
	s.close.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(ctx)
	})
}

func (s *Server) now() time.Time { return s.cfg.Now() }

// SetOverloaded makes every guarded route answer 429 before auth
// (docs/lit-v3.md §3.3 step 2).
func (s *Server) SetOverloaded(on bool) { s.overloaded.Store(on) }

// SetBillingOutage makes billed routes fail as when Stripe is down: 503 on
// v1.2, 402 on April.
func (s *Server) SetBillingOutage(on bool) { s.billingOutage.Store(on) }

// Running returns how many actions are running now.
func (s *Server) Running() int64 { return s.inFlight.Load() }

// Runs returns how many times the action with this CID started running.
func (s *Server) Runs(cid string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[cid]
}

// TotalRuns returns how many actions started running.
func (s *Server) TotalRuns() int64 { return s.total.Load() }

// ActionPublicKey is what Lit.Actions.getLitActionPublicKey returns for cid
// (compressed SEC1, 0x-hex), for tests.
func (s *Server) ActionPublicKey(cid string) string {
	return "0x" + fmt.Sprintf("%x", crypto.CompressPubkey(&s.actionKey(cid).PublicKey))
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /core/v1/lit_action", s.handleLitAction)
	mux.HandleFunc("GET /core/v1/account_exists", s.keyed(s.handleAccountExists))
	mux.HandleFunc("GET /core/v1/list_wallets", s.keyed(s.handleListWallets))
	mux.HandleFunc("GET /core/v1/list_wallets_in_group", s.keyed(s.handleListWalletsInGroup))
	mux.HandleFunc("GET /core/v1/list_groups", s.keyed(s.handleListGroups))
	mux.HandleFunc("GET /core/v1/list_actions", s.keyed(s.handleListActions))
	mux.HandleFunc("GET /core/v1/billing/balance", s.keyed(s.handleBalance))
	mux.HandleFunc("GET /core/v1/version", s.handleVersion)
	mux.HandleFunc("GET /core/v1/get_lit_action_client_config", s.handleClientConfig)
	mux.HandleFunc("POST /core/v1/get_lit_action_ipfs_id", s.handleIPFSID)
	mux.HandleFunc("GET /core/v1/get_node_chain_config", s.handleChainConfig)
	mux.HandleFunc("GET /health", s.handleHealth)
	s.writeRoutes(mux)
	return s.common(mux)
}

// common sets X-Request-Id (a fresh UUIDv4), echoes X-Correlation-Id when
// sent, answers POSTs without a JSON content type like an unknown route
// (docs/lit-v3.md §1.3), and sends unknown routes to the 404 catcher.
func (s *Server) common(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", uuid4())
		if c := r.Header.Get("X-Correlation-Id"); c != "" {
			w.Header().Set("X-Correlation-Id", c)
		}
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodPost && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			s.catcher(w, r, http.StatusNotFound, "", "")
			return
		}
		if _, pattern := mux.Handler(r); pattern == "" {
			s.catcher(w, r, http.StatusNotFound, "", "")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func uuid4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// writeJSON answers with a JSON value.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`"Internal server error."`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// handlerError is the body of handler errors in every version: a JSON
// string (docs/lit-v3.md §1.4).
func handlerError(w http.ResponseWriter, status int, msg string) { writeJSON(w, status, msg) }
