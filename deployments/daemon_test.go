package deployments_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/litnode/devnet"
	"github.com/litsignd/litsignd/litv3/v3fake"
)

// exporterMetrics are the prometheus-nats-exporter metrics the dashboard and
// the alerts read, with the labels they use. The exporter is not a Go
// module this repository can fetch, so these cannot come from a scrape:
// they are the jsz collector's consumer gauges (collector/jsz.go,
// BuildFQName(system, "consumer", "num_pending"|"num_ack_pending"|
// "num_redelivered") with labels stream_name and consumer_name) under the
// -prefix=nats that the NATS chart and docker-compose.yml pass.
var exporterMetrics = map[string][]string{
	"nats_consumer_num_pending":     {"stream_name", "consumer_name"},
	"nats_consumer_num_ack_pending": {"stream_name", "consumer_name"},
	"nats_consumer_num_redelivered": {"stream_name", "consumer_name"},
}

// targetLabels are attached by Prometheus at scrape time, not by litsignd.
var targetLabels = []string{"instance", "job"}

// daemon is a litsignd process started as a compose service would start it.
type daemon struct {
	name    string
	cmd     *exec.Cmd
	metrics string // http://127.0.0.1:<port>
	log     *bytes.Buffer
	done    chan error // the exit, once
	exited  bool       // done was received (by stop)
}

// composeEnv returns the environment the compose image and service give
// litsignd: the Dockerfile's ENV of the compose stage, then the service's
// environment.
func composeEnv(t testing.TB, svc composeService) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, st := range parseDockerfile(t) {
		if st.name != "compose" {
			continue
		}
		for _, l := range st.lines {
			if rest, ok := strings.CutPrefix(l, "ENV "); ok {
				for _, kv := range strings.Fields(rest) {
					k, v, _ := strings.Cut(kv, "=")
					env[k] = v
				}
			}
		}
	}
	for k, v := range svc.Environment {
		env[k] = v
	}
	return env
}

// startComposeDaemon runs service name of docker-compose.yml: its
// entrypoint script with /bin/sh in place of the image's busybox, its
// command and its environment. Only what names the container's world is
// rewritten, as listed here: NATS URL, KEK file, data dir, the devnet
// description's path and the metrics address.
func startComposeDaemon(t *testing.T, c composeFile, name, natsURL, kekFile, devnetInfo, v3URL, bin string) *daemon {
	t.Helper()
	svc := c.Services[name]
	env := composeEnv(t, svc)
	rewrite := map[string]string{
		"LITSIGND_NATS_URL":   natsURL,                                                // nats://nats-1:4222,… → the in-process cluster
		"LITSIGND_KEK_FILE":   kekFile,                                                // the kek-init volume → kek-init.sh's output here
		"LITSIGND_DATA_DIR":   filepath.Join(t.TempDir(), "data"),                     // the image's /var/lib/litsignd
		"DEVNET_INFO":         devnetInfo,                                             // the devnet volume → the devnet's description here
		"LITSIGND_LIT_V3_URL": v3URL,                                                  // Lit v3 → an in-process v3 fake
		"PATH":                bin + string(os.PathListSeparator) + os.Getenv("PATH"), // the image's /usr/local/bin
	}
	for k, v := range rewrite {
		if _, ok := env[k]; !ok && k != "DEVNET_INFO" && k != "PATH" {
			t.Fatalf("%s: compose sets no %s to rewrite", name, k)
		}
		env[k] = v
	}
	env["LITSIGND_LIT_V3_BALANCE_INTERVAL"] = "1s" // the test cannot wait the default minute
	port := freePorts(t, 1)[0]
	args := append([]string(nil), svc.Command...)
	rewritten := false
	for i := range args {
		if args[i] == "--metrics-listen" && i+1 < len(args) {
			args[i+1] = fmt.Sprintf("127.0.0.1:%d", port) // 0.0.0.0:946x in the container
			rewritten = true
		}
	}
	if !rewritten {
		t.Fatalf("%s: no --metrics-listen in its command", name)
	}
	script := composeScript(t, svc.Entrypoint)
	cmd := exec.Command("/bin/sh", append([]string{script}, args...)...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	d := &daemon{name: name, cmd: cmd, metrics: fmt.Sprintf("http://127.0.0.1:%d", port), log: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout = io.Discard
	cmd.Stderr = &lockedWriter{w: d.log}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if !d.exited {
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("%s log (tail):\n%s", name, tail(d.log.String(), 40))
		}
	})
	return d
}

// waitHealthy runs the service's compose health check (an HTTP GET of a
// path on its metrics port) against the daemon until it passes.
func waitHealthy(t *testing.T, d *daemon, svc composeService) {
	t.Helper()
	if svc.Healthcheck == nil {
		t.Fatalf("%s has no health check", d.name)
	}
	u := svc.Healthcheck.Test[len(svc.Healthcheck.Test)-1]
	i := strings.Index(u, "/readyz")
	if !strings.HasPrefix(u, "http://127.0.0.1:") || i < 0 {
		t.Fatalf("%s: health check %v is not GET /readyz", d.name, svc.Healthcheck.Test)
	}
	err := within(40*time.Second, func() error {
		select {
		case err := <-d.done:
			d.done <- err
			return fmt.Errorf("exited: %v", err)
		default:
		}
		return httpOK(d.metrics + u[i:])
	})
	if err != nil {
		t.Fatalf("%s not healthy: %v", d.name, err)
	}
}

// stop sends SIGTERM (what `docker compose stop` sends) and waits for a
// clean exit.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.exited = true
		if err != nil {
			t.Errorf("%s exited with %v after SIGTERM", d.name, err)
		}
	case <-time.After(40 * time.Second):
		t.Errorf("%s did not exit within 40 s of SIGTERM", d.name)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// runCLI runs litsign and returns its standard output.
func runCLI(t *testing.T, ctx context.Context, bin string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "litsign"), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("litsign %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// scrape reads a daemon's /metrics.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s/metrics: %v", base, err)
	}
	return fams
}

// TestComposeDaemonsEndToEnd runs docker-compose.yml's two devnet-profile
// daemons (litsignd-1, litsignd-2: their entrypoint script, command and
// environment, --replicas 3 included) against the three-server cluster of
// nats/*.conf and a local Lit network started as the compose devnet service
// configures it, with the DEV KEK from kek-init.sh. Then, each as its NATS
// role:
//
//   - client (litsign publish-delegation): sealed hand-offs are stored, a
//     plain one is refused; a signed revocation is applied;
//   - producer: sign jobs get exactly one correct signature each on the
//     producer's reply subjects, also with a Lit node down; a job for a PKP
//     without delegation gets delegation_not_found;
//   - operator (litsign delegations, litsign revoke): lists and revokes.
//
// No server logs a permission violation. Both daemons are ready (/readyz),
// and every metric the dashboard and the alerts read is in their /metrics.
// SIGTERM stops both cleanly.
func TestComposeDaemonsEndToEnd(t *testing.T) {
	bin := buildBinaries(t)
	compose := readCompose(t)
	ctx := testContext(t, 85*time.Second)
	c := startCluster(t, 3)
	tmp := t.TempDir()

	// The devnet, as the compose devnet service's command configures it.
	dcfg := devnet.Config{}
	dargs := compose.Services["devnet"].Command
	for i := 0; i+1 < len(dargs); i += 2 {
		switch dargs[i] {
		case "--nodes":
			dcfg.Nodes, _ = strconv.Atoi(dargs[i+1])
		case "--pkps":
			dcfg.PKPs, _ = strconv.Atoi(dargs[i+1])
		case "--seed":
			dcfg.Seed = dargs[i+1]
		default:
			t.Fatalf("devnet command flag %s not handled here", dargs[i])
		}
	}
	dn, err := devnet.Start(dcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dn.Close)
	desc := dn.Description()
	if len(desc.PKPs) < 3 {
		t.Fatalf("devnet minted %d PKPs", len(desc.PKPs))
	}
	// What devnet.sh publishes: `litsign devnet`'s output (TestDevnetScript
	// runs the script itself).
	descJSON, _ := json.MarshalIndent(desc, "", "  ")
	devnetInfo := filepath.Join(tmp, "devnet.json")
	if err := os.WriteFile(devnetInfo, append(descJSON, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	kekFile := filepath.Join(tmp, "kek")
	runScript(t, "compose/kek-init.sh", "KEK_FILE="+kekFile)
	v3, v3Wallet, v3KeyFile, v3Group := startV3Fake(t, tmp)

	// Start the replicas in compose's order: a replica that depends on
	// another being healthy starts once that one's health check passes.
	var daemons []*daemon
	started := map[string]*daemon{}
	for _, name := range []string{"litsignd-1", "litsignd-2"} {
		svc := compose.Services[name]
		for dep, cond := range svc.DependsOn {
			if d := started[dep]; d != nil && cond == "service_healthy" {
				waitHealthy(t, d, compose.Services[dep])
			}
		}
		d := startComposeDaemon(t, compose, name, c.url(), kekFile, devnetInfo, v3.URL(), bin)
		daemons = append(daemons, d)
		started[name] = d
	}
	for _, d := range daemons {
		waitHealthy(t, d, compose.Services[d.name])
		if err := httpOK(d.metrics + "/healthz"); err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
	}

	// Client: hand-offs through litsign, as user client. The delegation
	// comes from the devnet with its description as --dev-info, as README
	// "Compose" does it inside the devnet container.
	asRole := func(user string) []string {
		return []string{"--nats-url", c.url(), "--nats-user", user, "--nats-password", devPasswords[user], "--timeout", "20s"}
	}
	pkps := []string{desc.PKPs[0].PublicKey, desc.PKPs[1].PublicKey, desc.PKPs[2].PublicKey}
	envelopes := make([]string, 2)
	for i := range envelopes {
		envelopes[i] = filepath.Join(tmp, fmt.Sprintf("envelope-%d.json", i))
		out := runCLI(t, ctx, bin, "delegate", "--dev-info", devnetInfo, "--pkp", pkps[i], "--ttl", "15m")
		if err := os.WriteFile(envelopes[i], []byte(out), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Outside dev mode a plain hand-off is refused (plain_not_accepted:
	// with --replicas 3 its secret would stay in the raft logs); the
	// client then seals it.
	plain := exec.CommandContext(ctx, filepath.Join(bin, "litsign"), append(append([]string{"publish-delegation"}, asRole("client")...), envelopes[1])...)
	if out, err := plain.Output(); err == nil || !strings.Contains(string(out), `"reason":"plain_not_accepted"`) {
		t.Fatalf("plain publish-delegation: %v, printed %q; want the plain_not_accepted rejection", err, out)
	}
	for i := range envelopes {
		args := append([]string{"publish-delegation", "--seal"}, asRole("client")...)
		out := runCLI(t, ctx, bin, append(args, envelopes[i])...)
		if !strings.Contains(out, `"type":"stored"`) {
			t.Fatalf("publish-delegation %d printed %q; want the stored event", i, out)
		}
	}

	// Producer: sign jobs, results on lit.results.producer.<id>.
	pnc, pjs := connect(t, c.url(), "producer")
	results := make(chan *nats.Msg, 256)
	if _, err := pnc.ChanSubscribe("lit.results.producer.>", results); err != nil {
		t.Fatal(err)
	}
	if err := pnc.Flush(); err != nil {
		t.Fatal(err)
	}
	submit := func(id, pkp, text string) {
		job, _ := json.Marshal(map[string]string{"id": id, "pkpPublicKey": pkp, "toSign": text, "replyTo": "lit.results.producer." + id})
		if _, err := pjs.Publish(ctx, "lit.jobs.producer.pkp-sign", job, jetstream.WithMsgID("producer."+id)); err != nil {
			t.Fatalf("submit %s: %v", id, err)
		}
	}
	want := map[string]string{} // job id → PKP, or "" for a job that must fail
	for i := range 12 {
		id := fmt.Sprintf("e2e-%02d", i)
		want[id] = pkps[0]
		submit(id, pkps[0], fmt.Sprintf("message %d", i))
	}
	want["e2e-no-delegation"] = ""
	submit("e2e-no-delegation", pkps[2], "nobody delegated this PKP")
	got := collectResults(t, ctx, results, want)
	// One Lit node down at a time (the client asks the threshold cheapest
	// nodes, so each node in turn): jobs still sign with the others, and
	// the failed node requests show in the metrics.
	for n, node := range dn.Nodes() {
		node.SetFault(devnet.Fault{Down: true})
		down := map[string]string{}
		for i := range 2 {
			id := fmt.Sprintf("e2e-node-%d-down-%d", n, i)
			down[id] = pkps[0]
			submit(id, pkps[0], fmt.Sprintf("with node %d down, %d", n, i))
		}
		for id, r := range collectResults(t, ctx, results, down) {
			got[id] = r
			want[id] = down[id]
		}
		node.SetFault(devnet.Fault{})
	}
	for id, pkp := range want {
		checkResult(t, id, pkp, got[id])
	}
	select {
	case m := <-results:
		t.Errorf("a second result: %s %s", m.Subject, m.Data)
	case <-time.After(500 * time.Millisecond):
	}

	// Client: a signed revocation of the plain hand-off's delegation.
	h, err := litnode.DecodeEnvelope([]byte(readFile(t, envelopes[1])))
	if err != nil {
		t.Fatal(err)
	}
	cnc, cjs := connect(t, c.url(), "client")
	revoked, err := cnc.SubscribeSync("lit.events.delegation.revoked." + h.PKP.Hex())
	if err != nil {
		t.Fatal(err)
	}
	rev, _ := json.Marshal(consumer.SignRevocation(h.PKP, h.SessionKey, time.Now()))
	if _, err := cjs.Publish(ctx, "lit.revocations", rev); err != nil {
		t.Fatal(err)
	}
	if _, err := revoked.NextMsgWithContext(ctx); err != nil {
		t.Fatalf("no revoked event for the client's revocation: %v", err)
	}

	// Operator: list (the revoked one is gone), then the metrics while a
	// delegation is stored, then revoke it.
	var listed []delegationstore.Summary
	if err := within(10*time.Second, func() error {
		out := runCLI(t, ctx, bin, append(append([]string{"delegations"}, asRole("operator")...), "--json")...)
		listed = nil
		if err := json.Unmarshal([]byte(out), &listed); err != nil {
			return fmt.Errorf("litsign delegations --json: %v: %s", err, out)
		}
		if len(listed) != 1 || listed[0].PKP != pkps[0] {
			return fmt.Errorf("operator lists %+v; want only %s", listed, pkps[0])
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	// Lit v3: a client hands a usage key off with litsign, a producer
	// signs with the v3 PKP; then the balance poller reports the credit.
	v3out := runCLI(t, ctx, bin, append(append([]string{"v3", "hand-off"}, asRole("client")...),
		"--pkp", v3Wallet, "--usage-key-file", v3KeyFile, "--group-id", v3Group)...)
	if !strings.Contains(v3out, `"type":"stored"`) {
		t.Fatalf("litsign v3 hand-off printed %q; want the stored event", v3out)
	}
	submit("e2e-v3", v3Wallet, "signed on Lit v3")
	if r := collectResults(t, ctx, results, map[string]string{"e2e-v3": v3Wallet})["e2e-v3"]; r.Status != consumer.StatusOK || r.Signature == nil {
		t.Errorf("v3 job: %+v %+v", r, r.Error)
	}
	for _, d := range daemons {
		if err := within(15*time.Second, func() error {
			if scrape(t, d.metrics)["litsignd_v3_balance_cents"] == nil {
				return fmt.Errorf("%s exports no litsignd_v3_balance_cents yet", d.name)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
	}

	families := map[string]*dto.MetricFamily{}
	for _, d := range daemons {
		fams := scrape(t, d.metrics)
		t.Logf("%s: %v job deliveries handled, %v failed Lit node requests", d.name, sumOf(fams["litsignd_jobs_total"]), sumOf(fams["litsignd_lit_node_errors_total"]))
		for name, f := range fams {
			if prev, ok := families[name]; ok {
				prev.Metric = append(prev.Metric, f.Metric...)
			} else {
				families[name] = f
			}
		}
	}
	out := runCLI(t, ctx, bin, append(append([]string{"revoke"}, asRole("operator")...), "--pkp", pkps[0])...)
	if !strings.Contains(out, "revoked") {
		t.Errorf("litsign revoke printed %q", out)
	}

	if v := c.violations(); len(v) > 0 {
		t.Errorf("permission violations during the flow:\n%s", strings.Join(v, "\n"))
	}
	for _, d := range daemons {
		d.stop(t)
	}

	t.Run("dashboard and alert metrics exist", func(t *testing.T) {
		checkSelectors(t, families, append(dashboardSelectors(t), alertSelectors(t)...))
	})
}

// collectResults waits for one result per job of want.
func collectResults(t *testing.T, ctx context.Context, results <-chan *nats.Msg, want map[string]string) map[string]consumer.Result {
	t.Helper()
	got := map[string]consumer.Result{}
	for len(got) < len(want) {
		select {
		case m := <-results:
			var r consumer.Result
			if err := json.Unmarshal(m.Data, &r); err != nil {
				t.Fatalf("result on %s: %v: %s", m.Subject, err, m.Data)
			}
			if _, ok := want[r.ID]; !ok {
				t.Fatalf("result for unknown job %q on %s", r.ID, m.Subject)
			}
			if _, dup := got[r.ID]; dup {
				t.Errorf("job %s: a second result", r.ID)
			}
			if m.Subject != "lit.results.producer."+r.ID {
				t.Errorf("job %s: result on %s", r.ID, m.Subject)
			}
			got[r.ID] = r
		case <-ctx.Done():
			t.Fatalf("%d of %d results before the deadline", len(got), len(want))
		}
	}
	return got
}

// checkResult checks an ok result's signature recovers to the PKP, or that
// a job without delegation failed with delegation_not_found.
func checkResult(t *testing.T, id, pkp string, r consumer.Result) {
	t.Helper()
	if pkp == "" {
		if r.Status != consumer.StatusError || r.Error == nil || r.Error.Code != consumer.CodeDelegationNotFound {
			t.Errorf("job %s: %+v; want error %s", id, r, consumer.CodeDelegationNotFound)
		}
		return
	}
	if r.Status != consumer.StatusOK || r.Signature == nil {
		t.Errorf("job %s: status %s error %+v; want a signature", id, r.Status, r.Error)
		return
	}
	sig, err1 := hex.DecodeString(strings.TrimPrefix(r.Signature.Signature, "0x"))
	digest, err2 := hex.DecodeString(strings.TrimPrefix(r.Signature.SignedData, "0x"))
	if err1 != nil || err2 != nil || len(sig) != 65 || len(digest) != 32 {
		t.Errorf("job %s: undecodable signature %+v", id, r.Signature)
		return
	}
	sig[64] -= 27
	pub, err := crypto.Ecrecover(digest, sig)
	if err != nil || "0x"+hex.EncodeToString(pub) != pkp {
		t.Errorf("job %s: the signature recovers to 0x%x (%v), not the PKP %s", id, pub, err, pkp)
	}
}

// checkSelectors checks that every metric a dashboard or alert expression
// reads is in the scrape (histograms as _bucket, _sum, _count), or is one
// of the NATS exporter's (exporterMetrics) or Prometheus's own up, and that
// every label it matches or groups on is one the metric carries.
func checkSelectors(t *testing.T, families map[string]*dto.MetricFamily, sels []selector) {
	t.Helper()
	seen := map[string]bool{}
	for _, s := range sels {
		key := s.where + "|" + s.metric
		if seen[key] {
			continue
		}
		seen[key] = true
		var have []string
		switch {
		case s.metric == "":
			t.Errorf("%s: a selector without a metric name", s.where)
			continue
		case s.metric == "up":
			have = nil
		case exporterMetrics[s.metric] != nil:
			have = exporterMetrics[s.metric]
		default:
			f, extra := family(families, s.metric)
			if f == nil {
				t.Errorf("%s reads %s, which litsignd does not export (scraped: %s)", s.where, s.metric, strings.Join(sortedKeys(families), " "))
				continue
			}
			have = extra
			for _, m := range f.Metric {
				for _, l := range m.Label {
					if !contains(have, l.GetName()) {
						have = append(have, l.GetName())
					}
				}
			}
		}
		have = append(have, targetLabels...)
		for _, l := range s.labels {
			if !contains(have, l) {
				t.Errorf("%s: %s has no label %q (it has %v)", s.where, s.metric, l, have)
			}
		}
	}
}

// sumOf adds a counter family's values.
func sumOf(f *dto.MetricFamily) float64 {
	var n float64
	if f != nil {
		for _, m := range f.Metric {
			n += m.GetCounter().GetValue()
		}
	}
	return n
}

// family finds the metric family a series name belongs to, and the extra
// label its suffix implies.
func family(families map[string]*dto.MetricFamily, name string) (*dto.MetricFamily, []string) {
	if f := families[name]; f != nil {
		return f, nil
	}
	for suffix, extra := range map[string][]string{"_bucket": {"le"}, "_sum": nil, "_count": nil} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if f := families[base]; f != nil && (f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY) {
				return f, extra
			}
		}
	}
	return nil, nil
}

// runScript runs a compose script with /bin/sh and the given environment.
func runScript(t *testing.T, script string, env ...string) string {
	t.Helper()
	cmd := exec.Command("/bin/sh", script)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return string(out)
}

// TestKEKInitScript runs compose/kek-init.sh: it writes a KEK file litsignd
// loads, and leaves an existing one alone.
func TestKEKInitScript(t *testing.T) {
	kek := filepath.Join(t.TempDir(), "kek")
	runScript(t, "compose/kek-init.sh", "KEK_FILE="+kek)
	first := readFile(t, kek)
	ring, err := delegationstore.LoadKEKFile(kek)
	if err != nil {
		t.Fatalf("litsignd cannot load the KEK kek-init.sh wrote: %v", err)
	}
	if len(ring.IDs()) != 1 || !strings.HasPrefix(ring.IDs()[0], "dev-") {
		t.Errorf("key ids %v", ring.IDs())
	}
	if fi, _ := os.Stat(kek); fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("KEK file mode %v; want no group or other access", fi.Mode())
	}
	runScript(t, "compose/kek-init.sh", "KEK_FILE="+kek)
	if readFile(t, kek) != first {
		t.Error("a second run replaced the KEK")
	}
}

// TestDevnetScript runs compose/devnet.sh with the real `litsign devnet`
// and the compose devnet service's command: it publishes the description,
// with-devnet.sh turns that file into litsignd's --network custom
// variables and passes the service's command on, the chain endpoint it
// names answers, and devnet.sh stops on SIGTERM.
func TestDevnetScript(t *testing.T) {
	bin := buildBinaries(t)
	svc := readCompose(t).Services["devnet"]
	info := filepath.Join(t.TempDir(), "devnet.json")
	cmd := exec.Command("/bin/sh", append([]string{composeScript(t, svc.Entrypoint)}, svc.Command...)...)
	cmd.Env = append(os.Environ(), "DEVNET_INFO="+info, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	exited := false
	defer func() {
		if !exited {
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	var desc devnet.Description
	if err := within(20*time.Second, func() error {
		b, err := os.ReadFile(info)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &desc)
	}); err != nil {
		t.Fatalf("no description from devnet.sh: %v\n%s", err, stderr.String())
	}
	if desc.Network.RPCURL == "" || desc.Network.ChainID == 0 || desc.Network.StakingAddress == "" || desc.Network.PriceFeedAddress == "" || len(desc.Network.Nodes) != 4 || len(desc.PKPs) != 3 {
		t.Errorf("description %+v lacks what with-devnet.sh reads or what the command asked for", desc.Network)
	}
	// with-devnet.sh on this very file hands litsignd the devnet's values
	// (a stand-in litsignd prints what it gets).
	fake := t.TempDir()
	if err := os.WriteFile(filepath.Join(fake, "litsignd"), []byte("#!/bin/sh\nenv | grep '^LITSIGND_' | sort\necho \"args: $*\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	daemonSvc := readCompose(t).Services["litsignd-1"]
	wrapper := exec.Command("/bin/sh", append([]string{composeScript(t, daemonSvc.Entrypoint)}, daemonSvc.Command...)...)
	wrapper.Env = []string{"DEVNET_INFO=" + info, "PATH=" + fake + string(os.PathListSeparator) + os.Getenv("PATH")}
	got, err := wrapper.CombinedOutput()
	if err != nil {
		t.Fatalf("with-devnet.sh: %v\n%s", err, got)
	}
	for _, want := range []string{
		"LITSIGND_NETWORK=custom", "LITSIGND_RPC_URL=" + desc.Network.RPCURL, fmt.Sprintf("LITSIGND_CHAIN_ID=%d", desc.Network.ChainID),
		"LITSIGND_STAKING_ADDRESS=" + desc.Network.StakingAddress, "LITSIGND_PRICE_FEED_ADDRESS=" + desc.Network.PriceFeedAddress,
		"LITSIGND_LIT_HTTP_PROTOCOL=http://", "args: " + strings.Join(daemonSvc.Command, " "),
	} {
		if !strings.Contains(string(got), want+"\n") {
			t.Errorf("with-devnet.sh gave litsignd\n%s\nwant the line %q", got, want)
		}
	}
	body := `{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}`
	resp, err := http.Post(desc.Network.RPCURL, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("chain endpoint %s: %v", desc.Network.RPCURL, err)
	}
	resp.Body.Close()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		exited = true
	case <-time.After(10 * time.Second):
		t.Error("devnet.sh did not stop within 10 s of SIGTERM")
	}
}

// startV3Fake runs a Lit v3 fake with a funded account: one wallet in a
// group with litsignd's signing action, and a usage key (written to a file,
// as an operator keeps it) that may execute in it.
func startV3Fake(t *testing.T, dir string) (fake *v3fake.Server, wallet, keyFile, group string) {
	t.Helper()
	fake, err := v3fake.Start(v3fake.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	acct, err := fake.NewAccount(10_000)
	if err != nil {
		t.Fatal(err)
	}
	w, err := fake.CreateWallet(acct.APIKey)
	if err != nil {
		t.Fatal(err)
	}
	gid, err := fake.AddGroup(acct.APIKey, "compose", []common.Address{w}, []string{consumer.V3SignActionCID()})
	if err != nil {
		t.Fatal(err)
	}
	key, err := fake.AddUsageKey(acct.APIKey, "compose", v3fake.Scopes{ExecuteInGroups: []uint64{gid}})
	if err != nil {
		t.Fatal(err)
	}
	keyFile = filepath.Join(dir, "v3-usage-key")
	if err := os.WriteFile(keyFile, []byte(key.Reveal()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return fake, strings.ToLower(w.Hex()), keyFile, fmt.Sprint(gid)
}
