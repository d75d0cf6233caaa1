package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/internal/buildinfo"
	"github.com/litsignd/litsignd/internal/cli"
	"github.com/litsignd/litsignd/internal/natsflags"
	"github.com/litsignd/litsignd/policy"
)

// config is the daemon's configuration, from flags with env fallbacks.
type config struct {
	dev bool

	natsURL    string
	natsListen string
	nats       natsflags.Flags // authentication and TLS
	natsConfig string          // embedded server: auth from this nats-server config
	natsNoAuth bool            // embedded server: no auth (loopback only)
	dataDir    string

	acceptPlain    bool
	defaultPolicy  string
	streamMaxBytes int64
	streamMaxMsgs  int64
	auditMaxAge    time.Duration

	network          string
	rpcURL           string
	chainID          int64
	stakingAddress   string
	priceFeedAddress string
	litNodes         string
	litHTTPProtocol  string
	skipAttestation  bool
	litTimeout       time.Duration

	kekFile          string
	rotateSealingKey bool
	replicas         int
	subjectPrefix    string
	metricsListen    string
	pprofListen      string
	hotDelegations   int
	logLevel         string
	logFormat        string
	expiringLead     time.Duration
	workers          int
	sessionTTL       time.Duration
	drainTimeout     time.Duration
	jobMaxDeliver    int
	jobAckWait       time.Duration
	maxAckPending    int
	producers        string
	allowDefault     bool

	v3 v3Config // v3.go

	devInfo     string
	devnetNodes int
	devnetSeed  string
	devnetPKPs  int
}

// errUsage is returned by parseConfig when it printed help or the
// version: run returns nil, the process exits 0.
var errUsage = cli.ErrHelp

// envPrefix is the prefix of every flag's environment fallback.
const envPrefix = "LITSIGND_"

// envName is the environment fallback of a flag.
func envName(flagName string) string { return cli.EnvName(envPrefix, flagName) }

// subcommands are litsignd's commands besides running the daemon, in the
// order the help lists them. A new one is a line here and a case in run.
var subcommands = []struct{ name, summary string }{
	{"dev", "embedded NATS, a local Lit network and the daemon, for development"},
	{"kek", "create (kek new) or rotate (kek rotate FILE) a key-encryption key file"},
}

// newFlagSet declares the flags of litsignd (dev: of litsignd dev) on fs,
// bound to cfg.
func newFlagSet(name string, cfg *config, dev bool) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&cfg.natsURL, "nats-url", "", "NATS server URL; empty starts an embedded nats-server with JetStream")
	fs.StringVar(&cfg.natsListen, "nats-listen", "127.0.0.1:4222", "listen address of the embedded nats-server")
	cfg.nats.Register(fs)
	fs.StringVar(&cfg.natsConfig, "nats-config", "", "embedded nats-server: users and permissions from this nats-server config file")
	fs.BoolVar(&cfg.natsNoAuth, "nats-no-auth", false, "embedded nats-server without auth (loopback only; default: <data-dir>/nats-credentials)")
	fs.BoolVar(&cfg.acceptPlain, "accept-plain-handoffs", false, "accept plain hand-offs (with --replicas > 1 the secret stays in raft logs)")
	fs.StringVar(&cfg.defaultPolicy, "default-policy", "", `policy JSON for hand-offs without one (default {}: pkp-sign only)`)
	fs.Int64Var(&cfg.streamMaxBytes, "stream-max-bytes", 256<<20, "MaxBytes of every stream and bucket litsignd creates (-1: none)")
	fs.Int64Var(&cfg.streamMaxMsgs, "stream-max-msgs", 1_000_000, "MaxMsgs of every stream litsignd creates (-1: none)")
	cli.DurationVar(fs, &cfg.auditMaxAge, "audit-max-age", 90*24*time.Hour, "how long the audit stream keeps records")
	fs.StringVar(&cfg.dataDir, "data-dir", "litsignd-data", "directory of the embedded server's JetStream store (and dev-mode files)")

	fs.StringVar(&cfg.network, "network", "naga-dev", "Lit network: naga-dev, naga-test, naga, or custom (with --rpc-url and the contract addresses, or --lit-nodes)")
	fs.StringVar(&cfg.rpcURL, "rpc-url", "", "chain JSON-RPC URL (overrides the network preset)")
	fs.Int64Var(&cfg.chainID, "chain-id", 0, "chain id (overrides the network preset)")
	fs.StringVar(&cfg.stakingAddress, "staking-address", "", "Staking contract address (overrides the preset)")
	fs.StringVar(&cfg.priceFeedAddress, "price-feed-address", "", "PriceFeed contract address (overrides the preset)")
	fs.StringVar(&cfg.litNodes, "lit-nodes", "", "comma-separated static Lit node URLs (skips on-chain discovery)")
	fs.StringVar(&cfg.litHTTPProtocol, "lit-http-protocol", "", "scheme for node URLs read on chain: https:// or http:// (http:// for a local network such as 'litsign devnet')")
	fs.BoolVar(&cfg.skipAttestation, "skip-attestation", false, "do not check SEV-SNP attestation on networks that require it (trust TLS only)")
	cli.DurationVar(fs, &cfg.litTimeout, "lit-timeout", 45*time.Second, "timeout of one Lit node request")

	fs.StringVar(&cfg.kekFile, "kek-file", "", "key-encryption key file (lines <id>:<64 hex>; first is current); required outside dev mode")
	fs.BoolVar(&cfg.rotateSealingKey, "rotate-sealing-key", false, "replace a sealing public key published by another KEK (after litsignd kek rotate); without it litsignd refuses to start")
	fs.IntVar(&cfg.replicas, "replicas", 1, "JetStream replicas of the streams and buckets litsignd creates")
	fs.StringVar(&cfg.subjectPrefix, "subject-prefix", "lit", "prefix of every litsignd subject")
	fs.StringVar(&cfg.metricsListen, "metrics-listen", "127.0.0.1:9464", "HOST:PORT of /metrics, /healthz and /readyz")
	fs.StringVar(&cfg.pprofListen, "pprof-listen", "", "loopback HOST:PORT of net/http/pprof (/debug/pprof/); empty (the default) serves none")
	fs.IntVar(&cfg.hotDelegations, "hot-delegations", 10000, "delegations kept unsealed in memory per replica (LRU); others are read from the bucket on use")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	defaultFormat := "json"
	if dev {
		defaultFormat = "text"
	}
	fs.StringVar(&cfg.logFormat, "log-format", defaultFormat, "log format on stderr: text (for a terminal) or json (for log collectors)")
	cli.DurationVar(fs, &cfg.expiringLead, "expiring-lead", 5*time.Minute, "how long before a delegation expires the expiring event is sent")
	fs.IntVar(&cfg.workers, "workers", 256, "jobs in flight per replica")
	cli.DurationVar(fs, &cfg.sessionTTL, "session-ttl", 2*time.Minute, "lifetime of the session signatures minted per request (capped at the delegation's)")
	cli.DurationVar(fs, &cfg.drainTimeout, "drain-timeout", 30*time.Second, "how long shutdown waits for in-flight work")
	fs.IntVar(&cfg.jobMaxDeliver, "job-max-deliver", 5, "deliveries of a job before its last transient failure is final")
	cli.DurationVar(fs, &cfg.jobAckWait, "job-ack-wait", 30*time.Second, "AckWait of the jobs consumer (heartbeats keep long jobs alive)")
	fs.IntVar(&cfg.maxAckPending, "max-ack-pending", 4096, "jobs in flight over all replicas (the jobs consumer's MaxAckPending)")
	fs.StringVar(&cfg.producers, "producers", "", "configured producers, comma-separated, each optionally name:inbox-prefix (default inbox prefix _INBOX.); others are accepted but labelled \"other\" in metrics")
	fs.BoolVar(&cfg.allowDefault, "allow-default-producer", false, "accept jobs on the un-namespaced <prefix>.jobs.<kind> as producer \"default\" (default on in dev)")

	// Defaults that only dev mode reads; flags that only dev mode declares.
	cfg.devnetNodes, cfg.devnetSeed, cfg.devnetPKPs = 4, "litsignd-devnet", 3
	registerV3Flags(fs, &cfg.v3, dev) // v3.go
	if dev {
		fs.StringVar(&cfg.devInfo, "dev-info", "", "where to write the description JSON (default <data-dir>/dev-info.json)")
		fs.IntVar(&cfg.devnetNodes, "devnet-nodes", cfg.devnetNodes, "number of local Lit nodes")
		fs.StringVar(&cfg.devnetSeed, "devnet-seed", cfg.devnetSeed, "seed of the local network's keys and PKPs")
		fs.IntVar(&cfg.devnetPKPs, "devnet-pkps", cfg.devnetPKPs, "dev PKPs minted at start")
	}
	return fs
}

// helpSections group litsignd's flags in the help.
func helpSections() []cli.Section {
	return []cli.Section{
		{Title: "NATS:", Names: append([]string{"nats-url", "nats-listen", "nats-config", "nats-no-auth", "data-dir", "replicas", "subject-prefix", "stream-max-bytes", "stream-max-msgs"}, natsflags.Names()...)},
		{Title: "Producers and policy:", Names: []string{"producers", "allow-default-producer", "default-policy", "accept-plain-handoffs", "audit-max-age"}},
		{Title: "Lit network:", Names: []string{"network", "rpc-url", "chain-id", "staking-address", "price-feed-address", "lit-nodes", "lit-http-protocol", "skip-attestation", "lit-timeout"}},
		{Title: "Lit v3:", Names: []string{"lit-v3-url", "lit-v3-timeout", "lit-v3-grant-window", "lit-v3-balance-interval", "lit-v3-low-balance-cents", "lit-v3-max-per-credential"}},
		{Title: "Local network (litsignd dev):", Names: []string{"dev-info", "devnet-nodes", "devnet-seed", "devnet-pkps"}},
	}
}

// printHelp writes litsignd's (or litsignd dev's) help.
func printHelp(w io.Writer, fs *flag.FlagSet, dev bool) {
	if dev {
		fmt.Fprintln(w, "usage: litsignd dev [flags]")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Run an embedded nats-server, a local Lit network with dev PKPs, and the daemon with a dev KEK;")
		fmt.Fprintln(w, "when ready, write the description JSON (--dev-info) for 'litsign --dev-info' and print a quickstart.")
	} else {
		fmt.Fprintln(w, "litsignd takes Lit PKP delegations from a JetStream subject, keeps them encrypted in a JetStream")
		fmt.Fprintln(w, "KV bucket, and runs pkp-sign and execute-js jobs with them.")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "usage: litsignd [flags]             run the daemon (embedded NATS unless --nats-url)")
		fmt.Fprintln(w, "       litsignd <command> [flags]")
		fmt.Fprintln(w, "       litsignd --version")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Commands:")
		for _, c := range subcommands {
			fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Run 'litsignd <command> -h' for a command's flags.")
	}
	fmt.Fprintln(w)
	cli.PrintFlags(w, fs, envPrefix, helpSections()...)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Environment:")
	fmt.Fprintln(w, "  Every flag has an environment fallback LITSIGND_<FLAG> (upper case, '-' as '_'), shown in")
	fmt.Fprintln(w, "  brackets above, e.g. LITSIGND_NATS_URL, LITSIGND_KEK_FILE; the command line wins.")
}

// parseConfig parses args ("dev" first selects dev mode) with env
// fallbacks. Help (-h) and --version are printed to out and return
// errUsage; mistakes are *cli.UsageError.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (*config, error) {
	cfg := &config{}
	name, hint := "litsignd", "run 'litsignd -h' for usage"
	if len(args) > 0 && args[0] == "dev" {
		cfg.dev, name, hint, args = true, "litsignd dev", "run 'litsignd dev -h' for usage", args[1:]
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "--version" || a == "-version" {
			buildinfo.Read(version).Print(out, "litsignd")
			return nil, errUsage
		}
	}
	fs := newFlagSet(name, cfg, cfg.dev)
	err := cli.Parse(fs, args, envPrefix, getenv)
	if errors.Is(err, cli.ErrHelp) {
		printHelp(out, fs, cfg.dev)
		return nil, errUsage
	}
	if err != nil {
		return nil, cli.WithHint(err, hint)
	}
	if fs.NArg() > 0 {
		a := fs.Arg(0)
		switch {
		case a == "version":
			buildinfo.Read(version).Print(out, "litsignd")
			return nil, errUsage
		case a == "help" && !cfg.dev:
			switch fs.Arg(1) {
			case "dev":
				return parseConfig([]string{"dev", "-h"}, getenv, out)
			case "kek":
				fmt.Fprint(out, kekUsage)
				return nil, errUsage
			}
			return parseConfig([]string{"-h"}, getenv, out)
		case len(args) > 0 && args[0] == a && !cfg.dev:
			return nil, cli.WithHint(cli.Usagef("unknown command %q", a), hint)
		default:
			return nil, cli.WithHint(cli.Usagef("unexpected argument %q (flags go before arguments; litsignd%s takes none)", a, map[bool]string{true: " dev"}[cfg.dev]), hint)
		}
	}
	if cfg.dev {
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "allow-default-producer" })
		if !set {
			cfg.allowDefault = true
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, cli.WithHint(err, hint)
	}
	return cfg, nil
}

func (c *config) validate() error {
	if !c.dev && c.kekFile == "" {
		return errors.New("--kek-file (LITSIGND_KEK_FILE) is required outside dev mode: litsignd refuses to store session keys without a key-encryption key")
	}
	if c.replicas < 1 || c.replicas > 5 {
		return fmt.Errorf("--replicas %d: want 1 to 5", c.replicas)
	}
	if c.workers < 1 {
		return fmt.Errorf("--workers %d: want at least 1", c.workers)
	}
	if c.subjectPrefix == "" || strings.ContainsAny(c.subjectPrefix, " *>") {
		return fmt.Errorf("--subject-prefix %q is not a valid subject prefix", c.subjectPrefix)
	}
	if c.hotDelegations < 1 {
		return fmt.Errorf("--hot-delegations %d: want at least 1", c.hotDelegations)
	}
	if err := checkPprofListen(c.pprofListen); err != nil {
		return err
	}
	if _, err := parseLevel(c.logLevel); err != nil {
		return err
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return fmt.Errorf("--log-format %q: want text or json", c.logFormat)
	}
	if _, err := policy.Parse([]byte(c.defaultPolicy)); err != nil {
		return fmt.Errorf("--default-policy: %w", err)
	}
	if c.natsNoAuth && c.natsConfig != "" {
		return errors.New("--nats-no-auth and --nats-config exclude each other")
	}
	if err := c.v3.validate(); err != nil {
		return err
	}
	if _, err := consumer.ParseProducers(c.producers); err != nil {
		return fmt.Errorf("--producers: %w", err)
	}
	return c.nats.Validate()
}

// jobsDefaultPolicy is the operator's default policy: --default-policy, or
// policy.Default() (dev: policy.Permissive()).
func (c *config) jobsDefaultPolicy() *policy.Policy {
	if p, _ := policy.Parse([]byte(c.defaultPolicy)); p != nil {
		return p
	}
	if c.dev {
		return policy.Permissive()
	}
	return policy.Default()
}

// newLogger is the daemon's logger on w, in --log-format at --log-level.
func newLogger(c *config, w io.Writer) *slog.Logger {
	level, _ := parseLevel(c.logLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.logFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}
