package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/delegationstore"
)

// natsState is what a failed start must leave untouched: every stream
// (subjects, prefix mark, messages, durable consumers) and the published
// sealing key with its revision.
type natsState struct {
	Streams    map[string]string
	SealingKey string
	SealingRev uint64
}

func snapshotNATS(t *testing.T, js jetstream.JetStream) natsState {
	t.Helper()
	ctx := context.Background()
	st := natsState{Streams: map[string]string{}}
	l := js.ListStreams(ctx)
	for info := range l.Info() {
		var cons []string
		s, err := js.Stream(ctx, info.Config.Name)
		if err != nil {
			t.Fatal(err)
		}
		// Durable consumers only: a daemon's watch of a bucket uses
		// ephemeral ones, which come and go with it.
		cl := s.ListConsumers(ctx)
		for ci := range cl.Info() {
			if ci.Config.Durable != "" {
				cons = append(cons, ci.Name)
			}
		}
		slices.Sort(cons)
		st.Streams[info.Config.Name] = fmt.Sprintf("subjects=%v prefix=%q msgs=%d last=%d consumers=%v",
			info.Config.Subjects, info.Config.Metadata[consumer.PrefixMetadataKey], info.State.Msgs, info.State.LastSeq, cons)
	}
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	if kv, err := js.KeyValue(ctx, "lit_daemon"); err == nil {
		if e, err := kv.Get(ctx, consumer.SealingKeyKV); err == nil {
			st.SealingKey, st.SealingRev = string(e.Value()), e.Revision()
		}
	}
	return st
}

// runFailing runs the litsignd binary, expects it to exit 1 with a final
// one-line "litsignd: …" reason containing want, and returns that line.
func runFailing(t *testing.T, bin string, want string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard, not a speed target
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("litsignd %s: %v, want exit code 1\n%s", strings.Join(args, " "), err, stderr.String())
	}
	lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "litsignd: ") || !strings.Contains(last, want) {
		t.Fatalf("last stderr line %q: want a one-line reason containing %q\n%s", last, want, stderr.String())
	}
	return last
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// busyAddr returns a loopback address held by a listener until the test ends.
func busyAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// Every start-up failure exits 1 with a one-line reason and leaves the
// deployment's NATS state (streams, consumers, sealing key) as it was.
func TestStartFailuresLeaveNATSUnchanged(t *testing.T) {
	h := newDaemonHarness(t)
	healthy, _ := h.start()
	// The deployment has served; stop it so that only the failing starts
	// could change anything.
	_ = healthy.Process.Signal(syscall.SIGTERM)
	_, _ = healthy.Process.Wait()
	before := snapshotNATS(t, h.js)
	if before.SealingKey == "" || before.Streams["LIT_JOBS"] == "" {
		t.Fatalf("the healthy daemon left no state: %+v", before)
	}

	badKEK := filepath.Join(t.TempDir(), "bad-kek")
	if err := os.WriteFile(badKEK, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	otherKEK := filepath.Join(t.TempDir(), "other-kek")
	if err := delegationstore.GenerateKEKFile(otherKEK); err != nil {
		t.Fatal(err)
	}
	// A stream of someone else's on a subject prefix's stream name, and one
	// capturing a prefix's subjects under another name.
	ctx := context.Background()
	for _, cfg := range []jetstream.StreamConfig{
		{Name: "ACME_JOBS", Subjects: []string{"orders.>"}},
		{Name: "FOREIGN", Subjects: []string{"taken.>"}},
	} {
		if _, err := h.js.CreateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	before = snapshotNATS(t, h.js)

	cases := []struct {
		name  string
		extra []string
		want  string
	}{
		{"bad KEK", []string{"--kek-file", badKEK}, "--kek-file"},
		{"missing KEK", []string{"--kek-file", filepath.Join(t.TempDir(), "absent")}, "--kek-file"},
		{"metrics port in use", []string{"--metrics-listen", busyAddr(t)}, "address already in use"},
		{"custom network without RPC", []string{"--rpc-url=", "--staking-address="}, "--network custom needs --rpc-url"},
		{"unknown network", []string{"--network", "nagga"}, "want naga-dev, naga-test, naga, custom"},
		{"naga-test without --skip-attestation", []string{"--network", "naga-test"}, "--skip-attestation"},
		{"bad --lit-nodes", []string{"--lit-nodes", "127.0.0.1:7470"}, "--lit-nodes"},
		{"bad --lit-http-protocol", []string{"--lit-http-protocol", "ftp://"}, "--lit-http-protocol"},
		{"stream name clash", []string{"--subject-prefix", "acme"}, "stream ACME_JOBS exists with subjects [orders.>]"},
		{"subject clash", []string{"--subject-prefix", "taken"}, "already captured by stream FOREIGN"},
		{"different KEK", []string{"--kek-file", otherKEK}, "sealing key differs from the one published"},
		{"bad --lit-v3-url", []string{"--lit-v3-url", "ftp://chipotle.example"}, "--lit-v3-url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			line := runFailing(t, h.bin, c.want, append(h.args(freeAddr(t)), c.extra...)...)
			t.Log(line)
			if after := snapshotNATS(t, h.js); !reflect.DeepEqual(after, before) {
				t.Errorf("NATS state changed:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}

	// The embedded server's port in use: at once, with the reason, and no
	// JetStream store is created.
	t.Run("embedded NATS port in use", func(t *testing.T) {
		dataDir := t.TempDir()
		runFailing(t, h.bin, "address already in use", "--kek-file", h.kekFile, "--data-dir", dataDir,
			"--nats-listen", busyAddr(t), "--metrics-listen", freeAddr(t), "--network", "custom", "--lit-nodes", "http://127.0.0.1:1")
		if _, err := os.Stat(filepath.Join(dataDir, "jetstream")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a failed start created the JetStream store: %v", err)
		}
	})

	// On purpose, the other KEK's sealing key replaces the published one.
	t.Run("--rotate-sealing-key", func(t *testing.T) {
		h.kekFile = otherKEK
		d, _ := h.start("--rotate-sealing-key")
		after := snapshotNATS(t, h.js)
		if after.SealingKey == before.SealingKey || after.SealingKey == "" {
			t.Errorf("sealing key %q after --rotate-sealing-key, was %q", after.SealingKey, before.SealingKey)
		}
		_ = d.Process.Signal(syscall.SIGTERM)
		_, _ = d.Process.Wait()
	})
}

// Two deployments with different subject prefixes on one NATS share no
// stream, consumer or bucket; the default prefix keeps the documented names.
func TestSubjectPrefixIsolates(t *testing.T) {
	h := newDaemonHarness(t)
	h.start()
	lit := snapshotNATS(t, h.js)
	h.start("--subject-prefix", "acme.prod")
	both := snapshotNATS(t, h.js)
	for name, s := range lit.Streams {
		if name == "LIT_EVENTS" || name == "KV_lit_daemon" {
			continue // grow on their own (events, nothing)
		}
		if both.Streams[name] != s {
			t.Errorf("stream %s changed when the second deployment started:\nbefore %s\nafter  %s", name, s, both.Streams[name])
		}
	}
	for _, name := range []string{"LIT_DELEGATIONS", "LIT_EVENTS", "LIT_JOBS", "LIT_RESULTS", "LIT_JOBS_EXHAUSTED", "KV_lit_delegations", "KV_lit_daemon", "KV_lit_jobs",
		"ACME_PROD_DELEGATIONS", "ACME_PROD_EVENTS", "ACME_PROD_JOBS", "ACME_PROD_RESULTS", "ACME_PROD_JOBS_EXHAUSTED", "KV_acme_prod_delegations", "KV_acme_prod_daemon", "KV_acme_prod_jobs"} {
		if both.Streams[name] == "" {
			t.Errorf("no stream %s; have %v", name, slices.Sorted(maps.Keys(both.Streams)))
		}
	}
	if s := both.Streams["ACME_PROD_JOBS"]; !strings.Contains(s, "subjects=[acme.prod.jobs.>]") || !strings.Contains(s, "consumers=[litsignd-acme_prod]") {
		t.Errorf("ACME_PROD_JOBS: %s", s)
	}
	if s := both.Streams["LIT_JOBS"]; !strings.Contains(s, "subjects=[lit.jobs.>]") || !strings.Contains(s, "consumers=[litsignd]") {
		t.Errorf("LIT_JOBS: %s", s)
	}
}
