package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestQuickstart builds litsign and runs the README's quickstart against
// `litsignd dev`: delegate a dev PKP, hand it over sealed, sign, bench.
func TestQuickstart(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "litsign")
	build := exec.Command("go", "build", "-o", bin, "../litsign")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build litsign: %v\n%s", err, out)
	}
	dataDir := t.TempDir()
	d, logs, stop := startDev(t, dataDir)
	defer stop()
	info := filepath.Join(dataDir, "info.json")
	pkp := d.PKPs[0].PublicKey

	litsign := func(stdin []byte, args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Stdin = bytes.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("litsign %s: %v\nstdout: %s\nstderr: %s\ndaemon: %s", strings.Join(args, " "), err, out, stderr.String(), logs.String())
		}
		return out
	}
	env := litsign(nil, "delegate", "--dev-info", info, "--pkp", pkp)
	envFile := filepath.Join(t.TempDir(), "envelope.json")
	if err := os.WriteFile(envFile, env, 0o600); err != nil {
		t.Fatal(err)
	}
	stored := litsign(nil, "publish-delegation", "--dev-info", info, "--seal", envFile)
	if !bytes.Contains(stored, []byte(`"type":"stored"`)) {
		t.Fatalf("publish-delegation printed %s, want the stored event", stored)
	}
	out := litsign(nil, "sign", "--dev-info", info, "--pkp", pkp, "--message", "hello")
	if !bytes.Contains(out, []byte(`"status":"ok"`)) {
		t.Fatalf("sign printed %s", out)
	}
	out = litsign(nil, "bench", "--dev-info", info, "--pkp", pkp, "--jobs", "40", "--concurrency", "8")
	if !bytes.Contains(out, []byte("errors:      0")) || !bytes.Contains(out, []byte("no result:   0")) {
		t.Fatalf("bench printed %s", out)
	}
	t.Logf("litsign bench (40 jobs, 8 in flight):\n%s", out)
}
