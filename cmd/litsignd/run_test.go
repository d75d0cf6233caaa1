package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/litnode"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type devInfoT struct {
	NATSURL          string `json:"natsUrl"`
	MetricsURL       string `json:"metricsUrl"`
	SealingPublicKey string `json:"sealingPublicKey"`
	Network          struct {
		Nodes            []string `json:"nodes"`
		RPCURL           string   `json:"rpcUrl"`
		NetworkPublicKey string   `json:"networkPublicKey"`
		Threshold        int      `json:"threshold"`
		ChainID          int64    `json:"chainId"`
		StakingAddress   string   `json:"stakingAddress"`
		PriceFeedAddress string   `json:"priceFeedAddress"`
	} `json:"network"`
	PKPs []struct {
		PublicKey       string `json:"publicKey"`
		OwnerPrivateKey string `json:"ownerPrivateKey"`
	} `json:"pkps"`
}

// startDev runs `litsignd dev` in-process on free loopback ports and waits
// for its description file.
func startDev(t *testing.T, dataDir string) (*devInfoT, *syncBuffer, func()) {
	t.Helper()
	return startDevOut(t, dataDir, io.Discard)
}

// startDevOut is startDev with the daemon's stdout (the banner) to stdout.
func startDevOut(t *testing.T, dataDir string, stdout io.Writer) (*devInfoT, *syncBuffer, func()) {
	t.Helper()
	info := filepath.Join(dataDir, "info.json")
	_ = os.Remove(info)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	args := []string{"dev", "--data-dir", dataDir, "--nats-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--dev-info", info, "--lit-timeout", "3s"}
	go func() { done <- run(ctx, args, func(string) string { return "" }, stdout, logs) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(info); err == nil {
			var d devInfoT
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatal(err)
			}
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
			return &d, logs, stop
		}
		select {
		case err := <-done:
			t.Fatalf("run exited early: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no dev info after 60s\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func devClient(d *devInfoT) *litnode.Client {
	return &litnode.Client{Network: litnode.NetworkConfig{
		Name: litnode.NetworkCustom, ChainID: d.Network.ChainID, RPCURL: d.Network.RPCURL,
		StakingAddress: common.HexToAddress(d.Network.StakingAddress), PriceFeedAddress: common.HexToAddress(d.Network.PriceFeedAddress),
		RealmID: 1, HTTPProtocol: "http://", MinimumThreshold: 3, SDKVersionHeader: "8.0.0-naga-local",
	}, RequestTimeout: 5 * time.Second}
}

func TestRunDevStoresDelegationAndSurvivesRestart(t *testing.T) {
	dataDir := t.TempDir()
	d, logs, stop := startDev(t, dataDir)

	// Health and readiness.
	metricsBase := strings.TrimSuffix(d.MetricsURL, "/metrics")
	waitHTTP(t, metricsBase+"/healthz", 200)
	waitHTTP(t, metricsBase+"/readyz", 200)

	nc, err := nats.Connect(d.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	// The sealing key is published in the daemon bucket.
	kv, err := js.KeyValue(ctx, "lit_daemon")
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, consumer.SealingKeyKV); err != nil || string(e.Value()) != d.SealingPublicKey {
		t.Fatalf("sealing key in KV = %v, %v; want %s", e, err, d.SealingPublicKey)
	}

	// A client delegates a dev PKP and hands it over (sealed).
	pkp, _ := litnode.ParsePKPPublicKey(d.PKPs[0].PublicKey)
	owner, _ := crypto.HexToECDSA(strings.TrimPrefix(d.PKPs[0].OwnerPrivateKey, "0x"))
	lit := devClient(d)
	defer lit.Close()
	key, _ := litnode.GenerateSessionKey(nil)
	reqs, _ := litnode.ParseResourceShorthand("pkp-signing:*")
	a, err := lit.SignSessionKey(ctx, litnode.SignSessionKeyRequest{PKP: pkp, SessionKey: key.PublicKey(), Owner: owner, Resources: reqs, Expiration: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	h := &litnode.HandOff{PKP: pkp, SessionKey: key, Delegation: a}
	sealingPub, _ := consumer.ParseSealingPublicKey(d.SealingPublicKey)
	sealed, _ := consumer.Seal(sealingPub, h.PayloadJSON())
	body, _ := json.Marshal(map[string]string{"pkpPublicKey": pkp.Hex(), "sealedPayload": encodeB64URL(sealed)})
	stored := make(chan *nats.Msg, 4)
	sub, _ := nc.ChanSubscribe("lit.events.delegation.stored."+pkp.Hex(), stored)
	defer sub.Unsubscribe()
	if _, err := js.Publish(ctx, "lit.delegations", body); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stored:
	case <-time.After(20 * time.Second):
		t.Fatalf("no stored event\n%s", logs.String())
	}
	// A producer's pkp-sign job: the result comes back on its private reply
	// subject and the signature recovers to the PKP's address.
	reply := nats.NewInbox()
	rsub, err := nc.SubscribeSync(reply)
	if err != nil {
		t.Fatal(err)
	}
	job := nats.NewMsg("lit.jobs.pkp-sign")
	job.Header.Set("Nats-Msg-Id", "job-1")
	job.Header.Set("Lit-Reply-To", reply)
	job.Data = []byte(`{"id":"job-1","pkpPublicKey":"` + pkp.Hex() + `","toSign":"hello from a producer"}`)
	if _, err := js.PublishMsg(ctx, job); err != nil {
		t.Fatal(err)
	}
	rm, err := rsub.NextMsg(30 * time.Second)
	if err != nil {
		t.Fatalf("no job result: %v\n%s", err, logs.String())
	}
	var res struct {
		Status    string `json:"status"`
		Signature struct {
			Signature string `json:"signature"`
		} `json:"signature"`
	}
	if err := json.Unmarshal(rm.Data, &res); err != nil || res.Status != "ok" {
		t.Fatalf("job result %s", rm.Data)
	}
	sig := common.FromHex(res.Signature.Signature)
	if len(sig) != 65 {
		t.Fatalf("signature %q is not 65 bytes", res.Signature.Signature)
	}
	sig[64] -= 27
	pub, err := crypto.SigToPub(crypto.Keccak256([]byte("hello from a producer")), sig)
	if err != nil || crypto.PubkeyToAddress(*pub) != pkp.Address() {
		t.Fatalf("job signature does not recover to the PKP address: %v", err)
	}

	// Metrics show it.
	for _, name := range []string{`litsignd_delegations_processed_total{kind="delegation",outcome="stored",reason=""} 1`, "litsignd_delegation_verify_duration_seconds", `litsignd_build_info{goversion="` + runtime.Version() + `",revision="`} {
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(httpGet(t, d.MetricsURL), name) {
			if time.Now().After(deadline) {
				t.Errorf("/metrics lacks %s", name)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	nc.Close()
	stop()
	if strings.Contains(logs.String(), key.RevealSecretHex()) {
		t.Error("the logs contain the session secret")
	}

	// Restart on the same data dir: the delegation is still there.
	d2, _, stop2 := startDev(t, dataDir)
	defer stop2()
	nc2, err := nats.Connect(d2.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	js2, _ := jetstream.New(nc2)
	kv2, err := js2.KeyValue(ctx, "lit_delegations")
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv2.Get(ctx, pkp.Hex())
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if !bytes.Contains(e.Value(), []byte(key.PublicKey().Hex())) {
		t.Error("after restart the stored delegation is another one")
	}
	if d2.SealingPublicKey != d.SealingPublicKey {
		t.Error("the sealing key changed across a restart with the same data dir")
	}
}

func TestRunRefusesWithoutKEK(t *testing.T) {
	err := run(context.Background(), []string{"--data-dir", t.TempDir()}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--kek-file") {
		t.Fatalf("run without a KEK = %v, want a refusal naming --kek-file", err)
	}
}

func TestConfigEnvFallback(t *testing.T) {
	env := map[string]string{"LITSIGND_REPLICAS": "3", "LITSIGND_KEK_FILE": "/k", "LITSIGND_SUBJECT_PREFIX": "acme"}
	cfg, err := parseConfig([]string{"--replicas", "2"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.replicas != 2 || cfg.kekFile != "/k" || cfg.subjectPrefix != "acme" {
		t.Errorf("config = %+v: want the flag to win over env, env to fill the rest", cfg)
	}
	if _, err := parseConfig([]string{"--replicas", "9", "--kek-file", "k"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("replicas 9 accepted")
	}
}

func waitHTTP(t testing.TB, url string, status int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == status {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: want %d (last: %v)", url, status, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func encodeB64URL(b []byte) string { return base64URL.EncodeToString(b) }

var base64URL = base64.RawURLEncoding
