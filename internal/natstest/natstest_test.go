package natstest_test

import (
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/internal/natstest"
)

func TestRunJetStream(t *testing.T) {
	s, url := natstest.RunJetStream(t)
	if !strings.HasPrefix(url, "nats://127.0.0.1:") {
		t.Errorf("client URL %q is not on loopback", url)
	}
	if !s.JetStreamEnabled() {
		t.Fatal("JetStream not enabled")
	}
	_, js := natstest.Connect(t, url)
	kv, err := js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
}

func TestRunJetStreamDir_Restart(t *testing.T) {
	dir := t.TempDir()
	s1, url1 := natstest.RunJetStreamDir(t, dir)
	nc1, js1 := natstest.Connect(t, url1)
	kv, err := js1.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "b", Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(t.Context(), "k", "kept"); err != nil {
		t.Fatal(err)
	}
	nc1.Close()
	s1.Shutdown()
	s1.WaitForShutdown()

	_, url2 := natstest.RunJetStreamDir(t, dir)
	_, js2 := natstest.Connect(t, url2)
	kv2, err := js2.KeyValue(t.Context(), "b")
	if err != nil {
		t.Fatalf("bucket lost in the restart: %v", err)
	}
	e, err := kv2.Get(t.Context(), "k")
	if err != nil || string(e.Value()) != "kept" {
		t.Fatalf("Get after restart = %v, %v", e, err)
	}
}
