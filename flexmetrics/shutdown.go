package flexmetrics

import (
	"errors"
	"strings"
	"time"

	"github.com/go-flexible/flexible/flex"
	"github.com/prometheus/client_golang/prometheus"
)

// The shutdown reasons of flex_shutdowns_total: the kinds of trigger that
// flex names in its shutdown event, so that the label's values are few.
var shutdownReasons = []string{"signal", "context", "worker_stopped", "worker_failed"}

// shutdownMetrics carry a service's shutdown timeline (flex's
// "flex: shutdown timeline" log line) as metrics. Each is set as soon as its
// phase ends, while the operations server, halted last, still serves.
type shutdownMetrics struct {
	total    *prometheus.CounterVec
	deadline prometheus.Counter
	phase    *prometheus.GaugeVec

	// Of the shutdown under way; guarded by the Observer's mu.
	began, halting time.Time
}

func newShutdownMetrics() *shutdownMetrics {
	m := &shutdownMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flex_shutdowns_total",
			Help: "Shutdowns begun, by reason: signal, context, worker_stopped (a Run returned nil) or worker_failed.",
		}, []string{"reason"}),
		deadline: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flex_shutdown_deadline_exceeded_total",
			Help: "Shutdowns that ended at FLEX_SHUTDOWN_TIMEOUT with a worker still running.",
		}),
		phase: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flex_shutdown_phase_seconds",
			Help: "Duration of each phase of the last shutdown: delay (FLEX_SHUTDOWN_DELAY), halt (every worker's), total.",
		}, []string{"phase"}),
	}
	for _, r := range shutdownReasons {
		m.total.WithLabelValues(r) // at zero, so that increase() sees the first
	}
	return m
}

func (m *shutdownMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.total, m.deadline, m.phase}
}

// observe records e; the Observer's mu is held.
func (m *shutdownMetrics) observe(e flex.Event) {
	switch e.Kind {
	case flex.EventShutdown:
		m.began, m.halting = e.Time, time.Time{}
		m.total.WithLabelValues(shutdownReason(e.Reason)).Inc()
	case flex.EventWorkerHalting:
		if m.halting.IsZero() && !m.began.IsZero() {
			m.halting = e.Time
			m.phase.WithLabelValues("delay").Set(m.halting.Sub(m.began).Seconds())
		}
	case flex.EventStopped:
		if errors.Is(e.Err, flex.ErrShutdownTimeout) {
			m.deadline.Inc()
		}
		if m.began.IsZero() {
			return
		}
		if !m.halting.IsZero() {
			m.phase.WithLabelValues("halt").Set(e.Time.Sub(m.halting).Seconds())
		}
		m.phase.WithLabelValues("total").Set(e.Time.Sub(m.began).Seconds())
	}
}

// shutdownReason classifies the Reason of flex's shutdown event: "signal
// terminated", "context done: …", "worker api failed", "worker api stopped".
func shutdownReason(reason string) string {
	switch {
	case strings.HasPrefix(reason, "signal "):
		return "signal"
	case strings.HasPrefix(reason, "context "):
		return "context"
	case strings.HasSuffix(reason, " failed"):
		return "worker_failed"
	default:
		return "worker_stopped"
	}
}
