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
	start  float64
	err    error
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

// read sums process_cpu_seconds_total over the probe's URLs.
func (p *cpuProbe) read(ctx context.Context) (float64, error) {
	var sum float64
	for _, u := range p.urls {
		v, err := readProcessCPU(ctx, p.client, u)
		if err != nil {
			return 0, err
		}
		sum += v
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
	cpu := end - p.start
	fmt.Fprintf(w, "daemon CPU:  %.2f s for %d jobs = %.3f ms/job (process_cpu_seconds_total of %d daemon(s); includes everything those processes did meanwhile)\n",
		cpu, jobs, 1000*cpu/float64(max(jobs, 1)), len(p.urls))
}

// readProcessCPU fetches one Prometheus endpoint and returns its
// process_cpu_seconds_total.
func readProcessCPU(ctx context.Context, client *http.Client, url string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("--metrics-url %s: %w", url, err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("--metrics-url: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("--metrics-url %s: HTTP %d", url, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, fmt.Errorf("--metrics-url %s: %w", url, err)
	}
	f, ok := families["process_cpu_seconds_total"]
	if !ok || len(f.GetMetric()) == 0 || f.GetMetric()[0].GetCounter() == nil {
		return 0, fmt.Errorf("--metrics-url %s: no process_cpu_seconds_total (is it litsignd's /metrics?)", url)
	}
	return f.GetMetric()[0].GetCounter().GetValue(), nil
}
