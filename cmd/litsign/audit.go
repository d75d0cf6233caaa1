package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/internal/cli"
	"github.com/litsignd/litsignd/litnode"
)

// cmdAudit prints the audit trail (stream LIT_AUDIT) of a PKP: every
// pkp-sign and execute-js job of it that reached the Lit nodes, oldest
// first. It reads with an ordered consumer and changes nothing.
func cmdAudit(ctx context.Context, e env, args []string) (int, error) {
	fs := flag.NewFlagSet("litsign audit", flag.ContinueOnError)
	var c natsFlags
	c.register(fs)
	pkpHex := fs.String("pkp", "", "PKP public key 0x04… (required)")
	producer := fs.String("producer", "", "only this producer's jobs")
	since := cli.Duration(fs, "since", 24*time.Hour, "how far back to read (e.g. 12h, 7d)")
	asJSON := fs.Bool("json", false, "print one JSON record per line")
	if err := parse(fs, e, args); err != nil {
		return 2, err
	}
	pkp, err := litnode.ParsePKPPublicKey(*pkpHex)
	if err != nil {
		return 2, fmt.Errorf("--pkp: %w", err)
	}
	nc, js, err := c.connect()
	if err != nil {
		return 1, err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	topo := c.topology()
	subject := topo.Prefix + ".audit.>"
	if *producer != "" {
		subject = topo.AuditSubject(*producer)
	}
	start := time.Now().Add(-*since)
	cons, err := js.OrderedConsumer(ctx, topo.AuditStreamName(), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start,
	})
	if err != nil {
		return 1, fmt.Errorf("audit stream %s: %w", topo.AuditStreamName(), err)
	}
	if !*asJSON {
		fmt.Fprintf(e.stdout, "%-24s  %-16s  %-10s  %-12s  %-5s  %-24s  %s\n", "TIME", "PRODUCER", "KIND", "OUTCOME", "NODES", "JOB", "DIGEST/CID (CHAIN)")
	}
	for {
		info, err := cons.Info(ctx)
		if err != nil {
			return 1, err
		}
		if info.NumPending == 0 {
			return 0, nil
		}
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return 1, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var rec consumer.AuditRecord
			if json.Unmarshal(m.Data(), &rec) != nil || rec.PKP != pkp.Hex() {
				continue
			}
			if *asJSON {
				fmt.Fprintln(e.stdout, string(m.Data()))
				continue
			}
			what := rec.Digest + " (" + rec.Chain + ")"
			if rec.Kind == consumer.KindExecuteJS {
				what = rec.CID
			}
			fmt.Fprintf(e.stdout, "%-24s  %-16s  %-10s  %-12s  %-5d  %-24s  %s\n", rec.At.UTC().Format(time.RFC3339), rec.Producer, rec.Kind, rec.Outcome, rec.Nodes, rec.JobID, what)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return 1, err
		}
		if n == 0 {
			return 0, nil
		}
	}
}
