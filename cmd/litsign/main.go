// Command litsign is litsignd's client and operator CLI: it obtains and
// hands off PKP delegations, lists and revokes them, submits pkp-sign and
// execute-js jobs, load-generates them, and runs a local Lit network.
//
//	litsign <command> [flags] [arguments]
//	litsign help <command>
//	litsign --version
//
// The commands are the table in run.go; `litsign -h` lists them and
// `litsign <command> -h` shows a command's flags. Every flag has an
// environment fallback LITSIGN_<FLAG> (upper case, '-' as '_'); --dev-info
// FILE (written by `litsignd dev`) supplies the NATS URL and the local
// network.
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
	code, err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	cli.Report(os.Stderr, "litsign", err)
	if err != nil && code == 0 {
		code = 1
	}
	os.Exit(code)
}

// version is set at build time (-ldflags "-X main.version=…").
var version = "dev"
