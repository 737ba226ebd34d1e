package main

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

func TestParseFlagsRejects(t *testing.T) {
	for _, args := range [][]string{
		{"-run", "("},
		{"-run", "nosuchway"},
		{"-deploys", "-1"},
		{"-rate", "0"},
		{"-rate", "100000"},
		{"-method", "PUT"},
	} {
		_, err := parseFlags(args, io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), "rollingdeploy: invalid -"+strings.TrimPrefix(args[0], "-")) {
			t.Errorf("%v: got %v, want an error naming %s", args, err, args[0])
		}
	}
}

func TestParseFlagsShort(t *testing.T) {
	cfg, err := parseFlags([]string{"-short"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.timing != shortTiming || cfg.deploys != 2 {
		t.Errorf("got %+v, want short timing and 2 deploys", cfg)
	}
	// The delay must cover the checks that take a replica out, in both
	// timings: that is what the comparison is about.
	for _, tm := range []timing{fullTiming, shortTiming} {
		if detect := tm.inter * 2; tm.delay <= detect {
			t.Errorf("%+v: delay %v does not cover fall × inter = %v", tm, tm.delay, detect)
		}
	}
}

// rollShort runs the short form of the deploys for the ways matching
// expr, skipping without haproxy.
func rollShort(t *testing.T, expr string) result {
	t.Helper()
	if testing.Short() {
		t.Skip("rolling deploys through haproxy take seconds")
	}
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Skip(errNoHAProxy)
	}
	cfg, err := parseFlags([]string{"-short", "-run", expr}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	results, err := compare(context.Background(), cfg, io.Discard)
	if errors.Is(err, errNoHAProxy) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 {
		t.Fatalf("got %d results, want 1", len(results))
	}
	r := results[0]
	t.Logf("%s: %d requests, %d failed %v, slowest %v, deploy %v", r.way.name, r.tally.requests, r.tally.failed(), r.tally.counts, r.tally.slowest, r.deployDur)
	return r
}

// TestFlexFailsNothing is the promise: flex with its delay loses no request
// over rolling deploys behind HAProxy.
func TestFlexFailsNothing(t *testing.T) {
	r := rollShort(t, "^flex$")
	if got := r.tally.failed(); got != 0 {
		t.Errorf("flex failed %d of %d requests: %v", got, r.tally.requests, r.tally.examples)
	}
}

// TestNotifyContextFails shows that the harness sees failures: the common
// hand-rolled shutdown cuts the requests in flight (at 300 req/s and 20 ms
// each, about two per replica at each SIGTERM, six SIGTERMs), and POST
// requests are retried by neither HAProxy nor Go's client.
func TestNotifyContextFails(t *testing.T) {
	r := rollShort(t, "^notifycontext$")
	if r.tally.failed() == 0 {
		t.Errorf("notifycontext failed none of %d requests; the harness missed the cut requests", r.tally.requests)
	}
}
