package actionjs

import (
	"runtime"
	"testing"
)

var sink [][]byte

// A heap step (a VM made, ethers loaded) does not count as a run's growth;
// an allocation of the run itself does.
func TestHeapGuardLeavesStepsOut(t *testing.T) {
	runtime.GC()
	g := NewHeapGuard()
	beginStep()
	step := make([][]byte, 0, 64)
	for range 64 {
		step = append(step, make([]byte, 1<<20)) // 64 MiB "VM"
	}
	if _, ok := g.Grown(); ok {
		t.Fatal("judged during a step")
	}
	endStep()
	runtime.GC()
	if _, ok := g.Grown(); ok {
		t.Fatal("judged before re-basing")
	}
	runtime.GC() // the first collection that has seen the step
	if grown, ok := g.Grown(); !ok || grown > 16<<20 {
		t.Fatalf("the step counted: grown %d MiB, ok %v", grown>>20, ok)
	}
	for range 64 {
		sink = append(sink, make([]byte, 1<<20)) // the run's own 64 MiB
	}
	runtime.GC()
	if grown, ok := g.Grown(); !ok || grown < 48<<20 {
		t.Fatalf("the run's growth was not seen: grown %d MiB, ok %v", grown>>20, ok)
	}
	runtime.KeepAlive(step)
	sink = nil
}
