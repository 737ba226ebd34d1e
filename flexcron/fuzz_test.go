package flexcron_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexcron"
	"github.com/robfig/cron/v3"
)

// FuzzParse parses any spec, in any time zone, and asks it for its next
// runs from any instant. Parse never panics (robfig/cron's parser does on
// some input); Scheduler.Add accepts exactly what Parse accepts; the runs
// of a schedule follow each other; and in UTC, which has no daylight
// saving time, a spec's runs are robfig/cron's own. The seeds are the
// specs and zones of the Parse and DST tests.
func FuzzParse(f *testing.F) {
	from := time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC).Unix()
	for _, seed := range []struct{ spec, zone string }{
		{"*/15 * * * *", "UTC"}, {"30 * * * * *", "UTC"}, {"0 9 * * MON", "UTC"}, {"@daily", "Asia/Tokyo"},
		{"@hourly", "UTC"}, {"@every 30s", "UTC"}, {"CRON_TZ=Asia/Tokyo 0 9 * * *", "UTC"},
		{"TZ=America/New_York 0 9 * * *", "UTC"}, {"", "UTC"}, {"* * *", "UTC"}, {"61 * * * *", "UTC"},
		{"* * * * * * *", "UTC"}, {"@fortnightly", "UTC"}, {"@every 500ms", "UTC"}, {"@every 1500ms", "UTC"},
		{"CRON_TZ=UTC @every 2.5s", "UTC"}, {"@every soon", "UTC"}, {"CRON_TZ=Mars/Olympus_Mons * * * * *", "UTC"},
		{"30 2 * * *", "America/New_York"}, {"15 2 * * 0", "America/New_York"}, {"0 * * * 0", "Asia/Beirut"},
		{"15 1 * * 0", "Asia/Beirut"}, {"45 1 * * *", "Australia/Lord_Howe"}, {"15 2 * * *", "Australia/Lord_Howe"},
		{"TZ=", "UTC"}, {"CRON_TZ=", "UTC"}, {"CRON_TZ=../../etc/passwd * * * * *", "UTC"},
		{"0 0 30 2 *", "UTC"}, {"0 0 29 2 *", "Europe/Paris"}, {"@every 2562047h", "UTC"}, {"1-59/0 * * * *", "UTC"},
		{"0 0 31 */2 *", "Pacific/Apia"}, {"@every -1s", "UTC"}, {"?", "UTC"}, {"* * * * ? *", "UTC"},
	} {
		f.Add(seed.spec, seed.zone, from)
	}
	f.Fuzz(func(t *testing.T, spec, zone string, unix int64) {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			loc = time.UTC
		}
		start := time.Unix(unix%(1<<33), 0) // 1697 to 2242
		s, err := flexcron.Parse(spec, loc)
		if added := addErr(t, spec); (err == nil) != (added == nil) {
			t.Fatalf("Parse(%q) = %v but Add = %v", spec, err, added)
		}
		if err != nil {
			return
		}
		prev := start
		for i := range 3 {
			next := s.Next(prev)
			if next.IsZero() {
				break
			}
			if !next.After(prev) {
				t.Fatalf("Parse(%q, %s): run %d at %v, not after %v", spec, loc, i+1, next, prev)
			}
			prev = next
		}
		trimmed := strings.TrimSpace(spec)
		if strings.HasPrefix(trimmed, "TZ=") || strings.HasPrefix(trimmed, "CRON_TZ=") {
			return
		}
		inUTC, err := flexcron.Parse(spec, time.UTC)
		if err != nil {
			t.Fatalf("Parse(%q) failed in UTC only: %v", spec, err)
		}
		raw, err := cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor).Parse(trimmed)
		if err != nil {
			t.Fatalf("Parse(%q) accepted what robfig/cron refuses: %v", spec, err)
		}
		utc := start.UTC()
		if got, want := inUTC.Next(utc), raw.Next(utc); !got.Equal(want) {
			t.Errorf("Parse(%q, UTC).Next(%v) = %v, robfig/cron says %v", spec, utc, got, want)
		}
	})
}

// addErr returns what Scheduler.Add says of spec.
func addErr(t *testing.T, spec string) error {
	s, err := flexcron.New(flexcron.WithLocation(time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return s.Add("job", spec, func(context.Context) error { return nil })
}

// FuzzEnvTZ feeds any text to FLEX_CRON_TZ: New either refuses it with an
// error naming the variable and quoting its value, or takes it as the time
// zone of that name.
func FuzzEnvTZ(f *testing.F) {
	for _, seed := range []string{"", "UTC", "Europe/Paris", "Local", "Mars/Olympus_Mons", "../../etc/passwd",
		"/etc/localtime", "Europe/../Europe/Paris", "europe/paris", "Etc/GMT+5", "EST5EDT", " UTC", "\\UTC"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if strings.ContainsRune(name, 0) {
			return // the environment cannot hold NUL
		}
		t.Setenv(flexcron.EnvTZ, name)
		_, err := flexcron.New()
		_, loadErr := time.LoadLocation(name)
		switch {
		case err == nil && loadErr != nil && name != "":
			t.Fatalf("New took %s %q, which time.LoadLocation refuses: %v", flexcron.EnvTZ, name, loadErr)
		case err != nil && !strings.HasPrefix(err.Error(), fmt.Sprintf("flexcron: invalid %s %q: ", flexcron.EnvTZ, name)):
			t.Fatalf("error %q does not name %s %q", err, flexcron.EnvTZ, name)
		case err != nil && loadErr == nil:
			t.Fatalf("New refused %s %q, a time zone: %v", flexcron.EnvTZ, name, err)
		}
	})
}
