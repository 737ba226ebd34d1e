package flexcron

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule tells when a job runs next. Schedules returned by [Parse] also
// satisfy robfig/cron's cron.Schedule.
type Schedule interface {
	// Next returns the first activation time strictly after t, or the zero
	// time when there is none within five years.
	Next(t time.Time) time.Time
}

var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour |
	cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse parses a spec the way [Scheduler.Add] does, with loc as the time
// zone of a spec that has no CRON_TZ= or TZ= prefix (nil means time.Local).
//
// A spec has 5 fields (minute hour day-of-month month day-of-week), or 6
// with a leading seconds field, or is a descriptor: @yearly, @monthly,
// @weekly, @daily, @hourly, or @every followed by a Go duration of at least
// one second ("@every 30s"). A "CRON_TZ=Europe/Paris " or "TZ=... " prefix
// sets the spec's own time zone.
//
// Daylight saving time is handled as ISC cron does it, for specs whose
// minute and hour fields are not "*": a run whose local time falls into a
// spring-forward gap (02:30 on the night the clock jumps from 02:00 to
// 03:00) runs once, at the first instant after the gap; a run whose local
// time occurs twice when the clock falls back runs once, the first time.
// Specs with "*" in the minute or hour field, and @every, follow the clock:
// times that do not exist are not run, times that occur twice run twice.
// robfig/cron by itself skips runs in the gap and runs fixed-time jobs
// twice when the clock falls back.
func Parse(spec string, loc *time.Location) (Schedule, error) {
	if loc == nil {
		loc = time.Local
	}
	s, err := parse(spec)
	if err != nil {
		return nil, err
	}
	ss, ok := s.(*cron.SpecSchedule)
	if !ok {
		return s, nil // @every: a constant delay, unaffected by time zones
	}
	c := *ss
	if c.Location == time.Local {
		c.Location = loc
	}
	fixed := c.Minute&starBit == 0 && c.Hour&starBit == 0
	return &dstSchedule{spec: &c, fixed: fixed}, nil
}

// starBit marks a field written as "*" in robfig/cron's bit sets.
const starBit = 1 << 63

// parse checks what robfig/cron's parser gets wrong: it panics on a
// time-zone prefix without a space after it, and silently rounds an @every
// shorter than a second up to one second.
func parse(spec string) (s cron.Schedule, err error) {
	trimmed := strings.TrimSpace(spec)
	if (strings.HasPrefix(trimmed, "TZ=") || strings.HasPrefix(trimmed, "CRON_TZ=")) &&
		!strings.Contains(trimmed, " ") {
		return nil, fmt.Errorf("time zone prefix without a schedule")
	}
	defer func() {
		if v := recover(); v != nil {
			s, err = nil, fmt.Errorf("cannot parse: %v", v)
		}
	}()
	s, err = parser.Parse(trimmed)
	if err != nil {
		return nil, err
	}
	if i := strings.Index(trimmed, "@every "); i >= 0 {
		d, err := time.ParseDuration(strings.TrimSpace(trimmed[i+len("@every "):]))
		if err == nil && d < time.Second {
			return nil, fmt.Errorf("@every interval %v is shorter than one second", d)
		}
	}
	return s, nil
}

// dstSchedule wraps robfig/cron's SpecSchedule to run fixed-time jobs once
// across daylight saving time changes.
type dstSchedule struct {
	spec  *cron.SpecSchedule // Location is set, never time.Local
	fixed bool               // neither minute nor hour is "*"
}

func (d *dstSchedule) Next(t time.Time) time.Time {
	t = t.In(d.spec.Location)
	for {
		n := d.spec.Next(t)
		if !d.fixed || n.IsZero() {
			return n
		}
		if g, ok := d.gapRun(t, n); ok {
			return g
		}
		if !d.repeated(n) {
			return n
		}
		t = n // the same wall-clock time already ran before the clock fell back
	}
}

// gapRun looks for a spring-forward transition in (t, n] that skipped a
// local time matching the spec, and returns the transition instant.
func (d *dstSchedule) gapRun(t, n time.Time) (time.Time, bool) {
	cur := t
	for {
		_, end := cur.ZoneBounds()
		if end.IsZero() || end.After(n) {
			return time.Time{}, false
		}
		_, before := cur.Zone()
		_, after := end.Zone()
		if after > before && d.gapMatches(end, before, after) {
			return end, true
		}
		cur = end
	}
}

// gapMatches reports whether a local time that the transition at end
// skipped, from offset before to offset after, matches the spec. It walks
// the skipped minutes as naive UTC wall-clock times.
func (d *dstSchedule) gapMatches(end time.Time, before, after int) bool {
	wall := end.UTC().Add(time.Duration(before) * time.Second)
	stop := wall.Add(time.Duration(after-before) * time.Second)
	for m := wall.Truncate(time.Minute); m.Before(stop); m = m.Add(time.Minute) {
		if d.matchesMinute(m) {
			return true
		}
	}
	return false
}

func (d *dstSchedule) matchesMinute(w time.Time) bool {
	s := d.spec
	if 1<<uint(w.Month())&s.Month == 0 || 1<<uint(w.Hour())&s.Hour == 0 || 1<<uint(w.Minute())&s.Minute == 0 {
		return false
	}
	dom := 1<<uint(w.Day())&s.Dom != 0
	dow := 1<<uint(w.Weekday())&s.Dow != 0
	if s.Dom&starBit != 0 || s.Dow&starBit != 0 {
		return dom && dow
	}
	return dom || dow
}

// repeated reports whether n lies in the second pass of a local hour that
// occurs twice because the clock fell back, so that the same wall-clock
// time already occurred in the first pass.
func (d *dstSchedule) repeated(n time.Time) bool {
	start, _ := n.ZoneBounds()
	if start.IsZero() {
		return false
	}
	_, now := n.Zone()
	_, prev := start.Add(-time.Nanosecond).Zone()
	return prev > now && n.Sub(start) < time.Duration(prev-now)*time.Second
}
