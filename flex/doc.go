// Package flex runs the long-lived parts of a service (HTTP servers,
// consumers, schedulers) as workers that start with one call and shut down
// gracefully, losing nothing. It uses the standard library only.
//
// A [Worker] is a [Runner], whose Run blocks while it works, and a [Halter],
// whose Halt asks it to finish and stop:
//
//	type Worker interface {
//		Run(ctx context.Context) error
//		Halt(ctx context.Context) error
//	}
//
// [Start] runs workers until the service must stop, then halts them:
//
//	err := flex.Start(ctx, httpServer, kafkaProducer)
//
// # Shutdown
//
// Shutdown begins when ctx is done, on SIGINT or SIGTERM, or when any
// worker's Run returns: a service lives only as long as all its workers run.
// Then, in order:
//
//  1. readiness (/readyz) fails at once;
//  2. the workers keep serving for FLEX_SHUTDOWN_DELAY, so that Kubernetes
//     can stop routing traffic to the pod (default 5s when
//     KUBERNETES_SERVICE_HOST is set, else 0);
//  3. the workers are halted one at a time, in reverse order of
//     registration, under one deadline of FLEX_SHUTDOWN_TIMEOUT (default
//     20s): a worker registered later, which may use the ones before it,
//     stops first. Each Halt gets a context that is not cancelled, so
//     http.Server.Shutdown really drains, whose deadline keeps
//     FLEX_SHUTDOWN_RESERVE (default: the timeout divided by twice the
//     number of workers) back for each worker still to be halted, so that
//     one slow worker cannot starve the others; after Halt returns, the
//     worker's Run context is cancelled and Start waits for Run to return,
//     until the end of the worker's share;
//  4. Start returns every error of Run and Halt, joined, the one that
//     triggered shutdown first, or nil after a clean shutdown.
//
// A second SIGINT or SIGTERM (counted from Start, so a first signal arriving
// during a shutdown that ctx began is not one) abandons the graceful path:
// Start returns [ErrSecondSignal] at once and [MustStart] exits with status 1.
// Workers still running at the deadline are named in an error wrapping
// [ErrShutdownTimeout]. Panics in Run and Halt are recovered and returned
// as [*PanicError]; the other workers are still halted gracefully.
//
// # Building workers
//
// [Func] makes a worker from a function that runs until its context is
// cancelled; [FromRunner] does the same for any [Runner]. [Named] names a
// worker in logs and errors. A [Group] runs independent workers together
// and halts them concurrently. Adapters for net/http, Prometheus, Kafka and
// cron live in sibling modules (flexhttp, flexmetrics, flexkafka, flexcron)
// so that their dependencies never reach this one. The flextest package
// checks that a Worker keeps the contract.
//
// # Health and observation
//
// [New] builds a [Service] with options: a logger (lifecycle events are
// logged with log/slog), health checks, an [Observer] of lifecycle events
// (flexmetrics turns them into metrics), timeouts. [Service.Health] serves
// /livez and /readyz as JSON; a worker reports readiness through [Readier]
// and its own health through [Checker].
//
// # Configuration
//
// Options given in code take precedence over environment variables, which
// take precedence over defaults:
//
//	FLEX_SHUTDOWN_TIMEOUT  bound on halting all workers     20s
//	FLEX_SHUTDOWN_DELAY    serving time after readiness fails 5s in Kubernetes, else 0
//	FLEX_SHUTDOWN_RESERVE  timeout kept back per later worker timeout / (2 × workers)
//
// An invalid value makes Start return an error naming the variable and its
// value before any worker runs.
package flex
