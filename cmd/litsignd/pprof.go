package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// checkPprofListen accepts "" (no profiling endpoint) or a loopback
// HOST:PORT: profiles show goroutine stacks, heap object counts and the
// command line, which are for an operator on the host, not the network.
func checkPprofListen(addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--pprof-listen %q: want HOST:PORT: %v", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--pprof-listen %q: the profiling endpoint listens on loopback only (127.0.0.1, ::1 or localhost); reach it with an SSH tunnel or kubectl port-forward", addr)
	}
	return nil
}

// servePprof serves net/http/pprof under /debug/pprof/ on ln until ctx ends.
// It uses its own mux, so nothing else is reachable on this listener and
// the profiling handlers never reach the metrics listener.
func servePprof(ctx context.Context, ln net.Listener, logger *slog.Logger) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// WriteTimeout stays unset: a CPU profile or trace streams for its
	// ?seconds= duration.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	logger.Info("pprof listening", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// A profile still streaming: close it.
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
