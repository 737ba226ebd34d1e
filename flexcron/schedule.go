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
// @weekly, @daily, @hourly, or @every followed by a Go duration of a whole
// number of seconds, at least one ("@every 30s", "@every 1m30s"). A
// "CRON_TZ=Europe/Paris " or "TZ=... " prefix sets the spec's own time zone.
//
// Daylight saving time is handled as ISC cron does it, for specs whose
// minute and hour fields are not "*": a run whose local time falls into a
// spring-forward gap (02:30 on the night the clock jumps from 02:00 to
// 03:00) runs once, at the first instant after the gap; a run whose local
// time occurs twice when the clock falls back runs once, the first time.
// Specs with "*" in the minute or hour field, and @every, follow the clock:
// times that do not exist are not run, times that occur twice run twice.
// robfig/cron by itself skips runs in the gap, runs fixed-time jobs twice
// when the clock falls back, and skips whole days in zones whose clocks
// change at midnight or by half an hour (Asia/Beirut, Australia/Lord_Howe).
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
	zone := ss.Location
	if zone == time.Local {
		zone = loc
	}
	wall := *ss
	wall.Location = time.UTC
	fixed := wall.Minute&starBit == 0 && wall.Hour&starBit == 0
	return &dstSchedule{wall: &wall, loc: zone, fixed: fixed}, nil
}

// starBit marks a field written as "*" in robfig/cron's bit sets.
const starBit = 1 << 63

// parse checks what robfig/cron's parser gets wrong: it panics on a
// time-zone prefix without a space after it, silently rounds an @every
// shorter than a second up to one second and silently truncates one with a
// fraction of a second ("@every 1.5s" runs every second).
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
		if err == nil && d%time.Second != 0 {
			return nil, fmt.Errorf("@every interval %v is not a whole number of seconds", d)
		}
	}
	return s, nil
}

// dstSchedule runs a robfig/cron spec in a time zone. robfig/cron's own
// Next steps through days and hours in local time and gets daylight saving
// changes wrong: besides skipping fixed-time runs in a spring-forward gap
// and repeating them when the clock falls back, it skips whole days where
// the clock changes at midnight (Asia/Beirut's spring-forward Sunday) or by
// half an hour (Australia/Lord_Howe). dstSchedule therefore matches the spec
// against wall-clock times with robfig/cron on UTC, which has no daylight
// saving time, and maps them to instants one UTC-offset period at a time.
type dstSchedule struct {
	wall  *cron.SpecSchedule // the spec, on naive wall-clock times in UTC
	loc   *time.Location     // the spec's time zone, never time.Local
	fixed bool               // neither minute nor hour is "*"
}

// maxPeriods bounds the offset periods Next walks through: robfig/cron
// looks five years ahead, and zones change offset at most a few times a year.
const maxPeriods = 100

func (d *dstSchedule) Next(t time.Time) time.Time {
	cur := t.In(d.loc)
	from := wallClock(cur) // wall-clock matches strictly after from are candidates
	for range maxPeriods {
		start, end := cur.ZoneBounds()
		_, off := cur.Zone()
		if d.fixed && !start.IsZero() {
			// After the clock fell back, the wall-clock times it went
			// through again already ran before the change.
			if _, prev := start.Add(-time.Nanosecond).Zone(); prev > off {
				if again := wallClock(start).Add(time.Duration(prev-off)*time.Second - time.Nanosecond); from.Before(again) {
					from = again
				}
			}
		}
		w := d.wall.Next(from)
		if w.IsZero() {
			return w
		}
		if u := w.Add(-time.Duration(off) * time.Second).In(d.loc); end.IsZero() || u.Before(end) {
			return u
		}
		// No run left in this period: cross into the next one.
		_, next := end.Zone()
		if d.fixed && next > off {
			// The clock springs forward at end, skipping the wall-clock
			// times [skipped, skipped+gap): a match among them runs at end.
			skipped := end.UTC().Add(time.Duration(off) * time.Second)
			if m := d.wall.Next(skipped.Add(-time.Nanosecond)); !m.IsZero() && m.Before(skipped.Add(time.Duration(next-off)*time.Second)) {
				return end
			}
		}
		cur, from = end, wallClock(end).Add(-time.Nanosecond)
	}
	return time.Time{}
}

// wallClock returns t's wall-clock time in its location as the same
// reading in UTC.
func wallClock(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}
