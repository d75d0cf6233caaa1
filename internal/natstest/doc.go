// Package natstest runs a real nats-server with JetStream inside a test
// binary, the way net/http/httptest runs a real HTTP server: on the loopback
// interface, on a random port, with its store in a test-owned temporary
// directory, and shut down by t.Cleanup.
//
// It is test support only. Production code must not import it (the
// daemon's dependency test checks that), and it never listens anywhere but
// 127.0.0.1.
package natstest
