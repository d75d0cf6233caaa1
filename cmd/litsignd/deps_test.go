package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the dependency rules: the binaries link no test support,
// and litnode (the Lit client) imports neither NATS nor Prometheus.
func TestDeps(t *testing.T) {
	deps := func(pkg string) []string {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		return strings.Fields(string(out))
	}
	for _, bin := range []string{"github.com/litsignd/litsignd/cmd/litsignd", "github.com/litsignd/litsignd/cmd/litsign"} {
		for _, d := range deps(bin) {
			if d == "testing" || strings.HasSuffix(d, "/internal/natstest") {
				t.Errorf("%s links %s", bin, d)
			}
		}
	}
	for _, pkg := range []string{"github.com/litsignd/litsignd/litnode", "github.com/litsignd/litsignd/litnode/devnet"} {
		for _, d := range deps(pkg) {
			if strings.HasPrefix(d, "github.com/nats-io/") || strings.HasPrefix(d, "github.com/prometheus/") {
				t.Errorf("%s imports %s", pkg, d)
			}
		}
	}
	for _, d := range deps("github.com/litsignd/litsignd/delegationstore") {
		if strings.HasPrefix(d, "github.com/litsignd/litsignd/consumer") {
			t.Errorf("delegationstore imports %s (dependency direction is litnode ← delegationstore ← consumer)", d)
		}
	}
}
