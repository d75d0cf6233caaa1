package consumer_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/litnode"
)

// BenchmarkIntakeDaemon measures intake through a running litsignd: it
// publishes b.N hand-offs for distinct fresh PKPs on the delegations
// subject and waits for b.N stored events; it reports delegations/s and,
// with LITSIGND_BENCH_METRICS_URL, the daemon's CPU per delegation
// (process_cpu_seconds_total). The delegations are BLS-signed with the root
// key of the devnet the daemon talks to (`litsign devnet --seed S`: the key
// derives from the seed), so the daemon verifies real signatures; signing
// happens before the timer starts.
//
//	LITSIGND_BENCH_NATS_URL=nats://… LITSIGND_BENCH_DEVNET_SEED=S \
//	LITSIGND_BENCH_METRICS_URL=http://…/metrics \
//	go test -run XXX -bench IntakeDaemon -benchtime 3000x ./consumer/
//
// It is skipped without LITSIGND_BENCH_NATS_URL (BenchmarkIntake is the
// in-process variant). The hand-offs are sealed to the daemon's published
// sealing key, as clients send them by default; LITSIGND_BENCH_PLAIN=1
// sends plain ones (the daemon needs --accept-plain-handoffs, and erases
// each plain message with a secure delete before acknowledging it).
func BenchmarkIntakeDaemon(b *testing.B) {
	url, seed := os.Getenv("LITSIGND_BENCH_NATS_URL"), os.Getenv("LITSIGND_BENCH_DEVNET_SEED")
	if url == "" || seed == "" {
		b.Skip("set LITSIGND_BENCH_NATS_URL and LITSIGND_BENCH_DEVNET_SEED to run against a daemon")
	}
	nc, err := nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	topo := consumer.DefaultTopology()
	network := litnode.NewBLSSecretKey(append([]byte("bls-root:"), seed...))
	reqs, _ := litnode.ParseResourceShorthand("pkp-signing:*")
	now := time.Now().Add(-time.Minute).Truncate(time.Second)
	exp := time.Now().Add(2 * time.Hour)
	ctx := context.Background()
	plain := os.Getenv("LITSIGND_BENCH_PLAIN") == "1"
	var sealTo [32]byte
	if !plain {
		pub, err := topo.PublishedSealingKey(ctx, js)
		if err != nil || pub == "" {
			b.Fatalf("read the daemon's sealing key (is litsignd running on %s?): %q, %v", url, pub, err)
		}
		if sealTo, err = consumer.ParseSealingPublicKey(pub); err != nil {
			b.Fatal(err)
		}
	}
	envs := make([][]byte, b.N)
	for i := range envs {
		k, _ := crypto.GenerateKey()
		pkp, _ := litnode.ParsePKPPublicKey(fmt.Sprintf("%x", crypto.FromECDSAPub(&k.PublicKey)))
		session, _ := litnode.GenerateSessionKey(nil)
		m := litnode.ClientSIWE(pkp, session.PublicKey(), reqs, "", "", fmt.Sprintf("0x%064x", i), now, exp)
		h := litnode.BLSSessionMessage(m.String())
		a := litnode.AuthSig{Sig: litnode.FormatBLSSigJSON(network.Sign(h[:])), Algo: litnode.AlgoLitBLS, DerivedVia: litnode.DerivedViaBLS, SignedMessage: m.String(), Address: pkp.Address().Hex()}
		ho := &litnode.HandOff{PKP: pkp, SessionKey: session, Delegation: a}
		if plain {
			envs[i] = ho.Encode()
			continue
		}
		sealed, err := consumer.Seal(sealTo, ho.PayloadJSON())
		if err != nil {
			b.Fatal(err)
		}
		envs[i], _ = json.Marshal(map[string]string{"pkpPublicKey": pkp.Hex(), "sealedPayload": base64.RawURLEncoding.EncodeToString(sealed)})
	}
	var stored, rejected atomic.Int64
	done := make(chan struct{}, 1)
	prefix := topo.Prefix + ".events.delegation."
	sub, err := nc.Subscribe(prefix+">", func(m *nats.Msg) {
		if strings.HasPrefix(m.Subject, prefix+"stored") {
			stored.Add(1)
		} else {
			rejected.Add(1)
		}
		// Every hand-off answered (stored or rejected): a rejection ends
		// the benchmark now rather than at the timeout.
		if stored.Load()+rejected.Load() == int64(b.N) {
			done <- struct{}{}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = sub.SetPendingLimits(-1, -1)
	metrics := os.Getenv("LITSIGND_BENCH_METRICS_URL")
	cpu0 := daemonCPU(b, metrics)

	b.ResetTimer()
	for _, e := range envs {
		if _, err := js.PublishAsync(topo.DelegationsSubject(), e); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		b.Fatalf("%d of %d stored (%d rejected)", stored.Load(), b.N, rejected.Load())
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "delegations/s")
	if metrics != "" {
		b.ReportMetric(1000*(daemonCPU(b, metrics)-cpu0)/float64(b.N), "daemon-cpu-ms/delegation")
	}
	if rejected.Load() != 0 {
		b.Fatalf("%d delegations rejected", rejected.Load())
	}
}

// daemonCPU reads process_cpu_seconds_total from a /metrics URL (0 without
// one).
func daemonCPU(b *testing.B, url string) float64 {
	if url == "" {
		return 0
	}
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "process_cpu_seconds_total "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				b.Fatal(err)
			}
			return f
		}
	}
	b.Fatalf("%s has no process_cpu_seconds_total", url)
	return 0
}
