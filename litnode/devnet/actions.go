package devnet

// The devnet's Lit Action runtime: the action's JavaScript runs in goja (a
// pure-Go ECMAScript engine) with the subset of the Lit Actions API that
// docs/naga-wire.md §8 and the devnet document (see actionSpec). Lit runs actions in
// Deno; what differs is listed on runAction.

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
	"github.com/litsignd/litsignd/internal/actionjs"
	"github.com/litsignd/litsignd/litnode"
)

// actionSpec is one run of a Lit Action on one node.
type actionSpec struct {
	// name is the action's CID: the script name in stack traces.
	name string
	code string
	// params is the request's jsParams field, {"jsParams": {…}} as the SDKs
	// send it (docs/naga-wire.md §8.1).
	params json.RawMessage
	// auth is Lit.Auth.
	auth map[string]any
	// timeout and memLimit are Config.ActionTimeout and ActionMemoryLimit.
	timeout  time.Duration
	memLimit uint64
	// stop closes when the network closes: the run is abandoned.
	stop <-chan struct{}
	// signEcdsa records this node's share for sigName; its error becomes
	// the rejection of the action's promise.
	signEcdsa func(toSign []byte, publicKey, sigName string) error
}

// actionOutcome is how a run ended.
type actionOutcome int

const (
	actionOK          actionOutcome = iota
	actionThrew                     // an uncaught exception or unhandled rejection (or a syntax error)
	actionTimedOut                  // ActionTimeout passed
	actionOutOfMemory               // the heap grew by more than ActionMemoryLimit
	actionAborted                   // the network closed, or the runtime failed
)

// actionResult is what a run produced.
type actionResult struct {
	outcome  actionOutcome
	response string // Lit.Actions.setResponse, last call wins
	logs     string // console output, one line per call
	err      string // the failure, for every outcome but actionOK
}

// interruption is the value a watchdog interrupts the runtime with.
type interruption struct {
	outcome actionOutcome
	msg     string
}

// Intervals of the memory watchdog: how often the heap is sampled, and how
// often at most a garbage collection may be forced (see watchAction).
const (
	memSampleEvery = 2 * time.Millisecond
	memGCEvery     = 50 * time.Millisecond
)

// unsupportedActions are Lit.Actions functions of Lit's API that the devnet
// does not provide: calling one throws an Error saying so.
var unsupportedActions = []string{
	"signAndCombineEcdsa", "decryptAndCombine", "decryptToSingleNode", "encrypt", "claimKey", "runOnce",
	"broadcastAndCollect", "call", "callContract", "checkConditions", "getRpcUrl", "getLatestNonce",
	"signEcdsaWithPkp", "signSchnorr", "pkpPermissionsGetPermitted", "isPermittedAction",
}

// actionRun is the state of one run; it is used by the runtime's goroutine
// only, except vm.Interrupt, which the watchdog calls.
type actionRun struct {
	spec     actionSpec
	vm       *goja.Runtime
	logs     strings.Builder
	response string
	// rejected are the promises rejected without a handler, in order.
	rejected actionjs.Rejections
}

// runAction runs one Lit Action to completion: the script, then its promise
// jobs until none is left (so a top-level `(async () => { … })()` and every
// await in it settle). The globals are:
//
//   - every key of the jsParams field as a global (so `jsParams` itself),
//     and, for actions written for the unwrapped form, every key of
//     jsParams.jsParams too (docs/naga-wire.md §8.1);
//
//   - console.log/info/warn/error/debug: the arguments, strings as they
//     are and other values as JSON (Errors as "Name: message"), joined by
//     spaces, one line per call, into the logs;
//
//   - Lit.Actions.setResponse({response}): response must be a string; the
//     last call wins;
//
//   - Lit.Actions.signEcdsa({toSign, publicKey, sigName}): toSign 32 bytes
//     (Uint8Array or array of numbers), publicKey the PKP's uncompressed key
//     (0x04… or 04…); returns a Promise of "success" and records this node's
//     share under sigName (a later call with the same sigName replaces it);
//
//   - Lit.Actions.ethPersonalSignMessageEcdsa({message, publicKey,
//     sigName}): signEcdsa of keccak256 of the EIP-191 message;
//
//   - Lit.Auth: {actionIpfsIds, authSigAddress, authMethodContexts,
//     resources, customAuthResource}; LitActions and LitAuth are aliases of
//     Lit.Actions and Lit.Auth.
//
//   - ethers (5.7.2, the published library, loaded into a VM when an
//     action first reads it), atob, btoa and crypto.getRandomValues, from
//     internal/actionjs, whose pooled VMs the runs share.
//
// Differences from Lit's Deno runtime: no fetch, timers or the
// other Lit.Actions functions (those throw "not supported by the devnet");
// code that does not compile as a script but uses await is run wrapped in
// an async function (top-level await); the memory limit is measured on the
// process's Go heap, so actions running at the same time share it.
func runAction(spec actionSpec) (res actionResult) {
	// A run counts as running from before it takes a VM: making one (ethers
	// loaded) grows the heap that the watchdogs of concurrent runs measure.
	runningActions.Add(1)
	defer runningActions.Add(-1)
	pooled, err := actionjs.Shared().Acquire()
	if err != nil {
		return actionResult{outcome: actionAborted, err: "could not start the action runtime: " + err.Error()}
	}
	a := &actionRun{spec: spec, vm: pooled.R}
	defer func() {
		res.logs, res.response = a.logs.String(), a.response
		if v := recover(); v != nil {
			res.outcome, res.err = actionAborted, fmt.Sprintf("the devnet's action runtime failed: %v", v)
		}
		if res.outcome == actionTimedOut || res.outcome == actionOutOfMemory || res.outcome == actionAborted {
			pooled.MarkDirty()
		}
		actionjs.Shared().Release(pooled)
	}()
	if err := a.install(); err != nil {
		return actionResult{outcome: actionAborted, err: "could not set up the action's globals: " + err.Error()}
	}
	var prg *goja.Program
	prg, err = compileAction(spec.name, spec.code)
	if err != nil {
		return actionResult{outcome: actionThrew, err: "Uncaught " + err.Error()}
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		watchAction(a.vm, spec, done)
	}()
	var stopOnce sync.Once
	stopWatch := func() {
		stopOnce.Do(func() {
			close(done)
			<-stopped
		})
	}
	defer stopWatch()
	_, err = a.vm.RunProgram(prg)
	// Stop the watchdog before the runtime renders errors below, and drop
	// an interrupt that came too late to matter.
	stopWatch()
	a.vm.ClearInterrupt()
	var intr *goja.InterruptedError
	var exc *goja.Exception
	switch {
	case errors.As(err, &intr):
		if why, ok := intr.Value().(*interruption); ok {
			return actionResult{outcome: why.outcome, err: why.msg}
		}
		return actionResult{outcome: actionAborted, err: intr.Error()}
	case errors.As(err, &exc):
		msg := "Uncaught " + a.describe(exc.Value())
		for _, f := range exc.Stack() {
			if f.SrcName() == spec.name { // the innermost frame of the action's code
				msg += "\n    at " + f.Position().String()
				break
			}
		}
		return actionResult{outcome: actionThrew, err: msg}
	case err != nil:
		return actionResult{outcome: actionAborted, err: err.Error()}
	}
	// Deno fails an action whose promise rejection nothing handled.
	for _, p := range a.rejected.Pending() {
		if p.State() == goja.PromiseStateRejected {
			return actionResult{outcome: actionThrew, err: "Uncaught (in promise) " + a.describe(p.Result())}
		}
	}
	return actionResult{outcome: actionOK}
}

// compileAction compiles the code as the body of a function that is called
// at once or, when that fails and the code awaits, of an async function
// (top-level await). The function scope keeps the action's declarations off
// the global object of the pooled VM, so the next run starts clean; the
// code's first line keeps its line number.
func compileAction(name, code string) (*goja.Program, error) {
	prg, err := goja.Compile(name, "(function () {"+code+"\n})()", false)
	if err == nil || !strings.Contains(code, "await") {
		return prg, err
	}
	if wrapped, werr := goja.Compile(name, "(async function () {"+code+"\n})()", false); werr == nil {
		return wrapped, nil
	}
	return nil, err
}

// watchAction interrupts the runtime when the timeout passes, the heap grows
// by more than the limit, or the network closes, until done closes.
//
// The memory check compares the live heap as of the latest garbage
// collection with the live heap when the run started, so garbage does not
// count: the collector's pacing (GOGC) makes a growing live heap show up
// within one cycle. Should the heap's object bytes run past twice the
// allowed live heap without a cycle (GOGC off or very high), a collection is
// forced, at most every memGCEvery across all runs.
//
// The heap is the process's, shared by every action running at once (the
// selected nodes all run the same action, in one process): the growth
// allowed is the limit times the number of actions running, so concurrent
// well-behaved actions do not trip each other, while a hog, which grows
// without bound, still does.
func watchAction(vm *goja.Runtime, spec actionSpec, done <-chan struct{}) {
	timer := time.NewTimer(spec.timeout)
	defer timer.Stop()
	tick := time.NewTicker(memSampleEvery)
	defer tick.Stop()
	// VMs made and ethers loaded meanwhile (by any run) do not count.
	guard := actionjs.NewHeapGuard()
	for {
		select {
		case <-done:
			return
		case <-spec.stop:
			vm.Interrupt(&interruption{actionAborted, "the devnet is shutting down"})
			return
		case <-timer.C:
			vm.Interrupt(&interruption{actionTimedOut, fmt.Sprintf("Lit Action timed out after %s", spec.timeout)})
			return
		case <-tick.C:
			limit := spec.memLimit
			for range max(runningActions.Load(), 1) - 1 {
				limit = satAdd(limit, spec.memLimit)
			}
			allowed := satAdd(guard.Base(), limit)
			if heapObjects() > satAdd(allowed, allowed) {
				forceGC()
			}
			if g, ok := guard.Grown(); ok && g > limit {
				vm.Interrupt(&interruption{actionOutOfMemory,
					fmt.Sprintf("Lit Action exceeded its memory limit: the live heap grew by %d bytes, the limit is %d bytes", g, spec.memLimit)})
				return
			}
		}
	}
}

// runningActions counts the actions running in this process.
var runningActions atomic.Int64

// lastForcedGC is when forceGC last collected (Unix nanoseconds).
var lastForcedGC atomic.Int64

// forceGC runs a collection unless one was forced less than memGCEvery ago.
func forceGC() {
	now := time.Now().UnixNano()
	last := lastForcedGC.Load()
	if now-last < int64(memGCEvery) || !lastForcedGC.CompareAndSwap(last, now) {
		return
	}
	runtime.GC()
}

func satAdd(a, b uint64) uint64 {
	if a+b < a {
		return ^uint64(0)
	}
	return a + b
}

// heapObjects returns the bytes of heap objects, live or garbage.
func heapObjects() uint64 { return readMetric("/memory/classes/heap/objects:bytes") }

func readMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// install sets the globals runAction documents.
func (a *actionRun) install() error {
	vm := a.vm
	a.rejected.Track(vm)
	// jsParams (docs/naga-wire.md §8.1): the inner object's keys first, so the
	// outer keys (jsParams itself) win.
	if params, err := a.parseJSON(a.spec.params); err != nil {
		return fmt.Errorf("jsParams: %w", err)
	} else if obj, ok := params.(*goja.Object); ok && obj.ClassName() == "Object" {
		if inner, ok := obj.Get("jsParams").(*goja.Object); ok && inner.ClassName() == "Object" {
			for _, k := range inner.Keys() {
				if err := vm.Set(k, inner.Get(k)); err != nil {
					return err
				}
			}
		}
		for _, k := range obj.Keys() {
			if err := vm.Set(k, obj.Get(k)); err != nil {
				return err
			}
		}
	}

	console := vm.NewObject()
	for _, name := range []string{"log", "info", "warn", "error", "debug"} {
		if err := console.Set(name, a.consoleLog); err != nil {
			return err
		}
	}
	actions := vm.NewObject()
	for _, name := range unsupportedActions {
		msg := "Lit.Actions." + name + " is not supported by the devnet"
		if err := actions.Set(name, func(goja.FunctionCall) goja.Value { panic(a.jsError(msg)) }); err != nil {
			return err
		}
	}
	for name, fn := range map[string]func(goja.FunctionCall) goja.Value{
		"setResponse":                 a.setResponse,
		"signEcdsa":                   a.signEcdsa,
		"ethPersonalSignMessageEcdsa": a.ethPersonalSign,
	} {
		if err := actions.Set(name, fn); err != nil {
			return err
		}
	}
	authJSON, err := json.Marshal(a.spec.auth)
	if err != nil {
		return err
	}
	auth, err := a.parseJSON(authJSON)
	if err != nil {
		return err
	}
	lit := vm.NewObject()
	for _, kv := range []struct {
		obj  *goja.Object
		name string
		v    any
	}{
		{lit, "Actions", actions}, {lit, "Auth", auth},
		{vm.GlobalObject(), "Lit", lit}, {vm.GlobalObject(), "LitActions", actions}, {vm.GlobalObject(), "LitAuth", auth},
		{vm.GlobalObject(), "console", console},
	} {
		if err := kv.obj.Set(kv.name, kv.v); err != nil {
			return err
		}
	}
	return nil
}

// parseJSON turns JSON into a JS value with the runtime's JSON.parse; empty
// input is undefined.
func (a *actionRun) parseJSON(raw []byte) (goja.Value, error) { return actionjs.ParseJSON(a.vm, raw) }

// jsError makes an Error object with msg.
func (a *actionRun) jsError(msg string) *goja.Object { return actionjs.NewError(a.vm, msg) }

// describe renders a value for the logs (actionjs.Describe): strings as
// they are, Errors as "Name: message", functions as [Function: name], a
// Uint8Array as an array of numbers, other objects as JSON.
func (a *actionRun) describe(v goja.Value) string { return actionjs.Describe(a.vm, v) }

func (a *actionRun) consoleLog(call goja.FunctionCall) goja.Value {
	parts := make([]string, len(call.Arguments))
	for i, v := range call.Arguments {
		parts[i] = a.describe(v)
	}
	a.logs.WriteString(strings.Join(parts, " "))
	a.logs.WriteByte('\n')
	return goja.Undefined()
}

// argObject returns the single object argument of a Lit.Actions call.
func (a *actionRun) argObject(call goja.FunctionCall, fn string) *goja.Object {
	arg := call.Argument(0)
	obj, ok := arg.(*goja.Object)
	if !ok {
		panic(a.vm.NewTypeError(fmt.Sprintf("Lit.Actions.%s expects an object argument, got %s", fn, a.describe(arg))))
	}
	return obj
}

func (a *actionRun) setResponse(call goja.FunctionCall) goja.Value {
	v := a.argObject(call, "setResponse").Get("response")
	s, ok := v.Export().(string)
	if !ok {
		panic(a.vm.NewTypeError("Lit.Actions.setResponse: response must be a string (JSON.stringify objects), got " + a.describe(v)))
	}
	a.response = s
	return goja.Undefined()
}

// signEcdsa is Lit.Actions.signEcdsa; failures reject the returned promise.
func (a *actionRun) signEcdsa(call goja.FunctionCall) goja.Value {
	obj := a.argObject(call, "signEcdsa")
	toSign, err := a.bytesArg(obj.Get("toSign"))
	if err != nil {
		return a.rejectedPromise("Lit.Actions.signEcdsa: toSign " + err.Error())
	}
	return a.sign(obj, "signEcdsa", toSign)
}

// ethPersonalSign is Lit.Actions.ethPersonalSignMessageEcdsa: the message
// (a string, or bytes) is hashed as personal_sign does, then signed.
func (a *actionRun) ethPersonalSign(call goja.FunctionCall) goja.Value {
	obj := a.argObject(call, "ethPersonalSignMessageEcdsa")
	var msg []byte
	if s, ok := obj.Get("message").Export().(string); ok {
		msg = []byte(s)
	} else if b, err := a.bytesArg(obj.Get("message")); err == nil {
		msg = b
	} else {
		return a.rejectedPromise("Lit.Actions.ethPersonalSignMessageEcdsa: message must be a string or bytes")
	}
	h := litnode.EIP191Hash(string(msg))
	return a.sign(obj, "ethPersonalSignMessageEcdsa", h[:])
}

func (a *actionRun) sign(obj *goja.Object, fn string, digest []byte) goja.Value {
	pub, ok := obj.Get("publicKey").Export().(string)
	if !ok {
		return a.rejectedPromise("Lit.Actions." + fn + ": publicKey must be a hex string")
	}
	sigName, ok := obj.Get("sigName").Export().(string)
	if !ok || sigName == "" {
		return a.rejectedPromise("Lit.Actions." + fn + ": sigName must be a non-empty string")
	}
	if err := a.spec.signEcdsa(digest, pub, sigName); err != nil {
		return a.rejectedPromise("Lit.Actions." + fn + ": " + err.Error())
	}
	p, resolve, _ := a.vm.NewPromise()
	resolve("success")
	return a.vm.ToValue(p)
}

func (a *actionRun) rejectedPromise(msg string) goja.Value {
	p, _, reject := a.vm.NewPromise()
	reject(a.jsError(msg))
	return a.vm.ToValue(p)
}

// bytesArg reads a Uint8Array (or other typed array, ArrayBuffer) or an
// array of integers 0..255.
func (a *actionRun) bytesArg(v goja.Value) ([]byte, error) {
	switch x := v.Export().(type) {
	case []byte:
		return append([]byte(nil), x...), nil
	case goja.ArrayBuffer:
		return append([]byte(nil), x.Bytes()...), nil
	}
	if _, ok := v.(*goja.Object); !ok {
		return nil, fmt.Errorf("must be a Uint8Array or an array of bytes, got %s", a.describe(v))
	}
	var nums []float64
	if err := a.vm.ExportTo(v, &nums); err != nil {
		return nil, fmt.Errorf("must be a Uint8Array or an array of bytes: %v", err)
	}
	out := make([]byte, len(nums))
	for i, f := range nums {
		if f != float64(int(f)) || f < 0 || f > 255 {
			return nil, fmt.Errorf("element %d (%v) is not a byte", i, f)
		}
		out[i] = byte(f)
	}
	return out, nil
}
