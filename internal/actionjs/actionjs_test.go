package actionjs

import (
	"strings"
	"testing"
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

func BenchmarkNewVM(b *testing.B) {
	for b.Loop() {
		if _, err := NewVM(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFirstCurveUse is ethers' first secp256k1 use in a fresh VM (its
// precomputed tables are built per VM), the cost Prewarm moves off the
// first signing run.
func BenchmarkFirstCurveUse(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		vm, err := NewVM()
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := vm.R.RunString(`new ethers.Wallet("0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318").address`); err != nil {
			b.Fatal(err)
		}
	}
}
