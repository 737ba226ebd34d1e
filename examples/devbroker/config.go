package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
)

// Environment variables, the defaults of the flags of the same meaning.
const (
	envAddr       = "DEVBROKER_ADDR"
	envDataDir    = "DEVBROKER_DATA_DIR"
	envPartitions = "DEVBROKER_PARTITIONS"
	envVerbose    = "DEVBROKER_VERBOSE"
)

// config is the broker's configuration: a flag, else its environment
// variable, else the default.
type config struct {
	addr       string // host:port to listen on
	dataDir    string // empty: in memory, lost at exit
	partitions int    // of topics created without a partition count
	verbose    bool   // log the broker's warnings and errors
}

func (c config) dataDirOrMemory() string {
	if c.dataDir == "" {
		return "(memory)"
	}
	return c.dataDir
}

// parseConfig reads the configuration from args and the environment. An
// invalid value is reported naming the flag or variable it came from.
func parseConfig(args []string, out io.Writer) (config, error) {
	envPart, err := envInt(envPartitions, 3)
	if err != nil {
		return config{}, err
	}
	envVerb, err := envBool(envVerbose)
	if err != nil {
		return config{}, err
	}
	var cfg config
	fs := flag.NewFlagSet("devbroker", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.addr, "addr", getenv(envAddr, "127.0.0.1:9092"), "listen `host:port` (port 0: any free port); env "+envAddr)
	fs.StringVar(&cfg.dataDir, "data", os.Getenv(envDataDir), "keep the broker's data in this `dir` across restarts (default: in memory); env "+envDataDir)
	fs.IntVar(&cfg.partitions, "partitions", envPart, "partitions of topics created without a count, or automatically; env "+envPartitions)
	fs.BoolVar(&cfg.verbose, "v", envVerb, "log the broker's warnings and errors; env "+envVerbose)
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("devbroker: unexpected arguments %q", fs.Args())
	}
	flagSet := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { flagSet[f.Name] = true })
	if _, _, err := net.SplitHostPort(cfg.addr); err != nil {
		return config{}, fmt.Errorf("devbroker: invalid %s %q: %w", source(flagSet, "addr", envAddr), cfg.addr, err)
	}
	if cfg.partitions < 1 {
		if !flagSet["partitions"] {
			return config{}, fmt.Errorf("devbroker: invalid %s %q: want at least 1", envPartitions, os.Getenv(envPartitions))
		}
		return config{}, fmt.Errorf("devbroker: invalid -partitions %d: want at least 1", cfg.partitions)
	}
	return cfg, nil
}

// source names where the value of the flag name came from: the flag when
// it was given, else its environment variable.
func source(flagSet map[string]bool, name, env string) string {
	if flagSet[name] || os.Getenv(env) == "" {
		return "-" + name
	}
	return env
}

func getenv(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func envInt(key string, def int) (int, error) {
	raw := os.Getenv(key)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		return 0, fmt.Errorf("devbroker: invalid %s %q: want an integer", key, raw)
	}
	return n, nil
}

func envBool(key string) (bool, error) {
	raw := os.Getenv(key)
	if raw == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		return false, fmt.Errorf("devbroker: invalid %s %q: want true or false", key, raw)
	}
	return b, nil
}
