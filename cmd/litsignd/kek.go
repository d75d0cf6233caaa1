package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/internal/cli"
)

const kekUsage = `usage:
  litsignd kek new [--out FILE]   create a key-encryption key (KEK) file
  litsignd kek rotate FILE        add a fresh current key to FILE, keeping the old ones

kek new writes to FILE (created with mode 0600, never overwritten) or, without
--out, to stdout, which must not be a terminal:
  (umask 077; litsignd kek new > kek.txt)
After kek rotate, restart every replica with the new file and start one of
them once with --rotate-sealing-key: the sealing key clients seal hand-offs
to derives from the current key.
`

// kekHint follows every usage error of litsignd kek.
const kekHint = "run 'litsignd kek -h' for usage"

// runKEK runs `litsignd kek …`: help on stdout (exit 0), usage errors as
// *cli.UsageError (exit 2).
func runKEK(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return cli.WithHint(errors.New("kek: want a subcommand: new or rotate"), kekHint)
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		fmt.Fprint(stdout, kekUsage)
		return nil
	}
	switch args[0] {
	case "new":
		fs := flag.NewFlagSet("litsignd kek new", flag.ContinueOnError)
		out := fs.String("out", "", "write the KEK to this file (mode 0600; refuses to overwrite)")
		if err := cli.Parse(fs, args[1:], "", nil); err != nil {
			if errors.Is(err, cli.ErrHelp) {
				fmt.Fprint(stdout, kekUsage)
				return nil
			}
			return cli.WithHint(fmt.Errorf("kek new: %w", err), kekHint)
		}
		if err := cli.Extra(fs, 0); err != nil {
			return cli.WithHint(fmt.Errorf("kek new: %w", err), kekHint)
		}
		if *out != "" {
			if err := delegationstore.GenerateKEKFile(*out); err != nil {
				return fmt.Errorf("kek new: %w", err)
			}
			fmt.Fprintf(stderr, "litsignd: wrote a new KEK to %s (mode 0600); start litsignd with --kek-file %s\n", *out, *out)
			return nil
		}
		if cli.IsTerminal(stdout) {
			return errors.New("kek new: refusing to print a secret key to a terminal; redirect stdout to a file ((umask 077; litsignd kek new > kek.txt)) or use --out FILE")
		}
		return delegationstore.WriteNewKEK(stdout)
	case "rotate":
		if len(args) == 2 && (args[1] == "-h" || args[1] == "--help") {
			fmt.Fprint(stdout, kekUsage)
			return nil
		}
		if len(args) != 2 || len(args[1]) == 0 || args[1][0] == '-' {
			return cli.WithHint(errors.New("kek rotate: want exactly one argument, the KEK file"), kekHint)
		}
		id, err := delegationstore.RotateKEKFile(args[1])
		if err != nil {
			return fmt.Errorf("kek rotate: %w", err)
		}
		fmt.Fprintln(stdout, id)
		fmt.Fprintf(stderr, "litsignd: %s is the current key of %s now (older keys kept for reading). Restart every replica with it; start one once with --rotate-sealing-key to publish the new sealing key.\n", id, args[1])
		return nil
	default:
		return cli.WithHint(fmt.Errorf("kek: unknown subcommand %q (want new or rotate)", args[0]), kekHint)
	}
}
