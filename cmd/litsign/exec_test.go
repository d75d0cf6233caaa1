package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/internal/natstest"
	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/litnode/devnet"
	"github.com/litsignd/litsignd/policy"
)

// litsign exec against an in-process litsignd job consumer: inline code
// with jsParams, an ipfsId action, a failing action, and usage errors.
func TestLitsignExec(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	nc, js := natstest.Connect(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	topo := consumer.DefaultTopology()
	if err := topo.Ensure(ctx, js); err != nil {
		t.Fatal(err)
	}
	if err := topo.EnsureJobs(ctx, js); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ipfsCode := []byte(`Lit.Actions.setResponse({response: JSON.stringify({from: "ipfs"})});`)
	if err := os.WriteFile(filepath.Join(dir, "a.js"), ipfsCode, 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := devnet.Start(devnet.Config{PKPs: 1, ActionsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	info := writeDevInfo(t, n, url, "")
	p := n.PKPs()[0]

	// The daemon's part: a stored delegation and the jobs consumer. litsign
	// submits as producer "tester" (<prefix>.jobs.tester.<kind>, results on
	// <prefix>.results.tester.<id>), which the zero Producers accepts.
	lit := &litnode.Client{Network: n.NetworkConfig(), RequestTimeout: 10 * time.Second}
	defer lit.Close()
	key, _ := litnode.GenerateSessionKey(nil)
	reqs, _ := litnode.ParseResourceShorthand("lit-action-execution:*")
	a, err := lit.SignSessionKey(ctx, litnode.SignSessionKeyRequest{PKP: p.PublicKey, SessionKey: key.PublicKey(), Owner: p.OwnerKey, Resources: reqs, Expiration: time.Now().Add(15 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	kek, _ := delegationstore.GenerateKEK("t")
	ring, _ := delegationstore.NewKeyring(kek)
	store, err := delegationstore.Open(ctx, js, delegationstore.Config{Bucket: topo.DelegationsBucket, KEK: ring})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(1)
	go func() { defer wg.Done(); _ = store.Run(ctx) }()
	<-store.Ready()
	if _, err := store.Put(ctx, &litnode.HandOff{PKP: p.PublicKey, SessionKey: key, Delegation: a}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := store.Get(ctx, p.PublicKey); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("stored delegation never served: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	kv, err := js.KeyValue(ctx, topo.JobsBucket)
	if err != nil {
		t.Fatal(err)
	}
	jobsCons, _, err := topo.EnsureJobsConsumers(ctx, js, topo.JobsConsumerConfig(3, 10*time.Second, 64))
	if err != nil {
		t.Fatal(err)
	}
	jobs := &consumer.Jobs{Delegations: store, Signer: lit, Results: &consumer.NATSResults{Conn: nc, JS: js, Topology: topo}, Topology: topo, Ledger: consumer.NewLedger(kv),
		DefaultPolicy: policy.Permissive()} // as litsignd dev: actions allowed without a policy
	wg.Add(1)
	go func() { defer wg.Done(); _ = consumer.Pull(ctx, jobsCons, 4, 5*time.Second, jobs.Handle, nil) }()

	result := func(t *testing.T, out string) consumer.Result {
		t.Helper()
		var r consumer.Result
		if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil {
			t.Fatalf("exec printed %q: %v", out, err)
		}
		return r
	}

	t.Run("inline code with params", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "action.js")
		code := `console.log("x is", jsParams.x); Lit.Actions.setResponse({response: JSON.stringify({x: jsParams.x, big: jsParams.big})});`
		if err := os.WriteFile(file, []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		out, status, err := litsign(t, "", "exec", "--dev-info", info, "--producer", "tester", "--pkp", p.PublicKey.Hex(), "--code", file, "--params", `{"x":"y","big":12345678901234567890}`)
		if err != nil || status != 0 {
			t.Fatalf("exec: %d %v\n%s", status, err, out)
		}
		r := result(t, out)
		if r.Status != "ok" || r.Kind != consumer.KindExecuteJS || r.ActionResult == nil || r.Logs != "x is y\n" {
			t.Fatalf("result %s", out)
		}
		if string(r.Response) != `{"big":12345678901234567000,"x":"y"}` {
			t.Errorf("response %s", r.Response)
		}
	})
	t.Run("ipfs", func(t *testing.T) {
		cid, _ := litnode.IPFSCIDv0(ipfsCode)
		out, status, err := litsign(t, "", "exec", "--dev-info", info, "--producer", "tester", "--pkp", p.PublicKey.Hex(), "--ipfs", cid, "--delivery", "at-least-once")
		if err != nil || status != 0 || !strings.Contains(out, `"response":{"from":"ipfs"}`) {
			t.Fatalf("exec --ipfs: %d %v\n%s", status, err, out)
		}
	})
	t.Run("failing action from stdin", func(t *testing.T) {
		out, status, err := litsign(t, `console.log("doomed"); throw new Error("nope");`, "exec", "--dev-info", info, "--producer", "tester", "--pkp", p.PublicKey.Hex(), "--code", "-")
		if status != 1 || err == nil || !strings.Contains(err.Error(), consumer.CodeActionFailed) {
			t.Fatalf("exec of a throwing action: %d %v", status, err)
		}
		r := result(t, out)
		if r.Error == nil || r.Error.Logs != "doomed\n" {
			t.Fatalf("result %s", out)
		}
		// Every node threw the same error: the message says it once.
		if n := strings.Count(r.Error.Message, "nope"); n != 1 {
			t.Errorf("the action's error appears %d times in the result message %q", n, r.Error.Message)
		}
	})
	t.Run("bench takes --code FILE like exec", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "action.js")
		if err := os.WriteFile(file, []byte(`Lit.Actions.setResponse({response: "ok"});`), 0o644); err != nil {
			t.Fatal(err)
		}
		out, status, err := litsign(t, "", "bench", "--dev-info", info, "--producer", "tester", "--pkp", p.PublicKey.Hex(), "--code", file, "--jobs", "4", "--concurrency", "2")
		if status != 0 || err != nil || !strings.Contains(out, "errors:      0") || !strings.Contains(out, "no result:   0") {
			t.Fatalf("bench --code: %d %v\n%s", status, err, out)
		}
		failing := filepath.Join(t.TempDir(), "fail.js")
		if err := os.WriteFile(failing, []byte(`throw new Error("nope");`), 0o644); err != nil {
			t.Fatal(err)
		}
		out, status, err = litsign(t, "", "bench", "--dev-info", info, "--producer", "tester", "--pkp", p.PublicKey.Hex(), "--code", failing, "--jobs", "2", "--concurrency", "2")
		if status != 1 || err == nil || !strings.Contains(out, consumer.CodeActionFailed+"=2") {
			t.Fatalf("bench of a throwing action: %d %v\n%s", status, err, out)
		}
	})
	t.Run("usage errors", func(t *testing.T) {
		pkp := p.PublicKey.Hex()
		for name, args := range map[string][]string{
			"no code":          {"--pkp", pkp},
			"code and ipfs":    {"--pkp", pkp, "--code", "x.js", "--ipfs", "Qm"},
			"params not obj":   {"--pkp", pkp, "--ipfs", "Qm", "--params", "[1]"},
			"bad delivery":     {"--pkp", pkp, "--ipfs", "Qm", "--delivery", "twice"},
			"bad pkp":          {"--pkp", "0x04zz", "--ipfs", "Qm"},
			"missing codefile": {"--pkp", pkp, "--code", filepath.Join(t.TempDir(), "none.js")},
			"bad producer":     {"--pkp", pkp, "--ipfs", "Qm", "--producer", "a.b"},
		} {
			if _, status, err := litsign(t, "", append([]string{"exec", "--dev-info", info}, args...)...); status != 2 || err == nil {
				t.Errorf("%s: status %d, err %v; want 2", name, status, err)
			}
		}
	})
}
