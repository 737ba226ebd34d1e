package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// isTerminal reports whether f is a terminal (a character device), where
// a progress line rewritten in place is welcome.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// showProgress writes a progress line to w once a second until ctx is
// done: elapsed time, requests per second over the last second, errors
// and p99 so far. On a terminal the line is rewritten in place.
func showProgress(ctx context.Context, w io.Writer, terminal bool, s *stats, b *book) {
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last uint64
	end := "\n"
	if terminal {
		end = "\033[K" // clear the rest of the line
	}
	for {
		select {
		case <-ctx.Done():
			if terminal {
				fmt.Fprint(w, "\r\033[K")
			}
			return
		case <-tick.C:
		}
		p := s.progress()
		line := fmt.Sprintf("%4.0fs %7.1f req/s %8d requests %5d errors  p99 %9s %7d orders",
			time.Since(start).Seconds(), float64(p.requests-last), p.requests, p.errors, ms(p.p99), len(b.orders()))
		last = p.requests
		if terminal {
			line = "\r" + line
		}
		fmt.Fprint(w, line+end)
	}
}
