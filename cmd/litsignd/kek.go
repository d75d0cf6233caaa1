package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/litsignd/litsignd/delegationstore"
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

// runKEK runs `litsignd kek …`.
func runKEK(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, kekUsage)
		if len(args) == 0 {
			return errors.New("kek: want a subcommand: new or rotate")
		}
		return nil
	}
	switch args[0] {
	case "new":
		fs := flag.NewFlagSet("litsignd kek new", flag.ContinueOnError)
		fs.SetOutput(stderr)
		out := fs.String("out", "", "write the KEK to this file (mode 0600; refuses to overwrite)")
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("kek new: unexpected argument %q", fs.Arg(0))
		}
		if *out != "" {
			if err := delegationstore.GenerateKEKFile(*out); err != nil {
				return fmt.Errorf("kek new: %w", err)
			}
			fmt.Fprintf(stderr, "litsignd: wrote a new KEK to %s (mode 0600); start litsignd with --kek-file %s\n", *out, *out)
			return nil
		}
		if isTerminal(stdout) {
			return errors.New("kek new: refusing to print a secret key to a terminal; redirect stdout to a file ((umask 077; litsignd kek new > kek.txt)) or use --out FILE")
		}
		return delegationstore.WriteNewKEK(stdout)
	case "rotate":
		if len(args) != 2 || len(args[1]) == 0 || args[1][0] == '-' {
			fmt.Fprint(stderr, kekUsage)
			return errors.New("kek rotate: want exactly one argument, the KEK file")
		}
		id, err := delegationstore.RotateKEKFile(args[1])
		if err != nil {
			return fmt.Errorf("kek rotate: %w", err)
		}
		fmt.Fprintln(stdout, id)
		fmt.Fprintf(stderr, "litsignd: %s is the current key of %s now (older keys kept for reading). Restart every replica with it; start one once with --rotate-sealing-key to publish the new sealing key.\n", id, args[1])
		return nil
	default:
		fmt.Fprint(stderr, kekUsage)
		return fmt.Errorf("kek: unknown subcommand %q (want new or rotate)", args[0])
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
