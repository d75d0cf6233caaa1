package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/internal/cli"
)

// jobResult is the part of a litsignd result litsign reads.
type jobResult struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// newJobID makes a random job id.
func newJobID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "litsign-" + hex.EncodeToString(b)
}

// submit publishes one job to JetStream with Nats-Msg-Id = id and
// Lit-Reply-To = reply, a core subject the caller listens on.
func submit(ctx context.Context, nc *nats.Conn, subject, reply string, job map[string]any) error {
	body, err := json.Marshal(job)
	if err != nil {
		return err
	}
	m := nats.NewMsg(subject)
	m.Data = body
	m.Header.Set("Nats-Msg-Id", job["id"].(string))
	m.Header.Set("Lit-Reply-To", reply)
	js, err := nc.JetStream()
	if err != nil {
		return err
	}
	_, err = js.PublishMsg(m, nats.Context(ctx))
	return err
}

func cmdSign(ctx context.Context, e env, args []string) (int, error) {
	fs := flag.NewFlagSet("litsign sign", flag.ContinueOnError)
	var c natsFlags
	c.register(fs)
	pkpHex := fs.String("pkp", "", "PKP public key 0x04…")
	message := fs.String("message", "", "UTF-8 text to sign")
	hexData := fs.String("hex", "", "0x bytes to sign")
	chain := fs.String("chain", "ethereum", "ethereum (keccak256), bitcoin (sha256) or raw (32-byte digest)")
	var route routeFlags
	route.register(fs)
	if err := parse(fs, e, args); err != nil {
		return 2, err
	}
	if err := checkJobPKP(*pkpHex); err != nil { // v3.go
		return 2, fmt.Errorf("--pkp: %w", err)
	}
	if err := route.validate(); err != nil {
		return 2, err
	}
	if (*message == "") == (*hexData == "") {
		return 2, errors.New("give exactly one of --message and --hex")
	}
	nc, _, err := c.connect()
	if err != nil {
		return 1, err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	job := map[string]any{"id": newJobID(), "pkpPublicKey": *pkpHex, "chain": *chain}
	if *message != "" {
		job["toSign"] = *message
	} else {
		job["toSignHex"] = *hexData
	}
	topo := c.topology()
	return runJob(ctx, e, nc, route.subject(topo, "pkp-sign"), route.reply(topo, job["id"].(string)), c.timeout, job)
}

// routeFlags say where sign, exec and bench publish jobs (--producer, see
// producer.go) and where their results come back (--reply-prefix).
type routeFlags struct {
	producer    string
	replyPrefix string
}

func (r *routeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.producer, "producer", consumer.DefaultProducer, producerUsage)
	fs.StringVar(&r.replyPrefix, "reply-prefix", "", "receive results on <prefix>.<job id> (default: a private _INBOX; with a --producer other than default, <prefix>.results.<producer>)")
}

func (r *routeFlags) validate() error {
	_, err := jobSubject(consumer.DefaultTopology(), r.producer, "pkp-sign")
	return err
}

// subject is the jobs subject of kind (after validate).
func (r *routeFlags) subject(topo consumer.Topology, kind string) string {
	s, _ := jobSubject(topo, r.producer, kind)
	return s
}

// replyPrefixFor is the prefix results come back under; "" means a
// private inbox.
func (r *routeFlags) replyPrefixFor(topo consumer.Topology) string {
	if r.replyPrefix == "" && r.producer != consumer.DefaultProducer {
		return topo.Prefix + ".results." + r.producer
	}
	return r.replyPrefix
}

// reply is the reply subject of job id.
func (r *routeFlags) reply(topo consumer.Topology, id string) string {
	if p := r.replyPrefixFor(topo); p != "" {
		return p + "." + id
	}
	return nats.NewInbox()
}

// runJob submits one job, waits for its result on reply, prints it, and
// exits non-zero on an error result (litsign sign and exec).
func runJob(ctx context.Context, e env, nc *nats.Conn, subject, reply string, timeout time.Duration, job map[string]any) (int, error) {
	sub, err := nc.SubscribeSync(reply)
	if err != nil {
		return 1, err
	}
	defer sub.Unsubscribe()
	if err := submit(ctx, nc, subject, reply, job); err != nil {
		return 1, fmt.Errorf("publish job: %w", err)
	}
	m, err := sub.NextMsgWithContext(ctx)
	if err != nil {
		return 1, fmt.Errorf("no result within --timeout %s: %w", timeout, err)
	}
	printJSON(e.stdout, m.Data, cli.IsTerminal(e.stdout))
	var r jobResult
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return 1, fmt.Errorf("unreadable result: %w", err)
	}
	if r.Status != "ok" {
		code := "unknown"
		if r.Error != nil {
			code = r.Error.Code
		}
		return 1, fmt.Errorf("job failed: %s", code)
	}
	return 0, nil
}

// printJSON writes a result: indented for a person (pretty: stdout is a
// terminal), else compact on one line, for scripts.
func printJSON(w io.Writer, data []byte, pretty bool) {
	var b bytes.Buffer
	if pretty {
		if json.Indent(&b, data, "", "  ") == nil {
			data = b.Bytes()
		}
	} else if json.Compact(&b, data) == nil {
		data = b.Bytes()
	}
	fmt.Fprintln(w, string(data))
}

func cmdBench(ctx context.Context, e env, args []string) (int, error) {
	fs := flag.NewFlagSet("litsign bench", flag.ContinueOnError)
	var c natsFlags
	c.register(fs)
	pkpHex := fs.String("pkp", "", "PKP public key 0x04…")
	jobs := fs.Int("jobs", 1000, "number of jobs")
	conc := fs.Int("concurrency", 64, "jobs in flight")
	kind := fs.String("kind", "", "job kind: pkp-sign or execute-js (default: execute-js with --code or --ipfs, else pkp-sign)")
	var act actionFlags
	act.register(fs)
	var route routeFlags
	route.register(fs)
	metricsURL := fs.String("metrics-url", "", "litsignd /metrics URL(s), comma-separated: also report the daemons' CPU per job")
	if err := parse(fs, e, args); err != nil {
		return 2, err
	}
	if err := checkJobPKP(*pkpHex); err != nil { // v3.go
		return 2, fmt.Errorf("--pkp: %w", err)
	}
	if err := route.validate(); err != nil {
		return 2, err
	}
	if *jobs < 1 || *conc < 1 {
		return 2, errors.New("--jobs and --concurrency must be positive")
	}
	if *kind == "" {
		*kind = "pkp-sign"
		if act.given() {
			*kind = "execute-js"
		}
	}
	spec := benchSpec{kind: *kind, pkp: *pkpHex, jobs: *jobs, conc: *conc, timeout: c.timeout, replyPrefix: route.replyPrefixFor(c.topology())}
	switch *kind {
	case "pkp-sign":
		if act.given() {
			return 2, errors.New("--code and --ipfs are for --kind execute-js")
		}
	case "execute-js":
		if !act.given() {
			return 2, errors.New("--kind execute-js needs --code FILE or --ipfs CID")
		}
		f, err := act.fields(e)
		if err != nil {
			return 2, err
		}
		spec.action = f
	default:
		return 2, fmt.Errorf("--kind %q: want pkp-sign or execute-js", *kind)
	}
	nc, _, err := c.connect()
	if err != nil {
		return 1, err
	}
	defer nc.Close()
	spec.subject = route.subject(c.topology(), *kind)
	var bar io.Writer // the progress bar only on a terminal
	if cli.IsTerminal(e.stderr) {
		bar = e.stderr
	}
	cpu := newCPUProbe(ctx, *metricsURL)
	res, err := runBench(ctx, nc, spec, bar)
	if err != nil {
		return 1, err
	}
	fmt.Fprint(e.stdout, res.String())
	cpu.report(ctx, e.stdout, res.jobs-res.lost)
	switch {
	case res.lost > 0 && res.errors > 0:
		return 1, fmt.Errorf("%d jobs got no result within --timeout and %d ended with an error result", res.lost, res.errors)
	case res.lost > 0:
		return 1, fmt.Errorf("%d jobs got no result within --timeout", res.lost)
	case res.errors > 0:
		return 1, fmt.Errorf("%d jobs ended with an error result", res.errors)
	}
	return 0, nil
}

type benchSpec struct {
	subject, kind, pkp string
	action             map[string]any // execute-js: the job fields of actionFlags
	replyPrefix        string
	jobs, conc         int
	timeout            time.Duration
}

type benchResult struct {
	jobs, errors, lost int
	elapsed            time.Duration
	latencies          []time.Duration
	codes              map[string]int
}

func (r benchResult) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(r.latencies)))) - 1
	return r.latencies[max(0, min(i, len(r.latencies)-1))]
}

func (r benchResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "jobs:        %d in %s\n", r.jobs, r.elapsed.Round(time.Millisecond))
	fmt.Fprintf(&b, "throughput:  %.1f jobs/s\n", float64(r.jobs-r.lost)/r.elapsed.Seconds())
	fmt.Fprintf(&b, "latency:     p50 %s  p90 %s  p99 %s  max %s\n", r.percentile(50).Round(time.Microsecond), r.percentile(90).Round(time.Microsecond), r.percentile(99).Round(time.Microsecond), r.percentile(100).Round(time.Microsecond))
	fmt.Fprintf(&b, "errors:      %d", r.errors)
	if len(r.codes) > 0 {
		codes := make([]string, 0, len(r.codes))
		for k, v := range r.codes {
			codes = append(codes, fmt.Sprintf("%s=%d", k, v))
		}
		sort.Strings(codes)
		fmt.Fprintf(&b, " (%s)", strings.Join(codes, ", "))
	}
	fmt.Fprintf(&b, "\nno result:   %d\n", r.lost)
	return b.String()
}

// runBench submits spec.jobs jobs with spec.conc in flight, each waiting for
// its result on one shared reply subject, and draws a progress bar on w
// (none if w is nil).
func runBench(ctx context.Context, nc *nats.Conn, spec benchSpec, w io.Writer) (benchResult, error) {
	reply := nats.NewInbox()
	replyFor := func(string) string { return reply }
	listen := reply
	if spec.replyPrefix != "" {
		replyFor = func(id string) string { return spec.replyPrefix + "." + id }
		listen = spec.replyPrefix + ".>"
	}
	var mu sync.Mutex
	waiting := map[string]chan jobResult{}
	sub, err := nc.Subscribe(listen, func(m *nats.Msg) {
		var r jobResult
		if json.Unmarshal(m.Data, &r) != nil {
			return
		}
		mu.Lock()
		ch := waiting[r.ID]
		delete(waiting, r.ID)
		mu.Unlock()
		if ch != nil {
			ch <- r
		}
	})
	if err != nil {
		return benchResult{}, err
	}
	defer sub.Unsubscribe()
	_ = sub.SetPendingLimits(-1, -1)

	res := benchResult{jobs: spec.jobs, codes: map[string]int{}}
	lat := make([]time.Duration, 0, spec.jobs)
	var done atomic.Int64
	var latMu sync.Mutex
	next := make(chan int)
	start := time.Now()
	stopBar := make(chan struct{})
	barDone := make(chan struct{})
	go func() {
		defer close(barDone)
		if w == nil {
			<-stopBar
			return
		}
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopBar:
				drawBar(w, int(done.Load()), spec.jobs, time.Since(start))
				fmt.Fprintln(w)
				return
			case <-t.C:
				drawBar(w, int(done.Load()), spec.jobs, time.Since(start))
			}
		}
	}()
	var wg sync.WaitGroup
	for range spec.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				id := newJobID()
				ch := make(chan jobResult, 1)
				mu.Lock()
				waiting[id] = ch
				mu.Unlock()
				job := map[string]any{"id": id, "pkpPublicKey": spec.pkp}
				if spec.kind == "execute-js" {
					maps.Copy(job, spec.action)
				} else {
					job["toSign"] = "litsign bench " + id
				}
				t0 := time.Now()
				jctx, cancel := context.WithTimeout(ctx, spec.timeout)
				err := submit(jctx, nc, spec.subject, replyFor(id), job)
				var r jobResult
				ok := false
				if err == nil {
					select {
					case r = <-ch:
						ok = true
					case <-jctx.Done():
					}
				}
				cancel()
				latMu.Lock()
				switch {
				case !ok:
					res.lost++
				case r.Status != "ok":
					res.errors++
					if r.Error != nil {
						res.codes[r.Error.Code]++
					}
					lat = append(lat, time.Since(t0))
				default:
					lat = append(lat, time.Since(t0))
				}
				latMu.Unlock()
				done.Add(1)
			}
		}()
	}
	for i := 0; i < spec.jobs && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	res.elapsed = time.Since(start)
	close(stopBar)
	<-barDone
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res.latencies = lat
	return res, nil
}

func drawBar(w io.Writer, done, total int, elapsed time.Duration) {
	const width = 40
	filled := width * done / max(total, 1)
	rate := float64(done) / max(elapsed.Seconds(), 1e-9)
	fmt.Fprintf(w, "\r[%s%s] %d/%d  %.0f jobs/s", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), done, total, rate)
}
