package main

import (
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// startEmbedded starts an in-process nats-server with JetStream listening
// on listen (HOST:PORT; port 0 picks a free one), storing in dir.
func startEmbedded(cfg *config, logger *slog.Logger) (*server.Server, []nats.Option, error) {
	listen, dir := cfg.natsListen, cfg.dataDir
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, nil, fmt.Errorf("--nats-listen %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, nil, fmt.Errorf("--nats-listen %q: bad port", listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	} else {
		// nats-server reports a busy port only in its log (off here) and
		// then never becomes ready: try the port first so that a port in
		// use fails at once with the reason.
		l, err := net.Listen("tcp", listen)
		if err != nil {
			return nil, nil, fmt.Errorf("--nats-listen %s: %w", listen, err)
		}
		l.Close()
	}
	opts := &server.Options{
		ServerName: "litsignd-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   filepath.Join(dir, "jetstream"),
		NoSigs:     true, // litsignd owns SIGINT/SIGTERM
		NoLog:      true,
	}
	clientOpts, err := embeddedAuth(cfg, opts, logger)
	if err != nil {
		return nil, nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(15 * time.Second) {
		ns.Shutdown()
		return nil, nil, fmt.Errorf("embedded nats-server did not become ready on %s", listen)
	}
	logger.Info("embedded nats-server started", "url", ns.ClientURL(), "store_dir", opts.StoreDir, "auth", len(opts.Users) > 0 || len(opts.Nkeys) > 0 || opts.Authorization != "" || opts.Username != "")
	return ns, clientOpts, nil
}

// natsOptions turns the authentication flags into nats.Options.
func natsOptions(cfg *config, logger *slog.Logger) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name("litsignd"),
		nats.Timeout(10 * time.Second), // connect: a remote or busy server may need more than the 2 s default
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		// A server that hangs (paused, partitioned with the connection
		// open) is left for another within ~15 s, not the default ~6 min.
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(3),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { logger.Info("NATS reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	auth, err := cfg.nats.Options()
	if err != nil {
		return nil, err
	}
	opts = append(opts, auth...)
	return opts, nil
}
