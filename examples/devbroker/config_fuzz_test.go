package main

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
)

// FuzzConfigEnv feeds any text to the DEVBROKER_* variables. parseConfig
// either refuses it with an error naming the variable it came from and
// quoting its value, or takes an address with a host and port and at
// least one partition. The seeds are the values of TestInvalidConfig.
func FuzzConfigEnv(f *testing.F) {
	for _, seed := range [][3]string{
		{"", "", ""}, {"127.0.0.1:9092", "3", "true"}, {"nope", "", ""}, {"", "0", ""}, {"", "x", ""},
		{"", "", "maybe"}, {"[::1]:0", "-1", "1"}, {":9092", "+2", "F"}, {"a:b:c", "99999999999999999999", ""},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, addr, partitions, verbose string) {
		env := map[string]string{envAddr: addr, envPartitions: partitions, envVerbose: verbose}
		for k, v := range env {
			if strings.ContainsRune(v, 0) {
				return // the environment cannot hold NUL
			}
			t.Setenv(k, v)
		}
		cfg, err := parseConfig(nil, io.Discard)
		if err != nil {
			for k, v := range env {
				if strings.HasPrefix(err.Error(), fmt.Sprintf("devbroker: invalid %s %q: ", k, v)) {
					return
				}
			}
			t.Fatalf("error %q names none of the variables", err)
		}
		if _, _, err := net.SplitHostPort(cfg.addr); err != nil || cfg.partitions < 1 {
			t.Errorf("taken: addr %q (%v), %d partitions", cfg.addr, err, cfg.partitions)
		}
		if n, _ := strconv.Atoi(partitions); addr != "" && cfg.addr != addr || partitions != "" && cfg.partitions != n {
			t.Errorf("taken as %+v from %q, %q", cfg, addr, partitions)
		}
	})
}

// An invalid value from the environment is reported under the variable's
// name, one from a flag under the flag's: found by FuzzConfigEnv, which saw
// DEVBROKER_ADDR "nope" reported as -addr.
func TestInvalidEnvNamesTheVariable(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{envAddr: "nope"}, nil, `devbroker: invalid DEVBROKER_ADDR "nope": address nope: missing port in address`},
		{map[string]string{envAddr: "nope"}, []string{"-addr", "bad"}, `devbroker: invalid -addr "bad": address bad: missing port in address`},
		{map[string]string{envPartitions: "0"}, nil, `devbroker: invalid DEVBROKER_PARTITIONS "0": want at least 1`},
		{map[string]string{envPartitions: "-1"}, []string{"-partitions", "0"}, `devbroker: invalid -partitions 0: want at least 1`},
	} {
		t.Setenv(envAddr, "")
		t.Setenv(envPartitions, "")
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		if _, err := parseConfig(tc.args, io.Discard); err == nil || err.Error() != tc.want {
			t.Errorf("parseConfig(%q) with %v = %v, want %q", tc.args, tc.env, err, tc.want)
		}
	}
}
