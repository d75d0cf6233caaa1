package v3fake_test

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/litsignd/litsignd/internal/actionjs"
	"github.com/litsignd/litsignd/litv3"
	"github.com/litsignd/litsignd/litv3/v3fake"
)

// BenchmarkLitAction measures action runs per second on the fake through
// the client (loopback HTTP, CID and permission checks, a pooled VM, the
// run): a trivial action, and the signing guide's action (ethers Wallet +
// signMessage in goja). VMs are warmed first (ethers' secp256k1 set-up costs
// seconds per VM, once).
func BenchmarkLitAction(b *testing.B) {
	trivial := `async function main({n}) { return {n}; }`
	for _, bc := range []struct{ name, code string }{{"trivial", trivial}, {"signMessage", v3fake.ExampleSignMessage}, {"signDigest", v3fake.ExampleSignDigest}} {
		b.Run(bc.name, func(b *testing.B) {
			if err := actionjs.Shared().Prewarm(runtime.GOMAXPROCS(0)); err != nil {
				b.Fatal(err)
			}
			f, err := v3fake.Start(v3fake.Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			acct, _ := f.NewAccount(1 << 40)
			w, _ := f.CreateWallet(acct.APIKey)
			id, _ := litv3.CID(bc.code)
			g, _ := f.AddGroup(acct.APIKey, "g", []common.Address{w}, []string{id})
			key, _ := f.AddUsageKey(acct.APIKey, "k", v3fake.Scopes{ExecuteInGroups: []uint64{g}})
			c, _ := litv3.New(f.URL(), litv3.Options{})
			params := map[string]any{"pkpId": w.Hex(), "message": "bench", "n": 1, "digest": "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"}
			start, cpu0 := time.Now(), cpuTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.LitAction(context.Background(), key, litv3.ActionRequest{Code: bc.code, JSParams: params}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "runs/s")
			// CPU per run (fake and client together) does not depend on how
			// loaded the machine is, unlike runs/s.
			b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/run")
		})
	}
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
