package flexcron_test

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the DST tests need America/New_York on any machine

	"github.com/go-flexible/flexible/flexcron"
	"github.com/robfig/cron/v3"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustParse(t *testing.T, spec string, loc *time.Location) flexcron.Schedule {
	t.Helper()
	s, err := flexcron.Parse(spec, loc)
	if err != nil {
		t.Fatalf("Parse(%q): %v", spec, err)
	}
	return s
}

func TestParseSyntax(t *testing.T) {
	utc := time.UTC
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, utc) // a Thursday
	tests := []struct {
		spec string
		want time.Time
	}{
		{"*/15 * * * *", time.Date(2026, 1, 1, 0, 15, 0, 0, utc)},
		{"30 * * * * *", time.Date(2026, 1, 1, 0, 0, 30, 0, utc)}, // optional seconds field
		{"0 9 * * MON", time.Date(2026, 1, 5, 9, 0, 0, 0, utc)},
		{"@daily", time.Date(2026, 1, 2, 0, 0, 0, 0, utc)},
		{"@hourly", time.Date(2026, 1, 1, 1, 0, 0, 0, utc)},
		{"@every 30s", time.Date(2026, 1, 1, 0, 0, 30, 0, utc)},
		{"CRON_TZ=Asia/Tokyo 0 9 * * *", time.Date(2026, 1, 2, 0, 0, 0, 0, utc)},
		{"TZ=America/New_York 0 9 * * *", time.Date(2026, 1, 1, 14, 0, 0, 0, utc)},
	}
	for _, tt := range tests {
		got := mustParse(t, tt.spec, utc).Next(from)
		if !got.Equal(tt.want) {
			t.Errorf("Parse(%q).Next(%v) = %v, want %v", tt.spec, from, got, tt.want)
		}
	}
}

func TestParseLocation(t *testing.T) {
	tokyo := mustLoad(t, "Asia/Tokyo")
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	got := mustParse(t, "0 9 * * *", tokyo).Next(from)
	if want := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Next with location Tokyo = %v, want %v", got, want)
	}
	// A spec's own CRON_TZ wins over the location.
	got = mustParse(t, "CRON_TZ=UTC 0 9 * * *", tokyo).Next(from)
	if want := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Next with CRON_TZ=UTC and location Tokyo = %v, want %v", got, want)
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"", "empty spec"},
		{"* * *", "expected 5 to 6 fields"},
		{"61 * * * *", "above maximum"},
		{"* * * * * * *", "expected 5 to 6 fields"},
		{"@fortnightly", "unrecognized descriptor"},
		{"@every 500ms", "shorter than one second"},
		{"@every 1500ms", "not a whole number of seconds"}, // robfig/cron runs it every 1s
		{"CRON_TZ=UTC @every 2.5s", "not a whole number of seconds"},
		{"@every soon", "failed to parse duration"},
		{"CRON_TZ=Mars/Olympus_Mons * * * * *", "bad location"},
		{"TZ=UTC", "time zone prefix without a schedule"}, // robfig/cron panics on it
	}
	for _, tt := range tests {
		_, err := flexcron.Parse(tt.spec, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error = %v, want it to contain %q", tt.spec, err, tt.want)
		}
	}
}

// On 2026-03-08 New York's clocks jump from 02:00 EST to 03:00 EDT.
func TestDSTSpringForwardRunsOnce(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	from := time.Date(2026, 3, 7, 12, 0, 0, 0, ny)
	gapEnd := time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC) // 03:00 EDT, the first instant after the gap
	tests := []struct {
		spec string
		want []time.Time
	}{
		// Due inside the gap: runs once, right after it, then normally.
		{"30 2 * * *", []time.Time{
			time.Date(2026, 3, 8, 3, 0, 0, 0, ny), time.Date(2026, 3, 9, 2, 30, 0, 0, ny)}},
		{"0 2 * * *", []time.Time{gapEnd, time.Date(2026, 3, 9, 2, 0, 0, 0, ny)}},
		{"15 2 * * 0", []time.Time{gapEnd, time.Date(2026, 3, 15, 2, 15, 0, 0, ny)}},
		// Due right after the gap: one run, not two.
		{"0 3 * * *", []time.Time{gapEnd, time.Date(2026, 3, 9, 3, 0, 0, 0, ny)}},
		// Hour is "*": follows the clock, 02:30 does not exist that day.
		{"30 * * * *", []time.Time{time.Date(2026, 3, 7, 12, 30, 0, 0, ny)}},
		// A gap slot that does not match (another day) changes nothing.
		{"30 2 9 3 *", []time.Time{time.Date(2026, 3, 9, 2, 30, 0, 0, ny)}},
	}
	for _, tt := range tests {
		s := mustParse(t, tt.spec, ny)
		at := from
		for i, want := range tt.want {
			got := s.Next(at)
			if !got.Equal(want) {
				t.Errorf("%q: run %d = %v, want %v", tt.spec, i+1, got, want)
			}
			at = got
		}
	}

	// The trap this closes: robfig/cron alone skips the day.
	raw, err := cron.ParseStandard("CRON_TZ=America/New_York 30 2 * * *")
	if err != nil {
		t.Fatal(err)
	}
	if got, skipped := raw.Next(from), time.Date(2026, 3, 9, 2, 30, 0, 0, ny); !got.Equal(skipped) {
		t.Logf("robfig/cron no longer skips the gap: Next = %v", got)
	}
}

func TestDSTSpringForwardHourlyFollowsClock(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	s := mustParse(t, "30 * * * *", ny)
	got := s.Next(time.Date(2026, 3, 8, 1, 45, 0, 0, ny))
	if want := time.Date(2026, 3, 8, 3, 30, 0, 0, ny); !got.Equal(want) {
		t.Errorf("hourly job after 01:45 EST: Next = %v, want %v (no catch-up run for wildcard hours)", got, want)
	}
}

// On 2026-11-01 New York's clocks fall back from 02:00 EDT to 01:00 EST,
// so 01:30 happens twice.
func TestDSTFallBackRunsOnce(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	first := time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC) // 01:30 EDT
	from := time.Date(2026, 10, 31, 12, 0, 0, 0, ny)

	s := mustParse(t, "30 1 * * *", ny)
	if got := s.Next(from); !got.Equal(first) {
		t.Fatalf("first run = %v, want %v", got, first)
	}
	if got, want := s.Next(first), time.Date(2026, 11, 2, 1, 30, 0, 0, ny); !got.Equal(want) {
		t.Errorf("run after 01:30 EDT = %v, want %v (not 01:30 EST again)", got, want)
	}

	// Wildcard hours follow the clock: 01:30 EST runs too.
	hourly := mustParse(t, "30 * * * *", ny)
	if got, want := hourly.Next(first), time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("hourly run after 01:30 EDT = %v, want %v", got, want)
	}
}

// robfig/cron's own Next skips whole days in zones whose clocks change at
// midnight or by half an hour, and runs some jobs twice on such days.
func TestDSTRobfigDayBugs(t *testing.T) {
	beirut, lordHowe := mustLoad(t, "Asia/Beirut"), mustLoad(t, "Australia/Lord_Howe")
	tests := []struct {
		name string
		loc  *time.Location
		spec string
		from time.Time
		want []time.Time
	}{
		// 2026-03-29, a Sunday: Beirut's clocks jump from 00:00 to 01:00.
		{"Sunday after a midnight gap", beirut, "15 1 * * 0", time.Date(2026, 3, 28, 12, 0, 0, 0, beirut),
			[]time.Time{time.Date(2026, 3, 29, 1, 15, 0, 0, beirut), time.Date(2026, 4, 5, 1, 15, 0, 0, beirut)}},
		{"hourly on a midnight-gap Sunday", beirut, "0 * * * 0", time.Date(2026, 3, 28, 12, 0, 0, 0, beirut),
			[]time.Time{time.Date(2026, 3, 29, 1, 0, 0, 0, beirut), time.Date(2026, 3, 29, 2, 0, 0, 0, beirut)}},
		// 2026-04-05: Lord Howe's clocks fall back from 02:00 to 01:30.
		{"day after a half-hour fall-back", lordHowe, "0 0 * * *", time.Date(2026, 4, 4, 12, 0, 0, 0, lordHowe),
			[]time.Time{time.Date(2026, 4, 5, 0, 0, 0, 0, lordHowe), time.Date(2026, 4, 6, 0, 0, 0, 0, lordHowe), time.Date(2026, 4, 7, 0, 0, 0, 0, lordHowe)}},
		// 2026-10-04: Lord Howe's clocks jump from 02:00 to 02:30.
		{"once on a half-hour spring-forward day", lordHowe, "45 1 * * *", time.Date(2026, 10, 3, 12, 0, 0, 0, lordHowe),
			[]time.Time{time.Date(2026, 10, 4, 1, 45, 0, 0, lordHowe), time.Date(2026, 10, 5, 1, 45, 0, 0, lordHowe)}},
		{"in a half-hour gap", lordHowe, "15 2 * * *", time.Date(2026, 10, 3, 12, 0, 0, 0, lordHowe),
			[]time.Time{time.Date(2026, 10, 4, 2, 30, 0, 0, lordHowe), time.Date(2026, 10, 5, 2, 15, 0, 0, lordHowe)}},
	}
	for _, tt := range tests {
		s := mustParse(t, tt.spec, tt.loc)
		at := tt.from
		for i, want := range tt.want {
			got := s.Next(at)
			if !got.Equal(want) {
				t.Errorf("%s: %q run %d = %v, want %v", tt.name, tt.spec, i+1, got, want)
				break
			}
			at = got
		}
	}
}

func TestParseNever(t *testing.T) {
	if got := mustParse(t, "0 0 30 2 *", time.UTC).Next(time.Now()); !got.IsZero() {
		t.Errorf("Feb 30: Next = %v, want zero", got)
	}
}
