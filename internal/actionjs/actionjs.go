// Package actionjs is the JavaScript runtime shared by litsignd's Lit fakes
// (litnode/devnet for Naga, litv3/v3fake for Lit v3): goja VMs with the host
// globals Lit's Deno runtime gives every action (docs/lit-v3.md §4.2):
// ethers 5.7.2 (the published dist/ethers.umd.min.js, vendored with its
// licence), atob/btoa on binary strings (one char per byte),
// crypto.getRandomValues, global, and a console whose output goes to the run
// that is using the VM.
//
// Loading ethers takes about half a second per VM and ethers' first use of
// secp256k1 several more, so the program is compiled once per process, loaded
// into a VM only when an action first reads the ethers global, and VMs are
// pooled and reused. Each run gets a clean global scope: Acquire returns
// a VM whose global object is as it was after setup, and Release puts it back
// only if the run left no trace the pool cannot undo (see Release).
package actionjs

import (
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"fmt"
	"sync"

	"github.com/dop251/goja"
)

// EthersVersion is the version of the vendored ethers library.
const EthersVersion = "5.7.2"

// ethersSource is dist/ethers.umd.min.js of the npm package ethers@5.7.2
// (tarball integrity sha512-wswUsmWo1aOK8rR7DIKiWSw9DbLWe6x98Jrn8wcTflTVvaXhAMaB5zGAXy0GYQEQp9iO1iSHWVyARQm11zUtyg==,
// the one interop/package-lock.json pins); MIT licence in ethers-LICENSE.md.
//
//go:embed ethers-5.7.2.umd.min.js
var ethersSource string

// EthersLicense is the ethers licence text, shipped with the library.
//
//go:embed ethers-LICENSE.md
var EthersLicense string

var ethersProgram = sync.OnceValues(func() (*goja.Program, error) {
	return goja.Compile("ethers.umd.min.js", ethersSource, false)
})

// VM is one pooled runtime. Use it from one goroutine at a time, between
// Acquire and Release.
type VM struct {
	// R is the goja runtime.
	R *goja.Runtime
	// console receives each console.* line (without the trailing newline);
	// an error it returns is thrown in JS. Nil discards.
	console func(level, line string) error
	// baseline is a snapshot of the objects a run could change.
	baseline []objSnapshot
	dirty    bool
	// ethersLoaded is set once the ethers global was first read; until
	// then it is an accessor that loads the library (lazyEthers).
	ethersLoaded bool
	warm         bool // Prewarm built ethers' curve tables
	lazyGetter   goja.Value
	lazySetter   goja.Value
}

// EthersLoaded reports whether an action of this VM has used ethers.
func (vm *VM) EthersLoaded() bool { return vm.ethersLoaded }

type objSnapshot struct {
	obj   *goja.Object
	props map[string]goja.Value
}

// Pool hands out VMs with ethers loaded.
type Pool struct {
	mu      sync.Mutex
	idle    []*VM
	maxIdle int
}

// NewPool returns a pool that keeps at most maxIdle idle VMs (at least 1).
func NewPool(maxIdle int) *Pool { return &Pool{maxIdle: max(maxIdle, 1)} }

var shared = NewPool(8)

// Shared is the process-wide pool both fakes use.
func Shared() *Pool { return shared }

// Acquire returns an idle VM or makes a new one (about half a second).
func (p *Pool) Acquire() (*VM, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		vm := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return vm, nil
	}
	p.mu.Unlock()
	return NewVM()
}

// Release resets vm and returns it to the pool. It is dropped instead when
// it was interrupted (MarkDirty), or when the run changed what a reset
// cannot restore (a non-configurable global, or built-ins and ethers
// objects that are tracked: their own properties are compared with the
// snapshot taken at setup). Changes deeper in objects that are not tracked
// persist; the fakes are test tools, not a sandbox between tenants.
func (p *Pool) Release(vm *VM) {
	if vm == nil || vm.dirty || !vm.reset() {
		return
	}
	vm.console = nil
	vm.R.SetPromiseRejectionTracker(nil)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) < p.maxIdle {
		p.idle = append(p.idle, vm)
	}
}

// Prewarm makes sure the pool holds n VMs (at most its idle limit) with
// ethers loaded and its secp256k1 tables built, so the first signing runs do
// not pay for them. VMs already warm are not warmed again.
func (p *Pool) Prewarm(n int) error {
	vms := make([]*VM, 0, n)
	defer func() {
		for _, vm := range vms {
			p.Release(vm)
		}
	}()
	for range min(n, p.maxIdle) {
		vm, err := p.Acquire()
		if err != nil {
			return err
		}
		vms = append(vms, vm)
		if vm.warm {
			continue
		}
		if _, err := vm.R.RunString(`ethers.utils.computePublicKey("0x0000000000000000000000000000000000000000000000000000000000000001")`); err != nil {
			return err
		}
		vm.warm = true
	}
	return nil
}

// MarkDirty keeps vm out of the pool (call it after an interrupt).
func (vm *VM) MarkDirty() { vm.dirty = true }

// SetConsole routes console.* of the VM to fn until Release.
func (vm *VM) SetConsole(fn func(level, line string) error) { vm.console = fn }

// NewVM makes a VM with the globals of the package doc.
func NewVM() (*VM, error) {
	beginStep()
	defer endStep()
	if _, err := ethersProgram(); err != nil {
		return nil, fmt.Errorf("actionjs: compiling ethers: %w", err)
	}
	vm := &VM{R: goja.New()}
	r := vm.R
	g := r.GlobalObject()
	console := r.NewObject()
	for _, level := range []string{"log", "info", "warn", "error", "debug", "trace"} {
		if err := console.Set(level, func(call goja.FunctionCall) goja.Value {
			if vm.console == nil {
				return goja.Undefined()
			}
			parts := make([]string, len(call.Arguments))
			for i, a := range call.Arguments {
				parts[i] = Describe(r, a)
			}
			line := ""
			for i, s := range parts {
				if i > 0 {
					line += " "
				}
				line += s
			}
			if err := vm.console(level, line); err != nil {
				panic(r.NewGoError(err))
			}
			return goja.Undefined()
		}); err != nil {
			return nil, err
		}
	}
	crypto := r.NewObject()
	if err := crypto.Set("getRandomValues", getRandomValues(r)); err != nil {
		return nil, err
	}
	for name, v := range map[string]any{"console": console, "crypto": crypto, "atob": atob(r), "btoa": btoa(r), "global": g} {
		if err := g.Set(name, v); err != nil {
			return nil, err
		}
	}
	vm.lazyGetter = r.ToValue(func(goja.FunctionCall) goja.Value {
		v, err := vm.loadEthers()
		if err != nil {
			panic(r.NewGoError(err))
		}
		return v
	})
	vm.lazySetter = r.ToValue(func(call goja.FunctionCall) goja.Value {
		_ = g.DefineDataProperty("ethers", call.Argument(0), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE)
		return goja.Undefined()
	})
	if err := vm.lazyEthers(); err != nil {
		return nil, err
	}
	vm.snapshot()
	return vm, nil
}

// lazyEthers (re)defines the ethers global as an accessor that loads the
// library on first read (a write replaces it with a plain value).
func (vm *VM) lazyEthers() error {
	return vm.R.GlobalObject().DefineAccessorProperty("ethers", vm.lazyGetter, vm.lazySetter, goja.FLAG_TRUE, goja.FLAG_FALSE)
}

// loadEthers runs the compiled library in the VM (its UMD header sets
// globalThis.ethers) and adds its objects to the snapshot.
func (vm *VM) loadEthers() (goja.Value, error) {
	prg, err := ethersProgram()
	if err != nil {
		return nil, err
	}
	beginStep()
	defer endStep()
	g := vm.R.GlobalObject()
	if err := g.Delete("ethers"); err != nil {
		return nil, err
	}
	if _, err := vm.R.RunProgram(prg); err != nil {
		_ = vm.lazyEthers()
		return nil, fmt.Errorf("actionjs: loading ethers: %w", err)
	}
	vm.ethersLoaded = true
	v := g.Get("ethers")
	if len(vm.baseline) > 0 {
		vm.baseline[0].props["ethers"] = v
	}
	for _, o := range vm.trackedObjects(trackedEthers) {
		vm.baseline = append(vm.baseline, objSnapshot{obj: o, props: ownProps(o, "")})
	}
	return v, nil
}

// tracked lists the objects whose own properties Release checks (the
// global object first); trackedEthers is added once ethers is loaded.
const (
	tracked = `[globalThis, Object, Object.prototype, Array.prototype, Function.prototype, String.prototype,
  Number.prototype, Promise, Promise.prototype, Uint8Array.prototype, JSON, Math, console, crypto]`
	trackedEthers = `[ethers, ethers.utils, ethers.Wallet.prototype, ethers.utils.SigningKey.prototype, ethers.BigNumber.prototype]`
)

func (vm *VM) trackedObjects(expr string) []*goja.Object {
	v, err := vm.R.RunString(expr)
	if err != nil {
		return nil
	}
	arr := v.(*goja.Object)
	var out []*goja.Object
	for _, k := range arr.Keys() {
		if o, ok := arr.Get(k).(*goja.Object); ok {
			out = append(out, o)
		}
	}
	return out
}

// ownProps snapshots o's own properties but skip.
func ownProps(o *goja.Object, skip string) map[string]goja.Value {
	m := map[string]goja.Value{}
	for _, k := range o.GetOwnPropertyNames() {
		if k != skip {
			m[k] = safeGet(o, k)
		}
	}
	return m
}

// lazySkip is the global property snapshot and reset leave alone while
// ethers is the lazy accessor (reading it would load the library).
func (vm *VM) lazySkip() string {
	if vm.ethersLoaded {
		return ""
	}
	return "ethers"
}

// safeGet is o[k], or nil when reading it throws (the poisoned accessors of
// Function.prototype).
func safeGet(o *goja.Object, k string) (v goja.Value) {
	defer func() {
		if recover() != nil {
			v = nil
		}
	}()
	return o.Get(k)
}

func (vm *VM) snapshot() {
	for i, o := range vm.trackedObjects(tracked) {
		skip := ""
		if i == 0 {
			skip = vm.lazySkip()
		}
		vm.baseline = append(vm.baseline, objSnapshot{obj: o, props: ownProps(o, skip)})
	}
}

// reset restores the global object and reports whether every tracked object
// is as it was at setup.
func (vm *VM) reset() (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	vm.R.ClearInterrupt()
	skip := vm.lazySkip()
	for i, s := range vm.baseline {
		n := 0
		for _, k := range s.obj.GetOwnPropertyNames() {
			if i == 0 && k == skip {
				continue
			}
			n++
			base, had := s.props[k]
			if !had {
				if i != 0 || s.obj.Delete(k) != nil { // only globals may be undone
					return false
				}
				n--
				continue
			}
			if cur := safeGet(s.obj, k); cur != base && !(cur != nil && base != nil && cur.SameAs(base)) {
				if i != 0 || s.obj.Set(k, base) != nil {
					return false
				}
			}
		}
		if n != len(s.props) {
			return false
		}
	}
	if skip != "" {
		// Undo a write or delete of the still-unloaded ethers.
		return vm.lazyEthers() == nil
	}
	return true
}

// binaryString is a JS string of one char (0..255) per byte.
func binaryString(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

func atob(r *goja.Runtime) func(string) string {
	return func(s string) string {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			if b, err = base64.RawStdEncoding.DecodeString(s); err != nil {
				panic(r.NewTypeError("atob: the string to be decoded is not correctly encoded"))
			}
		}
		return binaryString(b)
	}
}

func btoa(r *goja.Runtime) func(string) string {
	return func(s string) string {
		b := make([]byte, 0, len(s))
		for _, c := range s {
			if c > 0xff {
				panic(r.NewTypeError("btoa: the string to be encoded contains characters outside of the Latin1 range"))
			}
			b = append(b, byte(c))
		}
		return base64.StdEncoding.EncodeToString(b)
	}
}

func getRandomValues(r *goja.Runtime) func(goja.FunctionCall) goja.Value {
	return func(call goja.FunctionCall) goja.Value {
		arg := call.Argument(0)
		b, ok := arg.Export().([]byte)
		if !ok {
			panic(r.NewTypeError("crypto.getRandomValues: argument must be a Uint8Array"))
		}
		if len(b) > 65536 {
			panic(r.NewTypeError("crypto.getRandomValues: the ArrayBufferView's byte length exceeds 65536"))
		}
		_, _ = rand.Read(b)
		return arg
	}
}
