package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/litnode"
)

// cmdRevoke deletes the delegation stored for a PKP (operator revocation:
// no session-key signature needed, NATS permissions on the bucket are the
// authority) and publishes a revoked event.
func cmdRevoke(ctx context.Context, e env, args []string) (int, error) {
	fs := flag.NewFlagSet("litsign revoke", flag.ContinueOnError)
	var c natsFlags
	c.register(fs)
	pkpHex := fs.String("pkp", "", "PKP public key 0x04…")
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
	admin, err := delegationstore.OpenAdmin(ctx, js, topo.DelegationsBucket)
	if err != nil {
		return 1, err
	}
	deleted, err := admin.Revoke(ctx, pkp, nil)
	if err != nil {
		return 1, err
	}
	if !deleted {
		return 1, fmt.Errorf("no delegation is stored for %s", pkp.Hex())
	}
	ev := consumer.DelegationEvent{Type: consumer.EventRevoked, PKPPublicKey: pkp.Hex(), Reason: "operator", At: time.Now().UTC()}
	if err := (&consumer.EventPublisher{JS: js, Topology: topo}).Publish(ctx, ev, ""); err != nil {
		return 1, err
	}
	fmt.Fprintf(e.stdout, "revoked the delegation of %s\n", pkp.Hex())
	return 0, nil
}

// cmdDelegations lists stored delegations: PKP, session key, expiry. It
// never reads a secret.
func cmdDelegations(ctx context.Context, e env, args []string) (int, error) {
	fs := flag.NewFlagSet("litsign delegations", flag.ContinueOnError)
	var c natsFlags
	c.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
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
	fmt.Fprintf(e.stdout, "%-132s  %-64s  %-34s  %s\n", "PKP", "SESSION KEY", "EXPIRES", "POLICY")
	for _, s := range list {
		pol := "(operator default)"
		if s.Policy != nil {
			pol = s.Policy.String()
		}
		fmt.Fprintf(e.stdout, "%-132s  %-64s  %-34s  %s\n", s.PKP, s.SessionPublicKey,
			s.Expiration.UTC().Format(time.RFC3339)+" (in "+time.Until(s.Expiration).Round(time.Second).String()+")", pol)
	}
	return 0, nil
}
