package consumer

import (
	"context"
	"log/slog"
	"time"

	"github.com/litsignd/litsignd/delegationstore"
)

// V3BalanceReader reads a v3 account's credit through one of its usage
// keys (GET /core/v1/billing/balance, free): the credit left in US cents
// (the service's negative balance_cents turned positive).
type V3BalanceReader interface {
	CreditCents(ctx context.Context, usageKey string) (int64, error)
}

// V3KeyLister lists the usage keys of the stored v3 credentials, by key
// hash (*delegationstore.V3Store).
type V3KeyLister interface {
	KeyHashes(ctx context.Context) (map[string]delegationstore.UsageKey, error)
}

// DefaultV3BalanceInterval is how often the balance poller runs.
const DefaultV3BalanceInterval = time.Minute

// V3BalancePoller keeps litsignd_v3_balance_cents current: every Interval
// it reads the credit of every stored credential's account and sets the
// gauge, labelled by the account as seen through the key ("key:" + the
// first 8 bytes of the key hash: the API exposes no account id to a usage
// key). It logs a warning when an account's credit is below Low cents; the
// LitV3CreditLow alert fires on the gauge.
type V3BalancePoller struct {
	Keys     V3KeyLister
	Reader   V3BalanceReader
	Metrics  *V3Metrics
	Interval time.Duration
	Low      int64
	Logger   *slog.Logger
}

// V3AccountLabel is the account label of a usage key's hash.
func V3AccountLabel(keyHash string) string {
	if len(keyHash) < 18 {
		return "key:" + keyHash
	}
	return "key:" + keyHash[:18]
}

// Run polls until ctx ends.
func (p *V3BalancePoller) Run(ctx context.Context) error {
	every := p.Interval
	if every <= 0 {
		every = DefaultV3BalanceInterval
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		p.Poll(ctx, log)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Poll reads every account's credit once.
func (p *V3BalancePoller) Poll(ctx context.Context, log *slog.Logger) {
	keys, err := p.Keys.KeyHashes(ctx)
	if err != nil {
		p.Metrics.BalanceError()
		log.Warn("v3 balance poll: list credentials", "err", err)
		return
	}
	for hash, key := range keys {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		cents, err := p.Reader.CreditCents(cctx, key.Reveal())
		cancel()
		if err != nil {
			p.Metrics.BalanceError()
			log.Warn("v3 balance poll", "account", V3AccountLabel(hash), "err", err)
			continue
		}
		p.Metrics.SetBalance(V3AccountLabel(hash), cents)
		if cents < p.Low {
			log.Warn("Lit v3 credit is low", "account", V3AccountLabel(hash), "cents", cents, "low", p.Low)
		}
	}
}
