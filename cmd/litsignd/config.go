package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/litsignd/litsignd/policy"
)

// config is the daemon's configuration, from flags with env fallbacks.
type config struct {
	dev bool

	natsURL      string
	natsListen   string
	natsCreds    string
	natsUser     string
	natsPassword string
	natsNKeyFile string
	natsTLSCA    string
	natsTLSCert  string
	natsTLSKey   string
	natsConfig   string
	natsNoAuth   bool
	dataDir      string

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

	kekFile       string
	replicas      int
	subjectPrefix string
	metricsListen string
	logLevel      string
	expiringLead  time.Duration
	workers       int
	sessionTTL    time.Duration
	drainTimeout  time.Duration
	jobMaxDeliver int
	jobAckWait    time.Duration
	maxAckPending int

	devInfo     string
	devnetNodes int
	devnetSeed  string
	devnetPKPs  int
}

var errUsage = errors.New("usage")

// envName is the environment fallback of a flag.
func envName(flagName string) string {
	return "LITSIGND_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlagSet declares every flag on fs, bound to cfg.
func newFlagSet(name string, cfg *config, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.natsURL, "nats-url", "", "NATS server URL; empty starts an embedded nats-server with JetStream")
	fs.StringVar(&cfg.natsListen, "nats-listen", "127.0.0.1:4222", "listen address of the embedded nats-server")
	fs.StringVar(&cfg.natsCreds, "nats-creds", "", "NATS credentials file (JWT + nkey)")
	fs.StringVar(&cfg.natsUser, "nats-user", "", "NATS user name")
	fs.StringVar(&cfg.natsPassword, "nats-password", "", "NATS password")
	fs.StringVar(&cfg.natsNKeyFile, "nats-nkey-file", "", "NATS nkey seed file")
	fs.StringVar(&cfg.natsTLSCA, "nats-tls-ca", "", "CA certificate file for NATS TLS")
	fs.StringVar(&cfg.natsTLSCert, "nats-tls-cert", "", "client certificate file for NATS TLS")
	fs.StringVar(&cfg.natsTLSKey, "nats-tls-key", "", "client key file for NATS TLS")
	fs.StringVar(&cfg.natsConfig, "nats-config", "", "embedded nats-server: take authorization/accounts from this nats-server config file")
	fs.BoolVar(&cfg.natsNoAuth, "nats-no-auth", false, "embedded nats-server without authentication (loopback --nats-listen only; default: generated credentials in <data-dir>/nats-credentials)")
	fs.BoolVar(&cfg.acceptPlain, "accept-plain-handoffs", false, "accept plain hand-offs (session secret in the clear on the stream; with --replicas > 1 it stays in the raft logs); default: sealed only (always accepted in dev mode)")
	fs.StringVar(&cfg.defaultPolicy, "default-policy", "", `policy JSON for hand-offs without one (default {}: pkp-sign for any producer, no execute-js; dev: any action)`)
	fs.Int64Var(&cfg.streamMaxBytes, "stream-max-bytes", 256<<20, "MaxBytes of every stream litsignd creates (-1: unlimited)")
	fs.Int64Var(&cfg.streamMaxMsgs, "stream-max-msgs", 1_000_000, "MaxMsgs of every stream litsignd creates (-1: unlimited)")
	fs.DurationVar(&cfg.auditMaxAge, "audit-max-age", 90*24*time.Hour, "how long LIT_AUDIT keeps audit records")
	fs.StringVar(&cfg.dataDir, "data-dir", "litsignd-data", "directory of the embedded server's JetStream store (and dev-mode files)")

	fs.StringVar(&cfg.network, "network", "naga-dev", "Lit network: naga-dev, naga-test, naga, or custom")
	fs.StringVar(&cfg.rpcURL, "rpc-url", "", "chain JSON-RPC URL (overrides the network preset)")
	fs.Int64Var(&cfg.chainID, "chain-id", 0, "chain id (overrides the network preset)")
	fs.StringVar(&cfg.stakingAddress, "staking-address", "", "Staking contract address (overrides the preset)")
	fs.StringVar(&cfg.priceFeedAddress, "price-feed-address", "", "PriceFeed contract address (overrides the preset)")
	fs.StringVar(&cfg.litNodes, "lit-nodes", "", "comma-separated static Lit node URLs (skips on-chain discovery)")
	fs.StringVar(&cfg.litHTTPProtocol, "lit-http-protocol", "", "scheme for node URLs read on chain: https:// or http://")
	fs.BoolVar(&cfg.skipAttestation, "skip-attestation", false, "do not check SEV-SNP attestation on networks that require it (trust TLS only)")
	fs.DurationVar(&cfg.litTimeout, "lit-timeout", 45*time.Second, "timeout of one Lit node request")

	fs.StringVar(&cfg.kekFile, "kek-file", "", "key-encryption key file (lines <id>:<64 hex>; first is current); required outside dev mode")
	fs.IntVar(&cfg.replicas, "replicas", 1, "JetStream replicas of the streams and buckets litsignd creates")
	fs.StringVar(&cfg.subjectPrefix, "subject-prefix", "lit", "prefix of every litsignd subject")
	fs.StringVar(&cfg.metricsListen, "metrics-listen", "127.0.0.1:9464", "HOST:PORT of /metrics, /healthz and /readyz")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.DurationVar(&cfg.expiringLead, "expiring-lead", 5*time.Minute, "how long before a delegation expires the expiring event is sent")
	fs.IntVar(&cfg.workers, "workers", 256, "jobs in flight per replica")
	fs.DurationVar(&cfg.sessionTTL, "session-ttl", 2*time.Minute, "lifetime of the session signatures minted per request (capped at the delegation's)")
	fs.DurationVar(&cfg.drainTimeout, "drain-timeout", 30*time.Second, "how long shutdown waits for in-flight work")
	fs.IntVar(&cfg.jobMaxDeliver, "job-max-deliver", 5, "deliveries of a job before its last transient failure is final")
	fs.DurationVar(&cfg.jobAckWait, "job-ack-wait", 30*time.Second, "AckWait of the jobs consumer (heartbeats keep long jobs alive)")
	fs.IntVar(&cfg.maxAckPending, "max-ack-pending", 4096, "jobs in flight over all replicas (the jobs consumer's MaxAckPending)")

	fs.StringVar(&cfg.devInfo, "dev-info", "", "dev: where to write the description JSON (default <data-dir>/dev-info.json)")
	fs.IntVar(&cfg.devnetNodes, "devnet-nodes", 4, "dev: number of local Lit nodes")
	fs.StringVar(&cfg.devnetSeed, "devnet-seed", "litsignd-devnet", "dev: seed of the local network's keys and PKPs")
	fs.IntVar(&cfg.devnetPKPs, "devnet-pkps", 3, "dev: dev PKPs minted at start")
	return fs
}

// parseConfig parses args ("dev" first selects dev mode) with env fallbacks.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (*config, error) {
	cfg := &config{}
	name := "litsignd"
	if len(args) > 0 && args[0] == "dev" {
		cfg.dev, name, args = true, "litsignd dev", args[1:]
	}
	fs := newFlagSet(name, cfg, out)
	// Environment first; the command line overrides it.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", envName(f.Name), v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errUsage
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (the only subcommand is dev)", fs.Arg(0))
	}
	return cfg, cfg.validate()
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
	if _, err := parseLevel(c.logLevel); err != nil {
		return err
	}
	if _, err := policy.Parse([]byte(c.defaultPolicy)); err != nil {
		return fmt.Errorf("--default-policy: %w", err)
	}
	if c.natsNoAuth && c.natsConfig != "" {
		return errors.New("--nats-no-auth and --nats-config exclude each other")
	}
	return nil
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

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}
