package flex

import (
	"strings"
	"testing"
	"time"
)

// FuzzEnv feeds any text to the environment variables New reads. Each
// value is either refused with an error naming the variable and quoting the
// value, or taken as the Go duration it spells; a configuration taken is
// valid, and sharing its timeout among any number of workers never panics.
// The seeds are the values of TestBadInputFailsBeforeAnythingRuns and the
// defaults.
func FuzzEnv(f *testing.F) {
	for _, seed := range [][3]string{
		{"", "", ""}, {"20s", "5s", "2s"}, {"soon", "", ""}, {"-5s", "", ""}, {"0s", "", ""},
		{"", "5", ""}, {"", "-1s", ""}, {"", "", "1"}, {"", "", "0s"}, {"10s", "", "5s"},
		{"1500ms", "0", "1ns"}, {"2562047h47m16.854775807s", "", "1h"}, {"9223372036854775807ns", "", ""},
		{".5s", "1e3s", "+1s"}, {"1h1h1h", "", ""}, {"\u00b5s", "1\u03bcs", ""},
	} {
		f.Add(seed[0], seed[1], seed[2], uint8(3))
	}
	f.Fuzz(func(t *testing.T, timeout, delay, reserve string, workers uint8) {
		env := map[string]string{EnvShutdownTimeout: timeout, EnvShutdownDelay: delay, EnvShutdownReserve: reserve}
		for k, v := range env {
			if strings.ContainsRune(v, 0) {
				return // the environment cannot hold NUL
			}
			t.Setenv(k, v)
		}
		cfg, err := newConfig(nil)
		if err != nil {
			checkEnvError(t, err, env)
			return
		}
		for name, got := range map[string]*time.Duration{EnvShutdownTimeout: cfg.shutdownTimeout, EnvShutdownDelay: cfg.shutdownDelay} {
			if raw := env[name]; raw != "" {
				if want, err := time.ParseDuration(raw); err != nil || *got != want {
					t.Errorf("%s %q taken as %v, want %v (%v)", name, raw, *got, want, err)
				}
			}
		}
		if *cfg.shutdownTimeout <= 0 || *cfg.shutdownDelay < 0 || cfg.shutdownReserve != nil && *cfg.shutdownReserve <= 0 {
			t.Errorf("invalid configuration taken: timeout %v, delay %v, reserve %v", *cfg.shutdownTimeout, *cfg.shutdownDelay, cfg.shutdownReserve)
		}
		n := int(workers%32) + 1
		r, err := cfg.reserve(n)
		switch {
		case err != nil:
			checkEnvError(t, err, env)
		case r <= 0 && n > 1, n > 1 && time.Duration(n-1)*r >= *cfg.shutdownTimeout:
			t.Errorf("reserve %v for %d workers leaves the first nothing of %v", r, n, *cfg.shutdownTimeout)
		}
	})
}

// checkEnvError checks that err names one of the variables of env and
// quotes its value.
func checkEnvError(t *testing.T, err error, env map[string]string) {
	t.Helper()
	msg := err.Error()
	if !strings.HasPrefix(msg, "flex: invalid ") {
		t.Fatalf("error %q lacks the package prefix", msg)
	}
	for name := range env {
		if strings.Contains(msg, name) {
			return
		}
	}
	t.Errorf("error %q names none of the variables", msg)
}
