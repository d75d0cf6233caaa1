package delegationstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/internal/natstest"
	"github.com/litsignd/litsignd/litnode"
)

// BenchmarkStoreRestart measures what a replica pays per stored delegation:
// the time from Open to Ready (loading the bucket) and the heap the loaded
// store keeps per delegation, at 10,000 and 100,000 delegations
// (LITSIGND_BENCH_DELEGATIONS overrides: a comma-separated list).
//
// The delegations are written by a fast path (fillBucket: records sealed by
// the store's own code, published asynchronously, not one CAS Put each),
// with the shape of real ones: a PKP, a fresh session key, a lit.bls
// delegation with a ReCap for pkp-signing and lit-action-execution and a
// signature of the real length (the store parses delegations on first use;
// it never verifies them).
//
// By default everything runs in process on an in-process JetStream server.
// To fill the bucket of a real daemon instead (and then measure that
// daemon's restart and RSS from outside), set LITSIGND_BENCH_NATS_URL, and
// LITSIGND_BENCH_KEK_FILE to the daemon's --kek-file; the bucket is
// LITSIGND_BENCH_BUCKET (default lit_delegations). README "Performance".
func BenchmarkStoreRestart(b *testing.B) {
	counts := []int{10000, 100000}
	if v := os.Getenv("LITSIGND_BENCH_DELEGATIONS"); v != "" {
		counts = nil
		for _, f := range splitComma(v) {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatalf("LITSIGND_BENCH_DELEGATIONS: %v", err)
			}
			counts = append(counts, n)
		}
	}
	for _, n := range counts {
		b.Run(fmt.Sprintf("delegations=%d", n), func(b *testing.B) {
			url := os.Getenv("LITSIGND_BENCH_NATS_URL")
			if url == "" {
				_, url = natstest.RunJetStream(b)
			}
			_, js := natstest.Connect(b, url)
			ring := benchKeyring(b)
			bucket := os.Getenv("LITSIGND_BENCH_BUCKET")
			if bucket == "" {
				bucket = DefaultBucket
			}
			ctx := context.Background()
			s, err := Open(ctx, js, Config{KEK: ring, Bucket: bucket})
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			have := fillBucket(b, js, s, n)
			b.Logf("bucket %s holds %d delegations (filled in %s)", bucket, have, time.Since(start).Round(time.Millisecond))

			var heapPer float64
			for b.Loop() {
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				st, err := Open(ctx, js, Config{KEK: ring, Bucket: bucket})
				if err != nil {
					b.Fatal(err)
				}
				rctx, cancel := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() { defer close(done); _ = st.Run(rctx) }()
				select {
				case <-st.Ready():
				case <-time.After(5 * time.Minute):
					b.Fatal("not ready after 5 minutes")
				}
				b.StopTimer()
				runtime.GC()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				heapPer = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(have)
				cancel()
				<-done
				runtime.KeepAlive(st)
				b.StartTimer()
			}
			b.ReportMetric(heapPer, "heap-B/delegation")
		})
	}
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

func benchKeyring(b *testing.B) *Keyring {
	if f := os.Getenv("LITSIGND_BENCH_KEK_FILE"); f != "" {
		r, err := LoadKEKFile(f)
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	return newTestKeyring(b, "bench")
}

// fillBucket adds delegations to the store's bucket until it holds n keys
// and returns how many it holds. Records are built and sealed exactly as
// Put builds them and published asynchronously with Put's TTL and rollup
// headers, a few thousand in flight.
func fillBucket(b *testing.B, js jetstream.JetStream, s *Store, n int) int {
	ctx := context.Background()
	st, err := s.kv.Status(ctx)
	if err != nil {
		b.Fatal(err)
	}
	have := int(st.Values())
	now := time.Now()
	var nonce [32]byte
	var sig [96]byte
	for i := have; i < n; i++ {
		k, err := crypto.GenerateKey()
		if err != nil {
			b.Fatal(err)
		}
		pkp, err := litnode.ParsePKPPublicKey(hex.EncodeToString(crypto.FromECDSAPub(&k.PublicKey)))
		if err != nil {
			b.Fatal(err)
		}
		session, err := litnode.GenerateSessionKey(nil)
		if err != nil {
			b.Fatal(err)
		}
		rand.Read(nonce[:])
		rand.Read(sig[:])
		m := &litnode.SIWEMessage{
			Domain: "localhost", Address: pkp.Address().Hex(), Statement: "Lit Protocol PKP session signature",
			URI: session.URI(), Version: "1", ChainID: 1, Nonce: hex.EncodeToString(nonce[:16]),
			IssuedAt: siweTime(now.Add(-time.Minute)), ExpirationTime: siweTime(now.Add(24 * time.Hour)),
		}
		r := litnode.NewRecap()
		r.AddAbility("lit-pkp://*", "Threshold", "Signing", nil)
		r.AddAbility("lit-litaction://*", "Threshold", "Execution", nil)
		litnode.AddRecapToSIWE(m, r)
		a := litnode.AuthSig{Sig: `{"ProofOfPossession":"` + hex.EncodeToString(sig[:]) + `"}`, Algo: litnode.AlgoLitBLS,
			DerivedVia: litnode.DerivedViaBLS, SignedMessage: m.String(), Address: pkp.Address().Hex()}
		h := &litnode.HandOff{PKP: pkp, SessionKey: session, Delegation: a}
		d, err := litnode.ParseDelegation(a)
		if err != nil {
			b.Fatal(err)
		}
		rec, err := newRecord(h, d, s.cfg.KEK, now)
		if err != nil {
			b.Fatal(err)
		}
		value, err := rec.encode()
		if err != nil {
			b.Fatal(err)
		}
		ttl, _ := ttlUntil(rec.Expiration, time.Now())
		msg := nats.NewMsg(s.subject + pkp.Hex())
		msg.Data = value
		msg.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
		if _, err := js.PublishMsgAsync(msg, jetstream.WithMsgTTL(ttl), jetstream.WithExpectLastSequencePerSubject(0)); err != nil {
			b.Fatal(err)
		}
		if i%2000 == 1999 {
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				b.Fatal("async publishes not acknowledged within a minute")
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("async publishes not acknowledged within a minute")
	}
	st, err = s.kv.Status(ctx)
	if err != nil {
		b.Fatal(err)
	}
	return int(st.Values())
}
