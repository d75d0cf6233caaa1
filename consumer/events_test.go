package consumer_test

import (
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/nats-io/nats.go"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/internal/natstest"
	"github.com/litsignd/litsignd/litnode"
)

// TestExpiryEventOfV3Credential: a v3 credential's expiry event is
// published on <prefix>.events.delegation.<type>.<address> with backend
// lit-v3, its address and revision, and no session key; a Naga one names
// the PKP and its session key as before.
func TestExpiryEventOfV3Credential(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	nc, js := natstest.Connect(t, url)
	topo := consumer.DefaultTopology()
	if err := topo.Ensure(t.Context(), js); err != nil {
		t.Fatal(err)
	}
	got := make(chan *nats.Msg, 1)
	if _, err := nc.ChanSubscribe(topo.Prefix+".events.>", got); err != nil {
		t.Fatal(err)
	}
	const addr = "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23"
	exp := time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)
	ev := delegationstore.Event{Type: delegationstore.EventExpiring, Backend: delegationstore.BackendLitV3, Address: addr, Expiration: exp, Revision: 12, ID: "v3credential-expiring-" + addr + "-12"}
	p := &consumer.EventPublisher{JS: js, Topology: topo}
	if err := p.Publish(t.Context(), consumer.ExpiryEvent(ev), ev.ID); err != nil {
		t.Fatal(err)
	}
	var m *nats.Msg
	select {
	case m = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no event published")
	}
	var de consumer.DelegationEvent
	if err := json.Unmarshal(m.Data, &de); err != nil {
		t.Fatal(err)
	}
	if m.Subject != topo.EventSubject("expiring", addr) || de.Type != "expiring" || de.Backend != "lit-v3" || de.PKPPublicKey != addr ||
		de.SessionPublicKey != "" || de.Revision != 12 || de.Expiration == nil || !de.Expiration.Equal(exp) {
		t.Fatalf("published %s: %s", m.Subject, m.Data)
	}

	key, _ := secp256k1.GeneratePrivateKey()
	pkp, err := litnode.ParsePKPPublicKey("0x" + hex.EncodeToString(key.PubKey().SerializeUncompressed()))
	if err != nil {
		t.Fatal(err)
	}
	naga := consumer.ExpiryEvent(delegationstore.Event{Type: delegationstore.EventExpired, PKP: pkp, SessionPublicKey: "ab", Expiration: exp, Revision: 3})
	if naga.Backend != "" || naga.PKPPublicKey != pkp.Hex() || naga.SessionPublicKey != "ab" || naga.Type != "expired" {
		t.Fatalf("Naga event = %+v", naga)
	}
}
