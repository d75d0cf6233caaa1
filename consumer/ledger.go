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

// ErrIDReused: a producer sent a job whose id it already used for a job
// with different content (PKP, kind, message or action, chain). The job
// gets bad_request and never the other job's result.
var ErrIDReused = errors.New("id reused with different content")

// LedgerKey is the ledger key of a producer's job id: results belong to
// their producer, so two producers' equal ids never share an entry.
func LedgerKey(producer, id string) string { return producer + "." + id }

// DefaultLedgerTTL is how long the ledger remembers a job: a job id seen
// again within it (a redelivery, or a producer's resubmission after the
// jobs stream's duplicate window) gets the recorded result, not a second
// signature.
const DefaultLedgerTTL = 24 * time.Hour

// ledgerCASAttempts bounds the compare-and-set retries of one ledger write.
const ledgerCASAttempts = 8

// Ledger write retries: a write that fails for another reason than a lost
// compare-and-set race (a timeout or "no response from stream" while the
// bucket's raft group elects a leader, typically 2-10 s) is retried with
// backoff for up to ledgerRetryBudget, each attempt bounded by
// ledgerAttemptTimeout (docs/jetstream.md B.2).
const (
	ledgerRetryBudget    = 15 * time.Second
	ledgerAttemptTimeout = 4 * time.Second
)

// LedgerEntry is what the ledger holds for one job id. It never holds a
// secret: a result carries only public values.
type LedgerEntry struct {
	State string `json:"state"`
	Kind  string `json:"kind,omitempty"`
	// Producer is the job's producer; Content is the hash of what the job
	// asks for (jobContentHash): an id reused with other content is
	// refused.
	Producer string `json:"producer,omitempty"`
	Content  string `json:"content,omitempty"`
	// Undeliverable: the result is recorded but could not be published
	// through the job's last delivery (permission denied, no responders).
	Undeliverable bool `json:"undeliverable,omitempty"`
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
	// RetryBudget bounds the retries of one ledger operation that fails
	// transiently; 0 means ledgerRetryBudget (15 s), negative none.
	RetryBudget time.Duration
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
	return l.Begin(ctx, id, LedgerEntry{Kind: kind, Deliveries: deliveries, StartedAt: at})
}

// Begin is Start with the whole started entry e (its Producer and Content
// are kept). If the key holds an entry with other content, Begin writes
// nothing and returns that entry with ErrIDReused. Writes that fail
// transiently are retried (ledgerRetryBudget).
func (l *Ledger) Begin(ctx context.Context, key string, e LedgerEntry) (rev uint64, prev *LedgerEntry, err error) {
	e.State = LedgerStarted
	e.StartedAt = e.StartedAt.UTC()
	value, err := json.Marshal(e)
	if err != nil {
		return 0, nil, err
	}
	err = l.retry(ctx, func(ctx context.Context) (err error) {
		rev, prev, err = l.begin(ctx, key, value, e.Content)
		return err
	})
	return rev, prev, err
}

func (l *Ledger) begin(ctx context.Context, id string, value []byte, content string) (rev uint64, prev *LedgerEntry, err error) {
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
		if cur != nil && cur.Content != "" && content != "" && cur.Content != content {
			return 0, cur, fmt.Errorf("ledger key %s: %w", id, ErrIDReused)
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

// retry runs one ledger operation until it succeeds, fails for good
// (ErrIDReused, ctx ended) or the retry budget is spent: a write whose
// response was lost in a leader election may have been applied, and the
// operations are written so that running one again is safe (a Create that
// finds its own entry re-reads and updates it; MarkDone returns the entry
// recorded, whoever wrote it).
func (l *Ledger) retry(ctx context.Context, op func(ctx context.Context) error) error {
	budget := l.RetryBudget
	switch {
	case budget == 0:
		budget = ledgerRetryBudget
	case budget < 0:
		budget = 0
	}
	deadline := time.Now().Add(budget)
	delay := 100 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, ledgerAttemptTimeout)
		err := op(actx)
		cancel()
		if err == nil || errors.Is(err, ErrIDReused) || ctx.Err() != nil || time.Now().Add(delay).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
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
	return l.markDone(ctx, id, rev, value)
}

// Record is the commit point of a job (README "NATS contract"): it records
// e as the job's final result, retrying transient failures for up to
// ledgerRetryBudget, and returns the entry the ledger holds afterwards,
// whose Result is the only body the job may ever publish: e's, or the one
// another delivery recorded first (or an earlier attempt of this call
// whose response was lost). An error means nothing is recorded for sure:
// the caller must publish nothing.
func (l *Ledger) Record(ctx context.Context, key string, rev uint64, e LedgerEntry) (*LedgerEntry, error) {
	e.State = LedgerDone
	if e.DoneAt.IsZero() {
		e.DoneAt = time.Now()
	}
	e.DoneAt = e.DoneAt.UTC()
	value, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	var done *LedgerEntry
	err = l.retry(ctx, func(ctx context.Context) (err error) {
		done, err = l.markDone(ctx, key, rev, value)
		if err != nil && !casConflict(err) {
			rev = 0 // the write may have landed: re-read on the next attempt
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if done == nil {
		done = &e
	}
	return done, nil
}

// MarkUndeliverable flags the job's done entry: its result could not be
// published through the last delivery. Best effort: a lost race or a
// missing entry is not an error.
func (l *Ledger) MarkUndeliverable(ctx context.Context, key string) error {
	cur, err := l.Get(ctx, key)
	if err != nil || cur == nil || cur.State != LedgerDone || cur.Undeliverable {
		return err
	}
	cur.Undeliverable = true
	value, err := json.Marshal(cur)
	if err != nil {
		return err
	}
	if _, err := l.kv.Update(ctx, key, value, cur.Revision); err != nil && !casConflict(err) {
		return fmt.Errorf("ledger mark %s undeliverable: %w", key, err)
	}
	return nil
}

func (l *Ledger) markDone(ctx context.Context, id string, rev uint64, value []byte) (done *LedgerEntry, err error) {
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

// releaseEntry is Release keeping e's producer and content hash.
func (l *Ledger) releaseEntry(ctx context.Context, key string, rev uint64, e LedgerEntry) error {
	e.State = LedgerReleased
	value, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := l.kv.Update(ctx, key, value, rev); err != nil && !casConflict(err) {
		return fmt.Errorf("ledger release %s: %w", key, err)
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
