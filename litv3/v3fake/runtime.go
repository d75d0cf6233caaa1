package v3fake

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/litsignd/litsignd/internal/actionjs"
)

// scriptName is how Deno names the action's code in stack traces.
const scriptName = "<user_provided_script>"

// Texts of the runtime's limits and ops (docs/lit-v3.md §3.4, §3.6, §4.3).
const (
	msgWalletDenied  = "API key cannot use selected wallet in selected action"
	msgFetchLimit    = "You may not send more than 50 HTTP requests per session and you have attempted to exceed that limit."
	msgOutOfFunds    = "Your function ran out of funds to continue execution and was terminated."
	msgTooShort      = "Invalid ciphertext: too short"
	msgDecryptFailed = "Decryption failed: aead::Error"
)

type runSpec struct {
	res     resolved
	cid     string
	cidHash common.Hash
	code    string
	params  json.RawMessage
	headers map[string]string
	credits int64
	billing bool
	start   time.Time
}

type runOutcome struct {
	response    string
	responseSet bool
	logs        string
	err         string // non-empty: the action failed with this text
}

type interruption struct{ msg string }

// actionRun is one execution's state.
type actionRun struct {
	s        *Server
	spec     runSpec
	vm       *actionjs.VM
	r        *goja.Runtime
	logs     strings.Builder
	out      runOutcome
	fetches  int
	wallets  map[string]*ecdsa.PrivateKey // per-execution permission cache, by pkpId string
	rejected actionjs.Rejections
}

// running counts executions in progress (the memory limit is on the shared
// Go heap, see watch).
var running atomic.Int64

// run executes the action with the wrapper of docs/lit-v3.md §4.1.
func (s *Server) run(spec runSpec) (out runOutcome) {
	vm, err := actionjs.Shared().Acquire()
	if err != nil {
		return runOutcome{err: "tonic unavailable error: " + err.Error()}
	}
	a := &actionRun{s: s, spec: spec, vm: vm, r: vm.R, wallets: map[string]*ecdsa.PrivateKey{}}
	defer func() {
		if v := recover(); v != nil {
			vm.MarkDirty()
			out = runOutcome{err: fmt.Sprintf("tonic internal error: %v", v)}
		}
		vm.R.SetPromiseRejectionTracker(nil)
		actionjs.Shared().Release(vm)
	}()
	if err := a.install(); err != nil {
		vm.MarkDirty()
		return runOutcome{err: "tonic internal error: " + err.Error()}
	}
	prg, err := goja.Compile(scriptName, "(function(__litJsParams) {"+spec.code+
		"\n;\nreturn (async () => { const data = await main(__litJsParams); if (typeof data !== \"undefined\") { LitActions.setResponse({ response: data }); } })();\n})", false)
	if err != nil {
		return runOutcome{err: "Uncaught " + syntaxText(err)}
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() { defer close(stopped); a.watch(done) }()
	stop := func() { close(done); <-stopped }
	params, perr := actionjs.ParseJSON(a.r, spec.params)
	var fnv goja.Value
	if perr == nil {
		fnv, err = a.r.RunProgram(prg)
	} else {
		err = perr
	}
	if err == nil {
		fn, _ := goja.AssertFunction(fnv)
		_, err = fn(goja.Undefined(), params)
	}
	stop()
	a.out.logs = a.logs.String()
	var intr *goja.InterruptedError
	var exc *goja.Exception
	switch {
	case errors.As(err, &intr):
		vm.MarkDirty()
		if why, ok := intr.Value().(*interruption); ok {
			return runOutcome{err: why.msg}
		}
		return runOutcome{err: intr.Error()}
	case errors.As(err, &exc):
		return runOutcome{err: "Uncaught " + a.errorText(exc.Value(), exc)}
	case err != nil:
		return runOutcome{err: err.Error()}
	}
	for _, p := range a.rejected.Pending() {
		if p.State() == goja.PromiseStateRejected {
			return runOutcome{err: "Uncaught (in promise) " + a.errorText(p.Result(), nil)}
		}
	}
	return a.out
}

var lineCol = regexp.MustCompile(`<user_provided_script>:(\d+):(\d+)`)

// syntaxText renders a compile error as Deno would, more or less.
func syntaxText(err error) string {
	msg := err.Error()
	if !strings.HasPrefix(msg, "SyntaxError") {
		msg = "SyntaxError: " + msg
	}
	return msg
}

// errorText renders a thrown value: "Error: boom\n    at main
// (<user_provided_script>:3:7)" when a frame of the action is known.
func (a *actionRun) errorText(v goja.Value, exc *goja.Exception) string {
	text := actionjs.Describe(a.r, v)
	var frames []goja.StackFrame
	if exc != nil {
		frames = exc.Stack()
	} else if obj, ok := v.(*goja.Object); ok {
		if st, ok := obj.Get("stack").Export().(string); ok {
			if m := lineCol.FindString(st); m != "" {
				return text + "\n    at " + m
			}
		}
	}
	for _, f := range frames {
		if f.SrcName() == scriptName {
			fn := f.FuncName()
			if fn == "" {
				fn = "<anonymous>"
			}
			return fmt.Sprintf("%s\n    at %s (%s)", text, fn, f.Position())
		}
	}
	return text
}

// watch interrupts the run on timeout, memory growth or exhausted credit,
// until done closes.
func (a *actionRun) watch(done <-chan struct{}) {
	running.Add(1)
	defer running.Add(-1)
	cfg := a.s.cfg
	timer := time.NewTimer(cfg.ActionTimeout)
	defer timer.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	// VMs made and ethers loaded meanwhile (by any run) do not count.
	guard := actionjs.NewHeapGuard()
	limit := cfg.MemoryLimitMB << 20
	for {
		select {
		case <-done:
			return
		case <-timer.C:
			a.r.Interrupt(&interruption{fmt.Sprintf("status: DeadlineExceeded, message: \"Your function exceeded the maximum runtime of %dms and was terminated.\" (tonic deadline exceeded error)", cfg.ActionTimeout.Milliseconds())})
			return
		case <-tick.C:
			if a.spec.billing && int64(time.Since(a.spec.start)/time.Second) >= max(a.spec.credits, 0)+1 {
				a.r.Interrupt(&interruption{msgOutOfFunds})
				return
			}
			allowed := limit * uint64(max(running.Load(), 1))
			if g, ok := guard.Grown(); ok && g > allowed {
				a.r.Interrupt(&interruption{fmt.Sprintf("status: ResourceExhausted, message: \"Your function exceeded the maximum memory of %d MB and was terminated.\" (tonic resource exhausted error)", cfg.MemoryLimitMB)})
				return
			}
		}
	}
}

// install sets the per-run globals (docs/lit-v3.md §4.2, §4.3).
func (a *actionRun) install() error {
	r := a.r
	a.rejected.Track(r)
	a.vm.SetConsole(a.console)
	actions := r.NewObject()
	for name, fn := range map[string]func(goja.FunctionCall) goja.Value{
		"setResponse":               a.setResponse,
		"getPrivateKey":             a.getPrivateKey,
		"getLitActionPrivateKey":    a.getLitActionPrivateKey,
		"getLitActionPublicKey":     a.getLitActionPublicKey,
		"getLitActionWalletAddress": a.getLitActionWalletAddress,
		"Encrypt":                   a.encrypt,
		"Decrypt":                   a.decrypt,
	} {
		if err := actions.Set(name, fn); err != nil {
			return err
		}
	}
	headers := r.NewObject()
	hs := a.spec.headers
	_ = headers.Set("get", func(name string) goja.Value {
		if v, ok := hs[strings.ToLower(name)]; ok {
			return r.ToValue(v)
		}
		return goja.Null()
	})
	_ = headers.Set("has", func(name string) bool { _, ok := hs[strings.ToLower(name)]; return ok })
	auth := r.NewArray()
	freeze, _ := goja.AssertFunction(r.Get("Object").ToObject(r).Get("freeze"))
	if _, err := freeze(goja.Undefined(), actions); err != nil {
		return err
	}
	if _, err := freeze(goja.Undefined(), auth); err != nil {
		return err
	}
	lit := r.NewObject()
	_ = lit.Set("Actions", actions)
	_ = lit.Set("Auth", auth)
	_ = lit.Set("Headers", headers)
	g := r.GlobalObject()
	for name, v := range map[string]any{
		"Lit": lit, "LitActions": actions, "LitAuth": auth, "LitHeaders": headers, "fetch": a.fetch,
	} {
		if err := g.Set(name, v); err != nil {
			return err
		}
	}
	return nil
}

func (a *actionRun) throw(msg string) { panic(actionjs.NewError(a.r, msg)) }

func (a *actionRun) rejectWith(msg string) goja.Value {
	p, _, reject := a.r.NewPromise()
	reject(actionjs.NewError(a.r, msg))
	return a.r.ToValue(p)
}

func (a *actionRun) resolveWith(v any) goja.Value {
	p, resolve, _ := a.r.NewPromise()
	resolve(v)
	return a.r.ToValue(p)
}

// console appends a line to the logs; past the limit the call throws
// (docs/lit-v3.md §4.5).
func (a *actionRun) console(_, line string) error {
	if strings.HasPrefix(line, "DEBUG JS") {
		return nil
	}
	if a.logs.Len()+len(line)+1 > a.s.cfg.MaxConsoleLog {
		return fmt.Errorf("Console.log is printing something that is too long. Max length for all logs in a single request is %d bytes", a.s.cfg.MaxConsoleLog)
	}
	a.logs.WriteString(line)
	a.logs.WriteByte('\n')
	return nil
}

func (a *actionRun) argObject(call goja.FunctionCall) *goja.Object {
	if o, ok := call.Argument(0).(*goja.Object); ok {
		return o
	}
	return a.r.NewObject()
}

// setResponse: a string as it is, anything else JSON.stringify'd, undefined
// as null; past the limit it throws.
func (a *actionRun) setResponse(call goja.FunctionCall) goja.Value {
	v := a.argObject(call).Get("response")
	var s string
	switch {
	case v == nil || goja.IsUndefined(v):
		s = "null"
	default:
		if str, ok := v.Export().(string); ok {
			s = str
		} else if js, ok := actionjs.Stringify(a.r, v); ok {
			s = js
		} else {
			s = "null"
		}
	}
	if len(s) > a.s.cfg.MaxResponseLength {
		a.throw(fmt.Sprintf("Response is too long. Max length is %d bytes", a.s.cfg.MaxResponseLength))
	}
	a.out.response, a.out.responseSet = s, true
	return goja.Undefined()
}

var walletShape = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)

// walletKey checks canUseWalletInAction at the time of the op, cached per
// pkpId string for this execution (docs/lit-v3.md §3.4).
func (a *actionRun) walletKey(call goja.FunctionCall) (*ecdsa.PrivateKey, string) {
	id := a.argObject(call).Get("pkpId")
	pkpID := ""
	if id != nil && !goja.IsUndefined(id) && !goja.IsNull(id) {
		pkpID = id.String()
	}
	if k, ok := a.wallets[pkpID]; ok {
		return k, ""
	}
	if !walletShape.MatchString(pkpID) {
		return nil, fmt.Sprintf("Runner is unable to parse wallet address: %q", pkpID)
	}
	a.s.mu.Lock()
	w, ok := a.s.canUseWallet(a.spec.res, a.spec.cidHash, common.HexToAddress(pkpID))
	a.s.mu.Unlock()
	if !ok {
		return nil, msgWalletDenied
	}
	a.wallets[pkpID] = w.key
	return w.key, ""
}

func (a *actionRun) getPrivateKey(call goja.FunctionCall) goja.Value {
	k, msg := a.walletKey(call)
	if msg != "" {
		return a.rejectWith(msg)
	}
	return a.resolveWith("0x" + hex.EncodeToString(crypto.FromECDSA(k)))
}

// actionKey is the CID's own key: keccak256(root ‖ "lit_action_" ‖ CID)
// (docs/lit-v3.md §9 item 11).
func (s *Server) actionKey(cid string) *ecdsa.PrivateKey {
	seed := crypto.Keccak256(s.cfg.Root[:], []byte("lit_action_"+cid))
	for {
		if k, err := crypto.ToECDSA(seed); err == nil {
			return k
		}
		seed = crypto.Keccak256(seed)
	}
}

func (a *actionRun) getLitActionPrivateKey(goja.FunctionCall) goja.Value {
	return a.resolveWith("0x" + hex.EncodeToString(crypto.FromECDSA(a.s.actionKey(a.spec.cid))))
}

func (a *actionRun) ipfsArg(call goja.FunctionCall) (string, bool) {
	v := a.argObject(call).Get("ipfsId")
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return "", false
	}
	return v.String(), true
}

func (a *actionRun) getLitActionPublicKey(call goja.FunctionCall) goja.Value {
	cid, ok := a.ipfsArg(call)
	if !ok {
		return a.rejectWith("ipfsId is required")
	}
	return a.resolveWith(a.s.ActionPublicKey(cid))
}

func (a *actionRun) getLitActionWalletAddress(call goja.FunctionCall) goja.Value {
	cid, ok := a.ipfsArg(call)
	if !ok {
		return a.rejectWith("ipfsId is required")
	}
	return a.resolveWith(strings.ToLower(crypto.PubkeyToAddress(a.s.actionKey(cid).PublicKey).Hex()))
}

func aesgcm(k *ecdsa.PrivateKey) cipher.AEAD {
	block, _ := aes.NewCipher(crypto.FromECDSA(k))
	g, _ := cipher.NewGCM(block)
	return g
}

// encrypt is Encrypt({pkpId, message}): AES-256-GCM under the wallet's
// private key, hex(nonce ‖ ciphertext ‖ tag) without 0x (docs/lit-v3.md §4.3).
func (a *actionRun) encrypt(call goja.FunctionCall) goja.Value {
	k, msg := a.walletKey(call)
	if msg != "" {
		return a.rejectWith(msg)
	}
	m := a.argObject(call).Get("message")
	if m == nil || goja.IsUndefined(m) {
		return a.rejectWith("message is required")
	}
	nonce := make([]byte, 12)
	_, _ = rand.Read(nonce)
	ct := aesgcm(k).Seal(nil, nonce, []byte(m.String()), nil)
	return a.resolveWith(hex.EncodeToString(append(nonce, ct...)))
}

func (a *actionRun) decrypt(call goja.FunctionCall) goja.Value {
	k, msg := a.walletKey(call)
	if msg != "" {
		return a.rejectWith(msg)
	}
	c := a.argObject(call).Get("ciphertext")
	if c == nil || goja.IsUndefined(c) {
		return a.rejectWith("ciphertext is required")
	}
	raw, err := hex.DecodeString(strings.TrimPrefix(c.String(), "0x"))
	if err != nil {
		return a.rejectWith("Invalid ciphertext: " + err.Error())
	}
	if len(raw) < 28 {
		return a.rejectWith(msgTooShort)
	}
	pt, err := aesgcm(k).Open(nil, raw[:12], raw[12:], nil)
	if err != nil {
		return a.rejectWith(msgDecryptFailed)
	}
	return a.resolveWith(strings.ToValidUTF8(string(pt), "\uFFFD"))
}

// fetch counts toward the 50-request limit; the fake has no outbound
// network, so every permitted call rejects.
func (a *actionRun) fetch(goja.FunctionCall) goja.Value {
	a.fetches++
	if a.fetches > 50 {
		a.throw(msgFetchLimit)
	}
	return a.rejectWith("fetch is not available in the v3 fake (no outbound network)")
}
