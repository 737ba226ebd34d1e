package flex

import "time"

// EventKind says what happened in an [Event].
type EventKind int

// The lifecycle events, in the order a service sees them.
const (
	EventStarting      EventKind = iota + 1 // the service is starting its workers
	EventWorkerStarted                      // a worker's Run is being called, in its own goroutine (see [Service.Start])
	EventWorkerReady                        // a worker reported ready (see [Readier])
	EventShutdown                           // shutdown was triggered; Reason says why
	EventWorkerHalting                      // a worker's Halt is about to be called
	EventWorkerHalted                       // a worker's Halt returned; Duration is how long it took
	EventWorkerStopped                      // a worker's Run returned; Duration is how long it ran
	EventStopped                            // the service stopped; Duration is its whole life
)

var eventNames = [...]string{"", "starting", "worker started", "worker ready", "shutdown",
	"worker halting", "worker halted", "worker stopped", "stopped"}

// String returns the event's name as it appears in logs, such as "worker halted".
func (k EventKind) String() string {
	if k <= 0 || int(k) >= len(eventNames) {
		return "unknown"
	}
	return eventNames[k]
}

// Event is one step in the life of a service, passed to every [Observer].
type Event struct {
	Kind     EventKind
	Time     time.Time
	Worker   string        // the worker's name; empty for service events
	Duration time.Duration // see the EventKind
	Err      error         // the error of Run or Halt, or the service's final error
	Panicked bool          // Err is a *PanicError
	Reason   string        // why shutdown began, for EventShutdown
	Deadline time.Time     // for EventWorkerHalting: when the worker's share of the shutdown timeout ends
	Timeline *Timeline     // for EventStopped: where the shutdown's time went
}

// Observer receives lifecycle events, so that other packages (metrics,
// tracing) can watch a service without the core depending on them.
// Observe is called synchronously from the goroutine where the event happens,
// possibly from several goroutines at once: it must be safe for concurrent
// use and return quickly.
type Observer interface {
	Observe(Event)
}

// ObserverFunc is an adapter that lets an ordinary function be an [Observer].
type ObserverFunc func(Event)

// Observe calls f(e).
func (f ObserverFunc) Observe(e Event) { f(e) }
