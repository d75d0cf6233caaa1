package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// readyTimeout bounds how long a server may take to accept connections. A
// loopback server is ready in a few milliseconds; the bound only keeps a
// broken environment from hanging a test.
const readyTimeout = 10 * time.Second

// RunJetStream starts a JetStream-enabled nats-server on 127.0.0.1 at a
// random port, with its store in t.TempDir(), and returns it with its client
// URL. The server logs nothing, installs no signal handlers and is shut down
// by t.Cleanup.
func RunJetStream(t testing.TB) (*server.Server, string) {
	t.Helper()
	return RunJetStreamDir(t, t.TempDir())
}

// RunJetStreamDir is RunJetStream with the JetStream store in dir. Restart
// tests shut a server down (Shutdown, then WaitForShutdown) and start a new
// one on the same dir; the new one recovers the streams and their messages.
func RunJetStreamDir(t testing.TB, dir string) (*server.Server, string) {
	t.Helper()
	opts := &server.Options{
		ServerName: "natstest",
		Host:       "127.0.0.1",
		Port:       -1,
		JetStream:  true,
		StoreDir:   dir,
		NoLog:      true,
		NoSigs:     true,
		// No monitoring, cluster, gateway or leaf-node listeners: the
		// client port on loopback is the only socket.
		HTTPPort: 0,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("natstest: new server: %v", err)
	}
	go s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	if !s.ReadyForConnections(readyTimeout) {
		t.Fatalf("natstest: server not ready for connections after %v", readyTimeout)
	}
	if !s.JetStreamEnabled() {
		t.Fatal("natstest: JetStream is not enabled")
	}
	return s, s.ClientURL()
}

// Connect connects to url and returns the connection and a JetStream handle
// on it. The connection is closed by t.Cleanup. It does not reconnect: a test
// that stops its server sees the connection fail instead of waiting.
func Connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.Name("natstest"), nats.NoReconnect())
	if err != nil {
		t.Fatalf("natstest: connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("natstest: jetstream: %v", err)
	}
	return nc, js
}
