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
// done: elapsed time, requests per second since the last line, errors and
// p99 so far. On a terminal the line is rewritten in place, and cleared at
// the end; elsewhere each is a line of its own, and a last one is written
// at the end.
func showProgress(ctx context.Context, w io.Writer, terminal bool, s *stats, b *book) {
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastCount uint64
	lastTime := start
	write := func() {
		now := time.Now()
		p := s.progress()
		line := fmt.Sprintf("%4.0fs %7.1f req/s %8d requests %5d errors  p99 %9s %7d orders",
			now.Sub(start).Seconds(), float64(p.requests-lastCount)/now.Sub(lastTime).Seconds(),
			p.requests, p.errors, ms(p.p99), b.count())
		lastCount, lastTime = p.requests, now
		if terminal {
			fmt.Fprint(w, "\r"+line+"\033[K") // clear the rest of the line
		} else {
			fmt.Fprintln(w, line)
		}
	}
	for {
		select {
		case <-ctx.Done():
			if terminal {
				fmt.Fprint(w, "\r\033[K")
			} else {
				write()
			}
			return
		case <-tick.C:
			write()
		}
	}
}
