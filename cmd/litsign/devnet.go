package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/litsignd/litsignd/litnode/devnet"
)

func cmdDevnet(ctx context.Context, e env, args []string) (int, error) {
	fs := flag.NewFlagSet("litsign devnet", flag.ContinueOnError)
	nodes := fs.Int("nodes", 4, "number of Lit nodes")
	seed := fs.String("seed", "litsignd-devnet", "seed of the network's keys and PKPs")
	pkps := fs.Int("pkps", 3, "dev PKPs to mint")
	if err := parse(fs, e, args); err != nil {
		return 2, err
	}
	n, err := devnet.Start(devnet.Config{Nodes: *nodes, Seed: *seed, PKPs: *pkps})
	if err != nil {
		return 1, err
	}
	defer n.Close()
	b, _ := json.MarshalIndent(n.Description(), "", "  ")
	fmt.Fprintln(e.stdout, string(b))
	<-ctx.Done()
	return 0, nil
}
