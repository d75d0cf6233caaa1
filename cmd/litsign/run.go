package main

import (
	"context"
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
	"github.com/litsignd/litsignd/internal/buildinfo"
	"github.com/litsignd/litsignd/internal/cli"
	"github.com/litsignd/litsignd/internal/natsflags"
	"github.com/litsignd/litsignd/litnode"
)

// env carries the process environment into commands; cmd is the command
// being run (for its help and its positional arguments).
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	cmd    *command
}

// command is one litsign command.
type command struct {
	name    string
	flags   string // the flags its usage line names (required ones, alternatives)
	args    string // its positional arguments, after the flags ("[FILE|-]")
	maxArgs int    // how many positional arguments it accepts
	summary string
	run     func(ctx context.Context, e env, args []string) (int, error)
}

// commands is litsign's command table, in the order the help lists them.
// A new command is one line here and its cmdX function in its own file.
var commands = []command{
	{name: "keygen", summary: "print a new session key pair (JSON)", run: cmdKeygen},
	{name: "delegate", flags: "--pkp 0x04… [--owner-key HEX]", summary: "obtain a PKP delegation for a new session key, print the envelope", run: cmdDelegate},
	{name: "publish-delegation", args: "[FILE|-]", maxArgs: 1, summary: "hand an envelope (optionally sealed) to litsignd, await its verdict", run: cmdPublishDelegation},
	{name: "delegations", summary: "list stored delegations (no secrets)", run: cmdDelegations},
	{name: "revoke", flags: "--pkp 0x04…", summary: "revoke the delegation stored for a PKP (operator)", run: cmdRevoke},
	{name: "audit", flags: "--pkp 0x04…", summary: "print a PKP's audit trail: its jobs that reached the Lit nodes", run: cmdAudit},
	{name: "sign", flags: "--pkp 0x04… (--message TEXT | --hex 0x…)", summary: "submit a pkp-sign job and print its result", run: cmdSign},
	{name: "exec", flags: "--pkp 0x04… (--code FILE | --ipfs CID)", summary: "submit an execute-js job (a Lit Action) and print its result", run: cmdExec},
	{name: "bench", flags: "--pkp 0x04… [--jobs N] [--concurrency C] [--code FILE | --ipfs CID]", summary: "load-generate jobs; report jobs/s, latency percentiles, errors", run: cmdBench},
	{name: "v3", args: "<command>", maxArgs: 64, summary: "Lit v3: action-cid, hand-off, revoke, check (litsign v3 -h)", run: cmdV3},
	{name: "devnet", summary: "run a local Lit network and print its description JSON", run: cmdDevnet},
}

// envPrefix is the prefix of every flag's environment fallback.
const envPrefix = "LITSIGN_"

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	e := env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	const topHint = "run 'litsign -h' for the commands"
	if len(args) == 0 {
		usage(stderr)
		return 2, &cli.UsageError{Err: errors.New("no command given")}
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return 0, nil
	case "-version", "--version", "version":
		buildinfo.Read(version).Print(stdout, "litsign")
		return 0, nil
	case "help":
		if len(args) == 1 {
			usage(stdout)
			return 0, nil
		}
		if len(args) > 2 {
			return 2, cli.WithHint(cli.Usagef("help takes one command, not %q", args[2:]), topHint)
		}
		c := lookup(args[1])
		if c == nil {
			return 2, cli.WithHint(cli.Usagef("unknown command %q", args[1]), topHint)
		}
		return runCommand(ctx, e, c, []string{"-h"})
	}
	if strings.HasPrefix(args[0], "-") {
		return 2, cli.WithHint(cli.Usagef("flag %s before the command: flags go after it (litsign <command> [flags])", args[0]), topHint)
	}
	c := lookup(args[0])
	if c == nil {
		return 2, cli.WithHint(cli.Usagef("unknown command %q", args[0]), topHint)
	}
	return runCommand(ctx, e, c, args[1:])
}

// runCommand runs c: help is exit 0; a usage error is exit 2 with a hint.
func runCommand(ctx context.Context, e env, c *command, args []string) (int, error) {
	e.cmd = c
	code, err := c.run(ctx, e, args)
	var ue *cli.UsageError
	switch {
	case errors.Is(err, cli.ErrHelp):
		return 0, nil
	case errors.As(err, &ue) || (code == 2 && err != nil):
		return 2, cli.WithHint(err, fmt.Sprintf("run 'litsign %s -h' for usage", c.name))
	}
	return code, err
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "litsign is litsignd's client and operator CLI.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "usage: litsign <command> [flags] [arguments]")
	fmt.Fprintln(w, "       litsign help <command> | litsign --version")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	list := [][2]string{}
	for _, c := range commands {
		list = append(list, [2]string{strings.TrimSpace(c.name + " " + c.args), c.summary})
	}
	list = append(list, [2]string{"help [COMMAND]", "show a command's usage and flags"}, [2]string{"version", "print version, Go version and VCS revision"})
	width := 0
	for _, l := range list {
		width = max(width, len(l[0]))
	}
	for _, l := range list {
		fmt.Fprintf(w, "  %-*s  %s\n", width, l[0], l[1])
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'litsign <command> -h' for a command's flags.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Environment:")
	fmt.Fprintln(w, "  Every flag can also be set as LITSIGN_<FLAG> (upper case, '-' as '_'); the command line")
	fmt.Fprintln(w, "  wins. The commands that talk to litsignd read, among others:")
	for _, v := range [][2]string{
		{"LITSIGN_NATS_URL", "NATS server URL"},
		{"LITSIGN_DEV_INFO", "description file written by 'litsignd dev' (NATS URL, local network)"},
		{"LITSIGN_NATS_CREDS", "NATS credentials file (also _NATS_USER, _NATS_PASSWORD, _NATS_NKEY_FILE)"},
		{"LITSIGN_NATS_TLS_CA", "NATS TLS CA file (also _NATS_TLS_CERT, _NATS_TLS_KEY)"},
		{"LITSIGN_SUBJECT_PREFIX", "litsignd's subject prefix"},
		{"LITSIGN_PKP", "the PKP of sign, exec, bench, delegate and revoke"},
	} {
		fmt.Fprintf(w, "  %-24s %s\n", v[0], v[1])
	}
}

// parse parses a command's args: LITSIGN_* environment fallbacks, then the
// command line; -h prints the command's help to stdout (ErrHelp); extra
// positional arguments are an error.
func parse(fs *flag.FlagSet, e env, args []string) error {
	err := cli.Parse(fs, args, envPrefix, e.getenv)
	if errors.Is(err, cli.ErrHelp) {
		commandHelp(e.stdout, e.cmd, fs)
		return err
	}
	if err != nil {
		return err
	}
	max := 0
	if e.cmd != nil {
		max = e.cmd.maxArgs
	}
	return cli.Extra(fs, max)
}

// commandHelp prints c's usage line, summary and flags.
func commandHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	if c == nil {
		c = &command{name: strings.TrimPrefix(fs.Name(), "litsign ")}
	}
	line := "usage: litsign " + c.name
	if c.flags != "" {
		line += " " + c.flags
	}
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		line += " [flags]"
	}
	if c.args != "" {
		line += " " + c.args
	}
	fmt.Fprintln(w, line)
	if c.summary != "" {
		fmt.Fprintln(w)
		fmt.Fprintln(w, strings.ToUpper(c.summary[:1])+c.summary[1:]+".")
	}
	if hasFlags {
		fmt.Fprintln(w)
		cli.PrintFlags(w, fs, envPrefix,
			cli.Section{Title: "Lit network:", Names: []string{"network", "rpc-url", "lit-nodes", "skip-attestation"}},
			cli.Section{Title: "NATS connection:", Names: append([]string{"nats-url", "subject-prefix"}, natsflags.Names()...)},
		)
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Each flag can also be set in the environment variable shown in brackets; the command line wins.")
	}
}

// natsFlags are the flags of the commands that talk to litsignd over NATS.
type natsFlags struct {
	natsURL       string
	devInfo       string
	subjectPrefix string
	auth          natsflags.Flags
	timeout       time.Duration
}

func (c *natsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.natsURL, "nats-url", "", "NATS URL (default: the natsUrl of --dev-info)")
	fs.StringVar(&c.devInfo, "dev-info", "", "description file written by 'litsignd dev'")
	fs.StringVar(&c.subjectPrefix, "subject-prefix", "lit", "litsignd's subject prefix")
	c.auth.Register(fs)
	cli.DurationVar(fs, &c.timeout, "timeout", 30*time.Second, "how long to wait for litsignd")
}

// devInfoFile is the part of `litsignd dev`'s description litsign reads.
type devInfoFile struct {
	NATSURL          string `json:"natsUrl"`
	SealingPublicKey string `json:"sealingPublicKey"`
	Network          struct {
		Nodes            []string `json:"nodes"`
		RPCURL           string   `json:"rpcUrl"`
		NetworkPublicKey string   `json:"networkPublicKey"`
		Threshold        int      `json:"threshold"`
		ChainID          int64    `json:"chainId"`
		StakingAddress   string   `json:"stakingAddress"`
		PriceFeedAddress string   `json:"priceFeedAddress"`
	} `json:"network"`
	PKPs []struct {
		PublicKey       string `json:"publicKey"`
		EthAddress      string `json:"ethAddress"`
		OwnerPrivateKey string `json:"ownerPrivateKey"`
		OwnerAddress    string `json:"ownerAddress"`
	} `json:"pkps"`
}

func readDevInfo(path string) (*devInfoFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--dev-info: %w", err)
	}
	var d devInfoFile
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("--dev-info %s: %w", path, err)
	}
	return &d, nil
}

func (c *natsFlags) connect() (*nats.Conn, jetstream.JetStream, error) {
	url := c.natsURL
	if url == "" && c.devInfo != "" {
		d, err := readDevInfo(c.devInfo)
		if err != nil {
			return nil, nil, err
		}
		url = d.NATSURL
	}
	if url == "" {
		return nil, nil, errors.New("no NATS URL: give --nats-url (LITSIGN_NATS_URL) or --dev-info")
	}
	if err := c.auth.Validate(); err != nil {
		return nil, nil, err
	}
	auth, err := c.auth.Options()
	if err != nil {
		return nil, nil, err
	}
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("litsign"), nats.Timeout(10 * time.Second)}, auth...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

func (c *natsFlags) topology() consumer.Topology {
	return consumer.TopologyFor(c.subjectPrefix)
}

func cmdKeygen(_ context.Context, e env, args []string) (int, error) {
	fs := flag.NewFlagSet("litsign keygen", flag.ContinueOnError)
	if err := parse(fs, e, args); err != nil {
		return 2, err
	}
	k, err := litnode.GenerateSessionKey(nil)
	if err != nil {
		return 1, err
	}
	out, _ := json.Marshal(map[string]string{"publicKey": k.PublicKey().Hex(), "secretKey": k.RevealSecretHex()})
	fmt.Fprintln(e.stdout, string(out))
	return 0, nil
}
