// Command litsignd is the litsignd daemon: it takes Lit PKP delegations from
// a JetStream subject, keeps them encrypted in a JetStream KV bucket, and
// signs jobs with them, minting fresh session signatures per request.
//
//	litsignd [flags]       run the daemon (embedded NATS unless --nats-url)
//	litsignd dev [flags]   embedded NATS + local Lit network + the daemon
//
// Every flag has an environment fallback LITSIGND_<FLAG> (upper case, '-'
// as '_'); a flag given on the command line wins.
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
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "litsignd: %v\n", err)
		os.Exit(1)
	}
}
