package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/internal/cli"
	"github.com/litsignd/litsignd/litv3"
)

// v3CheckReport is what `litsign v3 check` prints.
type v3CheckReport struct {
	URL            string `json:"url"`
	ServerVersion  string `json:"serverVersion,omitempty"`
	AccountExists  bool   `json:"accountExists"`
	CreditCents    *int64 `json:"creditCents,omitempty"`
	SignActionCID  string `json:"signActionCid"`
	PingRequestID  string `json:"pingRequestId,omitempty"`
	SignRequestID  string `json:"signRequestId,omitempty"`
	PKP            string `json:"pkp"`
	Digest         string `json:"digest"`
	Signature      string `json:"signature"`
	RecoveredAddr  string `json:"recoveredAddress"`
	RecoveredKey   string `json:"recoveredPublicKey"`
	OK             bool   `json:"ok"`
	Problem        string `json:"problem,omitempty"`
	ApproxCostCent int    `json:"approxCostCents"`
}

// cmdV3Check is the one command to run against the real service before
// going live: the key resolves to an account (free), the signing action's
// CID may run with it (a no-op run), and the PKP signs with it (one
// signature, verified here). Two action runs: about 2 cents.
func cmdV3Check(ctx context.Context, e env, args []string) (int, error) {
	fs := flag.NewFlagSet("litsign v3 check", flag.ContinueOnError)
	url := fs.String("url", "prod", "Lit v3 API: prod, test, dev or a base URL")
	keyFile := fs.String("usage-key-file", "", "file holding the usage API key ('-': stdin)")
	pkp := fs.String("pkp", "", "the PKP's wallet address (0x + 40 hex)")
	devInfo := fs.String("dev-info", "", "use the v3 fake of `litsignd dev` (url, key, first wallet)")
	timeout := cli.Duration(fs, "timeout", 60*time.Second, "overall timeout")
	if err := parse(fs, e, args); err != nil {
		return 2, err
	}
	t := v3Target{pkp: *pkp}
	if *devInfo != "" {
		d, err := readDevV3(*devInfo)
		if err != nil {
			return 2, err
		}
		if *url == "prod" {
			*url = d.URL
		}
	}
	if err := t.resolve(e, *devInfo, *keyFile); err != nil {
		return 2, err
	}
	key, err := litv3.ParseUsageKey(t.key)
	if err != nil {
		return 2, fmt.Errorf("--usage-key-file: %w", err)
	}
	client, err := litv3.New(*url, litv3.Options{ActionTimeout: *timeout}) // --timeout bounds the whole check, its actions included
	if err != nil {
		return 2, err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rep := v3CheckReport{URL: client.BaseURL(), SignActionCID: consumer.V3SignActionCID(), PKP: strings.ToLower(t.pkp)}
	fail := func(format string, a ...any) (int, error) {
		rep.Problem = fmt.Sprintf(format, a...)
		out, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(e.stdout, string(out))
		return 1, errors.New(rep.Problem)
	}
	if v, err := client.Version(ctx); err == nil {
		rep.ServerVersion = v.CommitVersion
		if rep.ServerVersion == "" {
			rep.ServerVersion = v.Version
		}
	}
	if rep.AccountExists, err = client.AccountExists(ctx, key); err != nil && !errors.Is(err, litv3.ErrUnauthorized) {
		return fail("account_exists: %v", err)
	}
	if !rep.AccountExists {
		return fail("the service does not know this usage key (account_exists is false)")
	}
	if b, err := client.Balance(ctx, key); err == nil {
		c := b.CreditCents()
		rep.CreditCents = &c
	}
	ping, err := client.LitAction(ctx, key, litv3.ActionRequest{Code: consumer.V3SignAction(), JSParams: map[string]any{"op": "ping"}})
	rep.ApproxCostCent++
	if err != nil {
		if errors.Is(err, litv3.ErrForbidden) {
			return fail("the key may not run litsignd's signing action: add CID %s to a group in the key's execute_in_groups (%v)", rep.SignActionCID, err)
		}
		return fail("no-op run of the signing action: %v", err)
	}
	rep.PingRequestID = ping.RequestID
	digest := crypto.Keccak256([]byte("litsign v3 check " + time.Now().UTC().Format(time.RFC3339Nano)))
	rep.Digest = "0x" + hex.EncodeToString(digest)
	res, err := client.LitAction(ctx, key, litv3.ActionRequest{Code: consumer.V3SignAction(), JSParams: map[string]any{"pkpId": rep.PKP, "digest": rep.Digest}})
	rep.ApproxCostCent++
	if err != nil {
		if errors.Is(err, litv3.ErrWalletNotPermitted) {
			return fail("the key's group does not hold PKP %s together with the signing action: add it to the group (%v)", rep.PKP, err)
		}
		return fail("signature: %v", err)
	}
	rep.SignRequestID = res.RequestID
	var sig struct {
		R, S          string
		RecoveryParam int `json:"recoveryParam"`
	}
	if err := json.Unmarshal(res.Response, &sig); err != nil {
		return fail("the signing action answered %s", res.Response)
	}
	r, _ := hex.DecodeString(strings.TrimPrefix(sig.R, "0x"))
	s, _ := hex.DecodeString(strings.TrimPrefix(sig.S, "0x"))
	if len(r) != 32 || len(s) != 32 || (sig.RecoveryParam != 0 && sig.RecoveryParam != 1) {
		return fail("the signing action answered a malformed signature: %s", res.Response)
	}
	raw := append(append(append([]byte{}, r...), s...), byte(sig.RecoveryParam))
	rep.Signature = "0x" + hex.EncodeToString(append(raw[:64:64], byte(27+sig.RecoveryParam)))
	pub, err := crypto.SigToPub(digest, raw)
	if err != nil {
		return fail("signature does not recover: %v", err)
	}
	rep.RecoveredAddr = strings.ToLower(crypto.PubkeyToAddress(*pub).Hex())
	rep.RecoveredKey = "0x" + hex.EncodeToString(crypto.FromECDSAPub(pub))
	if !bytes.Equal([]byte(rep.RecoveredAddr), []byte(rep.PKP)) {
		return fail("the signature recovers to %s, not the PKP %s", rep.RecoveredAddr, rep.PKP)
	}
	rep.OK = true
	out, _ := json.MarshalIndent(rep, "", "  ")
	fmt.Fprintln(e.stdout, string(out))
	return 0, nil
}
