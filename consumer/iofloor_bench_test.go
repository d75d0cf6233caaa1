package consumer

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkJobIOFloor is the I/O of a pkp-sign job at 4 nodes without its
// work: per job, three parallel HTTP POSTs (3 KiB out, 1.4 KiB back,
// keep-alive: the three node requests) to a server in another process,
// then four sequential JetStream publishes to a file stream (ledger start,
// ledger done, result, and one in place of the confirmed ack). No JSON, no
// crypto, 64 jobs in flight. It reports this process's CPU per job: the
// part of the daemon's CPU per job that BenchmarkCryptoFloor does not
// count (README "Performance").
//
//	nats-server -js -a 127.0.0.1 -p 4333 &
//	LITSIGND_BENCH_NATS_URL=nats://127.0.0.1:4333 \
//	  go test -run XXX -bench JobIOFloor -benchtime 2000x ./consumer/
//
// The server answers after LITSIGND_BENCH_IO_DELAY (default 230ms), which
// sets the rate: with 64 jobs in flight, 230 ms gives the ≈ 265 jobs/s
// that litsign bench reaches against a 4-node devnet on a 2-core machine,
// and CPU per job depends on the rate (an idle process pays a thread
// wake-up per exchange); 0s runs as fast as the machine allows.
func BenchmarkJobIOFloor(b *testing.B) {
	url := os.Getenv("LITSIGND_BENCH_NATS_URL")
	if url == "" {
		b.Skip("set LITSIGND_BENCH_NATS_URL to a nats-server with JetStream (in another process)")
	}
	delay := 230 * time.Millisecond
	if v := os.Getenv("LITSIGND_BENCH_IO_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("LITSIGND_BENCH_IO_DELAY: %v", err)
		}
		delay = d
	}
	nodes := ioFloorServer(b, delay)
	nc, err := nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	stream := fmt.Sprintf("IOFLOOR_%d", time.Now().UnixNano())
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{strings.ToLower(stream) + ".>"}, Storage: jetstream.FileStorage, MaxMsgs: 100_000}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = js.DeleteStream(context.Background(), stream) })
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	b.Cleanup(client.CloseIdleConnections)
	request, record := bytes.Repeat([]byte("r"), 3<<10), bytes.Repeat([]byte("l"), 300)
	job := func() error {
		errs := make(chan error, len(nodes))
		for _, node := range nodes {
			go func() {
				resp, err := client.Post("http://"+node+"/web/pkp/sign/v2", "application/json", bytes.NewReader(request))
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				errs <- err
			}()
		}
		for range nodes {
			if err := <-errs; err != nil {
				return err
			}
		}
		for step := range 4 {
			if _, err := js.Publish(ctx, fmt.Sprintf("%s.%d", strings.ToLower(stream), step), record); err != nil {
				return err
			}
		}
		return nil
	}
	for range 100 { // connections and the stream's first writes
		if err := job(); err != nil {
			b.Fatal(err)
		}
	}
	work := make(chan struct{})
	failed := make(chan error, 1)
	var wg sync.WaitGroup
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for range benchPipelineWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				if err := job(); err != nil {
					select {
					case failed <- err:
					default:
					}
				}
			}
		}()
	}
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	select {
	case err := <-failed:
		b.Fatal(err)
	default:
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
	b.ReportMetric(cpu.Seconds()*1000/float64(b.N), "cpu-ms/job")
}

// ioFloorServer starts TestIOFloorServer in a child process (this test
// binary) and returns the addresses of its three "nodes".
func ioFloorServer(b *testing.B, delay time.Duration) []string {
	cmd := exec.Command(os.Args[0], "-test.run=^TestIOFloorServer$")
	cmd.Env = append(os.Environ(), "LITSIGND_IOFLOOR_SERVE="+delay.String())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = stdin.Close() // the server exits when its stdin closes
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ioflooraddrs ") {
		b.Fatalf("io floor server: %q, %v", line, err)
	}
	return strings.Fields(strings.TrimPrefix(line, "ioflooraddrs "))
}

// TestIOFloorServer is BenchmarkJobIOFloor's server process: three HTTP
// listeners on loopback that read a request and answer 1.4 KiB after the
// delay in LITSIGND_IOFLOOR_SERVE, until stdin closes. Without that
// variable (every ordinary test run) it skips.
func TestIOFloorServer(t *testing.T) {
	spec := os.Getenv("LITSIGND_IOFLOOR_SERVE")
	if spec == "" {
		t.Skip("the server process of BenchmarkJobIOFloor")
	}
	delay, err := time.ParseDuration(spec)
	if err != nil {
		t.Fatal(err)
	}
	answer := bytes.Repeat([]byte("a"), 1400)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(delay)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	})
	var addrs []string
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	fmt.Printf("ioflooraddrs %s\n", strings.Join(addrs, " "))
	_, _ = io.Copy(io.Discard, os.Stdin)
}
