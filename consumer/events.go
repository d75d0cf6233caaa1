package consumer

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/delegationstore"
)

// Delegation event types, published on <prefix>.events.delegation.<type>.<pkp>.
const (
	EventStored   = "stored"
	EventRejected = "rejected"
	EventRevoked  = "revoked"
	EventExpiring = "expiring"
	EventExpired  = "expired"
	EventNeeded   = "needed"
)

// DelegationEvent is the body of a delegation event. It never carries a
// secret.
type DelegationEvent struct {
	Type string `json:"type"`
	// Backend is "lit-v3" for a v3 credential (PKPPublicKey is then the
	// wallet address); empty for Naga.
	Backend          string     `json:"backend,omitempty"`
	PKPPublicKey     string     `json:"pkpPublicKey,omitempty"`
	SessionPublicKey string     `json:"sessionPublicKey,omitempty"`
	Reason           string     `json:"reason,omitempty"`
	Message          string     `json:"message,omitempty"`
	Expiration       *time.Time `json:"expiration,omitempty"`
	Revision         uint64     `json:"revision,omitempty"`
	JobID            string     `json:"jobId,omitempty"`
	At               time.Time  `json:"at"`
}

// ExpiryEvent is the DelegationEvent of a store's expiry event: a Naga
// delegation's names its PKP public key and session key, a v3
// credential's its wallet address with backend lit-v3.
func ExpiryEvent(ev delegationstore.Event) DelegationEvent {
	exp := ev.Expiration.UTC()
	de := DelegationEvent{Type: ev.Type, Expiration: &exp, Revision: ev.Revision}
	if ev.Backend == delegationstore.BackendLitV3 {
		de.Backend, de.PKPPublicKey = ev.Backend, ev.Address
	} else {
		de.PKPPublicKey, de.SessionPublicKey = ev.PKP.Hex(), ev.SessionPublicKey
	}
	return de
}

// EventPublisher publishes delegation events into the events stream.
type EventPublisher struct {
	JS       jetstream.JetStream
	Topology Topology
}

// Publish publishes ev; msgID, when set, deduplicates it across replicas
// and redeliveries (the stream's duplicate window).
func (p *EventPublisher) Publish(ctx context.Context, ev DelegationEvent, msgID string) error {
	if ev.At.IsZero() {
		ev.At = time.Now().UTC()
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	pkp := ev.PKPPublicKey
	if pkp == "" {
		pkp = "unknown"
	}
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	if _, err := p.JS.Publish(ctx, p.Topology.EventSubject(ev.Type, pkp), body, opts...); err != nil {
		return fmt.Errorf("publish %s event: %w", ev.Type, err)
	}
	return nil
}
