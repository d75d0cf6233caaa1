package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/litsignd/litsignd/litnode/devnet"
)

// cmdDevnet runs the local Lit network alone (for a litsignd on your own
// NATS): it prints the network's description on stdout, writes it with
// the NATS URL to --dev-info for the other litsign commands, and prints on
// stderr the exact litsignd command line that uses it.
func cmdDevnet(ctx context.Context, e env, args []string) (int, error) {
	fs := flag.NewFlagSet("litsign devnet", flag.ContinueOnError)
	nodes := fs.Int("nodes", 4, "number of Lit nodes")
	seed := fs.String("seed", "litsignd-devnet", "seed of the network's keys and PKPs")
	pkps := fs.Int("pkps", 3, "dev PKPs to mint")
	natsURL := fs.String("nats-url", "nats://127.0.0.1:4222", "NATS URL litsignd and litsign use (written to --dev-info and the printed litsignd command)")
	kekFile := fs.String("kek-file", "kek.txt", "KEK file named in the printed litsignd command")
	infoPath := fs.String("dev-info", "", "write the description and the NATS URL here (mode 0600), for litsign --dev-info")
	if err := parse(fs, e, args); err != nil {
		return 2, err
	}
	n, err := devnet.Start(devnet.Config{Nodes: *nodes, Seed: *seed, PKPs: *pkps})
	if err != nil {
		return 1, err
	}
	defer n.Close()
	d := n.Description()
	b, _ := json.MarshalIndent(d, "", "  ")
	fmt.Fprintln(e.stdout, string(b))
	if *infoPath != "" {
		info := struct {
			NATSURL string `json:"natsUrl"`
			devnet.Description
		}{*natsURL, d}
		b, _ := json.MarshalIndent(info, "", "  ")
		if err := os.WriteFile(*infoPath, append(b, '\n'), 0o600); err != nil {
			return 1, fmt.Errorf("--dev-info: %w", err)
		}
	}
	fmt.Fprintf(e.stderr, "litsign devnet: %d Lit nodes, threshold %d, chain %d at %s\nRun litsignd against it:\n  %s\n",
		len(d.Network.Nodes), d.Network.Threshold, d.Network.ChainID, d.Network.RPCURL, litsigndCommand(*natsURL, *kekFile, d))
	<-ctx.Done()
	return 0, nil
}

// litsigndCommand is the litsignd command line for a devnet description.
func litsigndCommand(natsURL, kekFile string, d devnet.Description) string {
	return strings.Join([]string{"go run ./cmd/litsignd",
		"--nats-url", natsURL, "--kek-file", kekFile, "--network", "custom",
		"--rpc-url", d.Network.RPCURL, "--chain-id", fmt.Sprint(d.Network.ChainID),
		"--staking-address", d.Network.StakingAddress, "--price-feed-address", d.Network.PriceFeedAddress,
		"--lit-http-protocol", "http://",
	}, " ")
}
