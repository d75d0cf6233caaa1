package devnet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/litsignd/litsignd/litnode"
)

func litActionReq(id string) litnode.ResourceAbilityRequest {
	return litnode.ResourceAbilityRequest{Resource: litnode.LitResource{ResourcePrefix: "lit-litaction", Resource: id}, Ability: litnode.AbilityLitActionExecution}
}

// actionAndSigning is what a delegation for actions that sign needs:
// lit-litaction://* and lit-pkp://*.
var actionAndSigning = []litnode.ResourceAbilityRequest{litActionReq("*"), pkpSigningAll[0]}

// actSetup is a network, a client, the first PKP and its owner's delegation
// for actionAndSigning to a session key.
type actSetup struct {
	n    *Network
	c    *client
	pkp  DevPKP
	sk   *litnode.SessionKey
	del  litnode.AuthSig
	urls []string
}

func newActSetup(t *testing.T, cfg Config) *actSetup {
	t.Helper()
	n := startNet(t, cfg)
	c := newClient(t, n)
	pkp := n.PKPs()[0]
	sk, err := litnode.GenerateSessionKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	del := c.delegate(ssk{pkp: pkp, eoa: pkp.OwnerKey, sk: sk, reqs: actionAndSigning})
	return &actSetup{n: n, c: c, pkp: pkp, sk: sk, del: del, urls: n.NodeURLs()[:n.Threshold()]}
}

// execReq is one execute request.
type execReq struct {
	code    string // sent base64 when set
	ipfsID  string
	params  map[string]any
	del     *litnode.AuthSig                 // default: the setup's
	reqs    []litnode.ResourceAbilityRequest // session resources; default lit-litaction://*
	reqID   string
	urls    []string
	omitAll bool // send neither code nor ipfsId
}

func (s *actSetup) exec(t *testing.T, r execReq) []reply {
	t.Helper()
	if r.urls == nil {
		r.urls = s.urls
	}
	if r.reqs == nil {
		r.reqs = []litnode.ResourceAbilityRequest{litActionReq("*")}
	}
	if r.reqID == "" {
		r.reqID = newRequestID()
	}
	del := s.del
	if r.del != nil {
		del = *r.del
	}
	now := time.Now()
	sigs := sessionSigs(t, s.sk, []litnode.AuthSig{del}, r.urls, now, now.Add(30*time.Minute), nil, r.reqs)
	body := map[string]any{"jsParams": map[string]any{"jsParams": r.params}, "nodeSet": nodeSet(r.urls), "keySetId": "naga-keyset1"}
	if r.code != "" {
		body["code"] = base64.StdEncoding.EncodeToString([]byte(r.code))
	}
	if r.ipfsID != "" {
		body["ipfsId"] = r.ipfsID
	}
	if r.omitAll {
		delete(body, "code")
		delete(body, "ipfsId")
	}
	return s.c.fanOut(context.Background(), r.urls, "/web/execute/v2", r.reqID, func(u string) any {
		m := map[string]any{"authSig": sigs[u]}
		for k, v := range body {
			m[k] = v
		}
		return m
	})
}

// execData decodes the successful replies.
func execData(t *testing.T, replies []reply) []executeResponse {
	t.Helper()
	var out []executeResponse
	for i, r := range replies {
		if r.err != nil || r.status != 200 || !r.gen.OK || !r.encrypted {
			t.Fatalf("execute node %d: %d %s %v", i, r.status, r.plain, r.err)
		}
		var d executeResponse
		if err := json.Unmarshal(r.gen.Data, &d); err != nil {
			t.Fatal(err)
		}
		if !d.Success {
			t.Fatalf("node %d: success false: %s", i, r.gen.Data)
		}
		out = append(out, d)
	}
	return out
}

// combineSig combines sigName's shares of every node.
func combineSig(t *testing.T, data []executeResponse, sigName string) (litnode.ECDSASignature, error) {
	t.Helper()
	var shares []litnode.ECDSAShare
	for i, d := range data {
		sd, ok := d.SignedData[sigName]
		if !ok {
			t.Fatalf("node %d: no signedData[%s]: %+v", i, sigName, d.SignedData)
		}
		if sd.SigType != "EcdsaK256Sha256" || sd.SigName != sigName || !strings.HasPrefix(sd.PublicKey, `"04`) {
			t.Fatalf("node %d: signedData %+v", i, sd)
		}
		sh, err := litnode.ParseECDSAShare([]byte(sd.SignatureShare))
		if err != nil {
			t.Fatalf("node %d: share %s: %v", i, sd.SignatureShare, err)
		}
		shares = append(shares, sh)
	}
	return litnode.CombineECDSAShares(shares)
}

// wantThrown checks the node answer to a throwing action (docs/naga-wire.md §8.2):
// 400, error = the message, errorObject = the logs.
func wantThrown(t *testing.T, replies []reply, msgPrefix, logs string) {
	t.Helper()
	for i, r := range replies {
		if r.err != nil || !r.encrypted || r.status != 400 || r.gen.OK || r.gen.Error == nil || r.gen.ErrorObject == nil {
			t.Fatalf("node %d: %d %s %v", i, r.status, r.plain, r.err)
		}
		if !strings.HasPrefix(*r.gen.Error, msgPrefix) || *r.gen.ErrorObject != logs {
			t.Fatalf("node %d: error %q errorObject %q, want %q… and %q", i, *r.gen.Error, *r.gen.ErrorObject, msgPrefix, logs)
		}
	}
}

// wantActionErr checks a coded action failure and the logs it carries.
func wantActionErr(t *testing.T, replies []reply, status int, code, short, logs string) {
	t.Helper()
	wantErr(t, replies, status, code)
	for i, r := range replies {
		pe := r.gen.publicErr(t)
		if *r.gen.Error != short || pe.Logs == nil || *pe.Logs != logs || pe.CorrelationID == "" {
			t.Fatalf("node %d: error %q, errorObject %s; want %q with logs %q", i, *r.gen.Error, *r.gen.ErrorObject, short, logs)
		}
	}
}

const signingAction = `(async () => {
  console.log("hello", who, jsParams.who, {n: 1}, [1, "a"], null, undefined, 2.5, true);
  const r1 = await Lit.Actions.signEcdsa({toSign: new Uint8Array(jsParams.digest1), publicKey: jsParams.publicKey, sigName: "sig1"});
  const r2 = await LitActions.signEcdsa({toSign: jsParams.digest2, publicKey: jsParams.publicKey.slice(2), sigName: "sig2"});
  console.info("signed", r1, r2);
  Lit.Actions.setResponse({response: JSON.stringify({
    ok: true, r1, r2, ipfs: Lit.Auth.actionIpfsIds, users: Lit.Auth.authMethodContexts.map(m => m.userId),
  })});
})();`

func TestExecuteSignsAndResponds(t *testing.T) {
	s := newActSetup(t, Config{})
	d1 := crypto.Keccak256([]byte("action message 1"))
	d2 := crypto.Keccak256([]byte("action message 2"))
	cid, _ := litnode.IPFSCIDv0([]byte(signingAction))
	params := map[string]any{"who": "world", "digest1": d1, "digest2": d2, "publicKey": s.pkp.PublicKey.Hex()}
	// json.Marshal writes []byte as base64; the action wants numbers.
	for _, k := range []string{"digest1", "digest2"} {
		var nums []int
		for _, b := range params[k].([]byte) {
			nums = append(nums, int(b))
		}
		params[k] = nums
	}
	reqID := newRequestID()
	data := execData(t, s.exec(t, execReq{code: signingAction, params: params, reqID: reqID}))
	for name, digest := range map[string][]byte{"sig1": d1, "sig2": d2} {
		sig, err := combineSig(t, data, name)
		if err != nil {
			t.Fatalf("combine %s: %v", name, err)
		}
		if got := recoverAddr(t, sig, [32]byte(digest)); got != s.pkp.EthAddress {
			t.Fatalf("%s recovers to %s, want %s", name, got, s.pkp.EthAddress)
		}
	}
	// Each sigName has its own nonce.
	sh1, _ := litnode.ParseECDSAShare([]byte(data[0].SignedData["sig1"].SignatureShare))
	sh2, _ := litnode.ParseECDSAShare([]byte(data[0].SignedData["sig2"].SignatureShare))
	if string(sh1.BigR) == string(sh2.BigR) {
		t.Fatal("sig1 and sig2 share a nonce")
	}
	wantLogs := "hello world world {\"n\":1} [1,\"a\"] null undefined 2.5 true\nsigned success success\n"
	for i, d := range data {
		if d.Logs != wantLogs {
			t.Fatalf("node %d logs %q, want %q", i, d.Logs, wantLogs)
		}
		var resp struct {
			OK    bool     `json:"ok"`
			R1    string   `json:"r1"`
			R2    string   `json:"r2"`
			IPFS  []string `json:"ipfs"`
			Users []string `json:"users"`
		}
		if err := json.Unmarshal([]byte(d.Response), &resp); err != nil || !resp.OK || resp.R1 != "success" || resp.R2 != "success" ||
			len(resp.IPFS) != 1 || resp.IPFS[0] != cid || len(resp.Users) != 1 || resp.Users[0] != s.pkp.OwnerAddress.Hex() {
			t.Fatalf("node %d response %q (%v)", i, d.Response, err)
		}
		if d.Response != data[0].Response {
			t.Fatal("nodes answered different responses")
		}
		if d.DecryptedData == nil || d.ClaimData == nil || len(d.PaymentDetail) == 0 ||
			d.PaymentDetail[0] != (paymentItem{Component: "BaseAmount", Quantity: 1, Price: defaultPrice.Uint64()}) {
			t.Fatalf("node %d data %+v", i, d)
		}
	}
	if got := s.n.ActionRuns(cid); got != 1 {
		t.Fatalf("ActionRuns %d, want 1", got)
	}
	// The node logged the request.
	reqs := s.n.Nodes()[0].Requests()
	if last := reqs[len(reqs)-1]; last.Path != "/web/execute/v2" || last.Status != 200 || last.RequestID != reqID || !strings.Contains(string(last.Body), `"code"`) {
		t.Fatalf("request log %+v", last)
	}

	// Top-level await, without the async wrapper; the signature of the
	// same digest and sigName in another request uses another nonce.
	top := `const r = await Lit.Actions.signEcdsa({toSign: jsParams.digest1, publicKey: jsParams.publicKey, sigName: "sig1"});
Lit.Actions.setResponse({response: r});`
	data2 := execData(t, s.exec(t, execReq{code: top, params: params}))
	sig, err := combineSig(t, data2, "sig1")
	if err != nil || recoverAddr(t, sig, [32]byte(d1)) != s.pkp.EthAddress || data2[0].Response != "success" {
		t.Fatalf("top-level await: %v %q", err, data2[0].Response)
	}
	sh3, _ := litnode.ParseECDSAShare([]byte(data2[0].SignedData["sig1"].SignatureShare))
	if string(sh3.BigR) == string(sh1.BigR) {
		t.Fatal("two requests share a nonce")
	}

	// ethPersonalSignMessageEcdsa signs the EIP-191 hash.
	eip := `(async () => { await Lit.Actions.ethPersonalSignMessageEcdsa({message: "hi", publicKey: jsParams.publicKey, sigName: "p"}); })()`
	data3 := execData(t, s.exec(t, execReq{code: eip, params: params}))
	sig, err = combineSig(t, data3, "p")
	if err != nil || recoverAddr(t, sig, litnode.EIP191Hash("hi")) != s.pkp.EthAddress || data3[0].Response != "" {
		t.Fatalf("ethPersonalSignMessageEcdsa: %v", err)
	}
}

func TestExecuteActionFailures(t *testing.T) {
	s := newActSetup(t, Config{ActionTimeout: 300 * time.Millisecond})
	t.Run("throw", func(t *testing.T) {
		r := s.exec(t, execReq{code: `console.log("before"); throw new Error("boom");`})
		wantThrown(t, r, "Uncaught Error: boom", "before\n")
	})
	t.Run("async rejection", func(t *testing.T) {
		r := s.exec(t, execReq{code: `(async () => { console.log("a"); await null; throw new TypeError("later"); })();`})
		wantThrown(t, r, "Uncaught (in promise) TypeError: later", "a\n")
	})
	t.Run("caught rejection is fine", func(t *testing.T) {
		code := `(async () => { try { await Lit.Actions.signEcdsa({toSign: [1], publicKey: "x", sigName: "s"}); } catch (e) { Lit.Actions.setResponse({response: e.message}); } })();`
		d := execData(t, s.exec(t, execReq{code: code}))
		if !strings.Contains(d[0].Response, "invalid publicKey") || len(d[0].SignedData) != 0 {
			t.Fatalf("response %q", d[0].Response)
		}
	})
	t.Run("syntax error", func(t *testing.T) {
		wantThrown(t, s.exec(t, execReq{code: `let = ;`}), "Uncaught SyntaxError", "")
	})
	t.Run("signEcdsa with a PKP the session may not use", func(t *testing.T) {
		other := s.n.PKPs()[1]
		code := `(async () => { await Lit.Actions.signEcdsa({toSign: new Uint8Array(32), publicKey: "` + other.PublicKey.Hex() + `", sigName: "s"}); })();`
		wantThrown(t, s.exec(t, execReq{code: code}), "Uncaught (in promise) Error: Lit.Actions.signEcdsa: NodePKPNotAuthorized", "")
	})
	t.Run("setResponse of a non-string", func(t *testing.T) {
		wantThrown(t, s.exec(t, execReq{code: `Lit.Actions.setResponse({response: {a: 1}});`}), "Uncaught TypeError: Lit.Actions.setResponse", "")
	})
	t.Run("infinite loop", func(t *testing.T) {
		// The timeout result itself shows the loop was interrupted (how
		// fast is not asserted: the machine may be loaded).
		r := s.exec(t, execReq{code: `console.log("spin"); while (true) {}`})
		wantActionErr(t, r, 502, CodeJsTimeoutError, "timeout", "spin\n")
	})
	t.Run("infinite loop after await", func(t *testing.T) {
		r := s.exec(t, execReq{code: `(async () => { await Promise.resolve(1); console.log("x"); for (;;) {} })();`})
		wantActionErr(t, r, 502, CodeJsTimeoutError, "timeout", "x\n")
	})
	t.Run("neither code nor ipfsId", func(t *testing.T) {
		r := s.exec(t, execReq{omitAll: true})
		wantErr(t, r, 400, CodeInvalidIPFSID)
		if *r[0].gen.Error != "no code or ipfs hash provided" {
			t.Fatalf("error %q", *r[0].gen.Error)
		}
	})
	t.Run("unknown ipfsId", func(t *testing.T) {
		wantErr(t, s.exec(t, execReq{ipfsID: "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"}), 400, CodeInvalidIPFSID)
	})
	t.Run("nobody can pay", func(t *testing.T) {
		s.n.SetPayment(s.pkp.EthAddress, PaymentNone)
		s.n.SetPayment(s.pkp.OwnerAddress, PaymentNone)
		defer s.n.SetPayment(s.pkp.EthAddress, PaymentUnlimited)
		defer s.n.SetPayment(s.pkp.OwnerAddress, PaymentUnlimited)
		code := `Lit.Actions.setResponse({response: "unpaid"});`
		r := s.exec(t, execReq{code: code})
		wantErr(t, r, 402, CodePaymentFailed)
		if *r[0].gen.Error != "error getting dynamic payment" {
			t.Fatalf("error %q", *r[0].gen.Error)
		}
		cid, _ := litnode.IPFSCIDv0([]byte(code))
		if s.n.ActionRuns(cid) != 0 {
			t.Fatal("an unpaid action ran")
		}
	})
}

func TestExecuteMemoryLimit(t *testing.T) {
	// The limit is measured on the process heap, which the three nodes
	// running the action here share: leave room for all three.
	s := newActSetup(t, Config{ActionMemoryLimit: 32 << 20, ActionTimeout: 20 * time.Second})
	code := `console.log("hog"); const a = []; for (;;) { a.push(new Array(1 << 16).fill(1)); }`
	r := s.exec(t, execReq{code: code})
	wantActionErr(t, r, 502, CodeJsMemoryLimitError, "memory limit", "hog\n")
	// Garbage does not count: a loop that allocates and drops well over the
	// limit in total (small arrays, so little is live at once) finishes.
	ok := `let n = 0; for (let i = 0; i < 480; i++) { n += new Array(1 << 12).fill(1).length; } Lit.Actions.setResponse({response: String(n)});`
	d := execData(t, s.exec(t, execReq{code: ok}))
	if d[0].Response != "1966080" {
		t.Fatalf("response %q", d[0].Response)
	}
}

func TestExecuteActionResourceChecks(t *testing.T) {
	s := newActSetup(t, Config{})
	code := `Lit.Actions.setResponse({response: "ran"});`
	cid, _ := litnode.IPFSCIDv0([]byte(code))
	other, _ := litnode.IPFSCIDv0([]byte("another action"))

	t.Run("session for another CID only", func(t *testing.T) {
		r := s.exec(t, execReq{code: code, reqs: []litnode.ResourceAbilityRequest{litActionReq(other)}})
		wantErr(t, r, 404, CodeResourceIDNotFound)
		if *r[0].gen.Error != "can't validate user address" {
			t.Fatalf("error %q", *r[0].gen.Error)
		}
	})
	t.Run("delegation for another CID only", func(t *testing.T) {
		del := s.c.delegate(ssk{pkp: s.pkp, eoa: s.pkp.OwnerKey, sk: s.sk, reqs: []litnode.ResourceAbilityRequest{litActionReq(other)}})
		r := s.exec(t, execReq{code: code, del: &del})
		wantErr(t, r, 400, CodeSIWECapabilityInvalid)
		if pe := r[0].gen.publicErr(t); !strings.Contains(strings.Join(pe.Details, "|"), "lit-litaction://"+cid) {
			t.Fatalf("details %v", pe.Details)
		}
	})
	t.Run("delegation for PKP signing only", func(t *testing.T) {
		del := s.c.delegate(ssk{pkp: s.pkp, eoa: s.pkp.OwnerKey, sk: s.sk})
		wantErr(t, s.exec(t, execReq{code: code, del: &del}), 400, CodeSIWECapabilityInvalid)
	})
	if n := s.n.ActionRuns(cid); n != 0 {
		t.Fatalf("refused requests ran the action %d times", n)
	}
	t.Run("delegation and session for exactly this CID", func(t *testing.T) {
		del := s.c.delegate(ssk{pkp: s.pkp, eoa: s.pkp.OwnerKey, sk: s.sk, reqs: []litnode.ResourceAbilityRequest{litActionReq(cid)}})
		d := execData(t, s.exec(t, execReq{code: code, del: &del, reqs: []litnode.ResourceAbilityRequest{litActionReq(cid)}}))
		if d[0].Response != "ran" {
			t.Fatalf("response %q", d[0].Response)
		}
	})
	if n := s.n.ActionRuns(cid); n != 1 {
		t.Fatalf("ActionRuns %d, want 1", n)
	}
}

func TestExecuteIPFSAction(t *testing.T) {
	dir := t.TempDir()
	code := []byte(`Lit.Actions.setResponse({response: "from ipfs " + jsParams.x + " " + Lit.Auth.actionIpfsIds[0]});`)
	cid, _ := litnode.IPFSCIDv0(code)
	if err := os.WriteFile(filepath.Join(dir, "action.js"), code, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	s := newActSetup(t, Config{ActionsDir: dir})
	d := execData(t, s.exec(t, execReq{ipfsID: cid, params: map[string]any{"x": 7}}))
	if d[0].Response != "from ipfs 7 "+cid {
		t.Fatalf("response %q", d[0].Response)
	}
	// A file written after Start is found on a miss.
	later := []byte(`Lit.Actions.setResponse({response: "later"});`)
	lcid, _ := litnode.IPFSCIDv0(later)
	if err := os.WriteFile(filepath.Join(dir, "later.js"), later, 0o644); err != nil {
		t.Fatal(err)
	}
	if d := execData(t, s.exec(t, execReq{ipfsID: lcid})); d[0].Response != "later" {
		t.Fatalf("response %q", d[0].Response)
	}
	// AddAction registers code without a file.
	added := []byte(`Lit.Actions.setResponse({response: "added"});`)
	acid, err := s.n.AddAction(added)
	if err != nil {
		t.Fatal(err)
	}
	if d := execData(t, s.exec(t, execReq{ipfsID: acid})); d[0].Response != "added" {
		t.Fatalf("response %q", d[0].Response)
	}
	// code wins over ipfsId, and the session must cover the code's CID.
	inline := `Lit.Actions.setResponse({response: Lit.Auth.actionIpfsIds[0]});`
	icid, _ := litnode.IPFSCIDv0([]byte(inline))
	d = execData(t, s.exec(t, execReq{code: inline, ipfsID: cid}))
	if d[0].Response != icid {
		t.Fatalf("response %q, want %s", d[0].Response, icid)
	}
	if s.n.ActionRuns(cid) != 1 || s.n.ActionRuns(lcid) != 1 || s.n.ActionRuns(icid) != 1 {
		t.Fatalf("ActionRuns %d %d %d", s.n.ActionRuns(cid), s.n.ActionRuns(lcid), s.n.ActionRuns(icid))
	}
	// A missing directory is a Start error.
	if _, err := Start(Config{ActionsDir: filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("Start with a missing ActionsDir succeeded")
	}
}

func TestExecuteActionRunsAndFaults(t *testing.T) {
	s := newActSetup(t, Config{})
	code := `(async () => {
  await Lit.Actions.signEcdsa({toSign: jsParams.d, publicKey: jsParams.pk, sigName: "s"});
  Lit.Actions.setResponse({response: "ok"});
})();`
	cid, _ := litnode.IPFSCIDv0([]byte(code))
	digest := crypto.Keccak256([]byte("faults"))
	d := make([]int, 32)
	for i, b := range digest {
		d[i] = int(b)
	}
	params := map[string]any{"d": d, "pk": s.pkp.PublicKey.Hex()}

	// Two requests, one id each: two runs; the same id again: no new run.
	id := newRequestID()
	execData(t, s.exec(t, execReq{code: code, params: params, reqID: id}))
	execData(t, s.exec(t, execReq{code: code, params: params, reqID: id}))
	execData(t, s.exec(t, execReq{code: code, params: params}))
	if n := s.n.ActionRuns(cid); n != 2 {
		t.Fatalf("ActionRuns %d, want 2", n)
	}
	// Another node set signs too.
	all := s.n.NodeURLs()
	sig, err := combineSig(t, execData(t, s.exec(t, execReq{code: code, params: params, urls: all})), "s")
	if err != nil || recoverAddr(t, sig, [32]byte(digest)) != s.pkp.EthAddress {
		t.Fatalf("all nodes: %v", err)
	}

	victim := s.n.Nodes()[0]
	for _, f := range []Fault{{BadShare: true}, {WrongR: true}} {
		victim.SetFault(f)
		if _, err := combineSig(t, execData(t, s.exec(t, execReq{code: code, params: params})), "s"); err == nil {
			t.Fatalf("fault %+v: the shares combined", f)
		}
	}
	victim.SetFault(Fault{Timeout408: true})
	r := s.exec(t, execReq{code: code, params: params})
	if r[0].status != 408 || *r[0].gen.ErrorObject != CodeRequestTimeout {
		t.Fatalf("Timeout408: %d %s", r[0].status, r[0].plain)
	}
	execData(t, r[1:])
	victim.SetFault(Fault{CantDecrypt: true})
	r = s.exec(t, execReq{code: code, params: params})
	if r[0].status != 500 || r[0].encrypted || *r[0].gen.Error != "can't decrypt" {
		t.Fatalf("CantDecrypt: %d %s", r[0].status, r[0].plain)
	}
	victim.SetFault(Fault{})
}

func TestExecuteActionsConcurrent(t *testing.T) {
	s := newActSetup(t, Config{})
	code := `(async () => {
  await Lit.Actions.signEcdsa({toSign: jsParams.d, publicKey: jsParams.pk, sigName: "s"});
  Lit.Actions.setResponse({response: String(jsParams.i)});
})();`
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for i := range 8 {
		wg.Go(func() {
			digest := crypto.Keccak256([]byte{byte(i)})
			d := make([]int, 32)
			for j, b := range digest {
				d[j] = int(b)
			}
			data := execData(t, s.exec(t, execReq{code: code, params: map[string]any{"d": d, "pk": s.pkp.PublicKey.Hex(), "i": i}}))
			sig, err := combineSig(t, data, "s")
			if err != nil || recoverAddr(t, sig, [32]byte(digest)) != s.pkp.EthAddress {
				errs <- "bad signature"
			}
			for _, x := range data {
				if x.Response != string(rune('0'+i)) {
					errs <- "response " + x.Response
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
