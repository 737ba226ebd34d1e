package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
)

// broker is a one-broker kfake cluster run as a flex worker.
type broker struct {
	cluster *kfake.Cluster
	addr    string // what it listens on, and advertises

	halt     chan struct{} // closed by Halt
	haltOnce sync.Once
	closed   chan struct{} // closed once the cluster is closed
	close    sync.Once
}

// startBroker starts the cluster of cfg, listening at once.
func startBroker(cfg config) (*broker, error) {
	// kfake listens on 127.0.0.1 and the port given; a listen function of
	// our own lets the host be any.
	listen := func(network, _ string) (net.Listener, error) { return net.Listen(network, cfg.addr) }
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(listen),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(cfg.partitions),
	}
	if cfg.dataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.dataDir))
	}
	if cfg.verbose {
		opts = append(opts, kfake.WithLogger(kfakeLogger{}))
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("devbroker: start a broker on %s (data %s): %w", cfg.addr, cfg.dataDirOrMemory(), err)
	}
	return &broker{
		cluster: cluster,
		addr:    cluster.ListenAddrs()[0],
		halt:    make(chan struct{}),
		closed:  make(chan struct{}),
	}, nil
}

// String names the worker in flex's logs.
func (b *broker) String() string { return "devbroker" }

// Run serves until Halt is called or ctx is done, then closes the broker:
// it stops listening, drops its connections and, with a data directory,
// writes its state there. Run returns nil; once it has returned, the
// broker cannot serve again.
func (b *broker) Run(ctx context.Context) error {
	select {
	case <-b.halt:
	case <-ctx.Done():
	}
	b.shut()
	return nil
}

// Halt makes Run close the broker, and waits until it is closed or ctx is
// done, then returns ctx's error. It may be called before Run, without Run
// (then it closes the broker itself), concurrently and more than once.
func (b *broker) Halt(ctx context.Context) error {
	b.haltOnce.Do(func() { close(b.halt) })
	go b.shut() // in case Run never runs; shut runs once
	select {
	case <-b.closed:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("devbroker: halt: the broker did not close in time: %w", ctx.Err())
	}
}

// shut closes the cluster once.
func (b *broker) shut() {
	b.close.Do(func() {
		b.cluster.Close()
		close(b.closed)
	})
}

// kfakeLogger writes the broker's warnings and errors to slog.
type kfakeLogger struct{}

func (kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		slog.Error("devbroker: " + fmt.Sprintf(format, args...))
	case kfake.LogLevelWarn:
		slog.Warn("devbroker: " + fmt.Sprintf(format, args...))
	}
}
