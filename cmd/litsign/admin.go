package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/internal/cli"
	"github.com/litsignd/litsignd/litnode"
)

// cmdRevoke deletes the delegation stored for a PKP (operator revocation:
// no session-key signature needed, NATS permissions on the bucket are the
// authority) and publishes a revoked event. A wallet address (0x + 40 hex)
// names a Lit v3 credential instead; its usage key stays refused for
// hand-offs issued until now.
func cmdRevoke(ctx context.Context, e env, args []string) (int, error) {
	fs := flag.NewFlagSet("litsign revoke", flag.ContinueOnError)
	var c natsFlags
	c.register(fs)
	pkpHex := fs.String("pkp", "", "PKP public key 0x04… (a Lit v3 PKP: its wallet address 0x + 40 hex)")
	if err := parse(fs, e, args); err != nil {
		return 2, err
	}
	v3Addr, v3err := delegationstore.NormalizeV3Address(*pkpHex)
	pkp, err := litnode.ParsePKPPublicKey(*pkpHex)
	if err != nil && v3err != nil {
		return 2, fmt.Errorf("--pkp: %w (nor is it a Lit v3 wallet address)", err)
	}
	nc, js, err := c.connect()
	if err != nil {
		return 1, err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	topo := c.topology()
	admin, err := delegationstore.OpenAdmin(ctx, js, topo.DelegationsBucket)
	if err != nil {
		return 1, err
	}
	ev := consumer.DelegationEvent{Type: consumer.EventRevoked, Reason: "operator", At: time.Now().UTC()}
	what := "the delegation"
	var deleted bool
	if v3err == nil {
		ev.Backend, ev.PKPPublicKey, what = delegationstore.BackendLitV3, v3Addr, "the Lit v3 credential"
		deleted, err = admin.RevokeV3(ctx, v3Addr)
	} else {
		ev.PKPPublicKey = pkp.Hex()
		deleted, err = admin.Revoke(ctx, pkp, nil)
	}
	if err != nil {
		return 1, err
	}
	if !deleted {
		return 1, fmt.Errorf("no %s is stored for %s", strings.TrimPrefix(what, "the "), ev.PKPPublicKey)
	}
	if err := (&consumer.EventPublisher{JS: js, Topology: topo}).Publish(ctx, ev, ""); err != nil {
		return 1, err
	}
	fmt.Fprintf(e.stdout, "revoked %s of %s\n", what, ev.PKPPublicKey)
	return 0, nil
}

// cmdDelegations lists stored delegations: PKP, session key, expiry. It
// never reads a secret.
func cmdDelegations(ctx context.Context, e env, args []string) (int, error) {
	fs := flag.NewFlagSet("litsign delegations", flag.ContinueOnError)
	var c natsFlags
	c.register(fs)
	asJSON := fs.Bool("json", false, "print JSON with the full keys, resources and times (for scripts)")
	if err := parse(fs, e, args); err != nil {
		return 2, err
	}
	nc, js, err := c.connect()
	if err != nil {
		return 1, err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	admin, err := delegationstore.OpenAdmin(ctx, js, c.topology().DelegationsBucket)
	if err != nil {
		return 1, err
	}
	list, err := admin.List(ctx)
	if err != nil {
		return 1, err
	}
	if *asJSON {
		b, _ := json.MarshalIndent(list, "", "  ")
		fmt.Fprintln(e.stdout, string(b))
		return 0, nil
	}
	printDelegations(e.stdout, list, time.Now())
	return 0, nil
}

// printDelegations writes one line per delegation or v3 credential, at
// most 100 columns: the backend, the PKP (a v3 credential: its wallet
// address) and the session key (v3: the usage key's hash, never the key)
// shortened (--json has them in full), the expiry and the time left.
func printDelegations(w io.Writer, list []delegationstore.Summary, now time.Time) {
	const format = "%-4s  %-24s  %-22s  %-20s  %-10s  %s\n"
	fmt.Fprintf(w, format, "LIT", "PKP", "SESSION KEY / KEY HASH", "EXPIRES (UTC)", "LEFT", "POLICY")
	for _, s := range list {
		backend, key := "naga", s.SessionPublicKey
		if s.Backend == delegationstore.BackendLitV3 {
			backend, key = "v3", s.KeyHash
		}
		expires, left := s.Expiration.UTC().Format(time.RFC3339), "expired"
		if s.Expiration.IsZero() {
			expires, left = "never", "-"
		} else if d := s.Expiration.Sub(now); d > 0 {
			if d > time.Hour {
				d = d.Truncate(time.Minute)
			}
			left = cli.FormatDuration(d.Round(time.Second))
		}
		pol := "default"
		if s.Policy != nil {
			pol = "owner"
		}
		fmt.Fprintf(w, format, backend, shorten(s.PKP, 10), shorten(key, 10), expires, left, pol)
		if s.Policy != nil {
			// The owner's policy, as handed off (README "Security model").
			fmt.Fprintf(w, "  policy %s\n", s.Policy)
		}
	}
	if len(list) == 0 {
		fmt.Fprintln(w, "(no delegations stored)")
	}
}

// shorten keeps the first and last n hex digits of a 0x key: 0x04ab…cd.
func shorten(key string, n int) string {
	prefix := ""
	if strings.HasPrefix(key, "0x") {
		prefix, key = "0x", key[2:]
	}
	if len(key) <= 2*n+2 {
		return prefix + key
	}
	return prefix + key[:n] + ".." + key[len(key)-n:]
}
