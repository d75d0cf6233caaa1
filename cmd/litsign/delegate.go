package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/litsignd/litsignd/internal/cli"
	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/policy"
)

// delegateResources is the resource shorthand litsign delegate asks for:
// --resources as given, else pkp-signing on the PKP only; plus
// lit-action-execution on each --allow-actions CID. Lit Actions are never
// delegated by default: an action can sign with every PKP its owner
// controls.
func delegateResources(pkp litnode.PKPPublicKey, resources, actions string) string {
	out := resources
	if out == "" {
		out = "pkp-signing:" + pkp.TokenID()
	}
	for _, cid := range strings.Split(actions, ",") {
		if cid = strings.TrimSpace(cid); cid != "" {
			out += ",lit-action-execution:" + cid
		}
	}
	return out
}

// networkFlags select the Lit network: a preset, overrides, or --dev-info.
type networkFlags struct {
	network  string
	rpcURL   string
	litNodes string
	skipAtt  bool
}

func (n *networkFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&n.network, "network", "naga-dev", "Lit network: naga-dev, naga-test or naga (ignored with --dev-info)")
	fs.StringVar(&n.rpcURL, "rpc-url", "", "chain JSON-RPC URL (overrides the preset)")
	fs.StringVar(&n.litNodes, "lit-nodes", "", "comma-separated static node URLs (skips discovery)")
	fs.BoolVar(&n.skipAtt, "skip-attestation", false, "do not check SEV-SNP attestation (trust TLS only)")
}

// client builds a Lit client for the chosen network.
func (n *networkFlags) client(dev *devInfoFile) (*litnode.Client, error) {
	var cfg litnode.NetworkConfig
	if dev != nil {
		cfg = litnode.NetworkConfig{
			Name: litnode.NetworkCustom, ChainID: dev.Network.ChainID, RPCURL: dev.Network.RPCURL,
			StakingAddress: common.HexToAddress(dev.Network.StakingAddress), PriceFeedAddress: common.HexToAddress(dev.Network.PriceFeedAddress),
			RealmID: 1, HTTPProtocol: "http://", MinimumThreshold: 3, SDKVersionHeader: "8.0.0-naga-local",
		}
	} else {
		p, err := litnode.Preset(n.network)
		if err != nil {
			return nil, err
		}
		cfg = p
	}
	if n.rpcURL != "" {
		cfg.RPCURL = n.rpcURL
	}
	if n.litNodes != "" {
		cfg.StaticNodes = strings.Split(n.litNodes, ",")
	}
	c := &litnode.Client{Network: cfg}
	if n.skipAtt {
		c.Attestation = litnode.AttestationSkip
	}
	return c, nil
}

func cmdDelegate(ctx context.Context, e env, args []string) (int, error) {
	fs := flag.NewFlagSet("litsign delegate", flag.ContinueOnError)
	devInfo := fs.String("dev-info", "", "description file written by 'litsignd dev': the local network to ask (and the dev PKPs' owners)")
	timeout := cli.Duration(fs, "timeout", 30*time.Second, "how long to wait for the Lit network")
	var nf networkFlags
	nf.register(fs)
	ownerHex := fs.String("owner-key", "", "private key (hex) of the EOA that owns the PKP; with --dev-info, defaults to the dev PKP's owner")
	pkpHex := fs.String("pkp", "", "PKP public key 0x04…")
	resources := fs.String("resources", "", "resources to delegate (shorthand ability:id,…); default: pkp-signing on --pkp only")
	actions := fs.String("allow-actions", "", "also delegate lit-action-execution on these Lit Action CIDs (comma-separated; * for any)")
	pol := fs.String("policy", "", `policy JSON carried in the hand-off (README "Security model")`)
	ttl := cli.Duration(fs, "ttl", 15*time.Minute, "delegation lifetime: 90s, 15m, 12h, 30d, … (at most 30d)")
	domain := fs.String("domain", "localhost", "SIWE domain")
	if err := parse(fs, e, args); err != nil {
		return 2, err
	}
	pkp, err := litnode.ParsePKPPublicKey(*pkpHex)
	if err != nil {
		return 2, fmt.Errorf("--pkp: %w", err)
	}
	reqs, err := litnode.ParseResourceShorthand(delegateResources(pkp, *resources, *actions))
	if err != nil {
		return 2, fmt.Errorf("--resources/--allow-actions: %w", err)
	}
	if _, err := policy.Parse([]byte(*pol)); err != nil {
		return 2, fmt.Errorf("--policy: %w", err)
	}
	var dev *devInfoFile
	if *ttl <= 0 || *ttl > litnode.MaxDelegationLifetime {
		return 2, fmt.Errorf("--ttl %s: want more than 0 and at most 30d (the Lit network refuses longer delegations)", cli.FormatDuration(*ttl))
	}
	if *devInfo != "" {
		if dev, err = readDevInfo(*devInfo); err != nil {
			return 1, err
		}
		if *ownerHex == "" {
			for _, p := range dev.PKPs {
				if k, err := litnode.ParsePKPPublicKey(p.PublicKey); err == nil && k == pkp {
					*ownerHex = p.OwnerPrivateKey
				}
			}
		}
	}
	if *ownerHex == "" {
		return 2, errors.New("--owner-key is required (LITSIGN_OWNER_KEY)")
	}
	owner, err := crypto.HexToECDSA(strings.TrimPrefix(*ownerHex, "0x"))
	if err != nil {
		return 2, errors.New("--owner-key is not a secp256k1 private key in hex")
	}
	lit, err := nf.client(dev)
	if err != nil {
		return 2, err
	}
	defer lit.Close()
	session, err := litnode.GenerateSessionKey(nil)
	if err != nil {
		return 1, err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	a, err := lit.SignSessionKey(ctx, litnode.SignSessionKeyRequest{
		PKP: pkp, SessionKey: session.PublicKey(), Owner: owner, Resources: reqs,
		Expiration: time.Now().Add(*ttl), Domain: *domain,
	})
	if err != nil {
		return 1, err
	}
	h := &litnode.HandOff{PKP: pkp, SessionKey: session, Delegation: a}
	if *pol != "" {
		h.Policy = []byte(*pol)
	}
	fmt.Fprintln(e.stdout, string(h.Encode()))
	return 0, nil
}
