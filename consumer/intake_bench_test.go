package consumer_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/internal/natstest"
	"github.com/litsignd/litsignd/litnode"
)

// BenchmarkIntake measures verified delegations stored per second: publish
// on lit.delegations, full Verify (BLS pairing), KV compare-and-set, stored
// event. Delegations are BLS-signed here with a key the benchmark controls;
// each has a later issued-at than the last, so every one replaces the last.
func BenchmarkIntake(b *testing.B) {
	_, url := natstest.RunJetStream(b)
	nc, js := natstest.Connect(b, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	topo := consumer.DefaultTopology()
	if err := topo.Ensure(ctx, js); err != nil {
		b.Fatal(err)
	}
	network := litnode.NewBLSSecretKey([]byte("bench network"))
	kek, _ := delegationstore.GenerateKEK("bench")
	ring, _ := delegationstore.NewKeyring(kek)
	store, err := delegationstore.Open(ctx, js, delegationstore.Config{Bucket: topo.DelegationsBucket, KEK: ring})
	if err != nil {
		b.Fatal(err)
	}
	stream, _ := js.Stream(ctx, topo.DelegationsStream)
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: topo.IntakeConsumer, AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 5})
	if err != nil {
		b.Fatal(err)
	}
	in := &consumer.Intake{Store: store, Events: &consumer.EventPublisher{JS: js, Topology: topo}, Topology: topo, MaxDeliver: 5, AcceptPlain: true,
		NetworkKey:   func(context.Context) (litnode.BLSPublicKey, error) { return network.PublicKey(), nil },
		SecureDelete: func(ctx context.Context, seq uint64) error { return stream.SecureDeleteMsg(ctx, seq) }}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = store.Run(ctx) }()
	go func() { defer wg.Done(); _ = consumer.Pull(ctx, cons, 8, 5*time.Second, in.Handle, nil) }()
	defer func() { cancel(); wg.Wait() }()
	<-store.Ready()

	const pkps = 16
	keys := make([]litnode.PKPPublicKey, pkps)
	for i := range keys {
		k, _ := crypto.GenerateKey()
		keys[i], _ = litnode.ParsePKPPublicKey(fmt.Sprintf("%x", crypto.FromECDSAPub(&k.PublicKey)))
	}
	reqs, _ := litnode.ParseResourceShorthand("pkp-signing:*")
	base := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	exp := time.Now().Add(2 * time.Hour)
	envelope := func(i int) []byte {
		pkp := keys[i%pkps]
		session, _ := litnode.GenerateSessionKey(nil)
		m := litnode.ClientSIWE(pkp, session.PublicKey(), reqs, "", "", "0x"+fmt.Sprintf("%064x", i), base.Add(time.Duration(i)*time.Second), exp)
		m.IssuedAt = base.Add(time.Duration(i) * time.Second).UTC().Format(time.RFC3339)
		h := litnode.BLSSessionMessage(m.String())
		a := litnode.AuthSig{Sig: litnode.FormatBLSSigJSON(network.Sign(h[:])), Algo: litnode.AlgoLitBLS, DerivedVia: litnode.DerivedViaBLS, SignedMessage: m.String(), Address: pkp.Address().Hex()}
		return (&litnode.HandOff{PKP: pkp, SessionKey: session, Delegation: a}).Encode()
	}
	envs := make([][]byte, b.N)
	for i := range envs {
		envs[i] = envelope(i)
	}
	var stored, rejected atomic.Int64
	done := make(chan struct{}, 1)
	sub, _ := nc.Subscribe(topo.Prefix+".events.delegation.>", func(m *nats.Msg) {
		if len(m.Subject) > 0 && m.Subject[len(topo.Prefix)+len(".events.delegation."):][:6] == "stored" {
			if stored.Add(1) == int64(b.N) {
				done <- struct{}{}
			}
		} else {
			rejected.Add(1)
		}
	})
	defer sub.Unsubscribe()

	b.ResetTimer()
	for _, e := range envs {
		if _, err := js.PublishAsync(topo.DelegationsSubject(), e); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("%d of %d stored (%d rejected)", stored.Load(), b.N, rejected.Load())
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "delegations/s")
	if rejected.Load() != 0 {
		b.Fatalf("%d delegations rejected", rejected.Load())
	}
}
