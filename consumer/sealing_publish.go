package consumer

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrSealingKeyMismatch means the sealing public key published in the
// daemon bucket is not the one this daemon's KEK derives: clients seal to
// the published key, so replacing it silently would make every hand-off
// sealed to it unsealable for the replicas still holding the old KEK.
var ErrSealingKeyMismatch = errors.New("the KEK's sealing key differs from the one published")

// PublishedSealingKey returns the sealing public key (hex) published in
// t.DaemonBucket, or "" if none is. It changes nothing.
func (t Topology) PublishedSealingKey(ctx context.Context, js jetstream.JetStream) (string, error) {
	kv, err := js.KeyValue(ctx, t.DaemonBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read bucket %s: %w", t.DaemonBucket, err)
	}
	e, err := kv.Get(ctx, SealingKeyKV)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s/%s: %w", t.DaemonBucket, SealingKeyKV, err)
	}
	return string(e.Value()), nil
}

// CheckSealingKey returns ErrSealingKeyMismatch if a sealing key other
// than pub is published (and rotate is false). It changes nothing.
func (t Topology) CheckSealingKey(ctx context.Context, js jetstream.JetStream, pub string, rotate bool) error {
	have, err := t.PublishedSealingKey(ctx, js)
	if err != nil {
		return err
	}
	if have != "" && have != pub && !rotate {
		return sealingMismatch(t, have, pub)
	}
	return nil
}

func sealingMismatch(t Topology, have, pub string) error {
	return fmt.Errorf("%w in %s/%s (%s, this KEK: %s); start with --rotate-sealing-key to replace it on purpose (clients must fetch it again, every replica needs the new KEK)",
		ErrSealingKeyMismatch, t.DaemonBucket, SealingKeyKV, have, pub)
}

// PublishSealingKey publishes pub in t.DaemonBucket (created by Ensure).
// If another key is published it returns ErrSealingKeyMismatch, unless
// rotate, which replaces it. Concurrent replicas with the same KEK agree;
// with different KEKs only the first one's key is published (compare-and-
// set on the entry's revision).
func (t Topology) PublishSealingKey(ctx context.Context, js jetstream.JetStream, pub string, rotate bool) (replaced string, err error) {
	kv, err := js.KeyValue(ctx, t.DaemonBucket)
	if err != nil {
		return "", fmt.Errorf("publish sealing key: %w", err)
	}
	for {
		e, err := kv.Get(ctx, SealingKeyKV)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			if _, err := kv.Create(ctx, SealingKeyKV, []byte(pub)); casConflict(err) {
				continue // another replica was first: compare with its key
			} else if err != nil {
				return "", fmt.Errorf("publish sealing key: %w", err)
			}
			return "", nil
		case err != nil:
			return "", fmt.Errorf("publish sealing key: %w", err)
		}
		have := string(e.Value())
		if have == pub {
			return "", nil
		}
		if !rotate {
			return "", sealingMismatch(t, have, pub)
		}
		if _, err := kv.Update(ctx, SealingKeyKV, []byte(pub), e.Revision()); err != nil {
			if casConflict(err) {
				continue // changed since we read it: compare again
			}
			return "", fmt.Errorf("publish sealing key: %w", err)
		}
		return have, nil
	}
}
