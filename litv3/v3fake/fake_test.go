package v3fake_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/litsignd/litsignd/litv3"
	"github.com/litsignd/litsignd/litv3/v3fake"
)

// setup is a fake with one account, a usage key allowed to run cids in a
// group holding one wallet.
type setup struct {
	fake   *v3fake.Server
	client *litv3.Client
	acct   v3fake.Account
	key    litv3.UsageKey
	wallet common.Address
	group  uint64
}

func newSetup(t *testing.T, cfg v3fake.Config, cids ...string) *setup {
	t.Helper()
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
	g, err := f.AddGroup(acct.APIKey, "signers", []common.Address{w}, cids)
	if err != nil {
		t.Fatal(err)
	}
	key, err := f.AddUsageKey(acct.APIKey, "daemon", v3fake.Scopes{ExecuteInGroups: []uint64{g}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := litv3.New(f.URL(), litv3.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &setup{fake: f, client: c, acct: acct, key: key, wallet: w, group: g}
}

func mustCID(t *testing.T, code string) string {
	t.Helper()
	c, err := litv3.CID(code)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The signing guide's action (docs/lit-v3.md §4.4) runs unmodified and its
// signature is the wallet's EIP-191 signature.
const signingGuideAction = `async function main({ pkpId, message }) {
  const wallet = new ethers.Wallet(await Lit.Actions.getPrivateKey({ pkpId }));
  const signature = await wallet.signMessage(message);
  return { signature, address: wallet.address };
}`

func TestSigningGuideAction(t *testing.T) {
	s := newSetup(t, v3fake.Config{}, mustCID(t, signingGuideAction))
	res, err := s.client.LitAction(context.Background(), s.key, litv3.ActionRequest{
		Code: signingGuideAction, JSParams: map[string]any{"pkpId": s.wallet.Hex(), "message": "Hello from Lit Action"}})
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ Signature, Address string }
	if err := json.Unmarshal(res.Response, &out); err != nil {
		t.Fatalf("%v: %s", err, res.Response)
	}
	sig := hexutil.MustDecode(out.Signature)
	sig[64] -= 27
	pub, err := crypto.SigToPub(accounts.TextHash([]byte("Hello from Lit Action")), sig)
	if err != nil {
		t.Fatal(err)
	}
	if crypto.PubkeyToAddress(*pub) != s.wallet || common.HexToAddress(out.Address) != s.wallet {
		t.Fatalf("signature recovers to %s, want %s", crypto.PubkeyToAddress(*pub), s.wallet)
	}
	if n := s.fake.Runs(mustCID(t, signingGuideAction)); n != 1 {
		t.Fatalf("runs = %d", n)
	}
}

// With MaxConcurrentRuns, a request that arrives while the node is busy
// gets 429 before auth and runs nothing.
func TestMaxConcurrentRuns(t *testing.T) {
	block := `async function main() { const t = Date.now(); while (Date.now() - t < 1500) {} return 1; }`
	s := newSetup(t, v3fake.Config{MaxConcurrentRuns: 1}, mustCID(t, block))
	done := make(chan error, 1)
	go func() {
		_, err := s.client.LitAction(context.Background(), s.key, litv3.ActionRequest{Code: block})
		done <- err
	}()
	for s.fake.Running() == 0 {
		select {
		case err := <-done:
			t.Fatalf("the first run ended before it was seen running: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	_, err := s.client.LitAction(context.Background(), s.key, litv3.ActionRequest{Code: block})
	var e *litv3.Error
	if !errors.As(err, &e) || e.Status != 429 || e.MayHaveRun || !litv3.Retryable(err) {
		t.Fatalf("busy node: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := s.fake.Runs(mustCID(t, block)); n != 1 {
		t.Fatalf("runs = %d", n)
	}
}
