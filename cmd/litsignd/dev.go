package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/litsignd/litsignd/litnode/devnet"
)

// devInfo is the description file of `litsignd dev`: the devnet's
// description plus where NATS and the metrics are. Scripts rely on it.
type devInfo struct {
	NATSURL          string `json:"natsUrl"`
	MetricsURL       string `json:"metricsUrl"`
	SealingPublicKey string `json:"sealingPublicKey"`
	// LitV3 is the v3 fake's dev account (v3.go); absent with --dev-v3=false.
	LitV3 *devV3Info `json:"litV3,omitempty"`
	devnet.Description
}

// writeDevInfo writes the description file (atomically, once everything is
// ready) and prints the quickstart.
func writeDevInfo(cfg *config, dn *devnet.Network, v3 *v3Parts, natsURL, sealingKey, metricsAddr string, stdout io.Writer) error {
	path := cfg.devInfo
	if path == "" {
		path = filepath.Join(cfg.dataDir, "dev-info.json")
	}
	info := devInfo{NATSURL: natsURL, MetricsURL: "http://" + metricsAddr + "/metrics", SealingPublicKey: sealingKey, Description: dn.Description()}
	if v3 != nil {
		info.LitV3 = v3.dev
	}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write --dev-info: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write --dev-info: %w", err)
	}
	pkp := ""
	if len(info.PKPs) > 0 {
		pkp = info.PKPs[0].PublicKey
	}
	fmt.Fprintf(stdout, `
litsignd dev is running.
  NATS:        %s
  Lit devnet:  %d nodes, threshold %d, chain %s
  Metrics:     %s
  Dev info:    %s

Quickstart (in another terminal):
  go run ./cmd/litsign delegate --dev-info %s --pkp %s > envelope.json
  go run ./cmd/litsign publish-delegation --dev-info %s envelope.json
  go run ./cmd/litsign sign --dev-info %s --pkp %s --message "hello"

`, natsURL, len(info.Network.Nodes), info.Network.Threshold, info.Network.RPCURL, info.MetricsURL, path, path, pkp, path, path, pkp)
	return nil
}
