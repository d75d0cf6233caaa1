package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/internal/cli"
	"github.com/litsignd/litsignd/litv3"
	"github.com/litsignd/litsignd/litv3/v3fake"
)

// v3Config is the Lit v3 part of the daemon's configuration.
type v3Config struct {
	url              string
	maxPerCredential int
	grantWindow      time.Duration
	timeout          time.Duration
	balanceInterval  time.Duration
	lowBalanceCents  int64
	devV3            bool
	devV3Wallets     int
}

// registerV3Flags declares the Lit v3 flags.
func registerV3Flags(fs *flag.FlagSet, c *v3Config, dev bool) {
	fs.StringVar(&c.url, "lit-v3-url", "", "Lit v3 (Chipotle) API: prod, test, dev (presets) or a base URL; empty serves no v3 PKPs (in dev mode: the local v3 fake)")
	fs.IntVar(&c.maxPerCredential, "lit-v3-max-per-credential", consumer.DefaultV3MaxPerCredential, "v3 calls in flight per usage key (per replica)")
	cli.DurationVar(fs, &c.grantWindow, "lit-v3-grant-window", consumer.DefaultV3GrantWindow, "a 403 this soon after a hand-off is retried as grant propagation (nothing runs or bills on a 403); 0 turns it off")
	cli.DurationVar(fs, &c.timeout, "lit-v3-timeout", litv3.DefaultActionTimeout, "timeout of one v3 lit_action call")
	cli.DurationVar(fs, &c.balanceInterval, "lit-v3-balance-interval", consumer.DefaultV3BalanceInterval, "how often the v3 credit of every stored credential's account is polled (litsignd_v3_balance_cents)")
	fs.Int64Var(&c.lowBalanceCents, "lit-v3-low-balance-cents", 500, "log a warning when an account's v3 credit falls below this (the LitV3CreditLow alert uses the gauge)")
	c.devV3, c.devV3Wallets = true, 3
	if dev {
		fs.BoolVar(&c.devV3, "dev-v3", c.devV3, "run the Lit v3 fake beside the devnet, with a dev account, usage key, group and wallets")
		fs.IntVar(&c.devV3Wallets, "dev-v3-wallets", c.devV3Wallets, "v3 wallets (PKPs) minted in the dev group")
	}
}

// devV3Info is the litV3 section of the dev-info file.
type devV3Info struct {
	URL           string         `json:"url"`
	AccountKey    string         `json:"accountKey"`
	UsageKey      string         `json:"usageKey"`
	GroupID       string         `json:"groupId"`
	SignActionCID string         `json:"signActionCid"`
	Wallets       []devV3Wallet  `json:"wallets"`
	fake          *v3fake.Server `json:"-"`
}

type devV3Wallet struct {
	Address   string `json:"address"`
	PublicKey string `json:"publicKey"`
}

// devV3Started, when set (tests), receives the dev v3 fake once it is set up,
// so a test can play the service's operator (remove a key, drain credit).
var devV3Started func(*v3fake.Server)

// startDevV3 runs the v3 fake with a funded dev account: a group holding
// the dev wallets and litsignd's signing action, and a usage key that may
// execute in it.
func startDevV3(c *v3Config) (*devV3Info, error) {
	fake, err := v3fake.Start(v3fake.Config{})
	if err != nil {
		return nil, fmt.Errorf("start the Lit v3 fake: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			fake.Close()
		}
	}()
	acct, err := fake.NewAccount(1_000_000) // $10,000 of dev credit
	if err != nil {
		return nil, err
	}
	info := &devV3Info{URL: fake.URL(), AccountKey: acct.APIKey.Reveal(), SignActionCID: consumer.V3SignActionCID(), fake: fake}
	var addrs []common.Address
	for range c.devV3Wallets {
		a, err := fake.CreateWallet(acct.APIKey)
		if err != nil {
			return nil, err
		}
		k, _ := fake.WalletKey(a)
		addrs = append(addrs, a)
		info.Wallets = append(info.Wallets, devV3Wallet{Address: strings.ToLower(a.Hex()), PublicKey: "0x" + fmt.Sprintf("%x", crypto.FromECDSAPub(&k.PublicKey))})
	}
	gid, err := fake.AddGroup(acct.APIKey, "litsignd-dev", addrs, []string{consumer.V3SignActionCID()})
	if err != nil {
		return nil, err
	}
	key, err := fake.AddUsageKey(acct.APIKey, "litsignd-dev", v3fake.Scopes{ExecuteInGroups: []uint64{gid}})
	if err != nil {
		return nil, err
	}
	info.UsageKey, info.GroupID = key.Reveal(), fmt.Sprint(gid)
	ok = true
	if devV3Started != nil {
		devV3Started(fake)
	}
	return info, nil
}

// v3Parts is the daemon's Lit v3 side.
type v3Parts struct {
	backend *consumer.V3Backend
	intake  *consumer.V3Intake
	poller  *consumer.V3BalancePoller
	dev     *devV3Info
	close   func()
}

// setupV3 builds the v3 backend when --lit-v3-url is set (or in dev mode,
// on the fake); nil when v3 is off.
func setupV3(cfg *config, store *delegationstore.Store, reg prometheus.Registerer, logger *slog.Logger) (*v3Parts, error) {
	c := &cfg.v3
	p := &v3Parts{close: func() {}}
	url := c.url
	if url == "" && cfg.dev && c.devV3 {
		dev, err := startDevV3(c)
		if err != nil {
			return nil, err
		}
		p.dev, p.close, url = dev, dev.fake.Close, dev.URL
	}
	if url == "" {
		return nil, nil
	}
	// No HTTPClient: litv3's default follows no redirects, so the usage
	// key goes only to the configured host.
	client, err := litv3.New(url, litv3.Options{ActionTimeout: c.timeout, UserAgent: "litsignd/" + version})
	if err != nil {
		p.close()
		return nil, fmt.Errorf("--lit-v3-url: %w", err)
	}
	lv3 := consumer.LitV3{C: client}
	creds := store.V3()
	metrics := consumer.NewV3Metrics(reg)
	window := c.grantWindow
	if window == 0 {
		window = -1 // the flag's 0 turns the window off
	}
	p.backend = &consumer.V3Backend{Credentials: creds, Client: lv3, MaxPerCredential: c.maxPerCredential, GrantWindow: window, Metrics: metrics}
	p.intake = &consumer.V3Intake{Store: creds, Checker: lv3}
	p.poller = &consumer.V3BalancePoller{Keys: creds, Reader: lv3, Metrics: metrics, Interval: c.balanceInterval, Low: c.lowBalanceCents,
		Logger: logger.With("component", "v3-balance")}
	logger.Info("Lit v3 backend", "url", client.BaseURL(), "sign_action_cid", consumer.V3SignActionCID(),
		"note", "add this CID and the PKPs to the usage key's group (litsign v3 action-cid)")
	return p, nil
}

// validateV3 checks the v3 flags.
// checkURL checks --lit-v3-url offline, so that a bad one fails the start
// before NATS is touched.
func (c *v3Config) checkURL() error {
	if c.url == "" {
		return nil
	}
	if _, err := litv3.New(c.url, litv3.Options{}); err != nil {
		return fmt.Errorf("--lit-v3-url: %w", err)
	}
	return nil
}

func (c *v3Config) validate() error {
	if c.maxPerCredential < 1 {
		return errors.New("--lit-v3-max-per-credential: want at least 1")
	}
	if c.timeout <= 0 || c.balanceInterval <= 0 {
		return errors.New("--lit-v3-timeout and --lit-v3-balance-interval must be positive")
	}
	return nil
}

// runV3Poller runs the balance poller until ctx ends.
func (p *v3Parts) runPoller(ctx context.Context) error {
	if p == nil || p.poller == nil {
		return nil
	}
	return p.poller.Run(ctx)
}
