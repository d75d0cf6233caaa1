package litv3

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Base URLs of the deployments (docs/lit-v3.md §1.1). Paths are under
// BaseURL + "/core/v1".
const (
	ProdURL = "https://api.chipotle.litprotocol.com"
	DevURL  = "https://api.dev.litprotocol.com"
	TestURL = "https://test.chipotle.litprotocol.com"
)

// Presets maps the names --lit-v3-url accepts to base URLs.
var Presets = map[string]string{"prod": ProdURL, "dev": DevURL, "test": TestURL}

// Default timeouts. A signing action runs in well under a second
// (docs/lit-v3.md §7); an action may run up to 15 minutes on the server, so a
// caller with long actions raises ActionTimeout above 915 s.
const (
	DefaultActionTimeout = 90 * time.Second
	DefaultReadTimeout   = 15 * time.Second
)

// maxBody bounds what is read of any response: the response and logs are
// each capped at 100 KiB by the service (docs/lit-v3.md §4.6; 1 MB in later
// docs, U4).
const maxBody = 8 << 20

// Options configure a Client. The zero value uses the defaults.
type Options struct {
	// HTTPClient sends the requests; nil is a client with no overall
	// timeout (the per-call timeouts below apply).
	HTTPClient *http.Client
	// ActionTimeout bounds one LitAction call; ReadTimeout one read call.
	ActionTimeout, ReadTimeout time.Duration
	// UserAgent is sent when set.
	UserAgent string
}

// Client talks to one Lit v3 deployment. It is safe for concurrent use.
type Client struct {
	base          string
	hc            *http.Client
	actionTimeout time.Duration
	readTimeout   time.Duration
	userAgent     string
}

// New returns a client of the service at baseURL (a deployment root such as
// ProdURL, with or without the "/core/v1" suffix, or a preset name: prod,
// dev, test).
func New(baseURL string, opts Options) (*Client, error) {
	if p, ok := Presets[baseURL]; ok {
		baseURL = p
	}
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("litv3: base URL %q: want http(s)://host[:port]", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/core/v1")
	c := &Client{
		base: u.String(), hc: opts.HTTPClient, actionTimeout: opts.ActionTimeout,
		readTimeout: opts.ReadTimeout, userAgent: opts.UserAgent,
	}
	if c.hc == nil {
		// No redirects: a bearer key goes only to the configured host,
		// and a redirected POST would not be the call we meant.
		c.hc = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if c.actionTimeout <= 0 {
		c.actionTimeout = DefaultActionTimeout
	}
	if c.readTimeout <= 0 {
		c.readTimeout = DefaultReadTimeout
	}
	return c, nil
}

// BaseURL is the deployment root the client talks to.
func (c *Client) BaseURL() string { return c.base }

// ActionRequest is one Lit Action run (docs/lit-v3.md §3.1).
type ActionRequest struct {
	// Code is the action's source; it wins over IPFSID. The server names
	// the action by the CIDv0 of exactly these bytes (CID).
	Code string
	// IPFSID names code the same server process has cached from an earlier
	// call (it is not fetched from IPFS). Prefer Code.
	IPFSID string
	// JSParams is the argument of main. Nil is sent as {} (a null argument
	// breaks `main({…})`, docs/lit-v3.md §4.1).
	JSParams any
	// CorrelationID is sent as X-Correlation-Id (e.g. the job id).
	CorrelationID string
	// PrivacyMode sends X-Privacy-Mode: true, which stops the server
	// logging the request (for sensitive js_params).
	PrivacyMode bool
}

// ActionResponse is a 200 from /lit_action (docs/lit-v3.md §3.5).
type ActionResponse struct {
	// Response is the action's response: its string parsed as JSON when it
	// parses, else the string as a JSON string.
	Response json.RawMessage `json:"response"`
	// Logs is the console output, "\n" after each call.
	Logs string `json:"logs"`
	// HasError is always false on every server version read.
	HasError bool `json:"has_error"`
	// RequestID is the X-Request-Id header.
	RequestID string `json:"-"`
}

type litActionBody struct {
	Code     *string `json:"code,omitempty"`
	IPFSID   *string `json:"ipfs_id,omitempty"`
	JSParams any     `json:"js_params"`
}

// LitAction runs an action. Every failure is an *Error; see its MayHaveRun
// before retrying.
func (c *Client) LitAction(ctx context.Context, key UsageKey, req ActionRequest) (*ActionResponse, error) {
	const op = "lit_action"
	if key.IsZero() {
		return nil, &Error{Op: op, Kind: ErrUnauthorized, Message: "no API key"}
	}
	body := litActionBody{JSParams: req.JSParams}
	switch {
	case req.Code != "":
		body.Code = &req.Code
	case req.IPFSID != "":
		body.IPFSID = &req.IPFSID
	default:
		return nil, &Error{Op: op, Kind: ErrBadRequest, Message: "either code or an IPFS id is required"}
	}
	if body.JSParams == nil {
		body.JSParams = struct{}{}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, &Error{Op: op, Kind: ErrBadRequest, Message: "js_params: " + err.Error()}
	}
	h := http.Header{}
	if req.CorrelationID != "" {
		h.Set("X-Correlation-Id", req.CorrelationID)
	}
	if req.PrivacyMode {
		h.Set("X-Privacy-Mode", "true")
	}
	var out ActionResponse
	hdr, err := c.do(ctx, c.actionTimeout, op, http.MethodPost, "/core/v1/lit_action", key, h, raw, true, &out)
	if err != nil {
		return nil, err
	}
	out.RequestID = hdr.Get("X-Request-Id")
	if out.HasError {
		return &out, &Error{Op: op, Status: http.StatusOK, Kind: ErrActionFailed, MayHaveRun: true,
			Message: "has_error is true: " + string(out.Response), RequestID: out.RequestID}
	}
	if out.Response == nil {
		out.Response = json.RawMessage("null")
	}
	return &out, nil
}

// AccountExists is GET /account_exists: true for any key of a managed
// account, false for unknown keys and ChainSecured accounts. It is free and
// runs nothing.
func (c *Client) AccountExists(ctx context.Context, key UsageKey) (bool, error) {
	var ok bool
	_, err := c.do(ctx, c.readTimeout, "account_exists", http.MethodGet, "/core/v1/account_exists", key, nil, nil, false, &ok)
	return ok, err
}

// Wallet is a WalletItem (docs/lit-v3.md §5.1); WalletAddress is the pkpId.
type Wallet struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Description   string `json:"description"`
	WalletAddress string `json:"wallet_address"`
}

// ListWallets is one page of GET /list_wallets.
func (c *Client) ListWallets(ctx context.Context, key UsageKey, page, size uint64) ([]Wallet, error) {
	var out []Wallet
	p := fmt.Sprintf("/core/v1/list_wallets?page_number=%d&page_size=%d", page, size)
	_, err := c.do(ctx, c.readTimeout, "list_wallets", http.MethodGet, p, key, nil, nil, false, &out)
	return out, err
}

// ListWalletsInGroup is one page of GET /list_wallets_in_group.
func (c *Client) ListWalletsInGroup(ctx context.Context, key UsageKey, groupID, page, size uint64) ([]Wallet, error) {
	var out []Wallet
	p := fmt.Sprintf("/core/v1/list_wallets_in_group?group_id=%d&page_number=%d&page_size=%d", groupID, page, size)
	_, err := c.do(ctx, c.readTimeout, "list_wallets_in_group", http.MethodGet, p, key, nil, nil, false, &out)
	return out, err
}

// maxWalletPages bounds AllWalletsInGroup.
const maxWalletPages = 100

// AllWalletsInGroup pages through a group's wallets. A page size larger
// than the total returns everything on page 0 whatever the page number
// (docs/lit-v3.md §5.1), so a short page ends the walk.
func (c *Client) AllWalletsInGroup(ctx context.Context, key UsageKey, groupID uint64) ([]Wallet, error) {
	const size = 100
	var all []Wallet
	for page := uint64(0); page < maxWalletPages; page++ {
		ws, err := c.ListWalletsInGroup(ctx, key, groupID, page, size)
		if err != nil {
			return nil, err
		}
		all = append(all, ws...)
		if len(ws) < size {
			return all, nil
		}
	}
	return all, nil
}

// Balance is GET /billing/balance.
type Balance struct {
	// BalanceCents is the server's value: negative means credit available
	// (Stripe's convention), zero means exhausted.
	BalanceCents int64 `json:"balance_cents"`
	// Display is e.g. "$5.00 credit" or "No credits".
	Display string `json:"balance_display"`
}

// CreditCents is the credit available, in US cents (never negative).
func (b Balance) CreditCents() int64 { return max(-b.BalanceCents, 0) }

// Balance reads the account's billing balance.
func (c *Client) Balance(ctx context.Context, key UsageKey) (Balance, error) {
	var out Balance
	_, err := c.do(ctx, c.readTimeout, "billing/balance", http.MethodGet, "/core/v1/billing/balance", key, nil, nil, false, &out)
	return out, err
}

// Version is GET /core/v1/version.
type Version struct {
	Name              string     `json:"name"`
	Version           string     `json:"version"`
	CommitVersion     string     `json:"commit_version"`
	SubmoduleVersions [][]string `json:"submodule_versions"`
}

// Version reads the server's version (no auth).
func (c *Client) Version(ctx context.Context) (Version, error) {
	var out Version
	_, err := c.do(ctx, c.readTimeout, "version", http.MethodGet, "/core/v1/version", UsageKey{}, nil, nil, false, &out)
	return out, err
}

// Health is GET /health (at the root, not under /core/v1).
type Health struct {
	LitActionsReachable bool `json:"lit_actions_reachable"`
	CPUAvailable        bool `json:"cpu_available"`
	BillingKeysPresent  bool `json:"billing_keys_present"`
}

// Health reads /health. A 503 carries the same body; it is returned with an
// ErrUnavailable error.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var out Health
	_, err := c.do(ctx, c.readTimeout, "health", http.MethodGet, "/health", UsageKey{}, nil, nil, false, &out)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusServiceUnavailable {
		_ = json.Unmarshal([]byte(e.Message), &out)
	}
	return out, err
}

// ActionLimits is GET /get_lit_action_client_config (docs/lit-v3.md §4.6).
type ActionLimits struct {
	TimeoutMS             uint64 `json:"timeout_ms"`
	ClientTimeoutMSBuffer uint64 `json:"client_timeout_ms_buffer"`
	AsyncTimeoutMS        uint64 `json:"async_timeout_ms"`
	MemoryLimitMB         uint64 `json:"memory_limit_mb"`
	MaxCodeLength         uint64 `json:"max_code_length"`
	MaxResponseLength     uint64 `json:"max_response_length"`
	MaxConsoleLogLength   uint64 `json:"max_console_log_length"`
	MaxFetchCount         uint64 `json:"max_fetch_count"`
	MaxGetKeysCount       uint64 `json:"max_get_keys_count"`
	MaxRetries            uint64 `json:"max_retries"`
}

// ActionLimits reads the live action limits (no auth).
func (c *Client) ActionLimits(ctx context.Context) (ActionLimits, error) {
	var out ActionLimits
	_, err := c.do(ctx, c.readTimeout, "get_lit_action_client_config", http.MethodGet,
		"/core/v1/get_lit_action_client_config", UsageKey{}, nil, nil, false, &out)
	return out, err
}

// do sends one request and decodes a 200 into out. action marks
// /lit_action, the only call that can run anything.
func (c *Client) do(ctx context.Context, timeout time.Duration, op, method, path string, key UsageKey,
	h http.Header, body []byte, action bool, out any) (http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// wrote records whether the whole request went out: only then can the
	// server have started the action.
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) { wrote.Store(info.Err == nil) },
	})
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, &Error{Op: op, Kind: ErrBadRequest, Message: err.Error()}
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if !key.IsZero() {
		req.Header.Set("Authorization", "Bearer "+key.Reveal())
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &Error{Op: op, Kind: ErrUnavailable, Err: err, MayHaveRun: action && wrote.Load()}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return resp.Header, &Error{Op: op, Status: resp.StatusCode, Kind: ErrUnavailable, Err: err,
			MayHaveRun: action, RequestID: resp.Header.Get("X-Request-Id")}
	}
	if resp.StatusCode != http.StatusOK {
		return resp.Header, classify(op, resp.StatusCode, data, resp.Header, action)
	}
	if len(data) > maxBody {
		return resp.Header, &Error{Op: op, Status: resp.StatusCode, Kind: ErrUnavailable, MayHaveRun: action,
			Message: "response larger than " + strconv.Itoa(maxBody) + " bytes", RequestID: resp.Header.Get("X-Request-Id")}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return resp.Header, &Error{Op: op, Status: resp.StatusCode, Kind: ErrUnavailable, MayHaveRun: action,
			Message: "undecodable 200 body: " + err.Error(), RequestID: resp.Header.Get("X-Request-Id")}
	}
	return resp.Header, nil
}
