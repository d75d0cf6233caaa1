// Command gohelper is the Go side of the interop tests in interop/: it gives
// the JavaScript tests what only the Go code of litsignd can produce.
//
//	gohelper delegate --dev-info FILE --pkp 0x04… --session-public-key HEX [--resources S] [--ttl D]
//	    asks the devnet (through litnode.Client.SignSessionKey, authenticated
//	    with the dev PKP's owner key) for a PKP delegation to the given session
//	    public key, and prints the delegation AuthSig as JSON (SDK key order).
//	gohelper mint-session-sigs < input.json
//	    mints session signatures with litnode.MintSessionSigs from a JSON
//	    input and prints them as JSON ({nodeUrl: AuthSig}).
//
// The input of mint-session-sigs:
//
//	{"sessionKeySeed": "<64 hex>",
//	 "resources": [{"resource": {"resourcePrefix", "resource"}, "ability", "data"?}],
//	 "capabilities": [AuthSig, …],
//	 "issuedAt": "<RFC 3339>", "expiration": "<RFC 3339>",
//	 "targets": [{"url", "maxPrice": "<decimal or 0x-hex>"}]}
//
// Without "resources" or "expiration", they are derived from the last
// capability (the PKP delegation) as litsignd derives them
// (litnode.ParseDelegation: Resources(), Expiration). Instead of "targets",
// the input may give "nodePrices" [{"url", "price"}], "threshold" and
// "userMaxPrice" (absent: unlimited): the targets are then chosen by
// litnode.SelectCheapest.
package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/litsignd/litsignd/litnode"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gohelper:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: gohelper delegate|mint-session-sigs …")
	}
	switch args[0] {
	case "delegate":
		return delegate(args[1:], stdout)
	case "mint-session-sigs":
		return mintSessionSigs(stdin, stdout)
	case "v3-examples":
		return v3Examples(stdout)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// devInfo is the part of `litsignd dev --dev-info` this helper reads.
type devInfo struct {
	Network struct {
		RPCURL           string `json:"rpcUrl"`
		ChainID          int64  `json:"chainId"`
		StakingAddress   string `json:"stakingAddress"`
		PriceFeedAddress string `json:"priceFeedAddress"`
	} `json:"network"`
	PKPs []struct {
		PublicKey       string `json:"publicKey"`
		OwnerPrivateKey string `json:"ownerPrivateKey"`
	} `json:"pkps"`
}

func delegate(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("gohelper delegate", flag.ContinueOnError)
	infoPath := fs.String("dev-info", "", "dev-info file written by `litsignd dev`")
	pkpHex := fs.String("pkp", "", "PKP public key 0x04…")
	sessionHex := fs.String("session-public-key", "", "session public key (64 hex)")
	resources := fs.String("resources", "pkp-signing:*,lit-action-execution:*", "resources to delegate (shorthand)")
	ttl := fs.Duration("ttl", time.Hour, "delegation lifetime")
	timeout := fs.Duration("timeout", 30*time.Second, "overall timeout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := os.ReadFile(*infoPath)
	if err != nil {
		return fmt.Errorf("--dev-info: %w", err)
	}
	var info devInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return fmt.Errorf("--dev-info: %w", err)
	}
	pkp, err := litnode.ParsePKPPublicKey(*pkpHex)
	if err != nil {
		return fmt.Errorf("--pkp: %w", err)
	}
	session, err := litnode.ParseSessionPublicKey(*sessionHex)
	if err != nil {
		return fmt.Errorf("--session-public-key: %w", err)
	}
	reqs, err := litnode.ParseResourceShorthand(*resources)
	if err != nil {
		return fmt.Errorf("--resources: %w", err)
	}
	var ownerHex string
	for _, p := range info.PKPs {
		if k, err := litnode.ParsePKPPublicKey(p.PublicKey); err == nil && k == pkp {
			ownerHex = p.OwnerPrivateKey
		}
	}
	if ownerHex == "" {
		return fmt.Errorf("--pkp %s is not a dev PKP with a known owner key", pkp.Hex())
	}
	owner, err := crypto.HexToECDSA(strings.TrimPrefix(ownerHex, "0x"))
	if err != nil {
		return fmt.Errorf("dev owner key: %w", err)
	}
	c := &litnode.Client{Network: litnode.NetworkConfig{
		Name: litnode.NetworkCustom, ChainID: info.Network.ChainID, RPCURL: info.Network.RPCURL,
		StakingAddress:   common.HexToAddress(info.Network.StakingAddress),
		PriceFeedAddress: common.HexToAddress(info.Network.PriceFeedAddress),
		RealmID:          1, HTTPProtocol: "http://", MinimumThreshold: 3, SDKVersionHeader: "8.0.0-naga-local",
	}}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	a, err := c.SignSessionKey(ctx, litnode.SignSessionKeyRequest{
		PKP: pkp, SessionKey: session, Owner: owner, Resources: reqs, Expiration: time.Now().Add(*ttl),
	})
	if err != nil {
		return err
	}
	out, err := a.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, string(out))
	return err
}

type mintInput struct {
	SessionKeySeed string                           `json:"sessionKeySeed"`
	Resources      []litnode.ResourceAbilityRequest `json:"resources"`
	Capabilities   []json.RawMessage                `json:"capabilities"`
	IssuedAt       string                           `json:"issuedAt"`
	Expiration     string                           `json:"expiration"`
	Targets        []struct {
		URL      string `json:"url"`
		MaxPrice string `json:"maxPrice"`
	} `json:"targets"`
	NodePrices []struct {
		URL   string `json:"url"`
		Price string `json:"price"`
	} `json:"nodePrices"`
	Threshold    int    `json:"threshold"`
	UserMaxPrice string `json:"userMaxPrice"`
}

func mintSessionSigs(stdin io.Reader, stdout io.Writer) error {
	dec := json.NewDecoder(stdin)
	dec.DisallowUnknownFields()
	dec.UseNumber() // resource data keeps its numbers as written
	var in mintInput
	if err := dec.Decode(&in); err != nil {
		return fmt.Errorf("input: %w", err)
	}
	seed, err := hex.DecodeString(in.SessionKeySeed)
	if err != nil {
		return fmt.Errorf("sessionKeySeed: %w", err)
	}
	key, err := litnode.SessionKeyFromSeed(seed)
	if err != nil {
		return err
	}
	req := litnode.SessionSigRequest{Key: key, Resources: in.Resources}
	for i, raw := range in.Capabilities {
		a, err := litnode.ParseAuthSig(raw)
		if err != nil {
			return fmt.Errorf("capabilities[%d]: %w", i, err)
		}
		req.Capabilities = append(req.Capabilities, a)
	}
	if req.IssuedAt, err = time.Parse(time.RFC3339Nano, in.IssuedAt); err != nil {
		return fmt.Errorf("issuedAt: %w", err)
	}
	if in.Resources == nil || in.Expiration == "" {
		if len(req.Capabilities) == 0 {
			return errors.New("no capabilities to derive resources or expiration from")
		}
		d, err := litnode.ParseDelegation(req.Capabilities[len(req.Capabilities)-1])
		if err != nil {
			return err
		}
		if in.Resources == nil {
			req.Resources = d.Resources()
		}
		req.Expiration = d.Expiration
	}
	if in.Expiration != "" {
		if req.Expiration, err = time.Parse(time.RFC3339Nano, in.Expiration); err != nil {
			return fmt.Errorf("expiration: %w", err)
		}
	}
	if len(in.NodePrices) > 0 {
		if len(in.Targets) > 0 {
			return errors.New("give targets or nodePrices, not both")
		}
		quotes := make([]litnode.NodeQuote, 0, len(in.NodePrices))
		for _, n := range in.NodePrices {
			p, ok := parsePrice(n.Price)
			if !ok {
				return fmt.Errorf("node %s: price %q", n.URL, n.Price)
			}
			quotes = append(quotes, litnode.NodeQuote{URL: n.URL, Price: p})
		}
		var budget *big.Int
		if in.UserMaxPrice != "" {
			var ok bool
			if budget, ok = parsePrice(in.UserMaxPrice); !ok {
				return fmt.Errorf("userMaxPrice %q", in.UserMaxPrice)
			}
		}
		if req.Targets, err = litnode.SelectCheapest(quotes, in.Threshold, budget); err != nil {
			return err
		}
	}
	for _, t := range in.Targets {
		p, ok := parsePrice(t.MaxPrice)
		if !ok {
			return fmt.Errorf("target %s: maxPrice %q", t.URL, t.MaxPrice)
		}
		req.Targets = append(req.Targets, litnode.Target{URL: t.URL, MaxPrice: p})
	}
	sigs, err := litnode.MintSessionSigs(req)
	if err != nil {
		return err
	}
	// The AuthSigs marshal with JavaScript's escaping; encode the map the
	// same way (no HTML escaping) so the output is what JSON.stringify gives.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(sigs); err != nil {
		return err
	}
	_, err = stdout.Write(buf.Bytes())
	return err
}

func parsePrice(s string) (*big.Int, bool) {
	if h, ok := strings.CutPrefix(s, "0x"); ok {
		return new(big.Int).SetString(h, 16)
	}
	return new(big.Int).SetString(s, 10)
}
