package deployments_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/consumer"
)

// roleConn is a connection as one user that records the permission
// violations the server reports to it.
type roleConn struct {
	user string
	nc   *nats.Conn
	js   jetstream.JetStream
	mu   sync.Mutex
	errs []string
}

func connectRole(t *testing.T, url, user string) *roleConn {
	t.Helper()
	r := &roleConn{user: user}
	r.nc, r.js = connect(t, url, user, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.errs = append(r.errs, err.Error())
	}))
	return r
}

// violated waits up to d for the server's permissions violation of kind
// ("Publish to" or "Subscription to") on subject.
func (r *roleConn) violated(kind, subject string, d time.Duration) bool {
	want := fmt.Sprintf("Permissions Violation for %s %q", kind, subject)
	deadline := time.Now().Add(d)
	for {
		r.mu.Lock()
		for _, e := range r.errs {
			if strings.Contains(e, want) {
				r.mu.Unlock()
				return true
			}
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A permission is one line of a role's table: something the role does
// (do returns an error if it did not work) and whether it may.
type permission struct {
	what    string
	allowed bool
	do      func(ctx context.Context, r *roleConn) error
}

// pub publishes a plain message on subject; the server's violation (or its
// absence) decides.
func pub(subject string) func(context.Context, *roleConn) error {
	return func(_ context.Context, r *roleConn) error {
		if err := r.nc.Publish(subject, []byte("{}")); err != nil {
			return err
		}
		return r.nc.Flush()
	}
}

// sub subscribes to subject.
func sub(subject string) func(context.Context, *roleConn) error {
	return func(_ context.Context, r *roleConn) error {
		s, err := r.nc.SubscribeSync(subject)
		if err != nil {
			return err
		}
		defer s.Unsubscribe()
		return r.nc.Flush()
	}
}

// subjectOf returns the kind and subject a pub or sub permission names.
func subjectOf(what string) (kind, subject string, ok bool) {
	switch {
	case strings.HasPrefix(what, "publish "):
		return "Publish to", strings.TrimPrefix(what, "publish "), true
	case strings.HasPrefix(what, "subscribe "):
		return "Subscription to", strings.TrimPrefix(what, "subscribe "), true
	}
	return "", "", false
}

// TestNATSPermissions starts a server from nats/nats-1.conf (stand-alone,
// ports on loopback) and checks each role's table in README "NATS
// accounts": every allowed action works, every other one named here is
// refused with a permissions violation.
func TestNATSPermissions(t *testing.T) {
	c := startCluster(t, 1)
	url := c.url()
	ctx := testContext(t, 60*time.Second)
	topo := consumer.DefaultTopology()

	// The daemon's own start-up: topology, buckets, consumers, sealing key.
	daemon := connectRole(t, url, "daemon")
	if err := topo.Ensure(ctx, daemon.js); err != nil {
		t.Fatalf("daemon: ensure topology: %v", err)
	}
	if err := topo.EnsureJobs(ctx, daemon.js); err != nil {
		t.Fatalf("daemon: ensure jobs topology: %v", err)
	}
	if _, err := daemon.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: topo.DelegationsBucket, History: 1, Storage: jetstream.FileStorage}); err != nil {
		t.Fatalf("daemon: delegations bucket: %v", err)
	}
	if _, err := daemon.js.CreateOrUpdateConsumer(ctx, topo.DelegationsStream, jetstream.ConsumerConfig{Durable: topo.IntakeConsumer, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatalf("daemon: intake consumer: %v", err)
	}
	if _, _, err := topo.EnsureJobsConsumers(ctx, daemon.js, topo.JobsConsumerConfig(0, 0, 0)); err != nil {
		t.Fatalf("daemon: jobs consumers: %v", err)
	}
	daemonKV, err := daemon.js.KeyValue(ctx, topo.DaemonBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := daemonKV.PutString(ctx, consumer.SealingKeyKV, "00ff"); err != nil {
		t.Fatalf("daemon: put sealing key: %v", err)
	}
	if v := c.violations(); len(v) > 0 {
		t.Fatalf("the daemon's start-up hit permission violations:\n%s", strings.Join(v, "\n"))
	}

	client := connectRole(t, url, "client")
	producer := connectRole(t, url, "producer")
	producer2 := connectRole(t, url, "producer2")
	operator := connectRole(t, url, "operator")
	sys := connectRole(t, url, "sys")

	// receives subscribes as r, has the daemon publish on subject, and
	// waits for the message.
	receives := func(subscribe, subject string) func(context.Context, *roleConn) error {
		return func(ctx context.Context, r *roleConn) error {
			s, err := r.nc.SubscribeSync(subscribe)
			if err != nil {
				return err
			}
			defer s.Unsubscribe()
			if err := r.nc.Flush(); err != nil {
				return err
			}
			if _, err := daemon.js.Publish(ctx, subject, []byte(`{"type":"test"}`)); err != nil {
				return fmt.Errorf("daemon publish %s: %w", subject, err)
			}
			_, err = s.NextMsgWithContext(ctx)
			return err
		}
	}
	jsPublish := func(subject string) func(context.Context, *roleConn) error {
		return func(ctx context.Context, r *roleConn) error {
			ack, err := r.js.Publish(ctx, subject, []byte(`{"id":"perm-test"}`), jetstream.WithMsgID(fmt.Sprintf("%s-%s-%d", r.user, subject, time.Now().UnixNano())))
			if err == nil && ack.Stream == "" {
				err = errors.New("no stream acknowledged the message")
			}
			return err
		}
	}
	var jobSeq uint64

	roles := []struct {
		conn  *roleConn
		perms []permission
	}{
		{daemon, []permission{
			{"create and update its streams, buckets and consumers (above)", true, func(context.Context, *roleConn) error { return nil }},
			{"publish lit.events.delegation.stored.0x04ab", true, pub("lit.events.delegation.stored.0x04ab")},
			{"publish lit.results.anything", true, pub("lit.results.anything")},
			{"publish lit.jobs.pkp-sign", false, pub("lit.jobs.pkp-sign")},
			{"publish lit.delegations", false, pub("lit.delegations")},
			{"publish _INBOX.someone", false, pub("_INBOX.someone")},
			{"publish $JS.API.STREAM.DELETE.LIT_JOBS", false, pub("$JS.API.STREAM.DELETE.LIT_JOBS")},
			{"publish $JS.API.STREAM.PURGE.LIT_DELEGATIONS", false, pub("$JS.API.STREAM.PURGE.LIT_DELEGATIONS")},
			{"publish $JS.API.STREAM.CREATE.OTHER", false, pub("$JS.API.STREAM.CREATE.OTHER")},
			{"subscribe lit.delegations", false, sub("lit.delegations")},
			{"subscribe lit.events.>", false, sub("lit.events.>")},
		}},
		{client, []permission{
			{"hand off a delegation (lit.delegations, with the stream's ack)", true, jsPublish("lit.delegations")},
			{"send a revocation (lit.revocations, with the stream's ack)", true, jsPublish("lit.revocations")},
			{"read the sealing key (KV lit_daemon sealing-public-key)", true, func(ctx context.Context, r *roleConn) error {
				kv, err := r.js.KeyValue(ctx, topo.DaemonBucket)
				if err != nil {
					return err
				}
				e, err := kv.Get(ctx, consumer.SealingKeyKV)
				if err == nil && string(e.Value()) != "00ff" {
					err = fmt.Errorf("read %q", e.Value())
				}
				return err
			}},
			{"receive delegation events (lit.events.delegation.>)", true, receives("lit.events.delegation.*.0x04ab", "lit.events.delegation.stored.0x04ab")},
			{"publish lit.jobs.pkp-sign", false, pub("lit.jobs.pkp-sign")},
			{"publish lit.events.delegation.stored.0x04ab", false, pub("lit.events.delegation.stored.0x04ab")},
			{"publish lit.results.x", false, pub("lit.results.x")},
			{"publish $JS.API.INFO", false, pub("$JS.API.INFO")},
			{"publish $JS.API.STREAM.INFO.LIT_DELEGATIONS", false, pub("$JS.API.STREAM.INFO.LIT_DELEGATIONS")},
			{"publish $JS.API.DIRECT.GET.KV_lit_daemon.$KV.lit_daemon.other", false, pub("$JS.API.DIRECT.GET.KV_lit_daemon.$KV.lit_daemon.other")},
			{"publish $KV.lit_daemon.sealing-public-key", false, pub("$KV.lit_daemon.sealing-public-key")},
			{"subscribe lit.results.>", false, sub("lit.results.>")},
			{"subscribe lit.jobs.>", false, sub("lit.jobs.>")},
			{"subscribe lit.delegations", false, sub("lit.delegations")},
		}},
		{producer, []permission{
			{"submit a job as itself (lit.jobs.producer.pkp-sign, with the stream's ack)", true, func(ctx context.Context, r *roleConn) error {
				ack, err := r.js.Publish(ctx, "lit.jobs.producer.pkp-sign", []byte(`{"id":"perm-job"}`), jetstream.WithMsgID("perm-job"))
				if err == nil {
					jobSeq = ack.Sequence
				}
				return err
			}},
			{"receive results on its reply subjects (lit.results.producer.>)", true, receives("lit.results.producer.>", "lit.results.producer.perm-job")},
			{"publish lit.delegations", false, pub("lit.delegations")},
			{"publish lit.revocations", false, pub("lit.revocations")},
			{"publish lit.jobs.pkp-sign", false, pub("lit.jobs.pkp-sign")},
			{"publish lit.jobs.producer2.pkp-sign", false, pub("lit.jobs.producer2.pkp-sign")},
			{"publish lit.jobs.producer2.execute-js", false, pub("lit.jobs.producer2.execute-js")},
			{"publish lit.results.producer.forged", false, pub("lit.results.producer.forged")},
			{"publish $JS.API.INFO", false, pub("$JS.API.INFO")},
			{"publish $JS.API.STREAM.INFO.LIT_JOBS", false, pub("$JS.API.STREAM.INFO.LIT_JOBS")},
			{"subscribe lit.results.>", false, sub("lit.results.>")},
			{"subscribe lit.results.other.>", false, sub("lit.results.other.>")},
			{"subscribe lit.results.producer2.>", false, sub("lit.results.producer2.>")},
			{"subscribe lit.results.producer2.job-1", false, sub("lit.results.producer2.job-1")},
			{"subscribe lit.events.>", false, sub("lit.events.>")},
			{"subscribe lit.jobs.>", false, sub("lit.jobs.>")},
		}},
		// A second producer: neither can act as the other or read the
		// other's results (README "Security model").
		{producer2, []permission{
			{"submit a job as itself (lit.jobs.producer2.pkp-sign, with the stream's ack)", true, func(ctx context.Context, r *roleConn) error {
				_, err := r.js.Publish(ctx, "lit.jobs.producer2.pkp-sign", []byte(`{"id":"perm-job-2"}`), jetstream.WithMsgID("producer2.perm-job-2"))
				return err
			}},
			{"receive results on its reply subjects (lit.results.producer2.>)", true, receives("lit.results.producer2.>", "lit.results.producer2.perm-job-2")},
			{"publish lit.jobs.producer.pkp-sign", false, pub("lit.jobs.producer.pkp-sign")},
			{"publish lit.jobs.pkp-sign", false, pub("lit.jobs.pkp-sign")},
			{"publish lit.results.producer.forged", false, pub("lit.results.producer.forged")},
			{"subscribe lit.results.producer.>", false, sub("lit.results.producer.>")},
			{"subscribe lit.results.producer.perm-job", false, sub("lit.results.producer.perm-job")},
			{"subscribe lit.results.>", false, sub("lit.results.>")},
			{"subscribe lit.jobs.>", false, sub("lit.jobs.>")},
		}},
		{operator, []permission{
			{"inspect streams and consumers", true, func(ctx context.Context, r *roleConn) error {
				if _, err := r.js.Stream(ctx, topo.JobsStream); err != nil {
					return err
				}
				_, err := r.js.Consumer(ctx, topo.JobsStream, topo.JobsConsumer)
				return err
			}},
			{"read and delete a job (a dead letter) by sequence", true, func(ctx context.Context, r *roleConn) error {
				s, err := r.js.Stream(ctx, topo.JobsStream)
				if err != nil {
					return err
				}
				m, err := s.GetMsg(ctx, jobSeq)
				if err != nil {
					return err
				}
				if !strings.Contains(string(m.Data), "perm-job") {
					return fmt.Errorf("read %q", m.Data)
				}
				return s.DeleteMsg(ctx, jobSeq)
			}},
			{"revoke a delegation (purge its key) and announce it", true, func(ctx context.Context, r *roleConn) error {
				kv, err := r.js.KeyValue(ctx, topo.DelegationsBucket)
				if err != nil {
					return err
				}
				if err := kv.Purge(ctx, "0x04ab"); err != nil {
					return err
				}
				_, err = r.js.Publish(ctx, "lit.events.delegation.revoked.0x04ab", []byte(`{"type":"revoked"}`))
				return err
			}},
			{"subscribe $JS.EVENT.ADVISORY.>", true, sub("$JS.EVENT.ADVISORY.>")},
			{"subscribe lit.results.>", true, sub("lit.results.>")},
			{"publish lit.jobs.pkp-sign", false, pub("lit.jobs.pkp-sign")},
			{"publish lit.delegations", false, pub("lit.delegations")},
			{"publish lit.events.delegation.stored.0x04ab", false, pub("lit.events.delegation.stored.0x04ab")},
			{"publish $JS.API.STREAM.DELETE.LIT_JOBS", false, pub("$JS.API.STREAM.DELETE.LIT_JOBS")},
			{"publish $JS.API.STREAM.PURGE.LIT_JOBS", false, pub("$JS.API.STREAM.PURGE.LIT_JOBS")},
			{"publish $JS.API.STREAM.UPDATE.LIT_JOBS", false, pub("$JS.API.STREAM.UPDATE.LIT_JOBS")},
			{"publish $JS.API.STREAM.MSG.GET.LIT_DELEGATIONS", false, pub("$JS.API.STREAM.MSG.GET.LIT_DELEGATIONS")},
			{"publish $JS.API.CONSUMER.CREATE.LIT_DELEGATIONS.peek", false, pub("$JS.API.CONSUMER.CREATE.LIT_DELEGATIONS.peek")},
			{"publish $JS.API.CONSUMER.MSG.NEXT.LIT_DELEGATIONS.litsignd-intake", false, pub("$JS.API.CONSUMER.MSG.NEXT.LIT_DELEGATIONS.litsignd-intake")},
			{"publish $JS.API.CONSUMER.DELETE.LIT_JOBS.litsignd", false, pub("$JS.API.CONSUMER.DELETE.LIT_JOBS.litsignd")},
			{"subscribe lit.delegations", false, sub("lit.delegations")},
		}},
		{sys, []permission{
			{"connect to the system account", true, func(context.Context, *roleConn) error { return sys.nc.Flush() }},
		}},
	}
	for _, role := range roles {
		t.Run(role.conn.user, func(t *testing.T) {
			for _, p := range role.perms {
				pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := p.do(pctx, role.conn)
				cancel()
				kind, subject, plain := subjectOf(p.what)
				switch {
				case p.allowed && err != nil:
					t.Errorf("may %s, but: %v", p.what, err)
				case p.allowed && plain && role.conn.violated(kind, subject, 200*time.Millisecond):
					t.Errorf("may %s, but the server refused it", p.what)
				case !p.allowed && !plain:
					t.Fatalf("%s: a refused action must be a plain publish or subscribe", p.what)
				case !p.allowed && !role.conn.violated(kind, subject, 2*time.Second):
					t.Errorf("must not %s, but the server allowed it", p.what)
				}
			}
		})
	}
}
