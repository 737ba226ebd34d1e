package deploy_test

import (
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// manifests is every object that kustomize builds from a kustomization, as
// kubectl apply -k sends it, decoded strictly: an unknown or misspelt field
// is an error, as kubectl apply --validate=strict makes it.
type manifests struct {
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	pdbs        []*policyv1.PodDisruptionBudget
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// build runs kustomize on the kustomization in dir and decodes the result.
func build(t *testing.T, dir string) *manifests {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	m := &manifests{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for i, doc := range docSeparator.Split(string(out), -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		if err := m.decode([]byte(doc)); err != nil {
			t.Errorf("kustomize build %s, object %d: %v", dir, i+1, err)
		}
	}
	return m
}

// manifestFiles returns the YAML files of the base, k8s/base/, other than its
// kustomization.
func manifestFiles(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob("k8s/base/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, p := range paths {
		if filepath.Base(p) != "kustomization.yaml" {
			files = append(files, filepath.Base(p))
		}
	}
	return files
}

// decode decodes one object strictly into the type its apiVersion and kind
// name.
func (m *manifests) decode(doc []byte) error {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return err
	}
	var err error
	switch meta.APIVersion + " " + meta.Kind {
	case "apps/v1 Deployment":
		d := new(appsv1.Deployment)
		err = yaml.UnmarshalStrict(doc, d)
		m.deployments = append(m.deployments, d)
	case "v1 Service":
		s := new(corev1.Service)
		err = yaml.UnmarshalStrict(doc, s)
		m.services = append(m.services, s)
	case "v1 ConfigMap":
		c := new(corev1.ConfigMap)
		err = yaml.UnmarshalStrict(doc, c)
		m.configMaps[c.Name] = c
	case "v1 Secret":
		s := new(corev1.Secret)
		err = yaml.UnmarshalStrict(doc, s)
		m.secrets[s.Name] = s
	case "policy/v1 PodDisruptionBudget":
		p := new(policyv1.PodDisruptionBudget)
		err = yaml.UnmarshalStrict(doc, p)
		m.pdbs = append(m.pdbs, p)
	default:
		return &unknownKind{meta.APIVersion, meta.Kind}
	}
	return err
}

type unknownKind struct{ apiVersion, kind string }

func (e *unknownKind) Error() string {
	return "no test decodes " + e.apiVersion + " " + e.kind + ": add it to manifests.decode"
}

// TestKubernetesManifests builds the base (k8s/base/) and the dev overlay
// (k8s/dev/) with kustomize, as kubectl apply -k does, decodes every object
// into the k8s.io/api types and checks the order system's invariants
// against the binary built as the Dockerfile builds it.
func TestKubernetesManifests(t *testing.T) {
	t.Run("kustomization lists every file", func(t *testing.T) {
		var k struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Labels     []struct {
				Pairs map[string]string `json:"pairs"`
			} `json:"labels"`
			Resources []string `json:"resources"`
		}
		readYAML(t, "k8s/base/kustomization.yaml", &k)
		got, want := slices.Sorted(slices.Values(k.Resources)), slices.Sorted(slices.Values(manifestFiles(t)))
		if !slices.Equal(got, want) {
			t.Errorf("kustomization resources = %v, want every manifest: %v", got, want)
		}
	})
	for _, dir := range []string{"k8s/base", "k8s/dev"} {
		t.Run(dir, func(t *testing.T) { checkManifests(t, build(t, dir), dir == "k8s/base") })
	}
	t.Run("dev overlay", func(t *testing.T) {
		m := build(t, "k8s/dev")
		if len(m.deployments) != 1 {
			t.Fatalf("%d Deployments", len(m.deployments))
		}
		d := m.deployments[0]
		if d.Namespace != "orders-dev" || *d.Spec.Replicas != 1 || d.Spec.Template.Spec.Containers[0].Image != "flexible-orders:dev" ||
			len(m.pdbs) != 0 || m.configMaps["orders"].Data["FLEX_KAFKA_BROKERS"] != "kafka:9092" {
			t.Errorf("the overlay did not apply: namespace %q, %d replicas, image %q, %d PDBs, brokers %q", d.Namespace,
				*d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image, len(m.pdbs), m.configMaps["orders"].Data["FLEX_KAFKA_BROKERS"])
		}
	})
}

// checkManifests checks the objects of one kustomization; the base must
// also have a PodDisruptionBudget.
func checkManifests(t *testing.T, m *manifests, base bool) {
	if len(m.deployments) != 1 {
		t.Fatalf("%d Deployments, want the order system's", len(m.deployments))
	}
	d := m.deployments[0]
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	env := containerEnv(t, m, c)

	t.Run("probes", func(t *testing.T) {
		opsPort := addrPort(t, "FLEX_METRICS_ADDR", env["FLEX_METRICS_ADDR"])
		for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
			want := "/livez"
			if name == "readiness" {
				want = "/readyz"
			}
			if p == nil || p.HTTPGet == nil {
				if name != "startup" {
					t.Errorf("no %s probe with httpGet", name)
				}
				continue
			}
			if p.HTTPGet.Path != want {
				t.Errorf("%s probe GET %s, want %s", name, p.HTTPGet.Path, want)
			}
			if got := resolvePort(t, c, p.HTTPGet.Port); got != opsPort {
				t.Errorf("%s probe on port %d, want the operations server's %d (FLEX_METRICS_ADDR %q)",
					name, got, opsPort, env["FLEX_METRICS_ADDR"])
			}
		}
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
			t.Error("a preStop hook: FLEX_SHUTDOWN_DELAY replaces the sleep, and the image has no shell")
		}
	})

	t.Run("grace period", func(t *testing.T) {
		delay := duration(t, "FLEX_SHUTDOWN_DELAY", env["FLEX_SHUTDOWN_DELAY"])
		timeout := duration(t, "FLEX_SHUTDOWN_TIMEOUT", env["FLEX_SHUTDOWN_TIMEOUT"])
		if pod.TerminationGracePeriodSeconds == nil {
			t.Fatal("no terminationGracePeriodSeconds")
		}
		grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
		if want := delay + timeout + 5*time.Second; grace < want {
			t.Errorf("terminationGracePeriodSeconds %v < FLEX_SHUTDOWN_DELAY %v + FLEX_SHUTDOWN_TIMEOUT %v + 5s", grace, delay, timeout)
		}
	})

	t.Run("non-root", func(t *testing.T) {
		nonRoot := func(sc *corev1.PodSecurityContext, csc *corev1.SecurityContext) bool {
			if csc != nil && csc.RunAsNonRoot != nil {
				return *csc.RunAsNonRoot
			}
			return sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot
		}
		if !nonRoot(pod.SecurityContext, c.SecurityContext) {
			t.Error("runAsNonRoot is not set")
		}
		for _, uid := range []*int64{pod.SecurityContext.RunAsUser, c.SecurityContext.RunAsUser} {
			if uid != nil && *uid == 0 {
				t.Error("runAsUser: 0")
			}
		}
		if c.SecurityContext == nil || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
			t.Error("allowPrivilegeEscalation is not false")
		}
	})

	t.Run("env read by the binary", func(t *testing.T) {
		for name := range env {
			if !inBinary(t, name) {
				t.Errorf("%s is set but the binary never reads it", name)
			}
		}
		for _, name := range []string{"DATABASE_URL", "FLEX_KAFKA_BROKERS"} {
			if env[name] == "" {
				t.Errorf("%s is not set: the system would use SQLite or its in-process broker", name)
			}
		}
		for name, s := range m.secrets {
			for key := range s.StringData {
				if _, ok := m.configMaps["orders"].Data[key]; ok {
					t.Errorf("%s is in the ConfigMap and the Secret %s", key, name)
				}
			}
		}
		if _, ok := m.configMaps["orders"].Data["DATABASE_URL"]; ok {
			t.Error("DATABASE_URL (with its password) is in the ConfigMap, not a Secret")
		}
	})

	t.Run("resources", func(t *testing.T) {
		r := c.Resources
		if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
			t.Errorf("resources %+v: want cpu and memory requests and a memory limit", r)
		}
	})

	t.Run("services and disruption budget", func(t *testing.T) {
		selects := func(sel map[string]string) bool {
			for k, v := range sel {
				if d.Spec.Template.Labels[k] != v {
					return false
				}
			}
			return len(sel) > 0
		}
		ports := map[int]bool{}
		for _, s := range m.services {
			if !selects(s.Spec.Selector) {
				t.Errorf("Service %s selects %v, not the pods", s.Name, s.Spec.Selector)
			}
			for _, p := range s.Spec.Ports {
				ports[resolvePort(t, c, p.TargetPort)] = true
			}
		}
		for _, addr := range []string{"FLEX_HTTP_ADDR", "FLEX_METRICS_ADDR"} {
			if p := addrPort(t, addr, env[addr]); !ports[p] {
				t.Errorf("no Service targets port %d (%s)", p, addr)
			}
		}
		if len(m.pdbs) == 0 && !base {
			return // the dev overlay's one replica needs none
		}
		if len(m.pdbs) != 1 || m.pdbs[0].Spec.Selector == nil || !selects(m.pdbs[0].Spec.Selector.MatchLabels) {
			t.Fatal("want one PodDisruptionBudget selecting the pods")
		}
		if min := m.pdbs[0].Spec.MinAvailable; min == nil || min.IntValue() >= int(*d.Spec.Replicas) {
			t.Errorf("PodDisruptionBudget minAvailable %v with %d replicas: a drain could never evict one", min, *d.Spec.Replicas)
		}
		if a := d.Spec.Template.Annotations; a["prometheus.io/scrape"] != "true" ||
			a["prometheus.io/port"] != strconv.Itoa(addrPort(t, "FLEX_METRICS_ADDR", env["FLEX_METRICS_ADDR"])) ||
			a["prometheus.io/path"] != "/metrics" {
			t.Errorf("scrape annotations %v do not point at the operations server's /metrics", a)
		}
	})
}

// containerEnv returns the variables the container gets: from its
// ConfigMaps and Secrets (envFrom) and its own env, each of which must
// exist.
func containerEnv(t *testing.T, m *manifests, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, ok := m.configMaps[from.ConfigMapRef.Name]
			if !ok {
				t.Fatalf("envFrom ConfigMap %q is in no manifest", from.ConfigMapRef.Name)
			}
			for k, v := range cm.Data {
				env[k] = v
			}
		case from.SecretRef != nil:
			s, ok := m.secrets[from.SecretRef.Name]
			if !ok {
				t.Fatalf("envFrom Secret %q is in no manifest", from.SecretRef.Name)
			}
			for k, v := range s.StringData {
				env[k] = v
			}
		}
	}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	return env
}

// resolvePort returns the number of a port given by number or by the name
// of one of c's ports.
func resolvePort(t *testing.T, c corev1.Container, p intstr.IntOrString) int {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntValue()
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort)
		}
	}
	t.Fatalf("port %q is not a port of container %s", p.StrVal, c.Name)
	return 0
}

// addrPort returns the port of a listen address such as ":9090".
func addrPort(t *testing.T, name, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	n, perr := strconv.Atoi(port)
	if err != nil || perr != nil {
		t.Fatalf("%s %q: want host:port", name, addr)
	}
	return n
}

// duration parses a positive Go duration as flex does.
func duration(t *testing.T, name, v string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		t.Fatalf("%s %q: want a Go duration", name, v)
	}
	return d
}
