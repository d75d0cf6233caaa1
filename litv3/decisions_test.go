package litv3_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/litsignd/litsignd/litv3"
	"github.com/litsignd/litsignd/litv3/v3fake"
)

// The at-most-once decision per answer: can the action have run, may the
// call be repeated, is it what an unpropagated grant looks like. Bodies are
// the service's (both versions).
func TestDecisionTable(t *testing.T) {
	h := http.Header{}
	obj := func(code, msg string) string {
		b, _ := json.Marshal(map[string]string{"error": code, "message": msg, "fix": "f", "docs_url": "u"})
		return string(b)
	}
	str := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	rocket := `<!DOCTYPE html><html><head><title>%d</title></head><body>Rocket</body></html>`
	cases := []struct {
		name              string
		status            int
		body              string
		mayHaveRun, retry bool
		propagation       bool
	}{
		{"v1.2 429 overload", 429, obj("too_many_requests", "The node is shedding load (CPU overloaded)."), false, true, false},
		{"april 429", 429, fmt.Sprintf(rocket, 429), false, true, false},
		{"v1.2 429 spending rule", 429, str("rate limit exceeded for this API key (5 rps)"), false, true, false},
		{"v1.2 401 no key", 401, obj("unauthorized", "No API key provided."), false, false, false},
		{"v1.2 401 unknown key", 401, obj("unauthorized", "API key not recognized — it does not resolve to any account."), false, false, true},
		{"april 402 (unknown key or no credit)", 402, fmt.Sprintf(rocket, 402), false, false, true},
		{"v1.2 402 no credit", 402, obj("payment_required", "Insufficient credits: this call needs $0.01 but your balance is $0.00."), false, false, false},
		{"v1.2 402 spending cap", 402, str("spending cap reached for this API key (100 cents / 3600s window)"), false, false, false},
		{"403 CID not permitted", 403, str("The provided API key is not authorized to execute the specified action (Qm…/1)."), false, false, true},
		{"403 origin rule", 403, str("this API key may only be used from an allowed browser origin (missing Origin header)"), false, false, false},
		{"400 syntax", 400, obj("bad_request", "x"), false, false, false},
		{"400 cache miss", 400, str("No cached code found. Submit the action code at least once before referencing it by IPFS ID.: cache miss for IPFS ID Qm"), false, false, false},
		{"413", 413, fmt.Sprintf(rocket, 413), false, false, false},
		{"422", 422, obj("unprocessable_entity", "x"), false, false, false},
		{"500 action threw", 500, str("Internal server error.: Actions failed with : Uncaught (in promise) Error: boom"), true, false, false},
		{"500 wallet denied in action", 500, str("Internal server error.: Actions failed with : Uncaught (in promise) Error: API key cannot use selected wallet in selected action"), true, false, true},
		{"500 timeout", 500, str("Internal server error.: Actions failed with : Your function exceeded the maximum runtime of 900000ms and was terminated."), true, false, false},
		{"500 out of funds", 500, str("Internal server error.: Actions failed with : Your function ran out of funds to continue execution and was terminated."), true, false, false},
		{"500 runtime unreachable", 500, str("Internal server error.: tonic transport error"), true, false, false},
		{"500 unhandled code (U3)", 500, str("Unhandled error code #429"), true, false, false},
		{"april 500 unknown key, billing off", 500, str("Internal server error.: Contract call reverted: AccountDoesNotExist"), false, false, true},
		{"v1.2 503 billing outage", 503, obj("service_unavailable", "Billing is temporarily unavailable — your request was not charged."), false, true, false},
		{"503 other", 503, obj("service_unavailable", "lit actions runtime unavailable"), true, false, false},
		{"502 proxy", 502, "<html>Bad Gateway</html>", true, false, false},
		{"504 proxy", 504, "<html>Gateway Timeout</html>", true, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := litv3.Classify("lit_action", c.status, []byte(c.body), h, true)
			if e.MayHaveRun != c.mayHaveRun || litv3.Retryable(e) != c.retry || e.MayBePropagation != c.propagation {
				t.Fatalf("mayHaveRun %v retry %v propagation %v; want %v %v %v (%v)",
					e.MayHaveRun, litv3.Retryable(e), e.MayBePropagation, c.mayHaveRun, c.retry, c.propagation, e)
			}
			// A read never runs anything.
			if r := litv3.Classify("list_wallets", c.status, []byte(c.body), h, false); r.MayHaveRun {
				t.Fatal("a read may have run an action")
			}
		})
	}
	if !litv3.MayHaveRun(fmt.Errorf("some other failure")) || litv3.MayHaveRun(nil) {
		t.Fatal("MayHaveRun of a foreign error must be true, of nil false")
	}
}

// The grant-propagation window: a new key and a newly added CID fail as
// unpropagated grants do (401 / 403), the helper says retry while the
// window lasts, and the same call succeeds once the grant propagated. After
// the window, the same 403 is final.
func TestGrantPropagation(t *testing.T) {
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			const delay = 5 * time.Second
			e := newEnv(t, v3fake.Config{Version: v, PropagationDelay: delay})
			ctx := context.Background()
			// A new key.
			k, err := e.fake.AddUsageKey(e.acct.APIKey, "new", v3fake.Scopes{ExecuteInGroups: []uint64{e.group}})
			if err != nil {
				t.Fatal(err)
			}
			granted := e.clk.Now()
			_, err = e.c.LitAction(ctx, k, litv3.ActionRequest{Code: okAction})
			if !litv3.RetryDuringPropagation(err, e.clk.Now().Sub(granted), litv3.PropagationWindow) {
				t.Fatalf("a brand-new key's failure is not retryable in the window: %v", err)
			}
			if !strings.Contains(err.Error(), "may be a grant that has not propagated yet") {
				t.Fatalf("error does not say so: %v", err)
			}
			e.clk.Add(delay)
			if _, err := e.c.LitAction(ctx, k, litv3.ActionRequest{Code: okAction}); err != nil {
				t.Fatalf("after propagation: %v", err)
			}
			// A newly added action: 403, then success — a caller looping
			// on RetryDuringPropagation gets there without failing.
			code := `async function main() { return "new action"; }`
			if err := e.fake.AddActionToGroup(e.acct.APIKey, e.group, cid(t, code)); err != nil {
				t.Fatal(err)
			}
			granted = e.clk.Now()
			var statuses []int
			var res *litv3.ActionResponse
			for range 10 {
				res, err = e.c.LitAction(ctx, k, litv3.ActionRequest{Code: code})
				if err == nil || !litv3.RetryDuringPropagation(err, e.clk.Now().Sub(granted), litv3.PropagationWindow) {
					break
				}
				statuses = append(statuses, asErr(t, err).Status)
				e.clk.Add(2 * time.Second) // the caller's poll interval
			}
			if err != nil || string(res.Response) != `"new action"` || len(statuses) == 0 || statuses[0] != 403 {
				t.Fatalf("statuses %v then %v", statuses, err)
			}
			// Outside the window the 403 is final.
			other := `async function main() { return "never granted"; }`
			_, err = e.c.LitAction(ctx, k, litv3.ActionRequest{Code: other})
			if asErr(t, err).Status != 403 || litv3.RetryDuringPropagation(err, litv3.PropagationWindow, litv3.PropagationWindow) {
				t.Fatalf("403 after the window: %v", err)
			}
			// A new wallet: the in-action denial is propagation-shaped but the
			// action ran, so only the after-run helper retries it.
			w, err := e.fake.CreateWallet(e.acct.APIKey)
			if err != nil {
				t.Fatal(err)
			}
			sign := `async function main({pkpId}) { return (await Lit.Actions.getPrivateKey({pkpId})).length; }`
			_ = e.fake.AddActionToGroup(e.acct.APIKey, e.group, cid(t, sign))
			e.clk.Add(delay) // the action has propagated
			_ = e.fake.AddPKPToGroup(e.acct.APIKey, e.group, w)
			_, err = e.c.LitAction(ctx, k, litv3.ActionRequest{Code: sign, JSParams: map[string]string{"pkpId": w.Hex()}})
			if litv3.RetryDuringPropagation(err, time.Second, litv3.PropagationWindow) ||
				!litv3.RetryDuringPropagationAfterRun(err, time.Second, litv3.PropagationWindow) {
				t.Fatalf("in-action wallet denial: %v", err)
			}
			e.clk.Add(delay)
			if res, err := e.c.LitAction(ctx, k, litv3.ActionRequest{Code: sign, JSParams: map[string]string{"pkpId": w.Hex()}}); err != nil || string(res.Response) != "66" {
				t.Fatalf("after propagation: %v", err)
			}
		})
	}
}

// A usage key never prints its secret.
func TestUsageKeyRedaction(t *testing.T) {
	k, err := litv3.ParseUsageKey(" TAiDppECk31iMUcbXbtiBP5RKWFwgnkq5GjQGj82Ixg= ")
	if err != nil {
		t.Fatal(err)
	}
	secret := k.Reveal()
	if secret != "TAiDppECk31iMUcbXbtiBP5RKWFwgnkq5GjQGj82Ixg=" {
		t.Fatalf("reveal %q", secret)
	}
	// docs/lit-v3.md §4.4 vector.
	if k.HashHex() != "0xa1e849930fb8a42426c9589718703530459bdd511bd8aca138963e19a778d88d" {
		t.Fatalf("hash %s", k.HashHex())
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("k", "key", k)
	js, _ := json.Marshal(map[string]any{"k": k, "p": &k})
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %q %x", k, k, k, k, k, k), logs.String(), string(js), k.String()} {
		if strings.Contains(s, secret) || strings.Contains(s, "TAiDpp") {
			t.Fatalf("secret printed: %s", s)
		}
	}
	for _, bad := range []string{"", "0x" + strings.Repeat("ab", 32), "TAiDppECk31iMUcbXbtiBP5RKWFwgnkq5GjQGj82Ixg", "not base64 at all ============================"} {
		if _, err := litv3.ParseUsageKey(bad); err == nil {
			t.Fatalf("accepted %q", bad)
		}
	}
}

// Another instance's cached denial (April: up to 60 min): a 403 seen before
// the grant keeps coming after it propagated, for as long as the cache
// lives; the propagation helper stops retrying when its window closes, so a
// job fails with a clear 403 instead of waiting an hour.
func TestStaleDenial(t *testing.T) {
	e := newEnv(t, v3fake.Config{StaleDenial: time.Hour})
	code := `async function main() { return "late"; }`
	_, err := e.run(code, nil) // refused and cached
	if asErr(t, err).Status != 403 {
		t.Fatal(err)
	}
	granted := e.clk.Now()
	if err := e.fake.AddActionToGroup(e.acct.APIKey, e.group, cid(t, code)); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(2 * litv3.PropagationWindow)
	_, err = e.run(code, nil)
	if asErr(t, err).Status != 403 || litv3.RetryDuringPropagation(err, e.clk.Now().Sub(granted), litv3.PropagationWindow) {
		t.Fatalf("within the stale cache, after the window: %v", err)
	}
	e.clk.Add(time.Hour)
	if res, err := e.run(code, nil); err != nil || string(res.Response) != `"late"` {
		t.Fatalf("after the cache expired: %v", err)
	}
}
