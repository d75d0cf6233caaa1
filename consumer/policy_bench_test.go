package consumer

import (
	"testing"
	"time"

	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/policy"
)

// BenchmarkPolicyCheck is the per-job cost of the policy pre-check (an
// owner policy with every list set and a rate limit), to compare with a
// job's cost (BenchmarkJobsPipeline).
func BenchmarkPolicyCheck(b *testing.B) {
	pol, err := policy.Parse([]byte(`{"producers":["a","b","default"],"kinds":["pkp-sign"],"chains":["ethereum","bitcoin"],"maxJobsPerMinute":1000000}`))
	if err != nil {
		b.Fatal(err)
	}
	var pkp litnode.PKPPublicKey
	pkp[0] = 4
	d := &delegationstore.Delegation{PKP: pkp, Policy: pol}
	now := time.Unix(1_700_000_000, 0)
	j := &Jobs{Now: func() time.Time { now = now.Add(time.Millisecond); return now }}
	job := Job{ID: "x", Kind: KindPKPSign, PKPHex: pkp.Hex(), Chain: litnode.ChainEthereum}
	b.ReportAllocs()
	for b.Loop() {
		if err := j.checkPolicy(job, d); err != nil {
			b.Fatal(err)
		}
	}
}
