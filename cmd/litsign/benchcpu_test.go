package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestCPUProbeReportsDaemonCPUPerJob(t *testing.T) {
	var calls atomic.Int64
	metrics := func(w http.ResponseWriter, _ *http.Request) {
		cpu := 10.0 + 0.25*float64(calls.Add(1)-1) // 10.00, then 10.25
		fmt.Fprintf(w, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %g\n", cpu)
	}
	a := httptest.NewServer(http.HandlerFunc(metrics))
	defer a.Close()
	b := httptest.NewServer(http.HandlerFunc(metrics))
	defer b.Close()
	ctx := context.Background()

	var out bytes.Buffer
	p := newCPUProbe(ctx, a.URL+"/metrics")
	p.report(ctx, &out, 100)
	if !strings.Contains(out.String(), "0.25 s for 100 jobs = 2.500 ms/job") {
		t.Errorf("one daemon: %q", out.String())
	}
	// Two replicas: their CPU adds up (each advanced by 0.25 s).
	calls.Store(0)
	out.Reset()
	p = newCPUProbe(ctx, a.URL+", "+b.URL)
	p.report(ctx, &out, 100)
	if !strings.Contains(out.String(), "of 2 daemon(s)") || !strings.Contains(out.String(), "ms/job") {
		t.Errorf("two daemons: %q", out.String())
	}

	notMetrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "up 1") }))
	defer notMetrics.Close()
	out.Reset()
	newCPUProbe(ctx, notMetrics.URL).report(ctx, &out, 10)
	if !strings.Contains(out.String(), "unavailable") || !strings.Contains(out.String(), "process_cpu_seconds_total") {
		t.Errorf("no CPU metric: %q", out.String())
	}
	if newCPUProbe(ctx, "") != nil {
		t.Error("an empty --metrics-url made a probe")
	}
	var nilProbe *cpuProbe
	out.Reset()
	nilProbe.report(ctx, &out, 1)
	if out.Len() != 0 {
		t.Errorf("a disabled probe printed %q", out.String())
	}
}
