package main

import "time"

// timing is how fast the balancer notices a change, and the flex settings
// that must cover it.
type timing struct {
	inter      time.Duration // HAProxy's check interval
	fall, rise int           // failed and passed checks to change state
	delay      time.Duration // FLEX_SHUTDOWN_DELAY of the way "flex"
	timeout    time.Duration // FLEX_SHUTDOWN_TIMEOUT, and every other way's Shutdown timeout
}

// fullTiming maps the orders example's Kubernetes manifests: readiness
// failureThreshold 2 and successThreshold 1 (fall, rise), and
// FLEX_SHUTDOWN_DELAY 5s, FLEX_SHUTDOWN_TIMEOUT 20s. In Kubernetes a pod
// leaves the Service's endpoints as soon as it is deleted, and the delay
// covers the few seconds the ingress takes to follow; here the checks are the
// only way HAProxy learns, so inter is 2s: fall × inter = 4s < 5s.
var fullTiming = timing{inter: 2 * time.Second, fall: 2, rise: 1, delay: 5 * time.Second, timeout: 20 * time.Second}

// shortTiming is fullTiming five times faster for CI: the check interval and
// the delay both shrink by five, so the delay still covers fall × inter with
// the same ratio (1 s against 800 ms). The timeout is not scaled; no way needs
// it, since a request takes 20 ms.
var shortTiming = timing{inter: 400 * time.Millisecond, fall: 2, rise: 1, delay: time.Second, timeout: 20 * time.Second}

// way is one way of writing the service.
type way struct {
	name  string
	dir   string // the folder of its main package, in the module
	check string // the path HAProxy checks: readiness, or / without one
	env   func(timing) []string
}

// ways returns every way, in the table's order.
func ways() []way {
	noEnv := func(timing) []string { return nil }
	return []way{
		{name: "flex", dir: "flex", check: "/readyz", env: func(t timing) []string {
			return []string{"FLEX_SHUTDOWN_DELAY=" + t.delay.String(), "FLEX_SHUTDOWN_TIMEOUT=" + t.timeout.String()}
		}},
		{name: "flex-nodelay", dir: "flex", check: "/readyz", env: func(t timing) []string {
			return []string{"FLEX_SHUTDOWN_DELAY=0s", "FLEX_SHUTDOWN_TIMEOUT=" + t.timeout.String()}
		}},
		{name: "notifycontext", dir: "notifycontext", check: "/", env: noEnv},
		{name: "careful", dir: "careful", check: "/", env: noEnv},
		{name: "oklogrun", dir: "oklogrun", check: "/", env: noEnv},
		{name: "fx", dir: "fx", check: "/", env: noEnv},
	}
}
