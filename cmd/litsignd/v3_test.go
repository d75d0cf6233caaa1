package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/litv3"
	"github.com/litsignd/litsignd/litv3/v3fake"
)

// v3Dev is a running `litsignd dev` with its v3 fake.
type v3Dev struct {
	t       *testing.T
	info    *devInfoT
	v3      devV3Info
	fake    *v3fake.Server
	acct    litv3.UsageKey
	group   uint64
	nc      *nats.Conn
	js      jetstream.JetStream
	events  *nats.Subscription
	metrics string
}

// startDevV3 runs `litsignd dev` in-process (the v3 fake beside the devnet)
// with extra flags and captures the fake.
func startV3Dev(t *testing.T, extra ...string) (*v3Dev, func()) {
	t.Helper()
	var fake *v3fake.Server
	devV3Started = func(s *v3fake.Server) { fake = s }
	t.Cleanup(func() { devV3Started = nil })
	dataDir := t.TempDir()
	infoPath := filepath.Join(dataDir, "info.json")
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	args := append([]string{"dev", "--data-dir", dataDir, "--nats-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--dev-info", infoPath, "--lit-timeout", "3s"}, extra...)
	go func() { done <- run(ctx, args, func(string) string { return "" }, io.Discard, logs) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("litsignd logs:\n%s", logs.String())
		}
	})
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v on shutdown", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("run did not return within 30s of cancel")
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	var raw []byte
	for {
		var err error
		if raw, err = os.ReadFile(infoPath); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("run exited early: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("no dev info after 60s\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	d := &v3Dev{t: t, fake: fake, info: &devInfoT{}}
	var v struct {
		LitV3 *devV3Info `json:"litV3"`
	}
	if err := json.Unmarshal(raw, d.info); err != nil || json.Unmarshal(raw, &v) != nil || v.LitV3 == nil {
		t.Fatalf("dev info without litV3: %v\n%s", err, raw)
	}
	d.v3 = *v.LitV3
	if fake == nil {
		t.Fatal("the dev v3 fake was not started")
	}
	d.acct, _ = litv3.ParseUsageKey(d.v3.AccountKey)
	d.group, _ = strconv.ParseUint(d.v3.GroupID, 10, 64)
	d.metrics = d.info.MetricsURL
	nc, err := nats.Connect(d.info.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	d.nc = nc
	d.js, _ = jetstream.New(nc)
	if d.events, err = nc.SubscribeSync("lit.events.delegation.>"); err != nil {
		t.Fatal(err)
	}
	return d, func() { nc.Close(); stop() }
}

// handOff seals {usageKey, groupId} to litsignd and publishes it; it
// returns the event litsignd answered with.
func (d *v3Dev) handOff(addr, key, group string) consumer.DelegationEvent {
	d.t.Helper()
	pub, err := consumer.ParseSealingPublicKey(d.info.SealingPublicKey)
	if err != nil {
		d.t.Fatal(err)
	}
	p, _ := json.Marshal(map[string]any{"usageKey": key, "groupId": group, "issuedAt": time.Now().UTC()})
	sealed, err := consumer.Seal(pub, p)
	if err != nil {
		d.t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"backend": "lit-v3", "pkp": addr, "sealedPayload": base64.RawURLEncoding.EncodeToString(sealed)})
	if strings.Contains(string(body), key) {
		d.t.Fatal("the usage key is in the hand-off in plaintext")
	}
	if _, err := d.js.Publish(context.Background(), "lit.delegations", body); err != nil {
		d.t.Fatal(err)
	}
	return d.event(func(ev consumer.DelegationEvent) bool {
		return ev.PKPPublicKey == strings.ToLower(addr) && (ev.Type == consumer.EventStored || ev.Type == consumer.EventRejected)
	})
}

func (d *v3Dev) event(ok func(consumer.DelegationEvent) bool) consumer.DelegationEvent {
	d.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		m, err := d.events.NextMsg(time.Until(deadline))
		if err != nil {
			break
		}
		var ev consumer.DelegationEvent
		if json.Unmarshal(m.Data, &ev) == nil && ok(ev) {
			return ev
		}
	}
	d.t.Fatal("no matching delegation event within 20s")
	return consumer.DelegationEvent{}
}

// job publishes a job on lit.jobs.e2e.<kind> (producer e2e) and waits for
// its one result on lit.results.e2e.<id>.
func (d *v3Dev) job(kind string, body map[string]any) consumer.Result {
	d.t.Helper()
	id := fmt.Sprintf("v3e2e-%d", time.Now().UnixNano())
	body["id"] = id
	b, _ := json.Marshal(body)
	sub, err := d.nc.SubscribeSync("lit.results.e2e." + id)
	if err != nil {
		d.t.Fatal(err)
	}
	defer sub.Unsubscribe()
	m := nats.NewMsg("lit.jobs.e2e." + kind)
	m.Data = b
	m.Header.Set("Nats-Msg-Id", id)
	if _, err := d.js.PublishMsg(context.Background(), m); err != nil {
		d.t.Fatal(err)
	}
	msg, err := sub.NextMsg(30 * time.Second)
	if err != nil {
		d.t.Fatalf("no result for %s: %v", id, err)
	}
	var r consumer.Result
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		d.t.Fatal(err)
	}
	if extra, err := sub.NextMsg(300 * time.Millisecond); err == nil {
		d.t.Fatalf("a second result for %s: %s", id, extra.Data)
	}
	return r
}

func wantCode(t *testing.T, r consumer.Result, code string) {
	t.Helper()
	if r.Status != consumer.StatusError || r.Error == nil || r.Error.Code != code {
		t.Fatalf("result %+v (error %+v), want error %s", r, r.Error, code)
	}
}

// recovers checks a result signature recovers to addr over its signedData.
func recovers(t *testing.T, r consumer.Result, addr string) {
	t.Helper()
	if r.Status != consumer.StatusOK || r.Signature == nil {
		t.Fatalf("result %+v (error %+v), want a signature", r, r.Error)
	}
	sig, _ := hex.DecodeString(strings.TrimPrefix(r.Signature.Signature, "0x"))
	digest, _ := hex.DecodeString(strings.TrimPrefix(r.Signature.SignedData, "0x"))
	if len(sig) != 65 || len(digest) != 32 {
		t.Fatalf("signature %+v", r.Signature)
	}
	sig[64] -= 27
	pub, err := crypto.SigToPub(digest, sig)
	if err != nil || !strings.EqualFold(crypto.PubkeyToAddress(*pub).Hex(), addr) {
		t.Fatalf("signature recovers to %v (%v), want %s", pub, err, addr)
	}
	if r.Signature.PublicKey != "0x"+hex.EncodeToString(crypto.FromECDSAPub(pub)) {
		t.Fatalf("publicKey %s is not the recovered key", r.Signature.PublicKey)
	}
}

// The v3 flows end to end through `litsignd dev`: hand-off, pkp-sign by
// address and by public key, execute-js with ethers, and the service's
// refusals (403 with nothing billed, 402, 401 with a needed event).
func TestDevV3EndToEnd(t *testing.T) {
	d, stop := startV3Dev(t, "--lit-v3-balance-interval", "200ms", "--lit-v3-grant-window", "0")
	defer stop()
	w := d.v3.Wallets[0]

	// A hand-off with a key the service does not know is refused before
	// anything is stored.
	bogus := base64.StdEncoding.EncodeToString(make([]byte, 32))
	if ev := d.handOff(w.Address, bogus, d.v3.GroupID); ev.Type != consumer.EventRejected || ev.Reason != consumer.ReasonV3UnknownAcct {
		t.Fatalf("bogus key: %+v", ev)
	}
	if ev := d.handOff(w.Address, d.v3.UsageKey, d.v3.GroupID); ev.Type != consumer.EventStored || ev.Backend != "lit-v3" {
		t.Fatalf("hand-off: %+v", ev)
	}

	// pkp-sign, the PKP named by address and by public key (what litsign
	// sign sends unchanged), on every chain.
	for _, pkp := range []string{w.Address, w.PublicKey} {
		recovers(t, d.job("pkp-sign", map[string]any{"pkpPublicKey": pkp, "toSign": "hello chipotle"}), w.Address)
	}
	recovers(t, d.job("pkp-sign", map[string]any{"pkpPublicKey": w.Address, "toSignHex": "0x" + strings.Repeat("11", 32), "chain": "raw"}), w.Address)
	recovers(t, d.job("pkp-sign", map[string]any{"pkpPublicKey": w.Address, "toSign": "btc", "chain": "bitcoin"}), w.Address)

	// execute-js: the v3 docs' signing example, with ethers as a global.
	code := `async function main({ pkpId, message }) {
  const pk = await Lit.Actions.getPrivateKey({ pkpId });
  const wallet = new ethers.Wallet(pk);
  console.log("signing for", pkpId);
  return { sig: await wallet.signMessage(message), hash: ethers.utils.keccak256(ethers.utils.toUtf8Bytes(message)) };
}`
	cid, _ := cidOf(code)
	if err := d.fake.AddActionToGroup(d.acct, d.group, cid); err != nil {
		t.Fatal(err)
	}
	r := d.job("execute-js", map[string]any{"pkpPublicKey": w.Address, "code": code, "jsParams": map[string]any{"pkpId": w.Address, "message": "gm"}})
	if r.Status != consumer.StatusOK || r.ActionResult == nil {
		t.Fatalf("execute-js: %+v %+v", r, r.Error)
	}
	var out struct{ Sig, Hash string }
	if err := json.Unmarshal(r.ActionResult.Response, &out); err != nil {
		t.Fatalf("response %s: %v", r.ActionResult.Response, err)
	}
	sig, _ := hex.DecodeString(strings.TrimPrefix(out.Sig, "0x"))
	sig[64] -= 27
	if pub, err := crypto.SigToPub(accounts.TextHash([]byte("gm")), sig); err != nil || !strings.EqualFold(crypto.PubkeyToAddress(*pub).Hex(), w.Address) {
		t.Fatalf("the action's signMessage does not verify: %v", err)
	}
	if !strings.Contains(r.ActionResult.Logs, "signing for "+w.Address) {
		t.Fatalf("logs %q", r.ActionResult.Logs)
	}
	if n := d.fake.Runs(cid); n != 1 {
		t.Fatalf("the action ran %d times", n)
	}

	// An action not in the group: scope_denied, and nothing ran or billed.
	other := `async function main() { return "not allowed"; }`
	ocid, _ := cidOf(other)
	before, _ := d.fake.Credits(d.acct)
	wantCode(t, d.job("execute-js", map[string]any{"pkpPublicKey": w.Address, "code": other}), consumer.CodeScopeDenied)
	if after, _ := d.fake.Credits(d.acct); after != before || d.fake.Runs(ocid) != 0 {
		t.Fatalf("a denied action ran %d times and cost %d cents", d.fake.Runs(ocid), before-after)
	}

	// The balance poller exports the account's credit.
	waitMetric(t, d.metrics, "litsignd_v3_balance_cents", func(v float64) bool { return v > 0 })
	if v := metricValue(t, d.metrics, "litsignd_v3_action_billed_seconds_total"); v < 1 {
		t.Fatalf("billed seconds %v", v)
	}

	// 402: the account has no credit.
	if err := d.fake.SetCredits(d.acct, 0); err != nil {
		t.Fatal(err)
	}
	wantCode(t, d.job("pkp-sign", map[string]any{"pkpPublicKey": w.Address, "toSign": "x"}), consumer.CodePaymentFailed)
	_ = d.fake.SetCredits(d.acct, 100000)

	// 401: the usage key was removed at the service. The job fails and
	// litsignd asks for a new credential.
	key, _ := litv3.ParseUsageKey(d.v3.UsageKey)
	if err := d.fake.RemoveUsageKey(d.acct, key); err != nil {
		t.Fatal(err)
	}
	r = d.job("pkp-sign", map[string]any{"pkpPublicKey": w.Address, "toSign": "x"})
	wantCode(t, r, consumer.CodeLitAuthFailed)
	ev := d.event(func(ev consumer.DelegationEvent) bool { return ev.Type == consumer.EventNeeded && ev.JobID == r.ID })
	if ev.PKPPublicKey != w.Address || ev.Reason != consumer.CodeLitAuthFailed {
		t.Fatalf("needed event %+v", ev)
	}
}

// waitMetric polls a metric until ok.
func waitMetric(t *testing.T, url, name string, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v := metricValue(t, url, name)
		if ok(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v", name, v)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func cidOf(code string) (string, error) { return litv3.CID(code) }
