package actionjs

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// The published ethers loads and signs like go-ethereum (docs/lit-v3.md §4.4
// vector), atob/btoa are binary strings, and a reused VM keeps nothing from
// the previous run's globals.
func TestEthersGlobalAndReuse(t *testing.T) {
	p := NewPool(1)
	vm, err := p.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	if vm.EthersLoaded() {
		t.Fatal("ethers loaded before any action read it")
	}
	var logs []string
	vm.SetConsole(func(level, line string) error { logs = append(logs, level+":"+line); return nil })
	v, err := vm.R.RunString(`
		const w = new ethers.Wallet("0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318");
		w.signMessage("Hello from Lit Action").then(s => { globalThis.sig = s; });
		console.log("addr", w.address, {a: 1});
		globalThis.leak = 1;
		[ethers.version, w.address, btoa("\u00ff\u0000a"), atob("/wBh") === "\u00ff\u0000a",
		 ethers.utils.arrayify(ethers.utils.keccak256("0x616263")).length].join(",")`)
	if err != nil {
		t.Fatal(err)
	}
	if want := "ethers/5.7.2,0x2c7536E3605D9C16a7a3D7b1898e529396a65c23,/wBh,true,32"; v.String() != want {
		t.Fatalf("got %s\nwant %s", v, want)
	}
	// The promise settled when the script's jobs ran.
	if sig := vm.R.Get("sig").String(); sig != "0xa61f2f74506f599180965a92c861de8afe6604c7f7247ea8534d488697c7a3be4b09262659b03dfd328929b9bcc226e48d6d910400682aabe91714f26ccf83661c" {
		t.Fatalf("signMessage = %s", sig)
	}
	if strings.Join(logs, "|") != `log:addr 0x2c7536E3605D9C16a7a3D7b1898e529396a65c23 {"a":1}` {
		t.Fatalf("logs %q", logs)
	}
	if !vm.EthersLoaded() {
		t.Fatal("ethers not marked loaded")
	}
	p.Release(vm)
	vm2, err := p.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	if vm2 != vm {
		t.Fatal("the clean VM was not reused")
	}
	if v, _ := vm2.R.RunString(`typeof leak + typeof window`); v.String() != "undefinedundefined" {
		t.Fatalf("globals survived the reset: %s", v)
	}
	// A run that changes a tracked built-in is not reused.
	if _, err := vm2.R.RunString(`Object.prototype.polluted = 1; ethers.Wallet.prototype.signMessage = async () => "0x00"`); err != nil {
		t.Fatal(err)
	}
	p.Release(vm2)
	vm3, err := p.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	if vm3 == vm2 {
		t.Fatal("a VM with a polluted prototype went back into the pool")
	}
}

// The costs of a VM's life, with CPU time per op (independent of how loaded
// the machine is): a bare VM, ethers loaded into it, and ethers' first
// secp256k1 use (its tables are built per VM).
func BenchmarkNewVM(b *testing.B) {
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := NewVM(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

func BenchmarkLoadEthers(b *testing.B) {
	benchStep(b, nil, `ethers.version`)
}

func BenchmarkFirstCurveUse(b *testing.B) {
	benchStep(b, []string{`ethers.version`}, `new ethers.Wallet("0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318").address`)
}

// benchStep times code in a fresh VM after the untimed setup scripts.
func benchStep(b *testing.B, setup []string, code string) {
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		vm, err := NewVM()
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range setup {
			if _, err := vm.R.RunString(s); err != nil {
				b.Fatal(err)
			}
		}
		cpu0 := cpuTime()
		b.StartTimer()
		if _, err := vm.R.RunString(code); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - cpu0
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Until an action reads it, ethers is not loaded; a run that writes or
// deletes the unloaded global leaves the next run a working ethers.
func TestLazyEthers(t *testing.T) {
	for _, code := range []string{`ethers = 5`, `delete globalThis.ethers`, `Object.defineProperty(globalThis, "ethers", {value: 1, writable: true, configurable: true})`} {
		p := NewPool(1)
		vm, err := p.Acquire()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := vm.R.RunString(code); err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		if vm.EthersLoaded() {
			t.Fatalf("%s loaded ethers", code)
		}
		p.Release(vm)
		vm2, _ := p.Acquire()
		if vm2 != vm {
			t.Fatalf("%s: the VM was not reused", code)
		}
		if v, err := vm2.R.RunString(`typeof ethers.utils.keccak256`); err != nil || v.String() != "function" {
			t.Fatalf("after %s: %v %v", code, v, err)
		}
		p.Release(vm2)
	}
	// Loaded, then overwritten: restored.
	p := NewPool(1)
	vm, _ := p.Acquire()
	if _, err := vm.R.RunString(`ethers.version`); err != nil {
		t.Fatal(err)
	}
	p.Release(vm)
	vm, _ = p.Acquire()
	if _, err := vm.R.RunString(`ethers = 5`); err != nil {
		t.Fatal(err)
	}
	p.Release(vm)
	vm, _ = p.Acquire()
	if v, _ := vm.R.RunString(`ethers.version`); v.String() != "ethers/5.7.2" {
		t.Fatalf("ethers after an overwrite: %v", v)
	}
}
