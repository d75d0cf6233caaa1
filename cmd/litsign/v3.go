package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/internal/cli"
	"github.com/litsignd/litsignd/litnode"
)

// v3Address is a Lit v3 PKP's wallet address.
var v3Address = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)

// checkJobPKP accepts what a job may name a PKP by: its public key (both
// backends) or its wallet address (Lit v3).
func checkJobPKP(s string) error {
	if v3Address.MatchString(s) {
		return nil
	}
	if _, err := litnode.ParsePKPPublicKey(s); err != nil {
		return fmt.Errorf("%w (or a Lit v3 wallet address, 0x + 40 hex)", err)
	}
	return nil
}

// devV3 is the litV3 section of `litsignd dev`'s description.
type devV3 struct {
	URL           string `json:"url"`
	UsageKey      string `json:"usageKey"`
	GroupID       string `json:"groupId"`
	SignActionCID string `json:"signActionCid"`
	Wallets       []struct {
		Address   string `json:"address"`
		PublicKey string `json:"publicKey"`
	} `json:"wallets"`
}

func readDevV3(path string) (*devV3, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--dev-info: %w", err)
	}
	var d struct {
		LitV3 *devV3 `json:"litV3"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("--dev-info %s: %w", path, err)
	}
	if d.LitV3 == nil {
		return nil, fmt.Errorf("--dev-info %s has no litV3 section (litsignd dev runs the v3 fake unless --dev-v3=false)", path)
	}
	return d.LitV3, nil
}

// v3Commands are the subcommands of `litsign v3`.
var v3Commands = []command{
	{name: "v3 action-cid", flags: "[--source]", summary: "print the IPFS CID of litsignd's signing action (add it to the usage key's group)", run: cmdV3ActionCID},
	{name: "v3 hand-off", flags: "--pkp 0x<address> --usage-key-file FILE --group-id N", summary: "seal a usage key to litsignd and hand it off for a PKP", run: cmdV3HandOff},
	{name: "v3 revoke", flags: "--pkp 0x<address> --usage-key-file FILE", summary: "revoke the v3 credential stored for a PKP (proves knowledge of the key)", run: cmdV3Revoke},
	{name: "v3 check", flags: "--url URL --usage-key-file FILE --pkp 0x<address>", summary: "paid probe: a no-op action and one signature, verified locally (~2 cents)", run: cmdV3Check},
}

// cmdV3 dispatches `litsign v3 <subcommand>`.
func cmdV3(ctx context.Context, e env, args []string) (int, error) {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := e.stdout
		fmt.Fprintln(w, "usage: litsign v3 <command> [flags]")
		fmt.Fprintln(w)
		for _, c := range v3Commands {
			fmt.Fprintf(w, "  %-12s %s\n", strings.TrimPrefix(c.name, "v3 "), c.summary)
		}
		if len(args) == 0 {
			return 2, cli.Usagef("no v3 command given")
		}
		return 0, nil
	}
	for i := range v3Commands {
		if v3Commands[i].name == "v3 "+args[0] {
			return runCommand(ctx, e, &v3Commands[i], args[1:])
		}
	}
	return 2, cli.Usagef("unknown v3 command %q", args[0])
}

func cmdV3ActionCID(_ context.Context, e env, args []string) (int, error) {
	fs := flag.NewFlagSet("litsign v3 action-cid", flag.ContinueOnError)
	source := fs.Bool("source", false, "print the action's source instead of its CID")
	if err := parse(fs, e, args); err != nil {
		return 2, err
	}
	if *source {
		fmt.Fprint(e.stdout, consumer.V3SignAction())
		return 0, nil
	}
	fmt.Fprintln(e.stdout, consumer.V3SignActionCID())
	return 0, nil
}

// readUsageKey reads a usage key from a file ("-": stdin), trimmed.
func readUsageKey(e env, path string) (string, error) {
	if path == "" {
		return "", errors.New("give --usage-key-file (a file holding the usage API key; '-' reads stdin)")
	}
	var r io.Reader = e.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("--usage-key-file: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// v3Target resolves --pkp, the key and the group from flags or --dev-info.
type v3Target struct {
	pkp, key, group string
}

func (t *v3Target) resolve(e env, devInfo, keyFile string) error {
	if devInfo != "" {
		d, err := readDevV3(devInfo)
		if err != nil {
			return err
		}
		if t.pkp == "" && len(d.Wallets) > 0 {
			t.pkp = d.Wallets[0].Address
		}
		if keyFile == "" {
			t.key = d.UsageKey
		}
		if t.group == "" {
			t.group = d.GroupID
		}
	}
	if t.key == "" {
		k, err := readUsageKey(e, keyFile)
		if err != nil {
			return err
		}
		t.key = k
	}
	if !v3Address.MatchString(t.pkp) {
		return fmt.Errorf("--pkp %q: want the PKP's wallet address (0x + 40 hex)", t.pkp)
	}
	return nil
}

// sealingKey reads litsignd's sealing public key from its KV bucket.
func sealingKey(ctx context.Context, js jetstream.JetStream, topo consumer.Topology) ([32]byte, error) {
	kv, err := js.KeyValue(ctx, topo.DaemonBucket)
	if err != nil {
		return [32]byte{}, fmt.Errorf("read litsignd's sealing key: %w", err)
	}
	entry, err := kv.Get(ctx, consumer.SealingKeyKV)
	if err != nil {
		return [32]byte{}, fmt.Errorf("read litsignd's sealing key: %w", err)
	}
	return consumer.ParseSealingPublicKey(string(entry.Value()))
}

// publishV3 seals payload, publishes {backend, pkp, sealedPayload} on
// subject and, for hand-offs, waits for the stored/rejected event.
func publishV3(ctx context.Context, e env, c *natsFlags, subject, pkp string, payload map[string]any, wait bool, want string) (int, error) {
	nc, js, err := c.connect()
	if err != nil {
		return 1, err
	}
	defer nc.Close()
	topo := c.topology()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	pub, err := sealingKey(ctx, js, topo)
	if err != nil {
		return 1, err
	}
	p, _ := json.Marshal(payload)
	sealed, err := consumer.Seal(pub, p)
	clear(p)
	if err != nil {
		return 1, err
	}
	body, _ := json.Marshal(map[string]string{"backend": "lit-v3", "pkp": strings.ToLower(pkp), "sealedPayload": base64.RawURLEncoding.EncodeToString(sealed)})
	events := make(chan *nats.Msg, 8)
	if wait {
		sub, err := nc.ChanSubscribe(topo.Prefix+".events.delegation.*."+strings.ToLower(pkp), events)
		if err != nil {
			return 1, err
		}
		defer sub.Unsubscribe()
	}
	sum := sha256.Sum256(body)
	if _, err := js.Publish(ctx, subject, body, jetstream.WithMsgID(hex.EncodeToString(sum[:]))); err != nil {
		return 1, fmt.Errorf("publish: %w", err)
	}
	if !wait {
		return 0, nil
	}
	for {
		select {
		case <-ctx.Done():
			return 1, fmt.Errorf("no %s/rejected event before --timeout", want)
		case m := <-events:
			var ev consumer.DelegationEvent
			if json.Unmarshal(m.Data, &ev) != nil || (ev.Type != want && ev.Type != consumer.EventRejected) {
				continue
			}
			fmt.Fprintln(e.stdout, string(m.Data))
			if ev.Type == consumer.EventRejected {
				return 1, fmt.Errorf("litsignd rejected it: %s: %s", ev.Reason, ev.Message)
			}
			return 0, nil
		}
	}
}

func cmdV3HandOff(ctx context.Context, e env, args []string) (int, error) {
	fs := flag.NewFlagSet("litsign v3 hand-off", flag.ContinueOnError)
	var c natsFlags
	c.register(fs)
	var t v3Target
	fs.StringVar(&t.pkp, "pkp", "", "the PKP's wallet address (default with --dev-info: the first dev wallet)")
	keyFile := fs.String("usage-key-file", "", "file holding the usage API key ('-': stdin; default with --dev-info: the dev key)")
	fs.StringVar(&t.group, "group-id", "", "the group holding the PKP and litsignd's signing action")
	policy := fs.String("policy", "", `optional policy JSON, e.g. {"allowedActions":["Qm…"]}`)
	expiresIn := cli.Duration(fs, "expires-in", 0, "optional: litsignd forgets the credential after this long (v3 keys themselves do not expire)")
	if err := parse(fs, e, args); err != nil {
		return 2, err
	}
	if err := t.resolve(e, c.devInfo, *keyFile); err != nil {
		return 2, err
	}
	if t.group == "" {
		return 2, errors.New("give --group-id")
	}
	payload := map[string]any{"usageKey": t.key, "groupId": t.group, "issuedAt": time.Now().UTC()}
	if *policy != "" {
		var p any
		if err := json.Unmarshal([]byte(*policy), &p); err != nil {
			return 2, fmt.Errorf("--policy: %w", err)
		}
		payload["policy"] = p
	}
	if *expiresIn > 0 {
		payload["expiresAt"] = time.Now().Add(*expiresIn).UTC()
	}
	return publishV3(ctx, e, &c, c.topology().DelegationsSubject(), t.pkp, payload, true, consumer.EventStored)
}

func cmdV3Revoke(ctx context.Context, e env, args []string) (int, error) {
	fs := flag.NewFlagSet("litsign v3 revoke", flag.ContinueOnError)
	var c natsFlags
	c.register(fs)
	var t v3Target
	fs.StringVar(&t.pkp, "pkp", "", "the PKP's wallet address")
	keyFile := fs.String("usage-key-file", "", "file holding the usage API key stored for it")
	if err := parse(fs, e, args); err != nil {
		return 2, err
	}
	if err := t.resolve(e, c.devInfo, *keyFile); err != nil {
		return 2, err
	}
	payload := map[string]any{"usageKey": t.key, "revokedAt": time.Now().UTC()}
	return publishV3(ctx, e, &c, c.topology().RevocationsSubject(), t.pkp, payload, true, consumer.EventRevoked)
}
