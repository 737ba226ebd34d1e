package main

import (
	"context"
	"fmt"
	"os"
)

// result is what was measured on one kind of database.
type result struct {
	kind     string
	rounds   []round
	ship     shipping // at -rate
	shipHalf shipping // at half the service's throughput
}

// round is one ceiling and one service measurement, side by side, with
// on PostgreSQL the tuned ceiling too, and with -lean the service under
// the lean client.
type round struct {
	ceiling figures // the transaction's statements, BEGIN … COMMIT: issue 11's limit
	tuned   figures // PostgreSQL: the one statement the order system sends; zero on SQLite
	service figures
	lean    figures
}

// ratio is the service's throughput over the ceiling's.
func (r round) ratio() float64 { return ratio(r.service, r.ceiling) }

// ratio is f's throughput over limit's, 0 when limit was not measured.
func ratio(f, limit figures) float64 {
	if limit.perSec == 0 {
		return 0
	}
	return f.perSec / limit.perSec
}

// measure runs the ceiling and the service alternately, -rounds times,
// each on a fresh database, then the order-to-shipped measurements on
// another.
func (e *env) measure(ctx context.Context, kind string) (result, error) {
	res := result{kind: kind}
	best := 0.0
	for i := range e.cfg.rounds {
		var r round
		var err error
		progress("%s round %d: ceiling", kind, i+1)
		if r.ceiling, err = e.measureCeiling(ctx, kind, false); err != nil {
			return res, err
		}
		progress("%s round %d: ceiling %.0f tx/s, p50 %s, p99 %s", kind, i+1, r.ceiling.perSec, ms(r.ceiling.p50), ms(r.ceiling.p99))
		if kind == "postgres" {
			if r.tuned, err = e.measureCeiling(ctx, kind, true); err != nil {
				return res, err
			}
			progress("%s round %d: tuned ceiling %.0f tx/s, p50 %s, p99 %s", kind, i+1, r.tuned.perSec, ms(r.tuned.p50), ms(r.tuned.p99))
		}
		if r.service, err = e.measureService(ctx, kind); err != nil {
			return res, err
		}
		progress("%s round %d: service %.0f orders/s (%.0f%%%s), p50 %s, p99 %s, %d errors", kind, i+1,
			r.service.perSec, 100*r.ratio(), tunedNote(r.service, r.tuned), ms(r.service.p50), ms(r.service.p99), r.service.errors)
		if e.cfg.lean {
			if r.lean, err = e.measureLean(ctx, kind); err != nil {
				return res, err
			}
			progress("%s round %d: lean client %.0f orders/s (%.0f%%%s), p50 %s, p99 %s, %d errors", kind, i+1,
				r.lean.perSec, 100*ratio(r.lean, r.ceiling), tunedNote(r.lean, r.tuned), ms(r.lean.p50), ms(r.lean.p99), r.lean.errors)
		}
		res.rounds = append(res.rounds, r)
		best = max(best, r.service.perSec)
	}
	db, err := e.seededDB(ctx, kind)
	if err != nil {
		return res, err
	}
	s, err := e.startService(ctx, db, e.cfg.serviceEnv...)
	if err != nil {
		return res, err
	}
	defer s.stop()
	progress("%s: order to shipped at %.0f orders/s", kind, e.cfg.rate)
	if res.ship, err = e.shipping(ctx, s, db, e.cfg.rate); err != nil {
		return res, err
	}
	if best > 0 {
		progress("%s: order to shipped at %.0f orders/s (half the service's throughput)", kind, best/2)
		if res.shipHalf, err = e.shipping(ctx, s, db, best/2); err != nil {
			return res, err
		}
	}
	return res, s.stop()
}

// measureCeiling runs the ceiling (see ceiling) on a fresh database,
// seeded.
func (e *env) measureCeiling(ctx context.Context, kind string, oneStatement bool) (figures, error) {
	db, err := e.seededDB(ctx, kind)
	if err != nil {
		return figures{}, err
	}
	return e.ceiling(ctx, db, oneStatement)
}

// tunedNote is f's ratio to the tuned ceiling, for the progress lines:
// "; 43% of the tuned", or "" without one.
func tunedNote(f, tuned figures) string {
	if tuned.perSec == 0 {
		return ""
	}
	return fmt.Sprintf("; %.0f%% of the tuned", 100*ratio(f, tuned))
}

// measureService runs the closed-loop HTTP load on the order system on a
// fresh database, seeded.
func (e *env) measureService(ctx context.Context, kind string) (figures, error) {
	db, err := e.seededDB(ctx, kind)
	if err != nil {
		return figures{}, err
	}
	s, err := e.startService(ctx, db, e.cfg.serviceEnv...)
	if err != nil {
		return figures{}, err
	}
	rep, err := e.loadgen(ctx, s, e.cfg.c, 0)
	if stopErr := s.stop(); err == nil && stopErr != nil {
		err = fmt.Errorf("stop: %w", stopErr)
	}
	return rep.figures(), err
}

// measureLean runs the lean client's closed loop (see leanLoad) on the
// order system on a fresh database, seeded.
func (e *env) measureLean(ctx context.Context, kind string) (figures, error) {
	db, err := e.seededDB(ctx, kind)
	if err != nil {
		return figures{}, err
	}
	s, err := e.startService(ctx, db, e.cfg.serviceEnv...)
	if err != nil {
		return figures{}, err
	}
	f, err := e.leanLoad(ctx, s)
	if stopErr := s.stop(); err == nil && stopErr != nil {
		err = fmt.Errorf("stop: %w", stopErr)
	}
	return f, err
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
