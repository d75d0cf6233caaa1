package deployments_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/consumer"
)

// The compose cluster's servers; their config files are nats/<name>.conf.
var natsServers = []string{"nats-1", "nats-2", "nats-3"}

// Dev passwords of the users of nats/accounts.conf (docker-compose.yml
// passes the daemon's; the file holds bcrypt hashes of all of them).
var devPasswords = map[string]string{
	"daemon":    "daemon-dev-password",
	"operator":  "operator-dev-password",
	"client":    "client-dev-password",
	"producer":  "producer-dev-password",
	"producer2": "producer2-dev-password",
	"sys":       "sys-dev-password",
}

// loadNATSConfig parses a config file of nats/ with nats-server's parser.
func loadNATSConfig(t testing.TB, name string) *server.Options {
	t.Helper()
	o, err := server.ProcessConfigFile(filepath.Join("nats", name+".conf"))
	if err != nil {
		t.Fatalf("nats/%s.conf: %v", name, err)
	}
	return o
}

// natsCluster is the compose cluster, in-process: the servers of
// nats/nats-{1,2,3}.conf with every port on 127.0.0.1 and their stores in
// temporary directories. Nothing else of the configuration changes.
type natsCluster struct {
	servers []*server.Server
	logs    []*serverLog
	urls    []string // client URLs, nats-1 first
	http    []string // monitoring base URLs
}

// clusterStartWait bounds each wait of startCluster.
const clusterStartWait = time.Minute

// startCluster starts the three servers and waits for a JetStream meta
// leader. n < 3 starts only the first n servers (n = 1 also drops the
// routes, making a stand-alone server with the same accounts).
func startCluster(t testing.TB, n int) *natsCluster {
	t.Helper()
	routePorts := freePorts(t, len(natsServers))
	index := map[string]int{}
	for i, name := range natsServers {
		index[name] = i
	}
	c := &natsCluster{}
	for i, name := range natsServers[:n] {
		o := loadNATSConfig(t, name)
		if o.ServerName != name {
			t.Fatalf("nats/%s.conf: server_name %q", name, o.ServerName)
		}
		// The rewrite: ports to loopback, stores to a temporary directory.
		o.Host, o.Port = "127.0.0.1", -1
		o.HTTPHost, o.HTTPPort = "127.0.0.1", -1
		o.StoreDir = t.TempDir()
		o.NoSigs = true
		if n == 1 {
			o.Cluster = server.ClusterOpts{}
			o.Routes = nil
		} else {
			o.Cluster.Host, o.Cluster.Port = "127.0.0.1", routePorts[i]
			var routes []*url.URL
			for _, r := range o.Routes {
				j, ok := index[r.Hostname()]
				if !ok {
					t.Fatalf("nats/%s.conf: route %s names no server of the cluster", name, r)
				}
				u := *r
				u.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(routePorts[j]))
				routes = append(routes, &u)
			}
			o.Routes = routes
		}
		s, err := server.NewServer(o)
		if err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		l := &serverLog{name: name}
		s.SetLoggerV2(l, false, false, false)
		go s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		// Hang guards, not targets: a clustered JetStream server on a
		// machine busy with the race-detector suites can take many
		// seconds to start.
		if !s.ReadyForConnections(clusterStartWait) {
			l.mu.Lock()
			logged := strings.Join(l.lines, "\n")
			l.mu.Unlock()
			t.Fatalf("%s: not ready for connections within %s; its warnings and errors:\n%s", name, clusterStartWait, logged)
		}
		c.servers = append(c.servers, s)
		c.logs = append(c.logs, l)
		c.urls = append(c.urls, s.ClientURL())
		c.http = append(c.http, "http://"+s.MonitorAddr().String())
	}
	t.Cleanup(func() {
		if v := c.violations(); t.Failed() && len(v) > 0 {
			t.Logf("NATS permission violations:\n%s", strings.Join(v, "\n"))
		}
	})
	// The compose health check: /healthz?js-enabled-only=true on every
	// server, then a meta leader (JetStream API calls before that fail).
	for i, base := range c.http {
		if err := within(clusterStartWait, func() error { return httpOK(base + "/healthz?js-enabled-only=true") }); err != nil {
			t.Fatalf("%s health check: %v", natsServers[i], err)
		}
	}
	if n > 1 {
		if err := within(clusterStartWait, func() error {
			for _, s := range c.servers {
				if s.JetStreamIsLeader() {
					return nil
				}
			}
			return fmt.Errorf("no JetStream meta leader")
		}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func httpOK(u string) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s %s", u, resp.Status, b)
	}
	return nil
}

// url is the comma-separated client URL list (what LITSIGND_NATS_URL holds).
func (c *natsCluster) url() string { return strings.Join(c.urls, ",") }

// violations returns the permission violations every server logged.
func (c *natsCluster) violations() []string {
	var v []string
	for _, l := range c.logs {
		v = append(v, l.violations()...)
	}
	return v
}

// connect connects as a user of nats/accounts.conf to the listed URLs.
func connect(t testing.TB, urls, user string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	opts = append([]nats.Option{
		nats.Name("deployments-test-" + user), nats.UserInfo(user, devPasswords[user]),
		nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond),
	}, opts...)
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// TestNATSConfigsParse loads the three server configs with nats-server's
// parser and checks what the README promises: one cluster with routes to
// all three servers, JetStream on file storage, and the accounts of the
// roles with JetStream only where litsignd's streams live.
func TestNATSConfigsParse(t *testing.T) {
	for _, name := range natsServers {
		t.Run(name, func(t *testing.T) {
			o := loadNATSConfig(t, name)
			if o.ServerName != name {
				t.Errorf("server_name %q, want %q", o.ServerName, name)
			}
			if o.Port != 4222 || o.HTTPPort != 8222 || o.Cluster.Port != 6222 {
				t.Errorf("ports client %d, monitor %d, cluster %d; want 4222, 8222, 6222 (docker-compose.yml and the NATS chart use them)", o.Port, o.HTTPPort, o.Cluster.Port)
			}
			if o.Cluster.Name != "litsignd" {
				t.Errorf("cluster name %q", o.Cluster.Name)
			}
			var hosts []string
			for _, r := range o.Routes {
				hosts = append(hosts, r.Host)
			}
			if want := "nats-1:6222 nats-2:6222 nats-3:6222"; strings.Join(hosts, " ") != want {
				t.Errorf("routes %v, want %s", hosts, want)
			}
			if !o.JetStream || o.StoreDir != "/data/jetstream" {
				t.Errorf("jetstream %v store_dir %q; want on, /data/jetstream (the compose volume)", o.JetStream, o.StoreDir)
			}
			if o.MaxPayload < 1<<20 {
				t.Errorf("max_payload %d is below litsignd's 1 MiB hand-off limit", o.MaxPayload)
			}
			if o.SystemAccount != "SYS" {
				t.Errorf("system_account %q", o.SystemAccount)
			}
			accounts := map[string]*server.Account{}
			for _, a := range o.Accounts {
				accounts[a.Name] = a
			}
			for _, a := range []string{"LIT", "CLIENTS", "PRODUCERS", "SYS"} {
				if accounts[a] == nil {
					t.Errorf("no account %s", a)
				}
			}
			users := map[string]string{}
			for _, u := range o.Users {
				users[u.Username] = u.Account.Name
				if !strings.HasPrefix(u.Password, "$2a$") {
					t.Errorf("user %s: password is not a bcrypt hash", u.Username)
				}
				if u.Account.Name != "SYS" && u.Permissions == nil {
					t.Errorf("user %s has no permissions block", u.Username)
				}
			}
			want := map[string]string{"daemon": "LIT", "operator": "LIT", "client": "CLIENTS", "producer": "PRODUCERS", "producer2": "PRODUCERS", "sys": "SYS"}
			if fmt.Sprint(users) != fmt.Sprint(want) {
				t.Errorf("users → accounts %v, want %v", users, want)
			}
		})
	}
}

// TestHelmAccountsInclude renders the include the NATS chart generates from
// kubernetes/nats-values.yaml (config.merge "zzz$include", relative to the
// chart's /etc/nats-config/nats.conf) around the Secret mounted at
// /etc/nats-accounts, and parses it: the path resolves and the accounts are
// the ones the other tests exercise.
func TestHelmAccountsInclude(t *testing.T) {
	values := readHelmValues(t)
	inc := values.Config.Merge.Include
	mount := ""
	for _, p := range values.Container.Patch {
		if p.Value.Name == "nats-accounts" {
			mount = p.Value.MountPath
		}
	}
	if inc == "" || mount == "" {
		t.Fatalf("nats-values.yaml: include %q, accounts mount %q", inc, mount)
	}
	root := t.TempDir()
	confDir := filepath.Join(root, "etc", "nats-config")
	accDir := filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(mount, "/")))
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(accDir, 0o755); err != nil {
		t.Fatal(err)
	}
	acc, err := os.ReadFile("nats/accounts.conf")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(accDir, "accounts.conf"), acc, 0o644); err != nil {
		t.Fatal(err)
	}
	// The chart's config: its own keys, then the include last.
	conf := "server_name: nats-0\nport: 4222\nhttp_port: 8222\njetstream {\n  store_dir: /data/jetstream\n}\ninclude " + inc + ";\n"
	path := filepath.Join(confDir, "nats.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("chart config with %q: %v", inc, err)
	}
	if len(o.Users) != 6 || o.SystemAccount != "SYS" {
		t.Errorf("the included accounts give %d users, system account %q", len(o.Users), o.SystemAccount)
	}
}

// jobRecord tracks what the litsignd-like workers did with each job.
type jobRecord struct {
	mu         sync.Mutex
	deliveries map[string]int
	acked      map[string]int // confirmed (double) acks
	byWorker   map[string]int
}

func (r *jobRecord) delivered(id, worker string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deliveries[id]++
	r.byWorker[worker]++
}

func (r *jobRecord) ack(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acked[id]++
}

func (r *jobRecord) ackedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.acked)
}

// workTime is how long a litsignd-like worker holds a job.
const workTime = 40 * time.Millisecond

// TestClusterReplicas3SurvivesServerLoss starts the compose cluster from
// its configs, creates litsignd's topology with --replicas 3 as the daemon
// user, runs two litsignd-like workers (consumer.Pull, the daemon's own pull
// loop, on the shared durable jobs consumer, each on its own connection),
// publishes jobs as the producer user through the PRODUCERS account, and
// shuts down the server leading the jobs stream while jobs flow. No job is
// lost: each is stored exactly once (Nats-Msg-Id dedupe), delivered, and
// acknowledged, until the work queue is empty and the consumer has nothing
// pending. Delivery is at least once: a job in flight on the lost server's
// connection, or acknowledged just before the consumer's leader went down,
// is delivered again (litsignd's job ledger turns that into the recorded
// result, not a second signature); the log line counts them.
func TestClusterReplicas3SurvivesServerLoss(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testContext(t, 75*time.Second)
	_, js := connect(t, c.url(), "daemon")

	topo := consumer.DefaultTopology()
	topo.Replicas = 3
	if err := topo.Ensure(ctx, js); err != nil {
		t.Fatal(err)
	}
	if err := topo.EnsureJobs(ctx, js); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{topo.DelegationsStream, topo.EventsStream, topo.JobsStream, topo.ResultsStream, topo.ExhaustedStream(), "KV_" + topo.DaemonBucket, "KV_" + topo.JobsBucket} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		info := s.CachedInfo()
		if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			t.Errorf("stream %s: %d replicas (cluster %+v), want 3", name, info.Config.Replicas, info.Cluster)
		}
	}
	if _, _, err := topo.EnsureJobsConsumers(ctx, js, topo.JobsConsumerConfig(5, 3*time.Second, 256)); err != nil {
		t.Fatal(err)
	}

	rec := &jobRecord{deliveries: map[string]int{}, acked: map[string]int{}, byWorker: map[string]int{}}
	wctx, stopWorkers := context.WithCancel(ctx)
	var workers sync.WaitGroup
	for w, first := range []int{0, 1} {
		// Each worker prefers another server, as two replicas would.
		urls := append([]string{c.urls[first]}, c.urls...)
		_, wjs := connect(t, strings.Join(urls, ","), "daemon", nats.DontRandomize())
		cons, err := wjs.Consumer(ctx, topo.JobsStream, topo.JobsConsumer)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("worker-%d", w+1)
		workers.Add(1)
		go func() {
			defer workers.Done()
			_ = consumer.Pull(wctx, cons, 16, 5*time.Second, func(hctx context.Context, msg jetstream.Msg) {
				var job struct {
					ID string `json:"id"`
				}
				if err := json.Unmarshal(msg.Data(), &job); err != nil || job.ID == "" {
					t.Errorf("%s: undecodable job %q", name, msg.Data())
					_ = msg.Term()
					return
				}
				rec.delivered(job.ID, name)
				time.Sleep(workTime) // a Lit request's worth of work, so jobs are in flight at the kill
				actx, cancel := context.WithTimeout(hctx, 5*time.Second)
				defer cancel()
				if err := msg.DoubleAck(actx); err == nil {
					rec.ack(job.ID)
				}
			}, slog.New(slog.DiscardHandler))
		}()
	}
	t.Cleanup(func() { stopWorkers(); workers.Wait() })

	_, pjs := connect(t, c.url(), "producer")
	const total, killAt = 300, 150
	duplicates := 0
	killed, inFlight := "", ""
	for i := range total {
		if i == killAt {
			if ci, err := js.Consumer(ctx, topo.JobsStream, topo.JobsConsumer); err == nil {
				info := ci.CachedInfo()
				inFlight = fmt.Sprintf("%d waiting and %d unacknowledged", info.NumPending, info.NumAckPending)
			}
			killed = killStreamLeader(t, ctx, js, c, topo.JobsStream)
		}
		id := fmt.Sprintf("job-%04d", i)
		body := fmt.Sprintf(`{"id":%q,"pkpPublicKey":"0x04","toSign":"n %d"}`, id, i)
		err := within(30*time.Second, func() error {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			ack, err := pjs.Publish(pctx, topo.ProducerJobSubject("producer", consumer.KindPKPSign), []byte(body), jetstream.WithMsgID(id))
			if err == nil && ack.Duplicate {
				duplicates++ // a retry of a publish whose ack was lost: deduplicated
			}
			return err
		})
		if err != nil {
			t.Fatalf("publish %s (after the loss of %s): %v", id, killed, err)
		}
	}
	// Done when the server holds no job any more: the work queue is empty
	// and the consumer has nothing pending or awaiting an ack.
	var st jetstream.StreamState
	if err := within(45*time.Second, func() error {
		s, err := js.Stream(ctx, topo.JobsStream)
		if err != nil {
			return err
		}
		st = s.CachedInfo().State
		if l := s.CachedInfo().Cluster.Leader; l == killed || l == "" {
			return fmt.Errorf("jobs stream leader %q after %s went down", l, killed)
		}
		ci, err := js.Consumer(ctx, topo.JobsStream, topo.JobsConsumer)
		if err != nil {
			return err
		}
		info := ci.CachedInfo()
		if st.Msgs != 0 || info.NumPending != 0 || info.NumAckPending != 0 {
			return fmt.Errorf("jobs stream holds %d jobs; consumer: %d pending, %d awaiting ack; %d of %d acks confirmed",
				st.Msgs, info.NumPending, info.NumAckPending, rec.ackedCount(), total)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	stopWorkers()
	workers.Wait()

	// Stored exactly once: the Nats-Msg-Id dedupe held through the failover.
	if st.LastSeq != total {
		t.Errorf("jobs stream last sequence %d; want %d, one per job", st.LastSeq, total)
	}
	rec.mu.Lock()
	redelivered, unconfirmed, ackedTwice := 0, 0, 0
	for i := range total {
		id := fmt.Sprintf("job-%04d", i)
		switch n := rec.acked[id]; {
		case rec.deliveries[id] == 0:
			t.Errorf("%s: never delivered", id)
		case n == 0:
			// Acked (it left the work queue) but the answer was lost with
			// the server the worker's connection went through.
			unconfirmed++
		case n > 1:
			// Delivery is at least once: even a confirmed (double) ack can
			// be lost when the consumer's leader goes down right after it.
			ackedTwice++
		}
		if rec.deliveries[id] > 1 {
			redelivered++
		}
	}
	t.Logf("killed %s (leader of %s) after %d of %d jobs were published, with %s; deliveries by worker %v; "+
		"%d jobs delivered again (%d of them after a confirmed ack), %d acks applied but unconfirmed, %d publish retries deduplicated",
		killed, topo.JobsStream, killAt, total, inFlight, rec.byWorker, redelivered, ackedTwice, unconfirmed, duplicates)
	rec.mu.Unlock()
	if v := c.violations(); len(v) > 0 {
		t.Errorf("permission violations:\n%s", strings.Join(v, "\n"))
	}
}

// killStreamLeader shuts down the server that leads stream and returns its
// name.
func killStreamLeader(t testing.TB, ctx context.Context, js jetstream.JetStream, c *natsCluster, stream string) string {
	t.Helper()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	leader := s.CachedInfo().Cluster.Leader
	for i, srv := range c.servers {
		if srv.Name() == leader {
			srv.Shutdown()
			c.servers[i].WaitForShutdown()
			return leader
		}
	}
	t.Fatalf("no server named %q leads %s", leader, stream)
	return ""
}
