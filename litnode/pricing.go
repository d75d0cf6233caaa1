package litnode

import (
	"fmt"
	"math/big"
	"sort"
)

// UnlimitedMaxPrice is the SDK's default userMaxPrice, 2^128 − 1.
var UnlimitedMaxPrice = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

// NodeQuote is one handshaken node and its price for the product at hand.
type NodeQuote struct {
	URL   string
	Price *big.Int
}

// Target is a node a request goes to, with the price cap its session
// signature carries.
type Target struct {
	URL      string
	MaxPrice *big.Int
}

// SelectCheapest picks the threshold cheapest nodes (stable on ties, as JS
// sort is) and gives each the cap price + ⌊(userMaxPrice − Σprices)/threshold⌋
// (docs/naga-auth.md §5.3, docs/naga-wire.md §10.1). A nil userMaxPrice means unlimited.
func SelectCheapest(quotes []NodeQuote, threshold int, userMaxPrice *big.Int) ([]Target, error) {
	if threshold <= 0 {
		return nil, fmt.Errorf("select nodes: threshold %d", threshold)
	}
	if len(quotes) < threshold {
		return nil, fmt.Errorf("%w: %d nodes available, threshold %d", ErrNotEnoughNodes, len(quotes), threshold)
	}
	if userMaxPrice == nil {
		userMaxPrice = UnlimitedMaxPrice
	}
	sorted := append([]NodeQuote(nil), quotes...)
	sort.SliceStable(sorted, func(i, j int) bool { return priceOf(sorted[i]).Cmp(priceOf(sorted[j])) < 0 })
	chosen := sorted[:threshold]
	base := new(big.Int)
	for _, q := range chosen {
		base.Add(base, priceOf(q))
	}
	if base.Cmp(userMaxPrice) > 0 {
		return nil, fmt.Errorf("%w: the %d cheapest nodes cost %s, budget %s", ErrMaxPriceTooLow, threshold, base, userMaxPrice)
	}
	extra := new(big.Int).Sub(userMaxPrice, base)
	extra.Quo(extra, big.NewInt(int64(threshold)))
	out := make([]Target, len(chosen))
	for i, q := range chosen {
		out[i] = Target{URL: q.URL, MaxPrice: new(big.Int).Add(priceOf(q), extra)}
	}
	return out, nil
}

func priceOf(q NodeQuote) *big.Int {
	if q.Price == nil {
		return new(big.Int)
	}
	return q.Price
}
