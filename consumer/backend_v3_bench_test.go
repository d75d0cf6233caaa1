package consumer

import (
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchV3 runs b.N pkp-sign jobs on the v3 backend through the whole job
// path (JetStream, ledger, credential read and unseal, the service call,
// verification, result publish, ack) with benchConcurrency in flight, and
// reports jobs/s and the process CPU per job.
func benchV3(b *testing.B, client V3Client, checker V3Checker, addr, key string) {
	fx := sharedBenchFixture(b)
	e := newV3EnvWith(b, jobsEnvConfig{net: fx.net, lit: fx.lit, workers: benchConcurrency, ackWait: 30 * time.Second, heartbeat: 10 * time.Second, timeout: 60 * time.Second}, client, checker)
	e.storeV3(addr, key)
	run := e.newID("v3bench")
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i], _ = json.Marshal(map[string]any{"id": fmt.Sprintf("%s-%d", run, i), "pkpPublicKey": addr, "toSign": fmt.Sprintf("bench %d", i)})
	}
	elapsed, cpu := runJobsBench(b, e.jobsEnv, run, bodies)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/job")
}

// BenchmarkV3JobsPipelineMem: the v3 job path against an in-memory service
// (one native ECDSA signature per job), so the CPU per job is litsignd's
// (and the in-process NATS server's).
func BenchmarkV3JobsPipelineMem(b *testing.B) {
	svc := newMemV3()
	addr, _ := svc.wallet(b)
	benchV3(b, svc, svc, addr, svc.account(b, 1<<40, []string{V3SignActionCID()}, addr))
}
