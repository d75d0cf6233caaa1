package actionjs

import (
	"runtime/metrics"
	"sync/atomic"
)

// Heap steps: making a VM and loading ethers grow the process heap by tens
// of MB that belong to no run. Memory watchdogs that measure the process's
// live heap (both fakes do) use HeapGuard to leave those steps out.
var (
	heapSteps   atomic.Int64 // steps started or finished
	stepsActive atomic.Int64 // steps in progress
)

func beginStep() { heapSteps.Add(1); stepsActive.Add(1) }
func endStep()   { stepsActive.Add(-1); heapSteps.Add(1) }

// HeapGuard measures how much the live heap grew during one run, not
// counting VMs made or ethers loaded meanwhile by any run.
type HeapGuard struct {
	base        uint64
	steps       int64
	rebaseAfter int64 // GC cycle after which to re-base; -1 when none is due
}

// NewHeapGuard starts measuring from the live heap as of the last
// collection.
func NewHeapGuard() *HeapGuard {
	return &HeapGuard{base: HeapLive(), steps: heapSteps.Load(), rebaseAfter: -1}
}

// Grown returns the growth of the live heap since the start. ok is false
// while a heap step is in progress or not yet seen by a collection: the
// guard then re-bases on the first collection after the step, so the step
// does not count.
func (g *HeapGuard) Grown() (grown uint64, ok bool) {
	if n := heapSteps.Load(); n != g.steps || stepsActive.Load() > 0 {
		g.steps, g.rebaseAfter = n, GCCycles()
		return 0, false
	}
	if g.rebaseAfter >= 0 {
		if GCCycles() <= g.rebaseAfter {
			return 0, false
		}
		g.base, g.rebaseAfter = max(g.base, HeapLive()), -1
	}
	if h := HeapLive(); h > g.base {
		return h - g.base, true
	}
	return 0, true
}

// Base is the live heap the growth is measured from.
func (g *HeapGuard) Base() uint64 { return g.base }

// HeapLive is the live heap as of the last garbage collection.
func HeapLive() uint64 { return readMetric("/gc/heap/live:bytes") }

// GCCycles is the number of completed collections.
func GCCycles() int64 { return int64(readMetric("/gc/cycles/total:gc-cycles")) }

func readMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
