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
	fmt.Fprintf(stdout, `
litsignd dev is running.
  NATS:        %s
  Lit devnet:  %d nodes, threshold %d, chain %s
  Metrics:     %s
  Dev info:    %s

Quickstart (in another terminal; needs jq):

%s
`, natsURL, len(info.Network.Nodes), info.Network.Threshold, info.Network.RPCURL, info.MetricsURL, path, quickstart(path, cfg.dataDir))
	return nil
}

// quickstart is the quickstart printed by litsignd dev for a description
// file at info and a data directory; with the defaults it is, line for line,
// the README's (TestREADMEQuickstartIsTheBanner). Files it writes go into
// the data directory (mode 0700, git-ignored): the envelope holds a
// session secret.
func quickstart(info, dataDir string) string {
	return "INFO=" + info + `
PKP=$(jq -r '.pkps[0].publicKey' $INFO)
go run ./cmd/litsign delegate --dev-info $INFO --pkp $PKP --allow-actions '*' > ` + dataDir + `/envelope.json  # signing + any action
go run ./cmd/litsign publish-delegation --dev-info $INFO --seal ` + dataDir + `/envelope.json  # hand it to litsignd, sealed
go run ./cmd/litsign delegations --dev-info $INFO                    # PKP, session key, expiry
go run ./cmd/litsign sign --dev-info $INFO --pkp $PKP --message hello  # a pkp-sign job: signature JSON
echo 'Lit.Actions.setResponse({response: JSON.stringify(jsParams)});' > ` + dataDir + `/action.js
go run ./cmd/litsign exec --dev-info $INFO --pkp $PKP --code ` + dataDir + `/action.js --params '{"x":1}'  # a Lit Action
go run ./cmd/litsign bench --dev-info $INFO --pkp $PKP --jobs 200 --concurrency 16
`
}
