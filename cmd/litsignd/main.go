// Command litsignd is the litsignd daemon: it takes Lit PKP delegations from
// a JetStream subject, keeps them encrypted in a JetStream KV bucket, and
// signs jobs with them, minting fresh session signatures per request.
//
//	litsignd [flags]       run the daemon (embedded NATS unless --nats-url)
//	litsignd dev [flags]   embedded NATS + local Lit network + the daemon
//	litsignd --version     version, Go version, VCS revision
//
// Every flag has an environment fallback LITSIGND_<FLAG> (upper case, '-'
// as '_'); a flag given on the command line wins. `litsignd -h` lists the
// commands, the flags and their variables.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/litsignd/litsignd/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	cli.Report(os.Stderr, "litsignd", err)
	os.Exit(cli.ExitCode(err)) // 0, 2 for a usage error, 1 for any other failure
}
