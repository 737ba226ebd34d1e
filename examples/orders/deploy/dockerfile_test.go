package deploy_test

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDockerfile checks what the image promises without a Docker daemon
// (the GitHub workflow builds and runs the image itself): a final stage on
// a base with no shell, a non-root user, the binary as PID 1 through an
// exec-form ENTRYPOINT, and COPY sources that exist in the build context.
func TestDockerfile(t *testing.T) {
	ins := dockerfile(t)
	last := 0
	for i, in := range ins {
		if in.cmd == "FROM" {
			last = i
		}
	}
	final := ins[last:]
	base := strings.Fields(final[0].args)[0]
	if base != "scratch" && !strings.HasPrefix(base, "gcr.io/distroless/static") {
		t.Errorf("final stage FROM %s, want scratch or gcr.io/distroless/static*", base)
	}
	var user, entrypoint string
	for _, in := range final[1:] {
		switch in.cmd {
		case "RUN", "SHELL":
			t.Errorf("final stage has %s %s: it has no shell", in.cmd, in.args)
		case "CMD":
			t.Errorf("final stage has CMD %s: the binary takes no arguments to serve", in.args)
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		}
	}
	if name, _, _ := strings.Cut(user, ":"); name == "" || name == "0" || name == "root" {
		t.Errorf("final stage USER %q, want a non-root user", user)
	}
	var argv []string
	if err := json.Unmarshal([]byte(entrypoint), &argv); err != nil || len(argv) == 0 {
		t.Errorf("ENTRYPOINT %s: want the exec form [\"/orders\"], so that the binary is PID 1 and gets SIGTERM", entrypoint)
	}
	pm, err := contextExcludes()
	if err != nil {
		t.Fatalf("Dockerfile.dockerignore: %v", err)
	}
	for _, in := range ins {
		if in.cmd != "COPY" || strings.Contains(in.args, "--from=") {
			continue
		}
		srcs := strings.Fields(in.args)
		for _, src := range srcs[:len(srcs)-1] {
			if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
				t.Errorf("COPY %s: %v (the build context is the repository's root)", in.args, err)
			}
			if excluded, _ := pm.MatchesOrParentMatches(src); excluded && src != "." {
				t.Errorf("COPY %s: Dockerfile.dockerignore leaves %s out of the context", in.args, src)
			}
		}
	}
	// The context holds what the build needs and little else.
	for path, want := range map[string]bool{
		"flex/start.go": true, "examples/go.sum": true, "examples/orders/openapi.json": true,
		"flex/start_test.go": false, "examples/orders/deploy/compose.yaml": false, ".git/HEAD": false,
		"tools/go.mod": false, "flexkafka/internal/kafkatest/go.mod": false, "go.work": false,
	} {
		if excluded, _ := pm.MatchesOrParentMatches(path); excluded == want {
			t.Errorf("Dockerfile.dockerignore: %s sent %v, want %v", path, !excluded, want)
		}
	}
}

// TestStaticBinary builds the order system with the Dockerfile's own build
// command and checks that the binary needs nothing from the image: built
// without cgo, no dynamic loader or shared libraries, and it runs in an
// empty environment.
func TestStaticBinary(t *testing.T) {
	_, env, _ := buildCommand(t)
	if !slices.Contains(env, "CGO_ENABLED=0") {
		t.Errorf("the build command sets %q, want CGO_ENABLED=0", env)
	}
	bin := ordersBinary(t)

	out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("\tbuild\tCGO_ENABLED=0\n")) {
		t.Errorf("go version -m does not say CGO_ENABLED=0:\n%s", out)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary has a %v segment: it is dynamically linked", p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}

	cmd := exec.Command(bin, "redrive", "-h")
	cmd.Env = []string{} // nothing, as in a scratch image
	out, err = cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !bytes.Contains(out, []byte("usage: orders redrive")) {
		t.Errorf("orders redrive -h in an empty environment: %v, want its usage and exit status 2:\n%s", err, out)
	}
}
