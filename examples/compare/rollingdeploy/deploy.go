package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/go-flexible/flexible/examples/compare/work"
)

// replicas is how many replicas each way runs behind the balancer.
const replicas = 3

// result is what one way's rolling deploys cost.
type result struct {
	way       way
	deploys   int
	tally     *tally
	deployDur time.Duration // the mean duration of one deploy
	mainLines int
}

// measure runs way w behind a fresh haproxy, drives the load through it and
// rolls all replicas cfg.deploys times, one at a time. bin is the way's
// built program; dir holds configuration and logs.
func measure(ctx context.Context, cfg config, w way, bin, dir string, progress io.Writer) (result, error) {
	log, err := os.Create(filepath.Join(dir, w.name+".log"))
	if err != nil {
		return result{}, err
	}
	defer log.Close()
	addrs, err := freeAddrs(replicas + 1)
	if err != nil {
		return result{}, err
	}
	servers := make([]server, replicas)
	for i := range servers {
		servers[i] = server{Name: fmt.Sprintf("r%d", i+1), Addr: addrs[i+1]}
	}
	env := w.env(cfg.timing)

	running := make([]*replica, replicas)
	defer func() {
		for _, r := range running {
			if r != nil {
				r.kill()
			}
		}
	}()
	for i, srv := range servers {
		if running[i], err = startReplica(ctx, bin, srv, env, w.check, log); err != nil {
			return result{}, err
		}
	}
	lb, err := startBalancer(ctx, dir, w.name, addrs[0], w.check, cfg.timing, servers, log)
	if err != nil {
		return result{}, err
	}
	defer lb.stop()
	for _, srv := range servers {
		if err := lb.waitUp(ctx, srv.Name); err != nil {
			return result{}, err
		}
	}

	gen := newGenerator(cfg.method, "http://"+addrs[0]+"/", cfg.rate, work.Body())
	loadCtx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	go func() { gen.run(loadCtx); close(loadDone) }()
	defer func() { stopLoad(); <-loadDone }()

	// Steady load through every replica before and after the deploys: the
	// settling time is a few check intervals, so that a replica HAProxy has
	// not yet reconsidered is measured too.
	settle := time.Duration(cfg.timing.fall+1) * cfg.timing.inter
	if err := pause(ctx, settle); err != nil {
		return result{}, err
	}
	start := time.Now()
	for d := 1; d <= cfg.deploys; d++ {
		for i := range running {
			if err := roll(ctx, cfg, w, bin, env, lb, running, i, log); err != nil {
				return result{}, err
			}
			fmt.Fprintf(progress, "%s: deploy %d/%d: %s replaced, %s since the first SIGTERM\n",
				w.name, d, cfg.deploys, servers[i].Name, time.Since(start).Round(time.Millisecond))
		}
	}
	took := time.Since(start)
	if err := pause(ctx, settle); err != nil {
		return result{}, err
	}
	stopLoad()
	<-loadDone
	return result{way: w, deploys: cfg.deploys, tally: &gen.tally, deployDur: took / time.Duration(cfg.deploys)}, nil
}

// roll replaces running[i]: SIGTERM, wait for it to exit, start a new
// process on the same address, wait until it serves and HAProxy sees it UP.
func roll(ctx context.Context, cfg config, w way, bin string, env []string, lb *balancer, running []*replica, i int, log io.Writer) error {
	old := running[i]
	err := old.terminate(cfg.timing.delay + cfg.timing.timeout + 10*time.Second)
	running[i] = nil
	if err != nil {
		return err
	}
	if running[i], err = startReplica(ctx, bin, old.server, env, w.check, log); err != nil {
		return err
	}
	waitCtx, cancel := context.WithTimeout(ctx, time.Duration(cfg.timing.rise+2)*cfg.timing.inter+5*time.Second)
	defer cancel()
	return lb.waitUp(waitCtx, old.Name)
}

// pause waits d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// freeAddrs returns n loopback addresses whose ports were free a moment ago.
func freeAddrs(n int) ([]string, error) {
	var addrs []string
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}
