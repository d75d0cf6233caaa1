package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/internal/cli"
	"github.com/litsignd/litsignd/litnode"
)

func cmdPublishDelegation(ctx context.Context, e env, args []string) (int, error) {
	fs := flag.NewFlagSet("litsign publish-delegation", flag.ContinueOnError)
	var c natsFlags
	c.register(fs)
	seal := fs.Bool("seal", false, "seal the payload to litsignd's sealing key (the secret never sits in JetStream in plaintext)")
	wait := fs.Bool("wait", true, "wait for litsignd's stored/rejected event")
	if err := parse(fs, e, args); err != nil {
		return 2, err
	}
	var in io.Reader = e.stdin
	if fs.NArg() > 0 && fs.Arg(0) != "-" {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return 1, err
		}
		defer f.Close()
		in = f
	}
	body, err := io.ReadAll(io.LimitReader(in, 1<<20))
	if err != nil {
		return 1, err
	}
	h, err := litnode.DecodeEnvelope(body)
	if err != nil {
		return 1, err
	}
	nc, js, err := c.connect()
	if err != nil {
		return 1, err
	}
	defer nc.Close()
	topo := c.topology()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if *seal {
		kv, err := js.KeyValue(ctx, topo.DaemonBucket)
		if err != nil {
			return 1, fmt.Errorf("read litsignd's sealing key: %w", err)
		}
		entry, err := kv.Get(ctx, consumer.SealingKeyKV)
		if err != nil {
			return 1, fmt.Errorf("read litsignd's sealing key: %w", err)
		}
		pub, err := consumer.ParseSealingPublicKey(string(entry.Value()))
		if err != nil {
			return 1, err
		}
		sealed, err := consumer.Seal(pub, h.PayloadJSON())
		if err != nil {
			return 1, err
		}
		body, _ = json.Marshal(map[string]string{"pkpPublicKey": h.PKP.Hex(), "sealedPayload": base64.RawURLEncoding.EncodeToString(sealed)})
	}
	var sub *nats.Subscription
	events := make(chan *nats.Msg, 8)
	if *wait {
		sub, err = nc.ChanSubscribe(topo.Prefix+".events.delegation.*."+h.PKP.Hex(), events)
		if err != nil {
			return 1, err
		}
		defer sub.Unsubscribe()
	}
	sum := sha256.Sum256(body)
	ack, err := js.Publish(ctx, topo.DelegationsSubject(), body, jetstream.WithMsgID(hex.EncodeToString(sum[:])))
	if err != nil {
		return 1, fmt.Errorf("publish: %w", err)
	}
	session := h.SessionKey.PublicKey().Hex()
	if ack.Duplicate {
		return publishedBefore(ctx, e, js, topo, h.PKP.Hex(), session, ack.Sequence)
	}
	if !*wait {
		return 0, nil
	}
	for {
		select {
		case <-ctx.Done():
			return 1, errors.New("no stored/rejected event before --timeout")
		case m := <-events:
			var ev consumer.DelegationEvent
			if json.Unmarshal(m.Data, &ev) != nil {
				continue
			}
			if ev.Type == consumer.EventStored && ev.SessionPublicKey != session {
				continue
			}
			if ev.Type != consumer.EventStored && ev.Type != consumer.EventRejected {
				continue
			}
			printJSON(e.stdout, m.Data, cli.IsTerminal(e.stdout))
			if ev.Type == consumer.EventRejected {
				return 1, fmt.Errorf("litsignd rejected the delegation: %s", ev.Reason)
			}
			return 0, nil
		case <-time.After(c.timeout):
		}
	}
}

// publishedBefore reports a publish JetStream dropped as a duplicate (the
// same envelope within the stream's duplicate window): litsignd saw the
// first copy, so no event will come for this one. It succeeds, printing
// the stored delegation, if litsignd stored this session key for the PKP.
func publishedBefore(ctx context.Context, e env, js jetstream.JetStream, topo consumer.Topology, pkp, session string, seq uint64) (int, error) {
	admin, err := delegationstore.OpenAdmin(ctx, js, topo.DelegationsBucket)
	if err != nil {
		return 1, fmt.Errorf("this envelope was already published (stream sequence %d); reading the stored delegations: %w", seq, err)
	}
	list, err := admin.List(ctx)
	if err != nil {
		return 1, fmt.Errorf("this envelope was already published (stream sequence %d); reading the stored delegations: %w", seq, err)
	}
	for _, s := range list {
		if strings.EqualFold(s.PKP, pkp) && strings.EqualFold(s.SessionPublicKey, session) {
			fmt.Fprintf(e.stderr, "litsign: this envelope was already published (stream sequence %d); litsignd has stored it\n", seq)
			b, _ := json.Marshal(s)
			printJSON(e.stdout, b, cli.IsTerminal(e.stdout))
			return 0, nil
		}
	}
	return 1, fmt.Errorf("this envelope was already published (stream sequence %d) and JetStream dropped the copy, but litsignd has not stored it: it was rejected or revoked, or is still being verified ('litsign delegations' lists what is stored; 'litsign delegate' makes a new one)", seq)
}
