package main

import (
	"io"
	"testing"
)

// Un-namespaced job subjects (producer "default") are on in dev and off
// outside it unless enabled; --producers is validated at start.
func TestProducerFlags(t *testing.T) {
	env := func(string) string { return "" }
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"dev"}, true},
		{[]string{"dev", "--allow-default-producer=false"}, false},
		{[]string{"--kek-file", "k"}, false},
		{[]string{"--kek-file", "k", "--allow-default-producer"}, true},
	} {
		cfg, err := parseConfig(c.args, env, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if cfg.allowDefault != c.want {
			t.Errorf("%v: allow default producer = %v, want %v", c.args, cfg.allowDefault, c.want)
		}
	}
	if _, err := parseConfig([]string{"--kek-file", "k", "--producers", "a,b.c"}, env, io.Discard); err == nil {
		t.Error("an invalid producer name was accepted")
	}
	cfg, err := parseConfig([]string{"--kek-file", "k", "--producers", "billing:_INBOX_billing.,payouts"}, env, io.Discard)
	if err != nil || cfg.producers == "" {
		t.Errorf("valid --producers refused: %v", err)
	}
}
