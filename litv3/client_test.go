package litv3_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/litsignd/litsignd/litv3"
	"github.com/litsignd/litsignd/litv3/v3fake"
)

// clock is a settable Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	fake   *v3fake.Server
	c      *litv3.Client
	acct   v3fake.Account
	key    litv3.UsageKey
	wallet common.Address
	group  uint64
	clk    *clock
}

const okAction = `async function main(p) { return {ok: true, p}; }`

func newEnv(t *testing.T, cfg v3fake.Config, code ...string) *env {
	t.Helper()
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	f, err := v3fake.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	acct, err := f.NewAccount(500)
	if err != nil {
		t.Fatal(err)
	}
	w, err := f.CreateWallet(acct.APIKey)
	if err != nil {
		t.Fatal(err)
	}
	var cids []string
	for _, c := range append(code, okAction) {
		cids = append(cids, cid(t, c))
	}
	g, err := f.AddGroup(acct.APIKey, "g", []common.Address{w}, cids)
	if err != nil {
		t.Fatal(err)
	}
	key, err := f.AddUsageKey(acct.APIKey, "daemon", v3fake.Scopes{ExecuteInGroups: []uint64{g}})
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(cfg.PropagationDelay) // everything above has propagated
	c, err := litv3.New(f.URL(), litv3.Options{ActionTimeout: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &env{fake: f, c: c, acct: acct, key: key, wallet: w, group: g, clk: clk}
}

func cid(t *testing.T, code string) string {
	t.Helper()
	c, err := litv3.CID(code)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) run(code string, params any) (*litv3.ActionResponse, error) {
	return e.c.LitAction(context.Background(), e.key, litv3.ActionRequest{Code: code, JSParams: params})
}

// raw posts a body with headers of the caller's choosing and classifies the
// answer as the client does.
func (e *env) raw(t *testing.T, body string, hdr map[string]string) *litv3.Error {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.fake.URL()+"/core/v1/lit_action", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 {
		t.Fatalf("200: %s", b)
	}
	return litv3.Classify("lit_action", resp.StatusCode, b, resp.Header, true)
}

func asErr(t *testing.T, err error) *litv3.Error {
	t.Helper()
	var e *litv3.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *litv3.Error", err, err)
	}
	return e
}

// want checks an error's status, kind, code, message and flags.
type want struct {
	status       int
	kind, detail error
	code, msg    string
	mayHaveRun   bool
	propagation  bool
}

func check(t *testing.T, err error, w want) *litv3.Error {
	t.Helper()
	e := asErr(t, err)
	if e.Status != w.status || !errors.Is(err, w.kind) || (w.detail != nil && !errors.Is(err, w.detail)) ||
		e.Code != w.code || !strings.Contains(e.Message, w.msg) || e.MayHaveRun != w.mayHaveRun || e.MayBePropagation != w.propagation {
		t.Fatalf("got %+v\nwant %+v", e, w)
	}
	if litv3.MayHaveRun(err) != w.mayHaveRun {
		t.Fatalf("MayHaveRun(err) = %v", litv3.MayHaveRun(err))
	}
	return e
}

var versions = []v3fake.Version{v3fake.V12, v3fake.April}

// Every guard status and body of docs/lit-v3.md §2.5 and §3.6, both versions.
func TestGuardErrors(t *testing.T) {
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			e := newEnv(t, v3fake.Config{Version: v})
			v12 := v == v3fake.V12
			pick := func(a, b want) want {
				if v12 {
					return a
				}
				return b
			}
			t.Run("no key", func(t *testing.T) {
				err := e.raw(t, `{"code":"x"}`, nil)
				check(t, err, pick(want{status: 401, kind: litv3.ErrUnauthorized, code: "unauthorized", msg: "No API key provided."},
					want{status: 401, kind: litv3.ErrUnauthorized, msg: "Unauthorized", propagation: true}))
			})
			t.Run("unknown key", func(t *testing.T) {
				k, _ := litv3.KeyFromSecret(bytes.Repeat([]byte{7}, 32))
				_, err := e.c.LitAction(context.Background(), k, litv3.ActionRequest{Code: okAction})
				check(t, err, pick(want{status: 401, kind: litv3.ErrUnauthorized, code: "unauthorized", msg: "API key not recognized", propagation: true},
					want{status: 402, kind: litv3.ErrPaymentRequired, msg: "Payment Required", propagation: true}))
			})
			t.Run("removed key", func(t *testing.T) {
				k, err := e.fake.AddUsageKey(e.acct.APIKey, "tmp", v3fake.Scopes{ExecuteInGroups: []uint64{0}})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.c.LitAction(context.Background(), k, litv3.ActionRequest{Code: okAction}); err != nil {
					t.Fatal(err)
				}
				if err := e.fake.RemoveUsageKey(e.acct.APIKey, k); err != nil {
					t.Fatal(err)
				}
				_, err = e.c.LitAction(context.Background(), k, litv3.ActionRequest{Code: okAction})
				check(t, err, pick(want{status: 401, kind: litv3.ErrUnauthorized, code: "unauthorized", msg: "API key not recognized", propagation: true},
					want{status: 402, kind: litv3.ErrPaymentRequired, msg: "Payment Required", propagation: true}))
			})
			if v12 {
				t.Run("hash-shaped key", func(t *testing.T) {
					err := e.raw(t, `{"code":"x"}`, map[string]string{"Authorization": "Bearer 0x" + strings.Repeat("ab", 32)})
					check(t, err, want{status: 401, kind: litv3.ErrUnauthorized, code: "unauthorized", msg: "precomputed account hash"})
				})
			}
			t.Run("X-Api-Key, and Bearer wins", func(t *testing.T) {
				if err := e.raw(t, `{"code":"x"}`, map[string]string{"X-Api-Key": " " + e.key.Reveal() + " ", "Authorization": "Bearer nope"}); err.Status != pick(want{status: 401}, want{status: 402}).status {
					t.Fatalf("bearer did not win: %v", err)
				}
				if err := e.raw(t, `{"code":"x"}`, map[string]string{"X-Api-Key": " " + e.key.Reveal() + " "}); err.Status != 403 {
					t.Fatalf("X-Api-Key: %v", err) // accepted, then the CID check refuses "x"
				}
			})
			t.Run("no credit", func(t *testing.T) {
				defer e.fake.SetCredits(e.acct.APIKey, 500)
				_ = e.fake.SetCredits(e.acct.APIKey, 0)
				before := e.fake.Runs(cid(t, okAction))
				_, err := e.run(okAction, nil)
				check(t, err, pick(want{status: 402, kind: litv3.ErrPaymentRequired, code: "payment_required", msg: "Insufficient credits: this call needs $0.01 but your balance is $0.00."},
					want{status: 402, kind: litv3.ErrPaymentRequired, msg: "Payment Required", propagation: true}))
				if n := e.fake.Runs(cid(t, okAction)) - before; n != 0 {
					t.Fatalf("ran %d times without credit", n)
				}
			})
			t.Run("billing outage", func(t *testing.T) {
				e.fake.SetBillingOutage(true)
				defer e.fake.SetBillingOutage(false)
				_, err := e.run(okAction, nil)
				check(t, err, pick(want{status: 503, kind: litv3.ErrUnavailable, code: "service_unavailable", msg: "Billing is temporarily unavailable — your request was not charged."},
					want{status: 402, kind: litv3.ErrPaymentRequired, msg: "Payment Required", propagation: true}))
			})
			t.Run("overload before auth", func(t *testing.T) {
				e.fake.SetOverloaded(true)
				defer e.fake.SetOverloaded(false)
				k, _ := litv3.KeyFromSecret(bytes.Repeat([]byte{9}, 32)) // a bad key still gets 429
				_, err := e.c.LitAction(context.Background(), k, litv3.ActionRequest{Code: okAction})
				check(t, err, pick(want{status: 429, kind: litv3.ErrOverloaded, code: "too_many_requests", msg: "The node is shedding load (CPU overloaded)."},
					want{status: 429, kind: litv3.ErrOverloaded, msg: "Too Many Requests"}))
				if !litv3.Retryable(err) {
					t.Fatal("429 is not retryable")
				}
			})
			t.Run("not permitted CID", func(t *testing.T) {
				code := `async function main() { return 1; }`
				_, err := e.run(code, nil)
				c := cid(t, code)
				check(t, err, want{status: 403, kind: litv3.ErrForbidden,
					msg:         "The provided API key is not authorized to execute the specified action (" + c + "/" + litv3.CIDHashDecimal(c) + ").",
					propagation: true})
			})
			t.Run("bad requests", func(t *testing.T) {
				h := map[string]string{"Authorization": "Bearer " + e.key.Reveal()}
				check(t, e.raw(t, `{"code":`, h), pick(want{status: 400, kind: litv3.ErrBadRequest, code: "bad_request"},
					want{status: 400, kind: litv3.ErrBadRequest, msg: "Bad Request"}))
				check(t, e.raw(t, `{"code": 5}`, h), pick(want{status: 422, kind: litv3.ErrBadRequest, code: "unprocessable_entity"},
					want{status: 422, kind: litv3.ErrBadRequest, msg: "Unprocessable Entity"}))
				check(t, e.raw(t, `{}`, h), want{status: 400, kind: litv3.ErrBadRequest, msg: "Either `code` or `ipfs_id` must be provided.: missing code and ipfs_id"})
				big := `{"code":"` + strings.Repeat("a", v3fake.BodyLimit) + `"}`
				check(t, e.raw(t, big, h), pick(want{status: 413, kind: litv3.ErrBadRequest, code: "error"},
					want{status: 413, kind: litv3.ErrBadRequest, msg: "Payload Too Large"}))
				check(t, e.raw(t, `{}`, map[string]string{"Content-Type": "text/plain"}), pick(want{status: 404, kind: litv3.ErrBadRequest, code: "not_found"},
					want{status: 404, kind: litv3.ErrBadRequest, msg: "Not Found"}))
				_, err := e.c.LitAction(context.Background(), e.key, litv3.ActionRequest{IPFSID: "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"})
				check(t, err, want{status: 400, kind: litv3.ErrBadRequest, detail: litv3.ErrNotCached,
					msg: "No cached code found. Submit the action code at least once before referencing it by IPFS ID.: cache miss for IPFS ID QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"})
			})
			t.Run("ipfs_id after the code was sent", func(t *testing.T) {
				if _, err := e.run(okAction, nil); err != nil {
					t.Fatal(err)
				}
				res, err := e.c.LitAction(context.Background(), e.key, litv3.ActionRequest{IPFSID: cid(t, okAction), JSParams: map[string]int{"a": 1}})
				if err != nil || string(res.Response) != `{"ok":true,"p":{"a":1}}` {
					t.Fatalf("%v %s", err, res.Response)
				}
			})
		})
	}
	t.Run("april without billing", func(t *testing.T) {
		e := newEnv(t, v3fake.Config{Version: v3fake.April, BillingOff: true})
		k, _ := litv3.KeyFromSecret(bytes.Repeat([]byte{7}, 32))
		_, err := e.c.LitAction(context.Background(), k, litv3.ActionRequest{Code: okAction})
		check(t, err, want{status: 500, kind: litv3.ErrUnauthorized, msg: "AccountDoesNotExist", propagation: true})
	})
}

// Failures of a run (docs/lit-v3.md §3.6): 500 "Actions failed with …", the
// action ran.
func TestActionFailures(t *testing.T) {
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			e := newEnv(t, v3fake.Config{Version: v, ActionTimeout: 2 * time.Second, MemoryLimitMB: 32})
			// The memory case gets a fake whose timeout cannot come first
			// on a slow machine.
			big := newEnv(t, v3fake.Config{Version: v, ActionTimeout: 10 * time.Minute, MemoryLimitMB: 32})
			cases := []struct {
				name, code string
				params     any
				w          want
			}{
				{"throw", "async function main() {\n  console.log('x');\n  throw new Error('boom');\n}", nil,
					want{kind: litv3.ErrActionFailed, msg: "Actions failed with : Uncaught (in promise) Error: boom\n    at "}},
				{"no main", `(async () => { Lit.Actions.setResponse({response: "naga style"}); })();`, nil,
					want{kind: litv3.ErrActionFailed, msg: "ReferenceError: main is not defined"}},
				{"wallet not in group", `async function main({pkpId}) { return await Lit.Actions.getPrivateKey({pkpId}); }`,
					map[string]string{"pkpId": "0x000000000000000000000000000000000000dEaD"},
					want{kind: litv3.ErrActionFailed, detail: litv3.ErrWalletNotPermitted, msg: "API key cannot use selected wallet in selected action", propagation: true}},
				{"pkpId without 0x", `async function main({pkpId}) { return await Lit.Actions.getPrivateKey({pkpId}); }`,
					map[string]string{"pkpId": "000000000000000000000000000000000000dEaD"},
					want{kind: litv3.ErrActionFailed, msg: "Runner is unable to parse wallet address"}},
				{"response too long", `async function main() { return "x".repeat(102401); }`, nil,
					want{kind: litv3.ErrActionFailed, msg: "Response is too long. Max length is 102400 bytes"}},
				{"logs too long", `async function main() { for (;;) console.log("y".repeat(1000)); }`, nil,
					want{kind: litv3.ErrActionFailed, msg: "Console.log is printing something that is too long. Max length for all logs in a single request is 102400 bytes"}},
				{"timeout", `async function main() { for (;;) {} }`, nil,
					want{kind: litv3.ErrActionFailed, detail: litv3.ErrActionTimeout, msg: "Your function exceeded the maximum runtime of 2000ms and was terminated."}},
				{"memory", `async function main() { const a = []; for (;;) a.push(new Array(1 << 16).fill(1)); }`, nil,
					want{kind: litv3.ErrActionFailed, detail: litv3.ErrActionMemory, msg: "Your function exceeded the maximum memory of 32 MB and was terminated."}},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					e := e
					if c.name == "memory" {
						e = big
					}
					if err := e.fake.AddActionToGroup(e.acct.APIKey, e.group, cid(t, c.code)); err != nil {
						t.Fatal(err)
					}
					_, err := e.run(c.code, c.params)
					c.w.status, c.w.mayHaveRun = 500, true
					c.w.msg = "Internal server error.: " + strings.TrimPrefix(c.w.msg, "Internal server error.: ")
					if !strings.HasPrefix(c.w.msg, "Internal server error.: Actions failed with : ") {
						c.w.msg = "Actions failed with : " + strings.SplitN(c.w.msg, "Internal server error.: ", 2)[1]
						c.w.msg = strings.TrimPrefix(c.w.msg, "Actions failed with : ")
					}
					check(t, err, c.w)
					if litv3.Retryable(err) {
						t.Fatal("a failed run is retryable")
					}
				})
			}
		})
	}
}

// The response conversion table of docs/lit-v3.md §3.5, logs, and
// has_error.
func TestResponseConversion(t *testing.T) {
	cases := []struct{ body, want string }{
		{`return {a:1};`, `{"a":1}`},
		{`return [1,2];`, `[1,2]`},
		{`return "hello";`, `"hello"`},
		{`return "42";`, `42`},
		{`return "true";`, `true`},
		{`return "null";`, `null`},
		{`return '{"x":1}';`, `{"x":1}`},
		{`return null;`, `null`},
		{`return undefined;`, `""`},
		{`return 42;`, `42`},
		{`Lit.Actions.setResponse({response: "set"}); return undefined;`, `"set"`},
		{`Lit.Actions.setResponse({response: "set"}); return "ret";`, `"ret"`},
		{`Lit.Actions.setResponse({response: {b: 2}});`, `{"b":2}`},
	}
	var codes []string
	for _, c := range cases {
		codes = append(codes, "async function main(p) { console.log('in', p); "+c.body+" }")
	}
	e := newEnv(t, v3fake.Config{})
	for _, c := range codes {
		if err := e.fake.AddActionToGroup(e.acct.APIKey, e.group, cid(t, c)); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cases {
		res, err := e.run(codes[i], map[string]int{"n": i})
		if err != nil {
			t.Fatalf("%s: %v", c.body, err)
		}
		if string(res.Response) != c.want || res.HasError || res.Logs != `in {"n":`+itoa(i)+"}\n" || res.RequestID == "" {
			t.Fatalf("%s: response %s logs %q", c.body, res.Response, res.Logs)
		}
	}
	// js_params absent is null: main's argument is null.
	code := `async function main(p) { return p === null ? "null param" : typeof p; }`
	if err := e.fake.AddActionToGroup(e.acct.APIKey, e.group, cid(t, code)); err != nil {
		t.Fatal(err)
	}
	if err := e.raw200(t, `{"code":`+jsonString(code)+`}`, `"null param"`); err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

func (e *env) raw200(t *testing.T, body, wantResponse string) error {
	req, _ := http.NewRequest(http.MethodPost, e.fake.URL()+"/core/v1/lit_action", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.key.Reveal())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Response json.RawMessage `json:"response"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || string(out.Response) != wantResponse {
		return errors.New("response " + string(out.Response))
	}
	return nil
}

// Billing per second: a short run costs 1 cent, and credit running out
// mid-run ends it with the 500 "ran out of funds" (not 402).
func TestBilling(t *testing.T) {
	slow := `async function main() { const t = Date.now(); while (Date.now() - t < 2500) {} return "done"; }`
	e := newEnv(t, v3fake.Config{}, slow)
	if _, err := e.run(okAction, nil); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.fake.Credits(e.acct.APIKey); c != 499 {
		t.Fatalf("credits after one short run = %d, want 499", c)
	}
	b, err := e.c.Balance(context.Background(), e.key)
	if err != nil || b.CreditCents() != 499 || b.BalanceCents != -499 || b.Display != "$4.99 credit" {
		t.Fatalf("balance %+v %v", b, err)
	}
	_ = e.fake.SetCredits(e.acct.APIKey, 1)
	_, err = e.run(slow, nil)
	check(t, err, want{status: 500, kind: litv3.ErrActionFailed, detail: litv3.ErrOutOfFunds, mayHaveRun: true,
		msg: "Your function ran out of funds to continue execution and was terminated."})
	if c, _ := e.fake.Credits(e.acct.APIKey); c != 0 {
		t.Fatalf("credits = %d", c)
	}
}

// Read endpoints, both versions.
func TestReads(t *testing.T) {
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			e := newEnv(t, v3fake.Config{Version: v})
			ctx := context.Background()
			ok, err := e.c.AccountExists(ctx, e.key)
			if err != nil || !ok {
				t.Fatalf("account_exists %v %v", ok, err)
			}
			unknown, _ := litv3.KeyFromSecret(bytes.Repeat([]byte{3}, 32))
			if ok, err := e.c.AccountExists(ctx, unknown); err != nil || ok {
				t.Fatalf("account_exists(unknown) %v %v", ok, err)
			}
			ws, err := e.c.AllWalletsInGroup(ctx, e.key, e.group)
			if err != nil || len(ws) != 1 || ws[0].WalletAddress != strings.ToLower(e.wallet.Hex()) || ws[0].Name != "Wallet" {
				t.Fatalf("wallets in group %+v %v", ws, err)
			}
			all, err := e.c.ListWallets(ctx, e.key, 7, 1000) // page size > total: everything, whatever the page
			if err != nil || len(all) != 3 || all[0].Name != "AMW" || all[1].Name != "Wallet" || all[2].Name != "API Key Wallet" {
				t.Fatalf("list_wallets %+v %v", all, err)
			}
			if empty, err := e.c.ListWallets(ctx, e.key, 5, 1); err != nil || len(empty) != 0 {
				t.Fatalf("page past the end %+v %v", empty, err)
			}
			_, err = e.c.Balance(ctx, unknown)
			if v == v3fake.V12 {
				check(t, err, want{status: 401, kind: litv3.ErrUnauthorized, code: "unauthorized", msg: "API key not recognized", propagation: true})
			} else {
				check(t, err, want{status: 400, kind: litv3.ErrUnauthorized, msg: "Invalid API key", propagation: true})
			}
			_, err = e.c.ListWalletsInGroup(ctx, unknown, 1, 0, 10)
			if v == v3fake.April {
				check(t, err, want{status: 500, kind: litv3.ErrUnauthorized, msg: "AccountDoesNotExist", propagation: true})
			}
			ver, err := e.c.Version(ctx)
			if err != nil || ver.Version != "0.1.0" {
				t.Fatalf("version %+v %v", ver, err)
			}
			h, err := e.c.Health(ctx)
			if err != nil || !h.CPUAvailable || !h.LitActionsReachable {
				t.Fatalf("health %+v %v", h, err)
			}
			e.fake.SetOverloaded(true)
			h, err = e.c.Health(ctx)
			e.fake.SetOverloaded(false)
			if !errors.Is(err, litv3.ErrUnavailable) || h.CPUAvailable {
				t.Fatalf("overloaded health %+v %v", h, err)
			}
			lim, err := e.c.ActionLimits(ctx)
			if err != nil || lim.MaxResponseLength != 102400 || lim.TimeoutMS != 900000 || lim.MemoryLimitMB != 64 {
				t.Fatalf("limits %+v %v", lim, err)
			}
		})
	}
}

// Network failures: a refused connection cannot have run anything; a
// connection that drops after the whole request went out can have.
func TestNetworkFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_, _ = http.ReadRequest(bufioReader(conn)) // read it all, then hang up
				conn.Close()
			}()
		}
	}()
	c, _ := litv3.New("http://"+addr, litv3.Options{})
	k, _ := litv3.KeyFromSecret(bytes.Repeat([]byte{1}, 32))
	_, err = c.LitAction(context.Background(), k, litv3.ActionRequest{Code: okAction})
	e := check(t, err, want{kind: litv3.ErrUnavailable, mayHaveRun: true})
	if litv3.Retryable(err) || e.Status != 0 {
		t.Fatalf("a dropped connection after the request is retryable: %v", err)
	}
	ln.Close()
	_, err = c.LitAction(context.Background(), k, litv3.ActionRequest{Code: okAction})
	check(t, err, want{kind: litv3.ErrUnavailable})
	if !litv3.Retryable(err) {
		t.Fatalf("a refused connection is not retryable: %v", err)
	}
}

// A redirect is not followed: the key is sent only to the configured host,
// and nothing ran.
func TestNoRedirects(t *testing.T) {
	var gotAuth atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			gotAuth.Add(1)
		}
	}))
	defer other.Close()
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/core/v1/lit_action", http.StatusTemporaryRedirect)
	}))
	defer redir.Close()
	c, _ := litv3.New(redir.URL, litv3.Options{})
	k, _ := litv3.KeyFromSecret(bytes.Repeat([]byte{1}, 32))
	_, err := c.LitAction(context.Background(), k, litv3.ActionRequest{Code: okAction})
	e := check(t, err, want{status: 307, kind: litv3.ErrUnavailable})
	if gotAuth.Load() != 0 || !litv3.Retryable(e) {
		t.Fatalf("redirect followed (%d) or not retryable: %v", gotAuth.Load(), err)
	}
}
