package flexmetrics

import (
	"fmt"
	"sync"

	"github.com/go-flexible/flexible/flex"
	"github.com/prometheus/client_golang/prometheus"
)

// Observer turns the lifecycle events of a flex.Service into metrics.
// Register it with flex.WithObserver:
//
//	flex_worker_up{worker}                          gauge: 1 while the worker's Run is running
//	flex_worker_ready{worker}                       gauge: 1 once the worker reported ready, until Run returns
//	flex_worker_halt_duration_seconds{worker}       histogram: how long each Halt took
//	flex_worker_errors_total{worker, op}            counter: errors returned by Run (op="run") or Halt (op="halt")
//	flex_worker_panics_total{worker, op}            counter: panics recovered from Run or Halt
//	flex_shutdowns_total{reason}                    counter: shutdowns begun (signal, context, worker_stopped, worker_failed)
//	flex_shutdown_phase_seconds{phase}              gauge: the last shutdown's delay, halt and total
//	flex_shutdown_deadline_exceeded_total           counter: shutdowns that ended at the deadline
//
// The shutdown metrics carry flex's shutdown timeline; each phase is set
// when it ends, so a scrape during the shutdown (the operations server is
// halted last) sees the delay before the process exits. Give each Service
// its own Observer: the phases are those of one service's shutdown.
// worker is the worker's name (see flex.Name). Workers that share a name
// (two values of one type without a String method, say) share its series:
// the gauges then count how many of them are up and ready. Events name
// workers only, so when one of them stops the Observer cannot tell whether
// it was a ready one; name workers apart with flex.Named to avoid that.
//
// The series of a worker are created, at zero, when it starts, so that
// rate() and alerts see them before the first error. A panic counts as a
// panic, not as an error. An Observer is safe for concurrent use.
type Observer struct {
	mu      sync.Mutex
	workers map[string]*workerState // by name, while one is running

	up     *prometheus.GaugeVec
	ready  *prometheus.GaugeVec
	halt   *prometheus.HistogramVec
	errors *prometheus.CounterVec
	panics *prometheus.CounterVec
	stops  *shutdownMetrics
}

// workerState counts the workers of one name whose Run is running, and
// how many of those reported ready.
type workerState struct{ running, ready int }

var _ flex.Observer = (*Observer)(nil)

// NewObserver returns an Observer whose metrics are registered on reg. It
// returns [ErrNilRegisterer] when reg is nil, and the registry's error when
// the metrics are already registered on reg (by another Observer).
func NewObserver(reg prometheus.Registerer) (*Observer, error) {
	if reg == nil {
		return nil, ErrNilRegisterer
	}
	o := &Observer{
		workers: make(map[string]*workerState),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flex_worker_up",
			Help: "Whether the worker's Run is running (1) or not (0).",
		}, []string{"worker"}),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flex_worker_ready",
			Help: "Whether the worker reported ready (1) and is still running, or not (0).",
		}, []string{"worker"}),
		halt: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flex_worker_halt_duration_seconds",
			Help:    "Time the worker's Halt took, until it returned or the shutdown deadline passed.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 2.5, 5, 10, 20, 30},
		}, []string{"worker"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flex_worker_errors_total",
			Help: "Errors returned by the worker's Run (op=run) or Halt (op=halt), panics excluded.",
		}, []string{"worker", "op"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flex_worker_panics_total",
			Help: "Panics recovered from the worker's Run (op=run) or Halt (op=halt).",
		}, []string{"worker", "op"}),
	}
	o.stops = newShutdownMetrics()
	if err := register(reg, append([]prometheus.Collector{o.up, o.ready, o.halt, o.errors, o.panics}, o.stops.collectors()...)...); err != nil {
		return nil, fmt.Errorf("flexmetrics: NewObserver: %w", err)
	}
	return o, nil
}

// Observe records e. It implements flex.Observer.
func (o *Observer) Observe(e flex.Event) {
	switch e.Kind {
	case flex.EventWorkerStarted:
		o.mu.Lock()
		st := o.workers[e.Worker]
		if st == nil {
			st = &workerState{}
			o.workers[e.Worker] = st
		}
		st.running++
		o.set(e.Worker, st)
		o.mu.Unlock()
		for _, op := range []string{"run", "halt"} {
			o.errors.WithLabelValues(e.Worker, op)
			o.panics.WithLabelValues(e.Worker, op)
		}
	case flex.EventWorkerReady:
		// The ready event comes from another goroutine than the stopped
		// one and may arrive after it: a stopped worker stays unready.
		o.mu.Lock()
		if st := o.workers[e.Worker]; st != nil && st.ready < st.running {
			st.ready++
			o.set(e.Worker, st)
		}
		o.mu.Unlock()
	case flex.EventWorkerStopped:
		o.mu.Lock()
		if st := o.workers[e.Worker]; st != nil {
			st.running--
			st.ready = min(st.ready, st.running)
			o.set(e.Worker, st)
			if st.running == 0 {
				delete(o.workers, e.Worker)
			}
		}
		o.mu.Unlock()
		o.failed(e, "run")
	case flex.EventWorkerHalted:
		o.halt.WithLabelValues(e.Worker).Observe(e.Duration.Seconds())
		o.failed(e, "halt")
	case flex.EventShutdown, flex.EventWorkerHalting, flex.EventStopped:
		o.mu.Lock()
		o.stops.observe(e)
		o.mu.Unlock()
	}
}

// set updates the gauges of worker; o.mu is held, so that concurrent events
// leave the gauges as the counts say.
func (o *Observer) set(worker string, st *workerState) {
	o.up.WithLabelValues(worker).Set(float64(st.running))
	o.ready.WithLabelValues(worker).Set(float64(st.ready))
}

func (o *Observer) failed(e flex.Event, op string) {
	switch {
	case e.Panicked:
		o.panics.WithLabelValues(e.Worker, op).Inc()
	case e.Err != nil:
		o.errors.WithLabelValues(e.Worker, op).Inc()
	}
}
