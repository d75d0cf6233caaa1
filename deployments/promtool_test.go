package deployments_test

import (
	"os/exec"
	"testing"
)

// TestPromtool runs Prometheus's own checks on the configuration in
// prometheus/: the config (with its rule file) loads, the rules are valid,
// and the alerts' unit tests (prometheus/alerts_test.yml) pass. It skips
// when promtool is not installed (./test.sh installs it from the Debian
// package "prometheus" when it runs as root).
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not on PATH (Debian: apt-get install prometheus)")
	}
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "prometheus"
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
