package litnode

import (
	"errors"
	"math/big"
	"testing"
)

func vectorQuotes(t *testing.T, column int) []NodeQuote {
	v := authVectors(t)
	var out []NodeQuote
	for _, n := range vget(t, v, "signSessionKeyRequest", "inputs", "nodePrices").([]any) {
		m := n.(map[string]any)
		p, _ := new(big.Int).SetString(m["prices"].([]any)[column].(string), 10)
		out = append(out, NodeQuote{URL: m["url"].(string), Price: p})
	}
	return out
}

// pkpSessionSigs: LIT_ACTION (column 2), threshold 2, unlimited budget.
func TestSelectCheapestUnlimited(t *testing.T) {
	v := authVectors(t)
	got, err := SelectCheapest(vectorQuotes(t, int(ProductLitAction)), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantOrder := []string{"https://node-c.example.org:443", "https://node-a.example.org:443"}
	for i, tg := range got {
		if tg.URL != wantOrder[i] {
			t.Errorf("target %d = %s, want %s", i, tg.URL, wantOrder[i])
		}
		want := vstr(t, v, "pkpSessionSigs", "checks", tg.URL, "maxPrice")
		if h := "0x" + tg.MaxPrice.Text(16); h != want {
			t.Errorf("%s maxPrice = %s, want %s", tg.URL, h, want)
		}
	}
}

// pkpSessionSigsPriced: SIGN (column 1), userMaxPrice 1000.
func TestSelectCheapestPriced(t *testing.T) {
	v := authVectors(t)
	got, err := SelectCheapest(vectorQuotes(t, int(ProductSign)), 2, big.NewInt(1000))
	if err != nil {
		t.Fatal(err)
	}
	want := vget(t, v, "pkpSessionSigsPriced", "maxPrices").(map[string]any)
	if len(got) != len(want) {
		t.Fatalf("got %d targets, want %d", len(got), len(want))
	}
	for _, tg := range got {
		if h := "0x" + tg.MaxPrice.Text(16); h != want[tg.URL] {
			t.Errorf("%s maxPrice = %s, want %v", tg.URL, h, want[tg.URL])
		}
	}
}

func TestSelectCheapestErrors(t *testing.T) {
	q := vectorQuotes(t, 1)
	if _, err := SelectCheapest(q, 2, big.NewInt(40)); !errors.Is(err, ErrMaxPriceTooLow) {
		t.Errorf("budget 40 < 41: err = %v, want ErrMaxPriceTooLow", err)
	}
	if _, err := SelectCheapest(q, 4, nil); !errors.Is(err, ErrNotEnoughNodes) {
		t.Errorf("threshold 4 of 3: err = %v, want ErrNotEnoughNodes", err)
	}
}
