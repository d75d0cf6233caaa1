package devnet

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/litsignd/litsignd/litnode"
)

// PaymentMode is how an address pays for Lit requests on the devnet: the
// state of its Ledger balance (docs/naga-wire.md §10.2 "Self-pay"). Use
// PaymentUnlimited, PaymentNone or PaymentBalance.
type PaymentMode struct {
	kind    payKind
	balance *big.Int
}

type payKind uint8

const (
	payUnlimited payKind = iota
	payNone
	payBalance
)

// PaymentUnlimited lets the address pay for anything; it is every address's
// mode until SetPayment changes it.
var PaymentUnlimited = PaymentMode{kind: payUnlimited}

// PaymentNone gives the address no funds: as the only possible payer it makes
// requests fail with 402 PaymentFailed.
var PaymentNone = PaymentMode{kind: payNone}

// PaymentBalance gives the address a Ledger balance of amount (in the
// price unit of SetPrice). Each node that serves a request debits its
// endpoint price from it; a node refuses when the balance is below
// threshold × price (docs/naga-wire.md §10.2 "required").
func PaymentBalance(amount *big.Int) PaymentMode {
	b := new(big.Int)
	if amount != nil {
		b.Set(amount)
	}
	return PaymentMode{kind: payBalance, balance: b}
}

// String describes the mode.
func (m PaymentMode) String() string {
	switch m.kind {
	case payNone:
		return "none"
	case payBalance:
		return "balance(" + m.balance.String() + ")"
	default:
		return "unlimited"
	}
}

// defaultPrice is every product's price until SetPrice: the PriceFeed
// constructor's base price of 0.01 token, in wei (docs/naga-wire.md §10.1).
var defaultPrice = big.NewInt(10_000_000_000_000_000)

// payer is who will be charged once the request succeeds.
type payer struct {
	addr  common.Address
	price *big.Int
}

// selectPayer runs the node's payment check (docs/naga-wire.md §10.2
// get_payment_method): the endpoint price must not exceed maxPrice, then the
// first of "self" (user) and, when user is a PKP, "the PKP owner" that can
// cover required = threshold × price pays. The Payment DB and
// payment-delegation auth sigs are not modelled: the devnet always reports
// "No payer in the Payment DB". Nothing is debited here; call charge after
// the request succeeded.
func (n *Network) selectPayer(product litnode.Product, user common.Address, maxPrice *big.Int) (*payer, *apiError) {
	n.mu.Lock()
	defer n.mu.Unlock()
	price := new(big.Int).Set(n.prices[product])
	if maxPrice == nil {
		maxPrice = new(big.Int)
	}
	if price.Cmp(maxPrice) > 0 {
		return nil, codedErr(CodePaymentFailed,
			fmt.Sprintf("max_price: %s is less than the endpoint price: %s", maxPrice, price))
	}
	required := new(big.Int).Mul(price, big.NewInt(int64(n.cfg.Threshold)))
	var reasons strings.Builder
	reasons.WriteString(" No payer in the Payment DB; ")
	if why := n.canPayLocked(user, required); why == "" {
		return &payer{addr: user, price: price}, nil
	} else {
		reasons.WriteString(" Self failed to pay: " + why)
	}
	if rec, ok := n.pkpByAddr[user]; ok {
		owner := rec.dev.OwnerAddress
		if why := n.canPayLocked(owner, required); why == "" {
			return &payer{addr: owner, price: price}, nil
		} else {
			reasons.WriteString(" Attempt to charge the PKP owner failed: " + why)
		}
	} else {
		reasons.WriteString(" Attempt to charge the PKP owner failed: " + user.Hex() + " is not a PKP")
	}
	return nil, codedErr(CodePaymentFailed, reasons.String())
}

// canPayLocked returns "" if addr can cover required, else why not.
func (n *Network) canPayLocked(addr common.Address, required *big.Int) string {
	mode, ok := n.payments[addr]
	if !ok || mode.kind == payUnlimited {
		return ""
	}
	bal := new(big.Int)
	if mode.kind == payBalance {
		bal = mode.balance
	}
	if bal.Cmp(required) >= 0 {
		return ""
	}
	return fmt.Sprintf("User %s's balance %s minus their pending spending of 0 is not enough to cover the minimum estimated price %s",
		addr.Hex(), bal, required)
}

// charge debits the payer after the request succeeded.
func (n *Network) charge(p *payer) {
	if p == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if mode, ok := n.payments[p.addr]; ok && mode.kind == payBalance {
		nb := new(big.Int).Sub(mode.balance, p.price)
		if nb.Sign() < 0 {
			nb.SetInt64(0)
		}
		n.payments[p.addr] = PaymentMode{kind: payBalance, balance: nb}
	}
}

// SetPayment sets how user pays (docs/naga-wire.md §10.2, §13 "Payment fake"). The
// user of a request is the PKP's address for a PKP session (a lit.bls
// delegation) and for sign_session_key, and the EOA for an EOA session.
// When the user is a PKP and cannot pay, the PKP's owner is charged, as on
// Lit: to make a PKP's requests fail with 402, set PaymentNone on both the
// PKP's EthAddress and its OwnerAddress.
func (n *Network) SetPayment(user common.Address, mode PaymentMode) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if mode.kind == payBalance {
		mode = PaymentBalance(mode.balance)
	}
	n.payments[user] = mode
}

// Payment returns user's current mode; for PaymentBalance it reports what
// is left.
func (n *Network) Payment(user common.Address) PaymentMode {
	n.mu.Lock()
	defer n.mu.Unlock()
	mode, ok := n.payments[user]
	if !ok {
		return PaymentUnlimited
	}
	if mode.kind == payBalance {
		return PaymentBalance(mode.balance)
	}
	return mode
}

// SetPrice sets the on-chain price of product for every node: what the
// chain's getNodesForRequest reports and what each node charges and checks
// maxPrice against (docs/naga-wire.md §10). A nil price means 0.
func (n *Network) SetPrice(product litnode.Product, price *big.Int) {
	if product < 0 || int(product) >= NumProducts {
		return
	}
	p := new(big.Int)
	if price != nil {
		p.Set(price)
	}
	n.mu.Lock()
	n.prices[product] = p
	n.mu.Unlock()
	n.publishValidators()
}

// Price returns the current price of product.
func (n *Network) Price(product litnode.Product) *big.Int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if product < 0 || int(product) >= NumProducts {
		return new(big.Int)
	}
	return new(big.Int).Set(n.prices[product])
}
