package litnode_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/litnode/devnet"
)

// startActionDevnet runs a devnet for Lit Action tests: a 2 s action
// timeout (an endless loop ends; real actions here finish long before, even
// under the race detector on a loaded machine), a small memory limit and
// an actions directory.
func startActionDevnet(t testing.TB, nodes int, actionsDir string) *devnet.Network {
	t.Helper()
	return startActionDevnetWith(t, devnet.Config{Nodes: nodes, ActionsDir: actionsDir, ActionTimeout: 2 * time.Second})
}

func startActionDevnetWith(t testing.TB, cfg devnet.Config) *devnet.Network {
	t.Helper()
	cfg.Threshold, cfg.PKPs, cfg.ActionMemoryLimit = 3, 2, 16<<20
	if cfg.NodeTimeout == 0 {
		cfg.NodeTimeout = 30 * time.Second
	}
	n, err := devnet.Start(cfg)
	if err != nil {
		t.Fatalf("devnet.Start: %v", err)
	}
	t.Cleanup(n.Close)
	return n
}

// signAction signs jsParams.digest with jsParams.publicKey as "sig1", logs
// and sets a JSON response.
const signAction = `(async () => {
  console.log("signing for", Lit.Auth.actionIpfsIds[0]);
  await Lit.Actions.signEcdsa({toSign: jsParams.digest, publicKey: jsParams.publicKey, sigName: "sig1"});
  Lit.Actions.setResponse({response: JSON.stringify({ok: true, n: jsParams.n, big: 12345678901234567890})});
})();`

func execute(t testing.TB, c *litnode.Client, req litnode.ExecuteJSRequest) (litnode.ExecuteJSResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a hang guard
	defer cancel()
	return c.ExecuteJS(ctx, req)
}

// executeRequests counts the execute requests the nodes received.
func executeRequests(n *devnet.Network) int {
	k := 0
	for _, nd := range n.Nodes() {
		for _, r := range nd.Requests() {
			if r.Path == "/web/execute/v2" {
				k++
			}
		}
	}
	return k
}

// checkActionSig checks a combined signature is the PKP's over digest.
func checkActionSig(t testing.TB, sig litnode.ECDSASignature, p devnet.DevPKP, digest []byte) {
	t.Helper()
	eth := sig.Ethereum()
	eth[64] -= 27
	pub, err := crypto.SigToPub(digest, eth[:])
	if err != nil {
		t.Fatalf("ecrecover: %v", err)
	}
	if got := crypto.PubkeyToAddress(*pub); got != p.EthAddress {
		t.Fatalf("signature recovers to %s, want the PKP's %s", got.Hex(), p.EthAddress.Hex())
	}
}

func digestParam(d []byte) []any {
	out := make([]any, len(d))
	for i, b := range d {
		out[i] = int(b)
	}
	return out
}

func TestExecuteJSSignsAndResponds(t *testing.T) {
	n := startActionDevnet(t, 4, "")
	c := newClient(t, n)
	p := n.PKPs()[0]
	key, a := delegate(t, c, p, "pkp-signing:*,lit-action-execution:*")
	digest := crypto.Keccak256([]byte("signed inside a Lit Action"))
	res, err := execute(t, c, litnode.ExecuteJSRequest{
		Code:     []byte(signAction),
		JSParams: map[string]any{"digest": digestParam(digest), "publicKey": p.PublicKey.Hex(), "n": 42},
		Auth:     auth(key, a),
	})
	if err != nil {
		t.Fatalf("ExecuteJS: %v", err)
	}
	cid, _ := litnode.IPFSCIDv0([]byte(signAction))
	if res.CID != cid || res.RequestID == "" {
		t.Errorf("CID, RequestID = %q, %q; want %q and an id", res.CID, res.RequestID, cid)
	}
	// docs/naga-wire.md §8.3 step 2: the response string, parsed as JSON, numbers
	// exact.
	m, ok := res.Response.(map[string]any)
	if !ok || m["ok"] != true || m["n"] != json.Number("42") {
		t.Fatalf("response = %#v (raw %q)", res.Response, res.ResponseRaw)
	}
	if !strings.HasPrefix(res.ResponseRaw, `{"ok":true`) {
		t.Errorf("raw response %q", res.ResponseRaw)
	}
	if res.Logs != "signing for "+cid+"\n" {
		t.Errorf("logs = %q", res.Logs)
	}
	sig, ok := res.Signatures["sig1"]
	if !ok || len(res.Signatures) != 1 {
		t.Fatalf("signatures = %+v, want sig1", res.Signatures)
	}
	checkActionSig(t, sig, p, digest)
	if string(sig.PublicKey) != string(p.PublicKey[:]) {
		t.Error("signature's public key is not the PKP's")
	}
	// docs/naga-wire.md §8.3 step 7: BaseAmount summed over the 3 nodes.
	var base bool
	for _, it := range res.PaymentDetail {
		if it.Component == "BaseAmount" {
			base = it.Quantity.Int64() == 3
		}
	}
	if !base {
		t.Errorf("paymentDetail = %+v, want BaseAmount quantity 3", res.PaymentDetail)
	}
	if runs := n.ActionRuns(cid); runs != 1 {
		t.Errorf("ActionRuns = %d, want 1", runs)
	}
	// docs/naga-wire.md §8.1: code in base64, jsParams wrapped, the PKP session's
	// resource is the CID.
	for _, nd := range n.Nodes() {
		for _, r := range nd.Requests() {
			if r.Path != "/web/execute/v2" {
				continue
			}
			var body struct {
				Code     string `json:"code"`
				JSParams struct {
					JSParams map[string]any `json:"jsParams"`
				} `json:"jsParams"`
				AuthSig litnode.AuthSig `json:"authSig"`
			}
			if err := json.Unmarshal(r.Body, &body); err != nil {
				t.Fatal(err)
			}
			if code, _ := base64.StdEncoding.DecodeString(body.Code); string(code) != signAction {
				t.Errorf("code on the wire = %q", body.Code)
			}
			if body.JSParams.JSParams["n"] != float64(42) {
				t.Errorf("jsParams on the wire = %+v", body.JSParams)
			}
			if !strings.Contains(body.AuthSig.SignedMessage, `{"resource":{"resourcePrefix":"lit-litaction","resource":"`+cid+`"},"ability":"lit-action-execution"}`) {
				t.Errorf("session sig resources: %s", body.AuthSig.SignedMessage)
			}
		}
	}

	t.Run("plain string response, no signature", func(t *testing.T) {
		res, err := execute(t, c, litnode.ExecuteJSRequest{Code: []byte(`Lit.Actions.setResponse({response: "not json {"});`), Auth: auth(key, a)})
		if err != nil {
			t.Fatal(err)
		}
		if res.Response != "not json {" || len(res.Signatures) != 0 || res.Logs != "" {
			t.Errorf("result = %+v", res)
		}
	})
	t.Run("no response", func(t *testing.T) {
		res, err := execute(t, c, litnode.ExecuteJSRequest{Code: []byte(`console.log(jsParams.x === undefined);`), Auth: auth(key, a)})
		if err != nil {
			t.Fatal(err)
		}
		if res.Response != "" || res.Logs != "true\n" {
			t.Errorf("result = %+v", res)
		}
	})
	t.Run("two signatures", func(t *testing.T) {
		code := `(async () => {
  await Lit.Actions.signEcdsa({toSign: jsParams.d1, publicKey: jsParams.pk, sigName: "a"});
  await Lit.Actions.signEcdsa({toSign: jsParams.d2, publicKey: jsParams.pk, sigName: "b"});
})();`
		d1, d2 := crypto.Keccak256([]byte("one")), crypto.Keccak256([]byte("two"))
		res, err := execute(t, c, litnode.ExecuteJSRequest{Code: []byte(code), Auth: auth(key, a),
			JSParams: map[string]any{"d1": digestParam(d1), "d2": digestParam(d2), "pk": p.PublicKey.Hex()}})
		if err != nil {
			t.Fatal(err)
		}
		checkActionSig(t, res.Signatures["a"], p, d1)
		checkActionSig(t, res.Signatures["b"], p, d2)
	})
}

func TestExecuteJSFromIPFS(t *testing.T) {
	dir := t.TempDir()
	code := []byte(`Lit.Actions.setResponse({response: JSON.stringify(["from ipfs", jsParams.who])});`)
	if err := os.WriteFile(filepath.Join(dir, "hello.js"), code, 0o644); err != nil {
		t.Fatal(err)
	}
	cid, err := litnode.IPFSCIDv0(code)
	if err != nil {
		t.Fatal(err)
	}
	n := startActionDevnet(t, 4, dir)
	c := newClient(t, n)
	p := n.PKPs()[0]
	// A delegation for exactly this CID.
	key, a := delegate(t, c, p, "lit-action-execution:"+cid)
	res, err := execute(t, c, litnode.ExecuteJSRequest{IPFSID: cid, JSParams: map[string]any{"who": "me"}, Auth: auth(key, a)})
	if err != nil {
		t.Fatalf("ExecuteJS(ipfsId): %v", err)
	}
	if arr, ok := res.Response.([]any); !ok || len(arr) != 2 || arr[1] != "me" || res.CID != cid {
		t.Fatalf("response = %#v, CID %q", res.Response, res.CID)
	}
	// The same delegation does not cover other code: the nodes reject the
	// session before running anything.
	other := []byte(`Lit.Actions.setResponse({response: "other"});`)
	_, err = execute(t, c, litnode.ExecuteJSRequest{Code: other, Auth: auth(key, a)})
	if !errors.Is(err, litnode.ErrUnauthorized) || litnode.ActionMayHaveRun(err) {
		t.Fatalf("other code: %v (may have run %v), want ErrUnauthorized and not run", err, litnode.ActionMayHaveRun(err))
	}
	if ocid, _ := litnode.IPFSCIDv0(other); n.ActionRuns(ocid) != 0 {
		t.Error("the out-of-scope action ran")
	}
}

func TestExecuteJSActionFailures(t *testing.T) {
	n := startActionDevnet(t, 4, "")
	c := newClient(t, n)
	p := n.PKPs()[0]
	key, a := delegate(t, c, p, "lit-action-execution:*")
	cases := []struct {
		name, code, wantCode, wantLogs string
	}{
		{"throws", `console.log("before"); throw new Error("boom");`, "NodeJsExecutionError", "before\n"},
		{"throws without logs", `throw new Error("silent");`, "NodeJsExecutionError", ""},
		{"infinite loop", `console.log("spin"); while (true) {}`, "NodeJsTimeoutError", "spin\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := executeRequests(n)
			_, err := execute(t, c, litnode.ExecuteJSRequest{Code: []byte(tc.code), Auth: auth(key, a)})
			if !errors.Is(err, litnode.ErrActionFailed) || litnode.Retryable(err) {
				t.Fatalf("err = %v, want ErrActionFailed, not retryable", err)
			}
			var ee *litnode.ExecuteJSError
			if !errors.As(err, &ee) || !ee.MayHaveRun || ee.Attempts != 1 {
				t.Fatalf("err = %#v, want an ExecuteJSError that may have run, 1 attempt", err)
			}
			if ee.Logs != tc.wantLogs || litnode.ActionLogs(err) != tc.wantLogs {
				t.Errorf("logs = %q, want %q", ee.Logs, tc.wantLogs)
			}
			var ne *litnode.NodeError
			if !errors.As(err, &ne) || ne.Code != tc.wantCode {
				t.Errorf("node error = %+v, want code %s", ne, tc.wantCode)
			}
			cid, _ := litnode.IPFSCIDv0([]byte(tc.code))
			if runs := n.ActionRuns(cid); runs != 1 {
				t.Errorf("ActionRuns = %d, want 1 (never retried)", runs)
			}
			if got := executeRequests(n) - before; got != 3 {
				t.Errorf("%d execute requests, want 3 (one attempt)", got)
			}
		})
	}
}

// A memory hog is NodeJsMemoryLimitError (a long action timeout, so that a
// slow machine or the race detector does not make it a timeout).
func TestExecuteJSMemoryLimit(t *testing.T) {
	n := startActionDevnetWith(t, devnet.Config{Nodes: 4, NodeTimeout: 2 * time.Minute, ActionTimeout: 90 * time.Second})
	c := newClient(t, n)
	c.RequestTimeout = 2 * time.Minute
	p := n.PKPs()[0]
	key, a := delegate(t, c, p, "lit-action-execution:*")
	code := `console.log("hog"); const a = []; for (;;) { a.push(new Array(1 << 16).fill(1)); }`
	_, err := execute(t, c, litnode.ExecuteJSRequest{Code: []byte(code), Auth: auth(key, a)})
	var ne *litnode.NodeError
	if !errors.Is(err, litnode.ErrActionFailed) || !errors.As(err, &ne) || ne.Code != "NodeJsMemoryLimitError" || litnode.ActionLogs(err) != "hog\n" {
		t.Fatalf("err = %v, want NodeJsMemoryLimitError with logs", err)
	}
	if runs := n.ActionRuns(cidOf(code)); runs != 1 {
		t.Errorf("ActionRuns = %d, want 1", runs)
	}
}

func cidOf(code string) string {
	cid, _ := litnode.IPFSCIDv0([]byte(code))
	return cid
}

func TestExecuteJSValidation(t *testing.T) {
	c := &litnode.Client{Network: litnode.NetworkConfig{StaticNodes: []string{"http://127.0.0.1:1"}}}
	for name, req := range map[string]litnode.ExecuteJSRequest{
		"neither":     {},
		"both":        {Code: []byte("x"), IPFSID: "QmX"},
		"bad ipfs id": {IPFSID: "Qm/../x"},
	} {
		_, err := c.ExecuteJS(context.Background(), req)
		if !errors.Is(err, litnode.ErrMalformed) || litnode.ActionMayHaveRun(err) {
			t.Errorf("%s: err = %v, want ErrMalformed, not run", name, err)
		}
	}
}

// A node that cannot decrypt while the others ran the action: the action
// ran, so ExecuteJS does not retry.
func TestExecuteJSNoRetryOnceRun(t *testing.T) {
	n := startActionDevnet(t, 3, "")
	c := newClient(t, n)
	p := n.PKPs()[0]
	key, a := delegate(t, c, p, "lit-action-execution:*")
	n.Nodes()[1].SetFault(devnet.Fault{CantDecrypt: true})
	code := []byte(`Lit.Actions.setResponse({response: "side effect"});`)
	_, err := execute(t, c, litnode.ExecuteJSRequest{Code: code, Auth: auth(key, a)})
	var ee *litnode.ExecuteJSError
	if !errors.As(err, &ee) || !ee.MayHaveRun || ee.Attempts != 1 || !errors.Is(err, litnode.ErrNodeUnavailable) {
		t.Fatalf("err = %v, want one attempt that may have run", err)
	}
	cid, _ := litnode.IPFSCIDv0(code)
	if runs := n.ActionRuns(cid); runs != 1 {
		t.Errorf("ActionRuns = %d, want 1", runs)
	}
	if got := executeRequests(n); got != 3 {
		t.Errorf("%d execute requests, want 3", got)
	}
}

// When no node could decrypt, none ran the action: ExecuteJS refreshes
// and retries (docs/naga-wire.md §11.4 "can't decrypt").
func TestExecuteJSRetriesWhenNoNodeRan(t *testing.T) {
	n := startActionDevnet(t, 3, "")
	var failed atomic.Int32
	c := newClient(t, n)
	p := n.PKPs()[0]
	key, a := delegate(t, c, p, "lit-action-execution:*")
	for _, nd := range n.Nodes() {
		nd.SetFault(devnet.Fault{CantDecrypt: true})
	}
	// Heal once the whole first attempt has failed (3 nodes answered).
	c.Observe = func(o litnode.Observation) {
		if o.Op == "execute_js" && o.Err != nil && failed.Add(1) == 3 {
			for _, nd := range n.Nodes() {
				nd.SetFault(devnet.Fault{})
			}
		}
	}
	code := []byte(`Lit.Actions.setResponse({response: "once"});`)
	res, err := execute(t, c, litnode.ExecuteJSRequest{Code: code, Auth: auth(key, a)})
	if err != nil || res.Response != "once" {
		t.Fatalf("ExecuteJS = %+v, %v", res, err)
	}
	cid, _ := litnode.IPFSCIDv0(code)
	if runs := n.ActionRuns(cid); runs != 1 {
		t.Errorf("ActionRuns = %d, want 1", runs)
	}
	if got := executeRequests(n); got != 6 {
		t.Errorf("%d execute requests, want 6 (two attempts)", got)
	}

	// Still failing after the missing-key budget (1 retry): not run.
	for _, nd := range n.Nodes() {
		nd.SetFault(devnet.Fault{CantDecrypt: true})
	}
	c.Observe = nil
	_, err = execute(t, c, litnode.ExecuteJSRequest{Code: code, Auth: auth(key, a)})
	var ee *litnode.ExecuteJSError
	if !errors.As(err, &ee) || ee.MayHaveRun || ee.Attempts != 2 {
		t.Fatalf("err = %v, want 2 attempts, not run", err)
	}
}
