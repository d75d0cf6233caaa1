//go:build failover

// The failover suite (README "Failover suite"): a 3-node JetStream cluster
// in process on loopback, two litsignd replicas (Jobs instances with their
// own connections, stores and Lit clients), the devnet, a producer
// publishing pkp-sign jobs at a steady rate, and faults at the worst
// moments. Every scenario checks, per job id, over every result ever
// published on any subject (live subscriptions, not the deduplicating
// stream): exactly one distinct body, a valid signature, none lost; it
// reports how often Lit was asked to sign each job.
//
//	go test -tags failover -run TestFailover -v ./consumer/
//
// FAILOVER_JOBS (default 400) and FAILOVER_RATE (jobs/s, default 50) size
// each scenario. FAILOVER_PROCESSES=1 runs the servers as real nats-server
// processes (built from the module with go build): a kill is SIGKILL and
// the partition is SIGSTOP/SIGCONT of the server. It is not part of ./test.sh: it runs for minutes and kills
// servers, and on a loaded machine elections take long enough that its
// timing is not something to gate every change on.
package consumer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/litnode/devnet"
)

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// stallProxy forwards TCP connections to target; while stalled it forwards
// nothing (connections stay open, bytes wait): a network partition, as a
// server paused with SIGSTOP looks to its peers.
type stallProxy struct {
	ln      net.Listener
	target  string
	stalled atomic.Bool
	mu      sync.Mutex
	conns   []net.Conn
}

func newStallProxy(t testing.TB, target string) *stallProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { p.ln.Close(); p.closeAll() })
	return p
}

func (p *stallProxy) addr() string { return p.ln.Addr().String() }

func (p *stallProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go p.pipe(c, u)
		go p.pipe(u, c)
	}
}

func (p *stallProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.stalled.Load() {
			time.Sleep(10 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *stallProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// foCluster is a 3-node JetStream cluster whose routes run through stall
// proxies, one per ordered pair of servers.
type foCluster struct {
	t       testing.TB
	names   []string
	client  []int
	cluster []int
	dirs    []string
	srvs    []*server.Server
	proxies map[[2]int]*stallProxy // [from, to]
	mu      sync.Mutex
	admin   *nats.Conn
	bin     string      // nats-server binary: real processes
	procs   []*exec.Cmd // their processes
}

var (
	serverBinOnce sync.Once
	serverBin     string
	serverBinErr  error
)

// natsServerBinary builds the module's nats-server once.
func natsServerBinary(t testing.TB) string {
	serverBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "failover-bin")
		if err != nil {
			serverBinErr = err
			return
		}
		serverBin = filepath.Join(dir, "nats-server")
		out, err := exec.Command("go", "build", "-o", serverBin, "github.com/nats-io/nats-server/v2").CombinedOutput()
		if err != nil {
			serverBinErr = fmt.Errorf("go build nats-server: %v\n%s", err, out)
		}
	})
	if serverBinErr != nil {
		t.Fatal(serverBinErr)
	}
	return serverBin
}

func startFoCluster(t testing.TB) *foCluster {
	c := &foCluster{t: t, proxies: map[[2]int]*stallProxy{}}
	if os.Getenv("FAILOVER_PROCESSES") != "" {
		c.bin = natsServerBinary(t)
		c.procs = make([]*exec.Cmd, 3)
	}
	for i := range 3 {
		c.names = append(c.names, fmt.Sprintf("n%d", i+1))
		c.client = append(c.client, freePort(t))
		c.cluster = append(c.cluster, freePort(t))
		c.dirs = append(c.dirs, t.TempDir())
	}
	for i := range 3 {
		for j := range 3 {
			if i != j {
				c.proxies[[2]int{i, j}] = newStallProxy(t, fmt.Sprintf("127.0.0.1:%d", c.cluster[j]))
			}
		}
	}
	c.srvs = make([]*server.Server, 3)
	for i := range 3 {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range 3 {
			c.stop(i)
		}
	})
	return c
}

func (c *foCluster) opts(i int) *server.Options {
	var routes []string
	for j := range 3 {
		if j != i {
			routes = append(routes, "nats-route://"+c.proxies[[2]int{i, j}].addr())
		}
	}
	return &server.Options{
		ServerName: c.names[i], Host: "127.0.0.1", Port: c.client[i],
		JetStream: true, StoreDir: c.dirs[i], NoLog: true, NoSigs: true,
		Cluster: server.ClusterOpts{Name: "fo", Host: "127.0.0.1", Port: c.cluster[i]},
		Routes:  server.RoutesFromStr(joinComma(routes)),
	}
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}

func (c *foCluster) start(i int) {
	if c.bin != "" {
		c.startProcess(i)
		return
	}
	s, err := server.NewServer(c.opts(i))
	if err != nil {
		c.t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		c.t.Fatalf("%s not ready", c.names[i])
	}
	c.mu.Lock()
	c.srvs[i] = s
	c.mu.Unlock()
}

// startProcess runs server i as a nats-server process.
func (c *foCluster) startProcess(i int) {
	var routes []string
	for j := range 3 {
		if j != i {
			routes = append(routes, "nats-route://"+c.proxies[[2]int{i, j}].addr())
		}
	}
	conf := fmt.Sprintf("server_name: %s\nlisten: 127.0.0.1:%d\njetstream { store_dir: %q }\ncluster { name: fo, listen: 127.0.0.1:%d, routes: [%s] }\n",
		c.names[i], c.client[i], c.dirs[i], c.cluster[i], joinComma(routes))
	path := filepath.Join(c.dirs[i], "nats.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(c.bin, "-c", path)
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.procs[i] = cmd
	c.mu.Unlock()
	for deadline := time.Now().Add(20 * time.Second); ; {
		if conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", c.client[i])); err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s not listening", c.names[i])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *foCluster) stop(i int) {
	if c.bin != "" {
		c.mu.Lock()
		cmd := c.procs[i]
		c.procs[i] = nil
		c.mu.Unlock()
		if cmd != nil {
			_ = cmd.Process.Signal(syscall.SIGCONT)
			_ = cmd.Process.Kill() // SIGKILL
			_ = cmd.Wait()
		}
		return
	}
	c.mu.Lock()
	s := c.srvs[i]
	c.srvs[i] = nil
	c.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

func (c *foCluster) index(name string) int {
	for i, n := range c.names {
		if n == name {
			return i
		}
	}
	c.t.Fatalf("no server %q", name)
	return -1
}

// adminConn is a connection for JetStream API requests.
func (c *foCluster) adminConn() *nats.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.admin == nil {
		c.mu.Unlock()
		nc, _ := c.connect("stepdown")
		c.mu.Lock()
		c.admin = nc
	}
	return c.admin
}

// partition stalls every route to and from server i (processes: SIGSTOP
// or SIGCONT the server itself).
func (c *foCluster) partition(i int, on bool) {
	if c.bin != "" {
		c.mu.Lock()
		cmd := c.procs[i]
		c.mu.Unlock()
		sig := syscall.SIGCONT
		if on {
			sig = syscall.SIGSTOP
		}
		if cmd != nil {
			_ = cmd.Process.Signal(sig)
		}
		return
	}
	for k, p := range c.proxies {
		if k[0] == i || k[1] == i {
			p.stalled.Store(on)
		}
	}
}

func (c *foCluster) urls() string {
	var u []string
	for _, p := range c.client {
		u = append(u, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	return joinComma(u)
}

func (c *foCluster) connect(name string) (*nats.Conn, jetstream.JetStream) {
	nc, err := nats.Connect(c.urls(), nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.RetryOnFailedConnect(true),
		nats.PingInterval(2*time.Second), nats.MaxPingsOutstanding(2)) // as litsignd: a hung server is left in seconds
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatal(err)
	}
	return nc, js
}

// leader returns the index of the server leading stream.
func (c *foCluster) leader(js jetstream.JetStream, stream string) int {
	for range 100 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s, err := js.Stream(ctx, stream)
		if err == nil {
			var info *jetstream.StreamInfo
			info, err = s.Info(ctx)
			if err == nil && info.Cluster != nil && info.Cluster.Leader != "" {
				cancel()
				return c.index(info.Cluster.Leader)
			}
		}
		cancel()
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("no leader for %s", stream)
	return -1
}

// countingSigner counts PKPSign calls per message (one per Lit signing).
type countingSigner struct {
	Signer
	mu sync.Mutex
	n  map[string]int
}

func (s *countingSigner) PKPSign(ctx context.Context, req litnode.PKPSignRequest) (litnode.ECDSASignature, error) {
	s.mu.Lock()
	s.n[string(req.Message)]++
	s.mu.Unlock()
	return s.Signer.PKPSign(ctx, req)
}

// foRun is one scenario's result row.
type foRun struct {
	scenario                                  string
	jobs, lost, dupIDs, distinct, msgs        int
	resubmitted                               int // inbox results lost in transit, recovered by resubmitting
	badSigs, extraSignings, maxSigningsPerJob int
	elapsed                                   time.Duration
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// runFailover runs one scenario: fault is called with the cluster and the
// daemon's JetStream handle once a third of the jobs are published; it may
// block (the producer keeps publishing meanwhile).
func runFailover(t *testing.T, name string, dn *devnet.Network, fault func(c *foCluster, js jetstream.JetStream, hook *atomic.Pointer[func(Job)])) foRun {
	nJobs, rate := envInt("FAILOVER_JOBS", 400), envInt("FAILOVER_RATE", 50)
	c := startFoCluster(t)
	topo := DefaultTopology()
	topo.Replicas = 3
	adminNC, adminJS := c.connect("admin")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := topo.Ensure(ctx, adminJS); err != nil {
		t.Fatal(err)
	}
	if err := topo.EnsureJobs(ctx, adminJS); err != nil {
		t.Fatal(err)
	}
	ring := newTestKeyring(t)
	p := dn.PKPs()[0]
	signer := &countingSigner{n: map[string]int{}}
	var hook atomic.Pointer[func(Job)]
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("FAILOVER_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}

	// Two replicas.
	var pulls sync.WaitGroup
	pctx, stopPulls := context.WithCancel(ctx)
	var firstStore *delegationstore.Store
	var firstLit *litnode.Client
	for r := range 2 {
		nc, js := c.connect(fmt.Sprintf("litsignd-%d", r))
		store, err := delegationstore.Open(ctx, js, delegationstore.Config{Bucket: topo.DelegationsBucket, KEK: ring, Replicas: 3})
		if err != nil {
			t.Fatal(err)
		}
		pulls.Add(1)
		go func() { defer pulls.Done(); _ = store.Run(pctx) }()
		<-store.Ready()
		lit := newTestLitClient(t, dn, 5*time.Second, nil)
		if r == 0 {
			firstStore, firstLit = store, lit
			signer.Signer = lit
		}
		kv, err := js.KeyValue(ctx, topo.JobsBucket)
		if err != nil {
			t.Fatal(err)
		}
		stream, err := js.Stream(ctx, topo.JobsStream)
		if err != nil {
			t.Fatal(err)
		}
		jobs := &Jobs{
			Delegations: store, Signer: &replicaSigner{counting: signer, own: lit},
			Results: &NATSResults{Conn: nc, JS: js, Topology: topo}, Topology: topo,
			Producers: Producers{Known: map[string]Producer{"fo": {}}},
			Ledger:    NewLedger(kv), Stream: stream, MaxDeliver: 5,
			Logger: logger.With("replica", r),
		}
		jobs.beforeRecord = func(job Job) {
			if h := hook.Load(); h != nil {
				(*h)(job)
			}
		}
		cons, exh, err := topo.EnsureJobsConsumers(ctx, js, topo.JobsConsumerConfig(5, 30*time.Second, 256))
		if err != nil {
			t.Fatal(err)
		}
		pulls.Add(2)
		go func() { defer pulls.Done(); _ = Pull(pctx, cons, 64, 10*time.Second, jobs.Handle, logger) }()
		go func() { defer pulls.Done(); _ = Pull(pctx, exh, 2, 10*time.Second, jobs.HandleExhausted, logger) }()
	}
	defer func() { stopPulls(); pulls.Wait() }()

	// A delegation for the PKP.
	key, err := litnode.GenerateSessionKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	reqs, _ := litnode.ParseResourceShorthand("pkp-signing:*")
	a, err := firstLit.SignSessionKey(ctx, litnode.SignSessionKeyRequest{PKP: p.PublicKey, SessionKey: key.PublicKey(), Owner: p.OwnerKey, Resources: reqs, Expiration: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := firstStore.Put(ctx, &litnode.HandOff{PKP: p.PublicKey, SessionKey: key, Delegation: a}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // both caches

	// Watch every result ever published: the default results subjects and
	// the producer's inbox replies.
	var mu sync.Mutex
	got := map[string][][]byte{}
	msgs := 0
	record := func(m *nats.Msg) {
		var r Result
		if json.Unmarshal(m.Data, &r) != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		msgs++
		for _, b := range got[r.ID] {
			if bytes.Equal(b, m.Data) {
				return
			}
		}
		got[r.ID] = append(got[r.ID], m.Data)
	}
	watchNC, _ := c.connect("watch")
	for _, subj := range []string{topo.Prefix + ".results.>", "_INBOX.fo.>"} {
		sub, err := watchNC.Subscribe(subj, record)
		if err != nil {
			t.Fatal(err)
		}
		_ = sub.SetPendingLimits(-1, -1)
	}
	_ = watchNC.Flush()
	_ = adminNC

	// The producer: steady rate, retries a publish until the stream acks
	// it (same Nats-Msg-Id: the stream deduplicates).
	_, prodJS := c.connect("producer")
	start := time.Now()
	faultDone := make(chan struct{})
	ids := make([]string, nJobs)
	jobBodies := make([][]byte, nJobs)
	for i := range nJobs {
		ids[i] = fmt.Sprintf("%s-%d-%d", name, time.Now().UnixNano(), i)
	}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	for i, id := range ids {
		<-tick.C
		if i == nJobs/3 {
			go func() { defer close(faultDone); fault(c, adminJS, &hook) }()
		}
		m := nats.NewMsg(topo.ProducerJobSubject("fo", KindPKPSign))
		body := map[string]any{"id": id, "pkpPublicKey": p.PublicKey.Hex(), "toSign": "fo " + id}
		if i%2 == 1 {
			body["replyTo"] = "_INBOX.fo." + id
		}
		m.Data, _ = json.Marshal(body)
		jobBodies[i] = m.Data
		m.Header.Set(jetstream.MsgIDHeader, "fo."+id)
		for {
			pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
			_, err := prodJS.PublishMsg(pctx, m)
			pcancel()
			if err == nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	tick.Stop()
	<-faultDone
	deadline := time.Now().Add(3 * time.Minute)
	for {
		mu.Lock()
		n := 0
		for _, id := range ids {
			if len(got[id]) > 0 {
				n++
			}
		}
		mu.Unlock()
		if n == nJobs || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A result on an inbox is a plain NATS publish: at most once. When the
	// server relaying it dies, it is gone, and the producer does what the
	// README says: it resubmits the same job (same id and content), and the
	// ledger answers with the recorded result, the same bytes.
	mu.Lock()
	var missing []int
	for i, id := range ids {
		if len(got[id]) == 0 {
			missing = append(missing, i)
		}
	}
	mu.Unlock()
	for _, i := range missing {
		m := nats.NewMsg(topo.ProducerJobSubject("fo", KindPKPSign))
		m.Data = jobBodies[i]
		m.Header.Set(jetstream.MsgIDHeader, "fo."+ids[i]+".resubmitted")
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		if _, err := prodJS.PublishMsg(rctx, m); err != nil {
			t.Logf("resubmit %s: %v", ids[i], err)
		}
		rcancel()
	}
	for deadline := time.Now().Add(30 * time.Second); len(missing) > 0 && time.Now().Before(deadline); {
		mu.Lock()
		n := 0
		for _, i := range missing {
			if len(got[ids[i]]) > 0 {
				n++
			}
		}
		mu.Unlock()
		if n == len(missing) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // late duplicates would arrive now
	row := foRun{scenario: name, jobs: nJobs, elapsed: time.Since(start), resubmitted: len(missing)}
	mu.Lock()
	defer mu.Unlock()
	row.msgs = msgs
	for _, id := range ids {
		bodies := got[id]
		row.distinct += len(bodies)
		switch {
		case len(bodies) == 0:
			row.lost++
			continue
		case len(bodies) > 1:
			row.dupIDs++
			t.Errorf("%s: job %s got %d distinct results:\n%s", name, id, len(bodies), bytes.Join(bodies, []byte("\n")))
		}
		var r Result
		_ = json.Unmarshal(bodies[0], &r)
		if !validSig(r, p, crypto.Keccak256([]byte("fo "+id))) {
			row.badSigs++
			t.Errorf("%s: job %s: result without a valid signature: %s", name, id, bodies[0])
		}
		signer.mu.Lock()
		n := signer.n["fo "+id]
		signer.mu.Unlock()
		row.extraSignings += max(n-1, 0)
		row.maxSigningsPerJob = max(row.maxSigningsPerJob, n)
	}
	if row.lost > 0 {
		t.Errorf("%s: %d of %d jobs got no result", name, row.lost, nJobs)
		// Where each lost job is: the ledger, the work queue, the consumer.
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer dcancel()
		kv, _ := adminJS.KeyValue(dctx, topo.JobsBucket)
		for _, id := range ids {
			if len(got[id]) > 0 {
				continue
			}
			entry := "none"
			if kv != nil {
				if e, err := NewLedger(kv).Get(dctx, LedgerKey("fo", id)); err != nil {
					entry = err.Error()
				} else if e != nil {
					entry = fmt.Sprintf("%s deliveries=%d undeliverable=%v subject=%s", e.State, e.Deliveries, e.Undeliverable, e.Subject)
				}
			}
			signer.mu.Lock()
			n := signer.n["fo "+id]
			signer.mu.Unlock()
			t.Logf("lost %s: ledger %s; signings %d", id, entry, n)
		}
		if s, err := adminJS.Stream(dctx, topo.JobsStream); err == nil {
			info, _ := s.Info(dctx)
			if info != nil {
				t.Logf("LIT_JOBS: %d messages, first seq %d", info.State.Msgs, info.State.FirstSeq)
			}
			if c, err := s.Consumer(dctx, topo.JobsConsumer); err == nil {
				ci, _ := c.Info(dctx)
				if ci != nil {
					t.Logf("jobs consumer: pending %d, ack pending %d, redelivered %d, waiting %d", ci.NumPending, ci.NumAckPending, ci.NumRedelivered, ci.NumWaiting)
				}
			}
		}
		if s, err := adminJS.Stream(dctx, topo.ExhaustedStream()); err == nil {
			if info, _ := s.Info(dctx); info != nil {
				t.Logf("%s: %d messages", topo.ExhaustedStream(), info.State.Msgs)
			}
		}
	}
	return row
}

// replicaSigner signs with the replica's own Lit client and counts the
// signing on the shared counter.
type replicaSigner struct {
	counting *countingSigner
	own      Signer
}

func (s *replicaSigner) PKPSign(ctx context.Context, req litnode.PKPSignRequest) (litnode.ECDSASignature, error) {
	s.counting.mu.Lock()
	s.counting.n[string(req.Message)]++
	s.counting.mu.Unlock()
	return s.own.PKPSign(ctx, req)
}

// validSig reports whether r is ok and its signature recovers to p over
// digest.
func validSig(r Result, p devnet.DevPKP, digest []byte) bool {
	if r.Status != StatusOK || r.Signature == nil || r.Signature.SignedData != fmt.Sprintf("0x%x", digest) {
		return false
	}
	sig, err := hexDecode(r.Signature.Signature)
	if err != nil || len(sig) != 65 {
		return false
	}
	sig = append([]byte(nil), sig...)
	sig[64] -= 27
	pub, err := crypto.SigToPub(digest, sig)
	return err == nil && crypto.PubkeyToAddress(*pub) == p.EthAddress
}

func TestFailover(t *testing.T) {
	dn, err := devnet.Start(devnet.Config{Nodes: 4, Threshold: 3, PKPs: 1, NodeTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer dn.Close()
	restartAfter := 5 * time.Second
	scenarios := []struct {
		name  string
		fault func(c *foCluster, js jetstream.JetStream, hook *atomic.Pointer[func(Job)])
	}{
		{"ledger-and-jobs-leader-killed", func(c *foCluster, js jetstream.JetStream, _ *atomic.Pointer[func(Job)]) {
			// Kill the leader of the ledger bucket and of LIT_JOBS
			// together: step LIT_JOBS's leader down until the server
			// that leads the ledger leads it too, then kill that server.
			l := c.leader(js, "KV_"+DefaultTopology().JobsBucket)
			for range 20 {
				if c.leader(js, DefaultTopology().JobsStream) == l {
					break
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, _ = c.adminConn().RequestWithContext(ctx, "$JS.API.STREAM.LEADER.STEPDOWN."+DefaultTopology().JobsStream, nil)
				cancel()
				time.Sleep(300 * time.Millisecond)
			}
			if j := c.leader(js, DefaultTopology().JobsStream); j != l {
				c.t.Logf("could not co-locate the leaders (ledger %s, jobs %s): killing the ledger's", c.names[l], c.names[j])
			} else {
				c.t.Logf("killing %s, leader of the ledger bucket and of LIT_JOBS", c.names[l])
			}
			c.stop(l)
			time.Sleep(restartAfter)
			c.start(l)
		}},
		{"results-leader-killed", func(c *foCluster, js jetstream.JetStream, _ *atomic.Pointer[func(Job)]) {
			r := c.leader(js, DefaultTopology().ResultsStream)
			c.t.Logf("killing %s, leader of LIT_RESULTS", c.names[r])
			c.stop(r)
			time.Sleep(restartAfter)
			c.start(r)
		}},
		{"killed-between-signed-and-recorded", func(c *foCluster, js jetstream.JetStream, hook *atomic.Pointer[func(Job)]) {
			// The next job that has its signature and has not recorded
			// it kills the ledger's leader first, deterministically.
			l := c.leader(js, "KV_"+DefaultTopology().JobsBucket)
			var once sync.Once
			fired := make(chan struct{})
			h := func(job Job) {
				once.Do(func() {
					c.t.Logf("job %s signed, not recorded: killing %s, leader of the ledger bucket", job.ID, c.names[l])
					c.stop(l)
					close(fired)
				})
			}
			hook.Store(&h)
			<-fired
			hook.Store(nil)
			time.Sleep(restartAfter)
			c.start(l)
		}},
		{"jobs-leader-partitioned", func(c *foCluster, js jetstream.JetStream, _ *atomic.Pointer[func(Job)]) {
			j := c.leader(js, DefaultTopology().JobsStream)
			c.t.Logf("partitioning %s, leader of LIT_JOBS, for 8 s (processes: SIGSTOP)", c.names[j])
			c.partition(j, true)
			time.Sleep(8 * time.Second)
			c.partition(j, false)
		}},
	}
	var rows []foRun
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			rows = append(rows, runFailover(t, sc.name, dn, sc.fault))
		})
	}
	t.Logf("%-36s %6s %5s %8s %9s %6s %8s %14s %9s %11s %8s", "scenario", "jobs", "lost", "dup-ids", "distinct", "msgs", "bad-sig", "extra-signing", "max-sign", "resubmitted", "elapsed")
	for _, r := range rows {
		t.Logf("%-36s %6d %5d %8d %9d %6d %8d %14d %9d %11d %8s", r.scenario, r.jobs, r.lost, r.dupIDs, r.distinct, r.msgs, r.badSigs, r.extraSignings, r.maxSigningsPerJob, r.resubmitted, r.elapsed.Round(time.Second))
	}
}
