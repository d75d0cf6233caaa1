// Command litsign is litsignd's client and operator CLI.
//
//	litsign keygen                       a session key pair (JSON)
//	litsign delegate --owner-key HEX --pkp 0x04… [--resources …] [--ttl 15m]
//	                                     obtain a delegation from the Lit network, print the hand-off envelope
//	litsign publish-delegation [--seal] [FILE|-]
//	litsign revoke --pkp 0x04…           operator revocation
//	litsign delegations                  list stored delegations (never secrets)
//	litsign sign --pkp 0x04… (--message TEXT | --hex 0x…) [--chain ethereum]
//	                                     submit a pkp-sign job, print its result (non-zero exit on an error result)
//	litsign bench --pkp 0x04… --jobs N --concurrency C
//	                                     load generator: jobs/s, latency percentiles, error results
//	litsign devnet                       run a local Lit network and print its description
//
// Flags have environment fallbacks LITSIGN_<FLAG>; --dev-info FILE (from
// `litsignd dev`) supplies the NATS URL and the local network.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "litsign: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
