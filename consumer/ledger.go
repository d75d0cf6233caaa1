package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/internal/jsapi"
)

// Ledger states of a job.
const (
	// LedgerStarted: a delivery of the job is being handled.
	LedgerStarted = "started"
	// LedgerDone: the job's final result is recorded; it was published or
	// is being published.
	LedgerDone = "done"
	// LedgerReleased: a delivery of the job started and failed
	// transiently without reaching the Lit nodes; the job may be run
	// again, even at most once.
	LedgerReleased = "released"
)

// DefaultLedgerTTL is how long the ledger remembers a job: a job id seen
// again within it (a redelivery, or a producer's resubmission after the
// jobs stream's duplicate window) gets the recorded result, not a second
// signature.
const DefaultLedgerTTL = 24 * time.Hour

// ledgerCASAttempts bounds the compare-and-set retries of one ledger write.
const ledgerCASAttempts = 8

// LedgerEntry is what the ledger holds for one job id. It never holds a
// secret: a result carries only public values.
type LedgerEntry struct {
	State string `json:"state"`
	Kind  string `json:"kind,omitempty"`
	// Deliveries is the delivery count of the latest delivery that
	// started the job (JetStream NumDelivered).
	Deliveries uint64    `json:"deliveries,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	DoneAt     time.Time `json:"doneAt,omitzero"`
	// Subject is where the result is published; Result is its body.
	Subject string          `json:"subject,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	// Revision is the entry's KV revision (not stored).
	Revision uint64 `json:"-"`
}

// Ledger records, per job id, whether a job was started and, once it has
// a final result, that result (docs/jetstream.md A.4 "KV CAS", A.6 "results
// in a KV bucket keyed by jobID … as a done marker"). Writes are
// compare-and-set on the key's revision, so of two deliveries of one job
// that race to finish, exactly one records its result; the other sees
// done and publishes nothing of its own. Keys are job ids. A Ledger is
// safe for concurrent use.
type Ledger struct {
	kv jetstream.KeyValue
}

// NewLedger returns a ledger on an existing bucket.
func NewLedger(kv jetstream.KeyValue) *Ledger { return &Ledger{kv: kv} }

// OpenLedger creates or updates the ledger bucket (file storage, one
// revision per key, entries expiring after ttl; 0 means DefaultLedgerTTL)
// and returns the ledger on it.
func OpenLedger(ctx context.Context, js jetstream.JetStream, bucket string, ttl time.Duration, replicas int) (*Ledger, error) {
	if ttl <= 0 {
		ttl = DefaultLedgerTTL
	}
	var kv jetstream.KeyValue
	err := jsapi.Retry(ctx, 10, 5*time.Second, func(ctx context.Context) (err error) {
		kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      bucket,
			Description: "litsignd: job ledger (started/done, final results)",
			History:     1,
			TTL:         ttl,
			Storage:     jetstream.FileStorage,
			Replicas:    max(replicas, 1),
			// Bounded like every litsignd stream (limits.go).
			MaxBytes:     DefaultLedgerMaxBytes,
			MaxValueSize: MaxResultBytes + 4<<10,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ensure bucket %s: %w", bucket, err)
	}
	return NewLedger(kv), nil
}

// Get returns the job's entry, or nil if the ledger has none.
func (l *Ledger) Get(ctx context.Context, id string) (*LedgerEntry, error) {
	kve, err := l.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ledger get %s: %w", id, err)
	}
	var e LedgerEntry
	if err := json.Unmarshal(kve.Value(), &e); err != nil {
		return nil, fmt.Errorf("ledger entry %s does not decode: %w", id, err)
	}
	e.Revision = kve.Revision()
	return &e, nil
}

// MarkStarted records that a delivery of the job started, unless the job
// is done: then it writes nothing and returns the done entry. Otherwise it
// returns the revision it wrote, for MarkDone.
func (l *Ledger) MarkStarted(ctx context.Context, id, kind string, deliveries uint64, at time.Time) (rev uint64, done *LedgerEntry, err error) {
	rev, prev, err := l.Start(ctx, id, kind, deliveries, at)
	if err != nil || prev == nil || prev.State != LedgerDone {
		return rev, nil, err
	}
	return 0, prev, nil
}

// Start is MarkStarted that also returns the entry it replaced (nil if
// none): a started one tells that an earlier delivery began the job and
// left no result, which an at-most-once job must not ignore. When prev is
// done, Start writes nothing and rev is 0.
func (l *Ledger) Start(ctx context.Context, id, kind string, deliveries uint64, at time.Time) (rev uint64, prev *LedgerEntry, err error) {
	value, err := json.Marshal(LedgerEntry{State: LedgerStarted, Kind: kind, Deliveries: deliveries, StartedAt: at.UTC()})
	if err != nil {
		return 0, nil, err
	}
	// First deliveries are the common case: try to create the key blind,
	// and read it only when it exists.
	if rev, err := l.kv.Create(ctx, id, value); err == nil {
		return rev, nil, nil
	} else if !casConflict(err) {
		return 0, nil, fmt.Errorf("ledger mark %s started: %w", id, err)
	}
	for range ledgerCASAttempts {
		cur, err := l.Get(ctx, id)
		if err != nil {
			return 0, nil, err
		}
		if cur != nil && cur.State == LedgerDone {
			return 0, cur, nil
		}
		rev, err := l.write(ctx, id, value, cur)
		if err == nil {
			return rev, cur, nil
		}
		if !casConflict(err) {
			return 0, nil, fmt.Errorf("ledger mark %s started: %w", id, err)
		}
	}
	return 0, nil, fmt.Errorf("ledger mark %s started: gave up after %d conflicting writes", id, ledgerCASAttempts)
}

// MarkDone records the job's final result: the subject it is published to
// and its body. rev is the revision MarkStarted returned (0 if unknown).
// If another delivery recorded a result first, MarkDone writes nothing and
// returns that entry: the caller must not publish its own result.
func (l *Ledger) MarkDone(ctx context.Context, id string, rev uint64, e LedgerEntry) (done *LedgerEntry, err error) {
	e.State = LedgerDone
	if e.DoneAt.IsZero() {
		e.DoneAt = time.Now()
	}
	e.DoneAt = e.DoneAt.UTC()
	value, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	for range ledgerCASAttempts {
		var cur *LedgerEntry
		if rev != 0 {
			cur = &LedgerEntry{State: LedgerStarted, Revision: rev}
		} else if cur, err = l.Get(ctx, id); err != nil {
			return nil, err
		}
		if cur != nil && cur.State == LedgerDone {
			return cur, nil
		}
		if _, err = l.write(ctx, id, value, cur); err == nil {
			return nil, nil
		}
		if !casConflict(err) {
			return nil, fmt.Errorf("ledger mark %s done: %w", id, err)
		}
		rev = 0 // re-read: a later delivery started, or another finished
	}
	return nil, fmt.Errorf("ledger mark %s done: gave up after %d conflicting writes", id, ledgerCASAttempts)
}

// Release marks the job's started entry (revision rev) released: the
// delivery failed without reaching the Lit nodes, so a redelivery may run
// the job even at most once. It writes nothing if another delivery wrote
// the entry since (a CAS conflict is not an error).
func (l *Ledger) Release(ctx context.Context, id string, rev uint64, kind string, deliveries uint64) error {
	value, err := json.Marshal(LedgerEntry{State: LedgerReleased, Kind: kind, Deliveries: deliveries})
	if err != nil {
		return err
	}
	if _, err := l.kv.Update(ctx, id, value, rev); err != nil && !casConflict(err) {
		return fmt.Errorf("ledger release %s: %w", id, err)
	}
	return nil
}

// write creates the key when cur is nil, else updates it on cur's revision.
func (l *Ledger) write(ctx context.Context, id string, value []byte, cur *LedgerEntry) (uint64, error) {
	if cur == nil {
		return l.kv.Create(ctx, id, value)
	}
	return l.kv.Update(ctx, id, value, cur.Revision)
}

// casConflict reports whether a KV write lost a compare-and-set race.
func casConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}
