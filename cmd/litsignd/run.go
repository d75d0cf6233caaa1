package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/internal/buildinfo"
	"github.com/litsignd/litsignd/internal/jsapi"
	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/litnode/devnet"
)

// version is set at build time (-ldflags "-X main.version=…").
var version = "dev"

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "kek" {
		return runKEK(args[1:], stdout, stderr)
	}
	cfg, err := parseConfig(args, getenv, stdout)
	if errors.Is(err, errUsage) {
		return nil
	}
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)

	// Start-up order: everything that can be checked offline first (KEK,
	// Lit network settings, NATS credentials), then the ports are bound,
	// then NATS is read (a clash with another deployment or another
	// sealing key refuses the start), and only then is shared state
	// written: streams, buckets, consumers, and last the sealing key. A
	// failed start leaves NATS as it found it.
	if err := os.MkdirAll(cfg.dataDir, 0o700); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	keyring, err := loadKEK(cfg)
	if err != nil {
		return err
	}
	sealing, err := consumer.DeriveSealingKey(keyring.SealingMaterial())
	if err != nil {
		return err
	}
	var litNet litnode.NetworkConfig
	if !cfg.dev {
		if litNet, err = litNetwork(cfg); err != nil {
			return err
		}
	}
	if err := cfg.v3.checkURL(); err != nil { // v3.go
		return err
	}
	nopts, err := natsOptions(cfg, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.metricsListen)
	if err != nil {
		return fmt.Errorf("--metrics-listen %s: %w", cfg.metricsListen, err)
	}
	defer ln.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "litsignd_build_info", Help: "litsignd version, Go version and VCS revision (as litsignd --version prints them)."}, buildinfo.LabelNames())
	buildInfo.WithLabelValues(buildinfo.Read(version).LabelValues()...).Set(1)
	reg.MustRegister(buildInfo)

	// NATS: embedded unless --nats-url.
	var ns *server.Server
	natsURL := cfg.natsURL
	if natsURL == "" {
		var embeddedOpts []nats.Option
		ns, embeddedOpts, err = startEmbedded(cfg, logger)
		if err != nil {
			return err
		}
		defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
		natsURL = ns.ClientURL()
		nopts = append(nopts, embeddedOpts...)
	}

	// The local Lit network, in dev mode.
	var dn *devnet.Network
	if cfg.dev {
		dn, err = devnet.Start(devnet.Config{Nodes: cfg.devnetNodes, Seed: cfg.devnetSeed, PKPs: cfg.devnetPKPs, Logger: logger.With("component", "devnet")})
		if err != nil {
			return fmt.Errorf("start devnet: %w", err)
		}
		defer dn.Close()
		if litNet, err = applyLitOverrides(cfg, dn.NetworkConfig()); err != nil {
			return err
		}
	}
	lit := litClient(cfg, litNet, logger)
	defer lit.Close()

	nc, err := nats.Connect(natsURL, nopts...)
	if err != nil {
		return fmt.Errorf("connect to NATS %s: %w", natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	topo := consumer.TopologyFor(cfg.subjectPrefix)
	topo.Replicas = cfg.replicas
	topo.MaxBytes, topo.MaxMsgs = cfg.streamMaxBytes, cfg.streamMaxMsgs
	// Read-only checks: the streams are ours (or absent) and the published
	// sealing key is this KEK's (or absent).
	if err := topo.Check(ctx, js); err != nil {
		return err
	}
	if err := topo.CheckSealingKey(ctx, js, sealing.PublicKeyHex(), cfg.rotateSealingKey); err != nil {
		return err
	}
	if err := topo.Ensure(ctx, js); err != nil {
		return err
	}
	if err := topo.EnsureAudit(ctx, js, cfg.auditMaxAge); err != nil {
		return err
	}

	events := &consumer.EventPublisher{JS: js, Topology: topo}
	consumerMetrics := consumer.NewMetrics(reg)
	store, err := delegationstore.Open(ctx, js, delegationstore.Config{
		Bucket: topo.DelegationsBucket, Replicas: cfg.replicas, KEK: keyring, ExpiringLead: cfg.expiringLead, MaxBytes: cfg.streamMaxBytes,
		Logger: logger.With("component", "delegationstore"), Registerer: reg, HotDelegations: cfg.hotDelegations,
		OnEvent: func(ev delegationstore.Event) {
			pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := events.Publish(pctx, consumer.ExpiryEvent(ev), ev.ID); err != nil {
				logger.Warn("publish delegation event", "type", ev.Type, "err", err)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("open delegation store: %w", err)
	}

	v3, err := setupV3(cfg, store, reg, logger) // v3.go
	if err != nil {
		return err
	}
	if v3 != nil {
		defer v3.close()
	}

	delStream, err := js.Stream(ctx, topo.DelegationsStream)
	if err != nil {
		return err
	}
	const intakeMaxDeliver = 10
	var intakeCons jetstream.Consumer
	err = jsapi.Retry(ctx, 10, 5*time.Second, func(ctx context.Context) (err error) {
		intakeCons, err = delStream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable: topo.IntakeConsumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second,
			MaxDeliver: intakeMaxDeliver, MaxAckPending: 256, Description: "litsignd delegation intake",
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("intake consumer: %w", err)
	}
	intake := &consumer.Intake{
		Store: store, Events: events, Topology: topo, Sealing: sealing, Logger: logger.With("component", "intake"),
		Metrics: consumerMetrics, MaxDeliver: intakeMaxDeliver, AcceptPlain: cfg.acceptPlain || cfg.dev,
		NetworkKey: func(ctx context.Context) (litnode.BLSPublicKey, error) {
			if s, ok := lit.State(); ok {
				return s.NetworkPublicKey, nil
			}
			if err := lit.Connect(ctx); err != nil {
				return litnode.BLSPublicKey{}, err
			}
			s, _ := lit.State()
			return s.NetworkPublicKey, nil
		},
		SecureDelete: func(ctx context.Context, seq uint64) error { return delStream.SecureDeleteMsg(ctx, seq) },
	}
	if v3 != nil {
		intake.V3 = v3.intake
	}

	// Sign jobs.
	if err := topo.EnsureJobs(ctx, js); err != nil {
		return err
	}
	ledger, err := consumer.OpenLedger(ctx, js, topo.JobsBucket, 0, cfg.replicas)
	if err != nil {
		return err
	}
	lit.Observe = consumerMetrics.ObserveLit
	jobsCons, exhaustedCons, err := topo.EnsureJobsConsumers(ctx, js, topo.JobsConsumerConfig(cfg.jobMaxDeliver, cfg.jobAckWait, cfg.maxAckPending))
	if err != nil {
		return err
	}
	// The limit the LitsigndAckPendingNearLimit alert compares with.
	maxAckPending := prometheus.NewGauge(prometheus.GaugeOpts{Name: "litsignd_jobs_max_ack_pending", Help: "MaxAckPending of the shared jobs consumer: jobs in flight over all replicas (--max-ack-pending)."})
	maxAckPending.Set(float64(jobsCons.CachedInfo().Config.MaxAckPending))
	reg.MustRegister(maxAckPending)
	jobStream, err := js.Stream(ctx, topo.JobsStream)
	if err != nil {
		return err
	}
	known, _ := consumer.ParseProducers(cfg.producers) // validated
	producers := consumer.Producers{Known: known, DenyDefault: !cfg.allowDefault}
	jobs := &consumer.Jobs{
		Delegations: store, Signer: lit, Results: &consumer.NATSResults{Conn: nc, JS: js, Topology: topo}, Events: events,
		Topology: topo, Producers: producers, Ledger: ledger, Stream: jobStream, SessionTTL: cfg.sessionTTL, MaxDeliver: cfg.jobMaxDeliver,
		Heartbeat: cfg.jobAckWait / 3, Logger: logger.With("component", "jobs"), Metrics: consumerMetrics,
		DefaultPolicy: cfg.jobsDefaultPolicy(),
		Audit: &consumer.NATSAudit{JS: js, Topology: topo, OnError: func(rec consumer.AuditRecord, err error) {
			logger.Error("audit record not written", "job", rec.JobID, "producer", rec.Producer, "err", err)
			consumerMetrics.AuditFailed()
		}},
	}
	if v3 != nil {
		jobs.V3 = v3.backend
	}

	// Everything is in place: publish the sealing public key where clients
	// fetch it (last, so a failed start never changed it).
	replaced, err := topo.PublishSealingKey(ctx, js, sealing.PublicKeyHex(), cfg.rotateSealingKey)
	if err != nil {
		return err
	}
	if replaced != "" {
		logger.Warn("sealing key rotated (--rotate-sealing-key): hand-offs sealed to the previous key no longer open", "previous", replaced, "key", sealing.PublicKeyHex())
	}
	logger.Info("sealing public key", "key", sealing.PublicKeyHex(), "bucket", topo.DaemonBucket, "kv_key", consumer.SealingKeyKV)

	checks := []readiness{
		{"nats", func() error {
			if !nc.IsConnected() {
				return errors.New("not connected")
			}
			return nil
		}},
		{"streams", func() error {
			cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if _, err := intakeCons.Info(cctx); err != nil {
				return err
			}
			_, err := jobsCons.Info(cctx)
			return err
		}},
		{"delegations", func() error {
			select {
			case <-store.Ready():
				return nil
			default:
				return errors.New("delegation cache not loaded")
			}
		}},
		{"lit_handshake", func() error {
			s, ok := lit.State()
			if !ok {
				return errors.New("no handshake yet")
			}
			if age := time.Since(s.ConnectedAt); age > 30*time.Minute {
				return fmt.Errorf("handshake is %s old", age.Round(time.Second))
			}
			return nil
		}},
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return store.Run(gctx) })
	g.Go(func() error { return serveHTTP(gctx, ln, reg, checks, logger) })
	g.Go(func() error { return v3.runPoller(gctx) })
	if cfg.pprofListen != "" {
		pln, err := net.Listen("tcp", cfg.pprofListen)
		if err != nil {
			return fmt.Errorf("--pprof-listen: %w", err)
		}
		g.Go(func() error { return servePprof(gctx, pln, logger) })
	}
	g.Go(func() error { lit.WatchEpoch(gctx, 15*time.Second); return nil })
	g.Go(func() error {
		// Connect eagerly, retrying until the network answers.
		for gctx.Err() == nil {
			if err := lit.Connect(gctx); err == nil {
				return nil
			} else {
				logger.Warn("Lit network not reachable yet", "err", err)
			}
			select {
			case <-gctx.Done():
			case <-time.After(5 * time.Second):
			}
		}
		return nil
	})
	g.Go(func() error {
		return consumer.Pull(gctx, intakeCons, intakeWorkers, cfg.drainTimeout, intake.Handle, logger.With("component", "intake"))
	})
	g.Go(func() error {
		return consumer.Pull(gctx, jobsCons, cfg.workers, cfg.drainTimeout, jobs.Handle, logger.With("component", "jobs"))
	})
	g.Go(func() error {
		return consumer.Pull(gctx, exhaustedCons, 1, cfg.drainTimeout, jobs.HandleExhausted, logger.With("component", "exhausted"))
	})

	// Ready: tell the operator (and, in dev mode, scripts) where everything is.
	select {
	case <-store.Ready():
	case <-gctx.Done():
	}
	logger.Info("litsignd running", "nats", natsURL, "metrics", "http://"+ln.Addr().String()+"/metrics", "subject_prefix", topo.Prefix)
	if cfg.dev && gctx.Err() == nil {
		if err := lit.Connect(gctx); err != nil {
			return fmt.Errorf("dev: connect to the local Lit network: %w", err)
		}
		if err := writeDevInfo(cfg, dn, v3, natsURL, sealing.PublicKeyHex(), ln.Addr().String(), stdout); err != nil {
			return err
		}
	}
	err = g.Wait()
	if derr := nc.Drain(); derr != nil && !errors.Is(derr, nats.ErrConnectionClosed) {
		logger.Warn("NATS drain", "err", derr)
	}
	logger.Info("litsignd stopped")
	if ctx.Err() != nil {
		return nil // a requested shutdown is a clean exit
	}
	return err
}

// loadKEK loads the key-encryption key, creating a dev one in dev mode.
func loadKEK(cfg *config) (*delegationstore.Keyring, error) {
	path := cfg.kekFile
	if path == "" && cfg.dev {
		path = filepath.Join(cfg.dataDir, "dev-kek")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			if err := delegationstore.GenerateKEKFile(path); err != nil {
				return nil, fmt.Errorf("create dev KEK: %w", err)
			}
		}
	}
	k, err := delegationstore.LoadKEKFile(path)
	if err != nil {
		return nil, fmt.Errorf("--kek-file: %w", err)
	}
	return k, nil
}

// knownNetworks are the values of --network.
var knownNetworks = []string{litnode.NetworkNagaDev, litnode.NetworkNagaTest, litnode.NetworkNaga, litnode.NetworkCustom}

// litNetwork builds the Lit network settings from the flags (outside dev
// mode) and refuses settings litsignd could never connect with.
func litNetwork(cfg *config) (litnode.NetworkConfig, error) {
	var nc litnode.NetworkConfig
	switch cfg.network {
	case litnode.NetworkCustom:
		nc = litnode.NetworkConfig{Name: litnode.NetworkCustom, RealmID: 1, HTTPProtocol: "https://", MinimumThreshold: 3, SDKVersionHeader: "8.0.0-custom"}
		if cfg.litNodes == "" && (cfg.rpcURL == "" || cfg.stakingAddress == "") {
			return nc, errors.New("--network custom needs --rpc-url and --staking-address (on-chain discovery) or --lit-nodes (static node URLs)")
		}
	case litnode.NetworkNagaDev, litnode.NetworkNagaTest, litnode.NetworkNaga:
		p, err := litnode.Preset(cfg.network)
		if err != nil {
			return nc, fmt.Errorf("--network: %w", err)
		}
		nc = p
	default:
		return nc, fmt.Errorf("--network %q: unknown Lit network (want %s)", cfg.network, strings.Join(knownNetworks, ", "))
	}
	nc, err := applyLitOverrides(cfg, nc)
	if err != nil {
		return nc, err
	}
	if nc.RequireAttestation && !cfg.skipAttestation {
		return nc, fmt.Errorf("--network %s requires SEV-SNP attestation, which this build cannot check: pass --skip-attestation to trust TLS only", nc.Name)
	}
	return nc, nil
}

// applyLitOverrides applies the --rpc-url, --chain-id, address, node and
// protocol flags to a network's settings.
func applyLitOverrides(cfg *config, nc litnode.NetworkConfig) (litnode.NetworkConfig, error) {
	if cfg.rpcURL != "" {
		nc.RPCURL = cfg.rpcURL
	}
	if cfg.chainID != 0 {
		nc.ChainID = cfg.chainID
	}
	if cfg.stakingAddress != "" {
		if !common.IsHexAddress(cfg.stakingAddress) {
			return nc, fmt.Errorf("--staking-address %q is not an address", cfg.stakingAddress)
		}
		nc.StakingAddress = common.HexToAddress(cfg.stakingAddress)
	}
	if cfg.priceFeedAddress != "" {
		if !common.IsHexAddress(cfg.priceFeedAddress) {
			return nc, fmt.Errorf("--price-feed-address %q is not an address", cfg.priceFeedAddress)
		}
		nc.PriceFeedAddress = common.HexToAddress(cfg.priceFeedAddress)
	}
	if cfg.litNodes != "" {
		nc.StaticNodes = strings.Split(cfg.litNodes, ",")
		for _, n := range nc.StaticNodes {
			if u, err := url.Parse(n); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nc, fmt.Errorf("--lit-nodes: %q is not an http(s) URL", n)
			}
		}
	}
	switch cfg.litHTTPProtocol {
	case "":
	case "http://", "https://":
		nc.HTTPProtocol = cfg.litHTTPProtocol
	default:
		return nc, fmt.Errorf("--lit-http-protocol %q: want https:// or http://", cfg.litHTTPProtocol)
	}
	return nc, nil
}

// litClient builds the Lit network client.
func litClient(cfg *config, nc litnode.NetworkConfig, logger *slog.Logger) *litnode.Client {
	c := &litnode.Client{Network: nc, RequestTimeout: cfg.litTimeout, Logger: logger.With("component", "litnode")}
	if cfg.skipAttestation {
		c.Attestation = litnode.AttestationSkip
	}
	return c
}
