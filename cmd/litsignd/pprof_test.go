package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
)

func TestPprofListenLoopbackOnly(t *testing.T) {
	cfg, err := parseConfig([]string{"--kek-file", "k"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.pprofListen != "" {
		t.Errorf("--pprof-listen defaults to %q; want off", cfg.pprofListen)
	}
	for _, addr := range []string{"127.0.0.1:6060", "[::1]:6060", "localhost:0", "127.0.0.2:1"} {
		if _, err := parseConfig([]string{"--kek-file", "k", "--pprof-listen", addr}, func(string) string { return "" }, io.Discard); err != nil {
			t.Errorf("--pprof-listen %s refused: %v", addr, err)
		}
	}
	for _, addr := range []string{":6060", "0.0.0.0:6060", "[::]:6060", "10.0.0.1:6060", "example.com:6060", "127.0.0.1"} {
		if _, err := parseConfig([]string{"--kek-file", "k", "--pprof-listen", addr}, func(string) string { return "" }, io.Discard); err == nil || !strings.Contains(err.Error(), "--pprof-listen") {
			t.Errorf("--pprof-listen %s = %v; want a refusal naming the flag", addr, err)
		}
	}
}

func TestServePprof(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- servePprof(ctx, ln, slog.New(slog.DiscardHandler)) }()
	base := "http://" + ln.Addr().String()
	waitHTTP(t, base+"/debug/pprof/", 200)
	if body := httpGet(t, base+"/debug/pprof/goroutine?debug=1"); !strings.Contains(body, "goroutine profile") {
		t.Errorf("goroutine profile: %.200s", body)
	}
	waitHTTP(t, base+"/metrics", 404)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("servePprof = %v on shutdown", err)
	}
}
