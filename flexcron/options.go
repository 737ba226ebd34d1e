package flexcron

import (
	"fmt"
	"log/slog"
	"os"
	"time"
)

// EnvTZ names the environment variable that sets the time zone of specs
// without a CRON_TZ= or TZ= prefix, as an IANA name ("Europe/Paris").
// [WithLocation] takes precedence over it; without either, specs follow
// time.Local (which Go itself takes from TZ).
const EnvTZ = "FLEX_CRON_TZ"

// DefaultHaltMargin is how long before the halt deadline the contexts of
// running jobs are cancelled, unless [WithHaltMargin] says otherwise.
const DefaultHaltMargin = time.Second

// Option configures a [Scheduler].
type Option func(*config)

type config struct {
	name       string
	logger     *slog.Logger
	location   *time.Location
	locker     Locker
	haltMargin *time.Duration
}

// WithName names the Scheduler "cron(name)" in flex's logs, errors, events
// and health checks (see [Scheduler.String]). Give each Scheduler of a
// service its own name, such as what its jobs are for ("billing"), when
// its jobs are added while it runs; empty, the default, names it after its
// jobs.
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithLogger sets the logger for runs and scheduler events. Nil, the
// default, means slog.Default(), read by [New].
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithLocation sets the time zone of specs that carry no CRON_TZ= or TZ=
// prefix. It overrides FLEX_CRON_TZ; nil means "not set".
func WithLocation(loc *time.Location) Option { return func(c *config) { c.location = loc } }

// WithLocker makes every run take a lock first, so that one replica at a
// time runs a job. Nil means no lock. See [Locker].
func WithLocker(l Locker) Option { return func(c *config) { c.locker = l } }

// WithHaltMargin sets how long before the halt deadline the contexts of
// running jobs are cancelled, so that they can stop at a safe point and
// still return before [Scheduler.Halt] gives up on them. It is capped at
// half the time left when Halt is called. Zero cancels them at the
// deadline itself. The default is [DefaultHaltMargin].
func WithHaltMargin(d time.Duration) Option { return func(c *config) { c.haltMargin = &d } }

func newConfig(opts []Option) (config, error) {
	var c config
	for _, opt := range opts {
		if opt != nil {
			opt(&c)
		}
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.location == nil {
		c.location = time.Local
		if name := os.Getenv(EnvTZ); name != "" {
			loc, err := time.LoadLocation(name)
			if err != nil {
				return c, fmt.Errorf("flexcron: invalid %s %q: unknown time zone", EnvTZ, name)
			}
			c.location = loc
		}
	}
	if c.haltMargin == nil {
		d := DefaultHaltMargin
		c.haltMargin = &d
	}
	if *c.haltMargin < 0 {
		return c, fmt.Errorf("flexcron: invalid WithHaltMargin %q: must not be negative", c.haltMargin.String())
	}
	return c, nil
}
