package consumer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/internal/natstest"
	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/litnode/devnet"
)

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// The README's warning about --accept-plain-handoffs at R>1 is true: with
// LIT_DELEGATIONS at three replicas, litsignd erases the handled plain
// hand-off from every server's message store (secure delete), yet its
// session secret is still in the servers' raft logs. Sealed hand-offs are
// the remedy (TestIntakeSealedEnvelope: the secret is nowhere).
func TestPlainHandOffSecretStaysInRaftLogAtR3(t *testing.T) {
	client := []int{freeLoopbackPort(t), freeLoopbackPort(t), freeLoopbackPort(t)}
	cluster := []int{freeLoopbackPort(t), freeLoopbackPort(t), freeLoopbackPort(t)}
	var routes []string
	for _, p := range cluster {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	for i := range 3 {
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("r%d", i+1), Host: "127.0.0.1", Port: client[i], JetStream: true, StoreDir: dirs[i],
			NoLog: true, NoSigs: true, Cluster: server.ClusterOpts{Name: "r3", Host: "127.0.0.1", Port: cluster[i]},
			Routes: server.RoutesFromStr(strings.Join(routes, ",")),
		})
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		if !s.ReadyForConnections(20 * time.Second) {
			t.Fatal("server not ready")
		}
	}
	_, js := natstest.Connect(t, fmt.Sprintf("nats://127.0.0.1:%d", client[0]))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for { // until the cluster has a meta leader
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.AccountInfo(actx)
		acancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no JetStream meta leader: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	topo := consumer.DefaultTopology()
	topo.Replicas = 3
	if err := topo.Ensure(ctx, js); err != nil {
		t.Fatal(err)
	}
	n, err := devnet.Start(devnet.Config{Nodes: 3, Threshold: 2, PKPs: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	lit := &litnode.Client{Network: n.NetworkConfig()}
	t.Cleanup(lit.Close)
	kek, _ := delegationstore.GenerateKEK("t")
	ring, _ := delegationstore.NewKeyring(kek)
	store, err := delegationstore.Open(ctx, js, delegationstore.Config{Bucket: topo.DelegationsBucket, KEK: ring, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = store.Run(ctx) }()
	stream, err := js.Stream(ctx, topo.DelegationsStream)
	if err != nil {
		t.Fatal(err)
	}
	erased := make(chan error, 4)
	in := &consumer.Intake{Store: store, Events: &consumer.EventPublisher{JS: js, Topology: topo}, Topology: topo, AcceptPlain: true,
		NetworkKey: func(ctx context.Context) (litnode.BLSPublicKey, error) {
			if err := lit.Connect(ctx); err != nil {
				return litnode.BLSPublicKey{}, err
			}
			s, _ := lit.State()
			return s.NetworkPublicKey, nil
		},
		SecureDelete: func(ctx context.Context, seq uint64) error {
			err := stream.SecureDeleteMsg(ctx, seq)
			erased <- err
			return err
		},
	}
	p := n.PKPs()[0]
	key, _ := litnode.GenerateSessionKey(nil)
	reqs, _ := litnode.ParseResourceShorthand("pkp-signing:*")
	a, err := lit.SignSessionKey(ctx, litnode.SignSessionKeyRequest{PKP: p.PublicKey, SessionKey: key.PublicKey(), Owner: p.OwnerKey, Resources: reqs, Expiration: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	h := &litnode.HandOff{PKP: p.PublicKey, SessionKey: key, Delegation: a}
	if _, err := js.Publish(ctx, topo.DelegationsSubject(), h.Encode()); err != nil {
		t.Fatal(err)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: topo.IntakeConsumer, AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next()
	if err != nil {
		t.Fatal(err)
	}
	in.Handle(ctx, msg)
	if err := <-erased; err != nil {
		t.Fatalf("secure delete: %v", err)
	}
	if _, err := store.Get(ctx, p.PublicKey); err != nil {
		t.Fatalf("the plain hand-off was not stored: %v", err)
	}
	// The plain envelope carries the secret inside base64url(payload JSON):
	// the whole payload string is the secret in recoverable form.
	var env litnode.Envelope
	if err := json.Unmarshal(h.Encode(), &env); err != nil {
		t.Fatal(err)
	}
	secret := []byte(env.Payload)
	scan := func() (inMsgs, inRaft []string) {
		for _, dir := range dirs {
			_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return nil
				}
				b, err := os.ReadFile(path)
				if err != nil || !bytes.Contains(b, secret) {
					return nil
				}
				// Stream stores are <store>/<account>/streams/<stream>/; raft
				// logs (write-ahead logs of replicated assets) are under _js_/.
				if strings.Contains(filepath.ToSlash(path), "/_js_/") {
					inRaft = append(inRaft, path)
				} else {
					inMsgs = append(inMsgs, path)
				}
				return nil
			})
		}
		return inMsgs, inRaft
	}
	// Followers apply the erase through raft: give them a moment.
	inMsgs, inRaft := scan()
	for deadline := time.Now().Add(15 * time.Second); len(inMsgs) != 0 && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		inMsgs, inRaft = scan()
	}
	if len(inMsgs) != 0 {
		t.Errorf("the session secret is still in a message store after the secure delete: %v", inMsgs)
	}
	if len(inRaft) == 0 {
		t.Fatal("the session secret is in no raft log: the README's R>1 warning would be wrong")
	}
	t.Logf("secret found in %d raft files, e.g. %s", len(inRaft), inRaft[0])
}
