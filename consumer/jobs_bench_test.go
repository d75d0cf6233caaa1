package consumer

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/nats-io/nats.go"

	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/litnode/devnet"
)

// benchConcurrency is the jobs in flight of the pipeline (Pull workers)
// and the goroutines of the direct baseline.
const benchConcurrency = 32

// benchFixture is one devnet, one Lit client and one delegation shared by
// BenchmarkJobsPipeline and BenchmarkDirectPKPSign, so that both measure
// the same network in the same run. It lives until the test binary exits.
type benchFixture struct {
	net     *devnet.Network
	lit     *litnode.Client
	pkp     devnet.DevPKP
	handOff *litnode.HandOff
	exp     time.Time
}

var (
	benchOnce sync.Once
	benchFx   *benchFixture
	benchErr  error
)

func sharedBenchFixture(b *testing.B) *benchFixture {
	b.Helper()
	benchOnce.Do(func() {
		n, err := devnet.Start(devnet.Config{Nodes: 4, Threshold: 3, PKPs: 1, NodeTimeout: 5 * time.Second})
		if err != nil {
			benchErr = err
			return
		}
		lit := &litnode.Client{Network: n.NetworkConfig(), HandshakeTimeout: 5 * time.Second, RequestTimeout: 5 * time.Second, RetryBackoff: 10 * time.Millisecond}
		p := n.PKPs()[0]
		key, err := litnode.GenerateSessionKey(nil)
		if err != nil {
			benchErr = err
			return
		}
		reqs, _ := litnode.ParseResourceShorthand("pkp-signing:*")
		exp := time.Now().Add(time.Hour)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		a, err := lit.SignSessionKey(ctx, litnode.SignSessionKeyRequest{PKP: p.PublicKey, SessionKey: key.PublicKey(), Owner: p.OwnerKey, Resources: reqs, Expiration: exp})
		if err != nil {
			benchErr = err
			return
		}
		benchFx = &benchFixture{net: n, lit: lit, pkp: p, handOff: &litnode.HandOff{PKP: p.PublicKey, SessionKey: key, Delegation: a}, exp: exp}
	})
	if benchErr != nil {
		b.Fatalf("bench fixture: %v", benchErr)
	}
	// The nodes' request logs grow with every request: start each run
	// with empty ones, so the second benchmark is not the one paying for
	// the first one's garbage.
	for _, nd := range benchFx.net.Nodes() {
		nd.ResetRequests()
	}
	runtime.GC()
	return benchFx
}

// BenchmarkJobsPipeline publishes b.N pkp-sign jobs to LIT_JOBS and waits
// for their b.N results: decode, ledger, delegation cache, session sigs,
// PKPSign on the devnet, result publish and ack, with benchConcurrency jobs
// in flight. It reports jobs/s end to end, and cpu-ms/job, which here
// includes the devnet's nodes (BenchmarkJobsPipelineDevnetProcess does
// not).
func BenchmarkJobsPipeline(b *testing.B) {
	fx := sharedBenchFixture(b)
	e := newJobsEnv(b, jobsEnvConfig{net: fx.net, lit: fx.lit, workers: benchConcurrency, ackWait: 30 * time.Second, heartbeat: 10 * time.Second})
	benchPipeline(b, e, fx.pkp, fx.handOff)
}

// BenchmarkJobsPipelineDevnetProcess is BenchmarkJobsPipeline against a
// Lit network in another process, so that this process's CPU is the job
// pipeline's (and its in-process NATS server's), not the nodes':
//
//	litsign devnet --nodes 4 > devnet.json &
//	LITSIGND_BENCH_DEVNET_INFO=devnet.json \
//	  go test -run XXX -bench JobsPipelineDevnetProcess -benchtime 2000x ./consumer/
//
// It delegates the file's first PKP with its owner key and reports jobs/s
// and cpu-ms/job (user + system CPU of this process per job), with
// benchPipelineWorkers jobs in flight. Compare cpu-ms/job with
// BenchmarkCryptoFloor for the same number of nodes (README "Performance").
func BenchmarkJobsPipelineDevnetProcess(b *testing.B) {
	path := os.Getenv("LITSIGND_BENCH_DEVNET_INFO")
	if path == "" {
		b.Skip("set LITSIGND_BENCH_DEVNET_INFO to the JSON `litsign devnet` prints")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var info devnet.Description
	if err := json.Unmarshal(raw, &info); err != nil || len(info.PKPs) == 0 {
		b.Fatalf("%s is not `litsign devnet` output with a PKP (%v)", path, err)
	}
	lit := &litnode.Client{Network: info.Network.NetworkConfig(), HandshakeTimeout: 10 * time.Second, RequestTimeout: 10 * time.Second, RetryBackoff: 10 * time.Millisecond}
	b.Cleanup(lit.Close)
	pkp, err := litnode.ParsePKPPublicKey(info.PKPs[0].PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	owner, err := crypto.HexToECDSA(strings.TrimPrefix(info.PKPs[0].OwnerPrivateKey, "0x"))
	if err != nil {
		b.Fatal(err)
	}
	key, err := litnode.GenerateSessionKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	reqs, _ := litnode.ParseResourceShorthand("pkp-signing:*")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := lit.SignSessionKey(ctx, litnode.SignSessionKeyRequest{PKP: pkp, SessionKey: key.PublicKey(), Owner: owner, Resources: reqs, Expiration: time.Now().Add(time.Hour)})
	if err != nil {
		b.Fatalf("delegate the devnet's PKP: %v", err)
	}
	e := newJobsEnv(b, jobsEnvConfig{lit: lit, external: true, workers: benchPipelineWorkers, ackWait: 30 * time.Second, heartbeat: 10 * time.Second})
	benchPipeline(b, e, devnet.DevPKP{PublicKey: pkp}, &litnode.HandOff{PKP: pkp, SessionKey: key, Delegation: a})
}

// benchPipelineWorkers is the jobs in flight of
// BenchmarkJobsPipelineDevnetProcess: litsign bench's default concurrency.
const benchPipelineWorkers = 64

// benchPipeline stores handOff, runs b.N pkp-sign jobs for pkp through the
// pipeline and reports jobs/s and the process's CPU per job.
func benchPipeline(b *testing.B, e *jobsEnv, pkp devnet.DevPKP, handOff *litnode.HandOff) {
	e.put(e.store, handOff)
	run := e.newID("bench")
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = jobBody(fmt.Sprintf("%s-%d", run, i), pkp, fmt.Sprintf("bench %d", i), nil)
	}
	elapsed, cpu := runJobsBench(b, e, run, bodies)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
	b.ReportMetric(cpu.Seconds()*1000/float64(b.N), "cpu-ms/job")
}

// runJobsBench publishes the pkp-sign job bodies (ids run-0, run-1, …) with
// the benchmark timer running and waits for an ok result of each; it
// returns the wall time and this process's CPU time they took.
func runJobsBench(b *testing.B, e *jobsEnv, run string, bodies [][]byte) (elapsed, cpu time.Duration) {
	sub := e.subscribe(e.topo.ResultsSubjects())
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	pubErr := make(chan error, 1)
	go func() {
		for i, body := range bodies {
			m := nats.NewMsg(e.topo.JobSubject(KindPKPSign))
			m.Data = body
			m.Header.Set("Nats-Msg-Id", fmt.Sprintf("%s-%d", run, i))
			if _, err := e.js.PublishMsg(context.Background(), m); err != nil {
				pubErr <- err
				return
			}
		}
		pubErr <- nil
	}()
	for range bodies {
		m, err := sub.NextMsg(60 * time.Second)
		if err != nil {
			b.Fatalf("waiting for results: %v", err)
		}
		var r Result
		if err := json.Unmarshal(m.Data, &r); err != nil || r.Status != StatusOK {
			b.Fatalf("result %s (%v)", m.Data, err)
		}
	}
	elapsed, cpu = time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	if err := <-pubErr; err != nil {
		b.Fatal(err)
	}
	return elapsed, cpu
}

// BenchmarkDirectPKPSign is the baseline: the same PKPSign on the same
// devnet with the same client and delegation, called directly by
// benchConcurrency goroutines, without NATS. It reports signatures/s as
// jobs/s.
func BenchmarkDirectPKPSign(b *testing.B) {
	fx := sharedBenchFixture(b)
	auth := litnode.SessionAuth{Key: fx.handOff.SessionKey, Delegation: fx.handOff.Delegation, Expiration: fx.exp, TTL: DefaultSessionTTL}
	if err := fx.lit.Connect(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism((benchConcurrency + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			_, err := fx.lit.PKPSign(context.Background(), litnode.PKPSignRequest{PKP: fx.pkp.PublicKey, Message: fmt.Appendf(nil, "bench %d", i), Chain: litnode.ChainEthereum, Auth: auth})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
}
