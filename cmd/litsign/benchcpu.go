package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// cpuProbe reads the daemon's process_cpu_seconds_total before and after a
// benchmark, so that litsign bench can report the daemon's CPU per job: the
// figure to compare with the crypto floor (README "Performance"). Several
// replicas are summed (comma-separated --metrics-url).
type cpuProbe struct {
	urls   []string
	client *http.Client
	start  daemonCounters
	err    error
}

// daemonCounters are the counters the probe reads, summed over daemons.
// mallocs and allocBytes are 0 when a daemon does not export Go's memstats.
type daemonCounters struct {
	cpu, mallocs, allocBytes float64
}

// newCPUProbe reads the starting CPU of the daemons at the comma-separated
// metrics URLs ("" disables the probe: nil).
func newCPUProbe(ctx context.Context, urls string) *cpuProbe {
	if strings.TrimSpace(urls) == "" {
		return nil
	}
	p := &cpuProbe{client: &http.Client{Timeout: 5 * time.Second}}
	for _, u := range strings.Split(urls, ",") {
		if u = strings.TrimSpace(u); u != "" {
			p.urls = append(p.urls, u)
		}
	}
	p.start, p.err = p.read(ctx)
	return p
}

// read sums the counters over the probe's URLs.
func (p *cpuProbe) read(ctx context.Context) (daemonCounters, error) {
	var sum daemonCounters
	for _, u := range p.urls {
		v, err := readDaemonCounters(ctx, p.client, u)
		if err != nil {
			return daemonCounters{}, err
		}
		sum.cpu += v.cpu
		sum.mallocs += v.mallocs
		sum.allocBytes += v.allocBytes
	}
	return sum, nil
}

// report writes the daemons' CPU per completed job since the probe started.
func (p *cpuProbe) report(ctx context.Context, w io.Writer, jobs int) {
	if p == nil {
		return
	}
	end, err := p.read(ctx)
	if p.err != nil {
		err = p.err
	}
	if err != nil {
		fmt.Fprintf(w, "daemon CPU:  unavailable (%v)\n", err)
		return
	}
	cpu := end.cpu - p.start.cpu
	n := float64(max(jobs, 1))
	fmt.Fprintf(w, "daemon CPU:  %.2f s for %d jobs = %.3f ms/job (process_cpu_seconds_total of %d daemon(s); includes everything those processes did meanwhile)\n",
		cpu, jobs, 1000*cpu/n, len(p.urls))
	if end.mallocs > 0 {
		fmt.Fprintf(w, "daemon heap: %.0f allocations/job, %.1f KiB/job\n", (end.mallocs-p.start.mallocs)/n, (end.allocBytes-p.start.allocBytes)/n/1024)
	}
}

// readDaemonCounters fetches one Prometheus endpoint and returns its
// process_cpu_seconds_total and, when present, go_memstats_mallocs_total and
// go_memstats_alloc_bytes_total.
func readDaemonCounters(ctx context.Context, client *http.Client, url string) (daemonCounters, error) {
	var c daemonCounters
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return c, fmt.Errorf("--metrics-url %s: %w", url, err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return c, fmt.Errorf("--metrics-url: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c, fmt.Errorf("--metrics-url %s: HTTP %d", url, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return c, fmt.Errorf("--metrics-url %s: %w", url, err)
	}
	counter := func(name string) (float64, bool) {
		f, ok := families[name]
		if !ok || len(f.GetMetric()) == 0 || f.GetMetric()[0].GetCounter() == nil {
			return 0, false
		}
		return f.GetMetric()[0].GetCounter().GetValue(), true
	}
	var ok bool
	if c.cpu, ok = counter("process_cpu_seconds_total"); !ok {
		return c, fmt.Errorf("--metrics-url %s: no process_cpu_seconds_total (is it litsignd's /metrics?)", url)
	}
	c.mallocs, _ = counter("go_memstats_mallocs_total")
	c.allocBytes, _ = counter("go_memstats_alloc_bytes_total")
	return c, nil
}
