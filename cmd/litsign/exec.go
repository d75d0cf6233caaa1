package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// cmdExec submits one execute-js job: a Lit Action from a file (--code,
// "-" for stdin) or an IPFS CID (--ipfs), run by litsignd with the PKP's
// stored delegation, and prints the result.
func cmdExec(ctx context.Context, e env, args []string) (int, error) {
	fs := flag.NewFlagSet("litsign exec", flag.ContinueOnError)
	var c natsFlags
	c.register(fs)
	pkpHex := fs.String("pkp", "", "PKP public key 0x04… whose delegation runs the action")
	var act actionFlags
	act.register(fs)
	var route routeFlags
	route.register(fs)
	if err := parse(fs, e, args); err != nil {
		return 2, err
	}
	if err := checkJobPKP(*pkpHex); err != nil { // v3.go
		return 2, fmt.Errorf("--pkp: %w", err)
	}
	if err := route.validate(); err != nil {
		return 2, err
	}
	if !act.given() {
		return 2, errors.New("give exactly one of --code and --ipfs")
	}
	job, err := act.fields(e)
	if err != nil {
		return 2, err
	}
	job["id"], job["pkpPublicKey"] = newJobID(), *pkpHex
	nc, _, err := c.connect()
	if err != nil {
		return 1, err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	topo := c.topology()
	return runJob(ctx, e, nc, route.subject(topo, "execute-js"), route.reply(topo, job["id"].(string)), c.timeout, job)
}

// actionFlags say which Lit Action an execute-js job runs and how; exec
// and bench share them.
type actionFlags struct {
	code, ipfs, params, delivery string
}

func (a *actionFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.code, "code", "", "file with the action's JavaScript source (- for stdin)")
	fs.StringVar(&a.ipfs, "ipfs", "", "IPFS CID of the action, instead of --code")
	fs.StringVar(&a.params, "params", "", "jsParams: a JSON object the action reads as jsParams.<key>")
	fs.StringVar(&a.delivery, "delivery", "at-most-once", "at-most-once (never run twice; outcome_unknown instead) or at-least-once")
}

// given reports whether an action was named (--code or --ipfs).
func (a *actionFlags) given() bool { return a.code != "" || a.ipfs != "" }

// fields returns the execute-js job fields of the flags: code (read from
// its file) or ipfsId, jsParams, delivery.
func (a *actionFlags) fields(e env) (map[string]any, error) {
	if a.code != "" && a.ipfs != "" {
		return nil, errors.New("give exactly one of --code and --ipfs")
	}
	if a.delivery != "at-most-once" && a.delivery != "at-least-once" {
		return nil, fmt.Errorf("--delivery %q: want at-most-once or at-least-once", a.delivery)
	}
	job := map[string]any{"delivery": a.delivery}
	if a.code != "" {
		code, err := readCode(e, a.code)
		if err != nil {
			return nil, err
		}
		job["code"] = string(code)
	} else {
		job["ipfsId"] = a.ipfs
	}
	if a.params != "" {
		var p map[string]any
		dec := json.NewDecoder(bytes.NewReader([]byte(a.params)))
		dec.UseNumber()
		if err := dec.Decode(&p); err != nil || p == nil {
			return nil, fmt.Errorf("--params must be a JSON object: %v", err)
		}
		job["jsParams"] = p
	}
	return job, nil
}

// readCode reads the action source from path, or stdin for "-".
func readCode(e env, path string) ([]byte, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(e.stdin, 1<<20))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("--code: %w", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("--code %s is empty", path)
	}
	return b, nil
}
