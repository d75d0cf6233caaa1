package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/litnode"
)

// env carries the process environment into commands.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	summary string
	run     func(ctx context.Context, e env, args []string) (int, error)
}

func commands() map[string]command {
	return map[string]command{
		"keygen":             {"print a new session key pair (JSON)", cmdKeygen},
		"delegate":           {"obtain a PKP delegation for a new session key and print the hand-off envelope", cmdDelegate},
		"publish-delegation": {"publish a hand-off envelope (optionally sealed) to litsignd", cmdPublishDelegation},
		"revoke":             {"revoke the delegation stored for a PKP (operator)", cmdRevoke},
		"delegations":        {"list stored delegations (no secrets)", cmdDelegations},
		"audit":              {"print a PKP's audit trail: jobs that reached the Lit nodes", cmdAudit},
		"devnet":             {"run a local Lit network and print its description JSON", cmdDevnet},
		"sign":               {"submit a pkp-sign job and print its result", cmdSign},
		"exec":               {"submit an execute-js job (a Lit Action) and print its result", cmdExec},
		"bench":              {"load-generate sign jobs and report jobs/s and latency percentiles", cmdBench},
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	e := env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2, errors.New("no command")
		}
		return 0, nil
	}
	c, ok := cmds[args[0]]
	if !ok {
		usage(stderr, cmds)
		return 2, fmt.Errorf("unknown command %q", args[0])
	}
	return c.run(ctx, e, args[1:])
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: litsign <command> [flags]  (litsign <command> -h for flags)")
	for _, n := range names {
		fmt.Fprintf(w, "  %-20s %s\n", n, cmds[n].summary)
	}
}

// common are the flags shared by commands that talk to NATS.
type natsFlags struct {
	natsURL       string
	devInfo       string
	subjectPrefix string
	natsCreds     string
	natsUser      string
	natsPassword  string
	timeout       time.Duration
}

func (c *natsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.natsURL, "nats-url", "", "NATS URL (default: the natsUrl of --dev-info)")
	fs.StringVar(&c.devInfo, "dev-info", "", "description file written by `litsignd dev`")
	fs.StringVar(&c.subjectPrefix, "subject-prefix", "lit", "litsignd's subject prefix")
	fs.StringVar(&c.natsCreds, "nats-creds", "", "NATS credentials file")
	fs.StringVar(&c.natsUser, "nats-user", "", "NATS user")
	fs.StringVar(&c.natsPassword, "nats-password", "", "NATS password")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "how long to wait")
}

// parse parses args with LITSIGN_* env fallbacks (the command line wins).
func parse(fs *flag.FlagSet, e env, args []string) error {
	fs.SetOutput(e.stderr)
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "LITSIGN_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := e.getenv(name); v != "" && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s: %w", name, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	return fs.Parse(args)
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
	opts := []nats.Option{nats.Name("litsign")}
	if c.natsCreds != "" {
		opts = append(opts, nats.UserCredentials(c.natsCreds))
	}
	if c.natsUser != "" {
		opts = append(opts, nats.UserInfo(c.natsUser, c.natsPassword))
	}
	nc, err := nats.Connect(url, opts...)
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
	t := consumer.DefaultTopology()
	t.Prefix = c.subjectPrefix
	return t
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
