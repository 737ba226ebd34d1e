package deploy_test

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"sigs.k8s.io/yaml"
)

// repoRoot is the repository's root, the Dockerfile's build context.
const repoRoot = "../../.."

var (
	buildOnce sync.Once
	binary    string // the order system, built once by the Dockerfile's command
	buildErr  error
	binDir    string
	binBytes  []byte // its contents
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// instruction is one instruction of the Dockerfile, continuation lines
// joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// dockerfile reads the Dockerfile's instructions.
func dockerfile(t *testing.T) []instruction {
	t.Helper()
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur == "" && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if more, ok := strings.CutSuffix(line, `\`); ok {
			cur += more + " "
			continue
		}
		cur += line
		cmd, args, _ := strings.Cut(cur, " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur = ""
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// buildCommand returns the Dockerfile's `RUN cd DIR && VAR=x go build ...`
// as the directory (relative to the build context), the variables and the
// go command's arguments.
func buildCommand(t *testing.T) (dir string, env, args []string) {
	t.Helper()
	for _, in := range dockerfile(t) {
		if in.cmd != "RUN" || !strings.Contains(in.args, "go build") {
			continue
		}
		cd, build, ok := strings.Cut(in.args, "&&")
		dir, isCd := strings.CutPrefix(strings.TrimSpace(cd), "cd ")
		if !ok || !isCd {
			t.Fatalf("Dockerfile: want RUN cd DIR && ... go build ..., got RUN %s", in.args)
		}
		words := shellWords(t, build)
		for len(words) > 0 && strings.Contains(words[0], "=") {
			env, words = append(env, words[0]), words[1:]
		}
		if len(words) < 2 || words[0] != "go" || words[1] != "build" {
			t.Fatalf("Dockerfile: the build step runs %q, want go build", words)
		}
		return strings.TrimSpace(dir), env, words[1:]
	}
	t.Fatal("Dockerfile: no RUN ... go build")
	return "", nil, nil
}

// shellWords splits s as a POSIX shell would, for the plain words and
// double or single quotes that a build command uses.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	var quote rune
	inWord := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case strings.ContainsRune("$`\\;|&<>()", r):
			t.Fatalf("build command %q: %q is beyond this test's shell", s, r)
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("build command %q: unterminated quote", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// ordersBinary builds the order system once as the image's build stage
// does: in a copy of the build context (the repository's root, less what
// Dockerfile.dockerignore leaves out), with the Dockerfile's own build
// command, its -o pointed at a temporary file. It returns the binary's
// path.
func ordersBinary(t *testing.T) string {
	t.Helper()
	dir, env, args := buildCommand(t)
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "deploy-test-")
		if buildErr != nil {
			return
		}
		ctx := filepath.Join(binDir, "context")
		if buildErr = copyContext(ctx); buildErr != nil {
			return
		}
		binary = filepath.Join(binDir, "orders")
		for i := range args {
			if args[i] == "-o" && i+1 < len(args) {
				args[i+1] = binary
			}
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = filepath.Join(ctx, dir)
		cmd.Env = append(os.Environ(), env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = &buildError{err: err, out: out.String()}
			return
		}
		binBytes, buildErr = os.ReadFile(binary)
	})
	if buildErr != nil {
		t.Fatalf("the Dockerfile's build command in its build context: %v", buildErr)
	}
	return binary
}

// contextExcludes returns the patterns of Dockerfile.dockerignore, read and
// matched by the code docker's BuildKit uses.
func contextExcludes() (*patternmatcher.PatternMatcher, error) {
	f, err := os.Open("Dockerfile.dockerignore")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return patternmatcher.New(patterns)
}

// copyContext copies the build context, as docker would send it, to dst.
func copyContext(dst string) error {
	pm, err := contextExcludes()
	if err != nil {
		return err
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		return err
	}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if rel == "." || !d.Type().IsRegular() && !d.IsDir() {
			return nil
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil // its files are matched one by one, as "!" may re-include them
		}
		if excluded, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel)); err != nil || excluded {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// inBinary reports whether s is in the order system's binary. For an
// environment variable's name, false means the binary certainly ignores it
// (a typo, or a variable no version of the code reads any more); the Go
// runtime's own, such as GOMEMLIMIT, are in it too. For a metric's name,
// false means it is exported under another name, or not at all.
func inBinary(t *testing.T, s string) bool {
	t.Helper()
	ordersBinary(t)
	return bytes.Contains(binBytes, []byte(s))
}

// readYAML decodes a YAML file strictly into v.
func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
