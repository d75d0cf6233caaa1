package deployments_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	k8syaml "sigs.k8s.io/yaml"
)

// decodeStrict decodes a YAML file into v, rejecting unknown fields.
func decodeStrict(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var more any
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		t.Fatalf("%s: more than one YAML document", path)
	}
}

// goModVersions returns go.mod's go version and the versions of the
// modules it requires.
func goModVersions(t testing.TB) (goVersion string, modules map[string]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	modules = map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	req := regexp.MustCompile(`^\s*(?:require\s+)?([a-z0-9.\-/]+\.[a-z]+/[^\s]+)\s+(v[^\s]+)`)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "go "); ok {
			goVersion = strings.TrimSpace(v)
		}
		if m := req.FindStringSubmatch(line); m != nil {
			modules[m[1]] = m[2]
		}
	}
	if goVersion == "" {
		t.Fatal("go.mod has no go line")
	}
	return goVersion, modules
}

// natsServerVersion is the nats-server the tests run (go.mod), without "v".
func natsServerVersion(t testing.TB) string {
	_, mods := goModVersions(t)
	v := strings.TrimPrefix(mods["github.com/nats-io/nats-server/v2"], "v")
	if v == "" {
		t.Fatal("go.mod does not require github.com/nats-io/nats-server/v2")
	}
	return v
}

// ---- Dockerfile ----

type dockerStage struct {
	from, name string
	lines      []string // instructions after FROM, continuation lines joined
}

func parseDockerfile(t testing.TB) []dockerStage {
	t.Helper()
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages []dockerStage
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		if f := strings.Fields(line); strings.EqualFold(f[0], "FROM") {
			st := dockerStage{from: f[1]}
			if len(f) >= 4 && strings.EqualFold(f[2], "AS") {
				st.name = f[3]
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			if !strings.HasPrefix(strings.ToUpper(line), "ARG ") {
				t.Fatalf("Dockerfile: %q before the first FROM", line)
			}
			return
		}
		stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, line)
	}
	for _, l := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(l)
		if strings.HasPrefix(trimmed, "#") && cur.Len() == 0 {
			continue
		}
		if c, ok := strings.CutSuffix(l, "\\"); ok {
			cur.WriteString(c + " ")
			continue
		}
		cur.WriteString(l)
		flush()
	}
	flush()
	return stages
}

// TestDockerfile checks the image: the build stage's Go is go.mod's, the
// binaries are static, and the runtime stage (the last, default one) is
// distroless or scratch, non-root, without a shell or a RUN step, with an
// exec-form entrypoint and only litsignd variables that exist.
func TestDockerfile(t *testing.T) {
	goVersion, _ := goModVersions(t)
	stages := parseDockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages; want a build stage and a runtime stage", len(stages))
	}
	build := stages[0]
	image, tag, _ := strings.Cut(build.from, ":")
	if image != "golang" || !(tag == goVersion || strings.HasPrefix(tag, goVersion+"-")) {
		t.Errorf("build stage FROM %s; want golang:%s (go.mod's go line)", build.from, goVersion)
	}
	all := strings.Join(build.lines, "\n")
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/litsignd", "./cmd/litsign"} {
		if !strings.Contains(all, want) {
			t.Errorf("build stage lacks %q", want)
		}
	}
	flags := litsigndFlags(t)
	byName := map[string]dockerStage{}
	for _, st := range stages {
		byName[st.name] = st
	}
	runtime := stages[len(stages)-1]
	if runtime.name != "runtime" {
		t.Errorf("the last (default) stage is %q; want runtime", runtime.name)
	}
	for _, st := range stages[1:] {
		t.Run(st.name, func(t *testing.T) {
			base, _, _ := strings.Cut(st.from, "@")
			if st.name == "runtime" && !(base == "scratch" || strings.HasPrefix(base, "gcr.io/distroless/static")) {
				t.Errorf("runtime stage FROM %s; want distroless static or scratch (no shell)", st.from)
			}
			if st.name == "runtime" && strings.Contains(base, "debug") {
				t.Errorf("runtime stage FROM %s has a shell", st.from)
			}
			var user, entrypoint string
			for _, l := range st.lines {
				instr, rest, _ := strings.Cut(l, " ")
				switch strings.ToUpper(instr) {
				case "USER":
					user = rest
				case "ENTRYPOINT":
					entrypoint = rest
				case "RUN":
					t.Errorf("%s stage runs %q: the runtime image has no shell", st.name, rest)
				case "ENV":
					var names []string
					for _, kv := range strings.Fields(rest) {
						n, _, _ := strings.Cut(kv, "=")
						names = append(names, n)
					}
					checkDaemonEnv(t, "Dockerfile "+st.name, names, flags)
				case "COPY":
					if strings.Contains(rest, "--from=") && !strings.Contains(rest, "--from=build") {
						t.Errorf("%s stage copies from %q", st.name, rest)
					}
				}
			}
			if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
				t.Errorf("%s stage USER %q; want a non-root user", st.name, user)
			}
			var ep []string
			if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil || len(ep) == 0 || ep[0] != "/usr/local/bin/litsignd" {
				t.Errorf("%s stage ENTRYPOINT %s; want exec form [\"/usr/local/bin/litsignd\"]", st.name, entrypoint)
			}
		})
	}
	if _, ok := byName["compose"]; !ok {
		t.Error("no compose stage (docker-compose.yml builds target compose)")
	}
}

// ---- docker-compose.yml ----

type composeFile struct {
	Name           string                    `yaml:"name"`
	XLitsigndImage yaml.Node                 `yaml:"x-litsignd-image"`
	XLitsigndEnv   yaml.Node                 `yaml:"x-litsignd-env"`
	Services       map[string]composeService `yaml:"services"`
	Volumes        map[string]*struct{}      `yaml:"volumes"`
}

type composeService struct {
	Image           string            `yaml:"image"`
	Build           *composeBuild     `yaml:"build"`
	Profiles        []string          `yaml:"profiles"`
	Entrypoint      []string          `yaml:"entrypoint"`
	Command         []string          `yaml:"command"`
	Environment     map[string]string `yaml:"environment"`
	Restart         string            `yaml:"restart"`
	Volumes         []string          `yaml:"volumes"`
	Ports           []string          `yaml:"ports"`
	NetworkMode     string            `yaml:"network_mode"`
	Healthcheck     *composeHealth    `yaml:"healthcheck"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
	DependsOn       composeDependsOn  `yaml:"depends_on"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
	Target     string `yaml:"target"`
}

type composeHealth struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
}

// composeDependsOn is depends_on in either of its forms: a list of
// services, or a map of service to {condition}.
type composeDependsOn map[string]string

func (d *composeDependsOn) UnmarshalYAML(n *yaml.Node) error {
	*d = composeDependsOn{}
	switch n.Kind {
	case yaml.SequenceNode:
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		for _, s := range list {
			(*d)[s] = "service_started"
		}
		return nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			var cond struct {
				Condition string `yaml:"condition"`
			}
			v := n.Content[i+1]
			for j := 0; j+1 < len(v.Content); j += 2 {
				if v.Content[j].Value != "condition" {
					return fmt.Errorf("line %d: depends_on field %q not known", v.Content[j].Line, v.Content[j].Value)
				}
			}
			if err := v.Decode(&cond); err != nil {
				return err
			}
			switch cond.Condition {
			case "service_started", "service_healthy", "service_completed_successfully":
			default:
				return fmt.Errorf("line %d: depends_on condition %q", v.Line, cond.Condition)
			}
			(*d)[n.Content[i].Value] = cond.Condition
		}
		return nil
	}
	return fmt.Errorf("line %d: depends_on must be a list or a map", n.Line)
}

func readCompose(t testing.TB) composeFile {
	t.Helper()
	var c composeFile
	decodeStrict(t, "docker-compose.yml", &c)
	return c
}

// daemonServices are the compose services that run litsignd.
func daemonServices(c composeFile) []string {
	var names []string
	for _, n := range sortedKeys(c.Services) {
		if strings.HasPrefix(n, "litsignd-") {
			names = append(names, n)
		}
	}
	return names
}

// composeScript maps a compose entrypoint script (mounted from ./compose at
// /etc/litsignd) to its file here.
func composeScript(t testing.TB, entrypoint []string) string {
	t.Helper()
	if len(entrypoint) != 2 || entrypoint[0] != "/busybox/sh" || !strings.HasPrefix(entrypoint[1], "/etc/litsignd/") {
		t.Fatalf("entrypoint %q: want [/busybox/sh /etc/litsignd/<script>]", entrypoint)
	}
	return filepath.Join("compose", strings.TrimPrefix(entrypoint[1], "/etc/litsignd/"))
}

// TestCompose decodes docker-compose.yml strictly and checks it against the
// repository: images, mounts, NATS configs, users and passwords, every flag
// and variable given to litsignd and litsign, profiles and Prometheus
// targets.
func TestCompose(t *testing.T) {
	c := readCompose(t)
	bin := buildBinaries(t)
	flags := litsigndFlags(t)
	devnetFlags := flagNames(t, filepath.Join(bin, "litsign"), "devnet")
	users := natsUsers(t)
	natsVersion := natsServerVersion(t)

	profiles := map[string]bool{}
	for name, s := range c.Services {
		t.Run(name, func(t *testing.T) {
			for _, p := range s.Profiles {
				profiles[p] = true
			}
			if s.Image == "" {
				t.Error("no image")
			}
			if s.Build != nil {
				df := filepath.Join(s.Build.Context, s.Build.Dockerfile)
				if filepath.Clean(df) != filepath.Join("..", "deployments", "Dockerfile") {
					t.Errorf("builds %s; want ../deployments/Dockerfile", df)
				}
				found := false
				for _, st := range parseDockerfile(t) {
					found = found || st.name == s.Build.Target
				}
				if !found {
					t.Errorf("build target %q is no Dockerfile stage", s.Build.Target)
				}
			}
			for _, v := range s.Volumes {
				src, _, _ := strings.Cut(v, ":")
				if strings.HasPrefix(src, ".") {
					if _, err := os.Stat(src); err != nil {
						t.Errorf("volume %q: %v", v, err)
					}
				} else if _, ok := c.Volumes[src]; !ok {
					t.Errorf("volume %q: no top-level volume %q", v, src)
				}
			}
			for dep := range s.DependsOn {
				if _, ok := c.Services[dep]; !ok {
					t.Errorf("depends on unknown service %q", dep)
				}
			}
			if m, ok := strings.CutPrefix(s.NetworkMode, "service:"); ok {
				peer, ok := c.Services[m]
				if !ok || strings.Join(peer.Profiles, ",") != strings.Join(s.Profiles, ",") {
					t.Errorf("network_mode %s: no service %q in the same profiles", s.NetworkMode, m)
				}
				if s.DependsOn[m] == "" {
					t.Errorf("network_mode %s without depends_on %s", s.NetworkMode, m)
				}
			}
			switch {
			case strings.HasPrefix(name, "nats-exporter-"):
				server := "nats-" + strings.TrimPrefix(name, "nats-exporter-")
				if last := s.Command[len(s.Command)-1]; last != "http://"+server+":8222/" {
					t.Errorf("scrapes %s; want http://%s:8222/", last, server)
				}
				for _, want := range []string{"-jsz=all", "-prefix=nats"} {
					if !contains(s.Command, want) {
						t.Errorf("lacks %s (the dashboard and alerts read nats_consumer_* as the NATS chart's exporter names them)", want)
					}
				}
			case strings.HasPrefix(name, "nats-"):
				if s.Image != "nats:"+natsVersion+"-alpine" {
					t.Errorf("image %s; want nats:%s-alpine, the nats-server the tests run (go.mod)", s.Image, natsVersion)
				}
				if strings.Join(s.Command, " ") != "--config /etc/nats/"+name+".conf" {
					t.Errorf("command %q; want --config /etc/nats/%s.conf", s.Command, name)
				}
				if o := loadNATSConfig(t, name); o.ServerName != name {
					t.Errorf("nats/%s.conf names server %q", name, o.ServerName)
				}
				if s.Healthcheck == nil || !strings.Contains(strings.Join(s.Healthcheck.Test, " "), "/healthz?js-enabled-only=true") {
					t.Error("no /healthz?js-enabled-only=true health check (TestCluster* call it on the real servers)")
				}
			case name == "devnet":
				if script := composeScript(t, s.Entrypoint); !strings.Contains(readFile(t, script), "litsign devnet") {
					t.Errorf("%s does not run litsign devnet", script)
				}
				checkFlags(t, "devnet command", s.Command, devnetFlags)
			case strings.HasPrefix(name, "litsignd-"):
				if s.Build == nil || s.Build.Target != "compose" {
					t.Error("not built from the Dockerfile's compose target")
				}
				args := s.Command
				if len(s.Entrypoint) > 0 {
					script := composeScript(t, s.Entrypoint)
					body := readFile(t, script)
					if !strings.Contains(body, `exec litsignd "$@"`) {
						t.Errorf("%s does not exec litsignd with the command", script)
					}
					// The variables the script sets for litsignd.
					checkDaemonEnv(t, script, regexp.MustCompile(`\bLITSIGND_[A-Z_]+`).FindAllString(body, -1), flags)
				}
				checkDaemonArgs(t, name+" command", args, flags)
				checkDaemonEnv(t, name+" environment", sortedKeys(s.Environment), flags)
				env := s.Environment
				for _, u := range strings.Split(env["LITSIGND_NATS_URL"], ",") {
					host := strings.TrimSuffix(strings.TrimPrefix(u, "nats://"), ":4222")
					if _, ok := c.Services[host]; !ok || !strings.HasPrefix(host, "nats-") {
						t.Errorf("LITSIGND_NATS_URL names %q, no NATS service", u)
					}
				}
				user := users[env["LITSIGND_NATS_USER"]]
				if user == nil || user.Account.Name != "LIT" {
					t.Errorf("LITSIGND_NATS_USER %q is not a LIT account user", env["LITSIGND_NATS_USER"])
				} else if bcrypt.CompareHashAndPassword([]byte(user.Password), []byte(env["LITSIGND_NATS_PASSWORD"])) != nil {
					t.Error("LITSIGND_NATS_PASSWORD does not match the daemon's hash in nats/accounts.conf")
				}
				if env["LITSIGND_REPLICAS"] != "3" {
					t.Errorf("LITSIGND_REPLICAS %q; want 3", env["LITSIGND_REPLICAS"])
				}
				if env["LITSIGND_KEK_FILE"] == "" {
					t.Error("no LITSIGND_KEK_FILE")
				}
				// The health check is /readyz on the replica's own metrics port,
				// with the image's busybox wget.
				listen := ""
				for i, a := range args {
					if a == "--metrics-listen" && i+1 < len(args) {
						listen = args[i+1]
					}
				}
				_, port, _ := strings.Cut(listen, ":")
				if s.Healthcheck == nil || strings.Join(s.Healthcheck.Test, " ") != "CMD /busybox/wget -q -O /dev/null http://127.0.0.1:"+port+"/readyz" {
					t.Errorf("health check %+v; want GET http://127.0.0.1:%s/readyz", s.Healthcheck, port)
				}
			}
		})
	}
	for _, want := range []string{"devnet", "naga-dev"} {
		if !profiles[want] {
			t.Errorf("no profile %s", want)
		}
		// Replicas of one profile start one after the other (see the
		// comment on litsignd-1).
		var replicas []string
		for _, name := range daemonServices(c) {
			if contains(c.Services[name].Profiles, want) {
				replicas = append(replicas, name)
			}
		}
		if len(replicas) < 2 {
			t.Errorf("profile %s runs %d litsignd replicas; want 2", want, len(replicas))
			continue
		}
		for _, r := range replicas[1:] {
			if c.Services[r].DependsOn[replicas[0]] != "service_healthy" {
				t.Errorf("%s does not wait for %s to be healthy", r, replicas[0])
			}
		}
	}
	env := readFile(t, ".env")
	if !regexp.MustCompile(`(?m)^COMPOSE_PROFILES=devnet$`).MatchString(env) {
		t.Error(".env does not make devnet the default profile")
	}

	// Prometheus scrapes every litsignd replica of either profile and every
	// exporter, and loads the alert rules.
	var prom promConfig
	decodeStrict(t, "prometheus/prometheus.yml", &prom)
	targets := map[string]bool{}
	for _, sc := range prom.ScrapeConfigs {
		for _, d := range sc.DNSSD {
			for _, n := range d.Names {
				targets[fmt.Sprintf("%s:%d", n, d.Port)] = true
			}
		}
		for _, st := range sc.Static {
			for _, tg := range st.Targets {
				targets[tg] = true
			}
		}
	}
	for _, name := range daemonServices(c) {
		s := c.Services[name]
		host := name
		if m, ok := strings.CutPrefix(s.NetworkMode, "service:"); ok {
			host = m
		}
		port := ""
		for i, a := range s.Command {
			if a == "--metrics-listen" && i+1 < len(s.Command) {
				_, port, _ = strings.Cut(s.Command[i+1], ":")
			}
		}
		if !targets[host+":"+port] {
			t.Errorf("prometheus.yml does not scrape %s at %s:%s", name, host, port)
		}
	}
	for name := range c.Services {
		if strings.HasPrefix(name, "nats-exporter-") && !targets[name+":7777"] {
			t.Errorf("prometheus.yml does not scrape %s", name)
		}
	}
	if len(prom.RuleFiles) != 1 || prom.RuleFiles[0] != "alerts.yml" {
		t.Errorf("rule_files %v; want alerts.yml (next to prometheus.yml)", prom.RuleFiles)
	}

	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name      string         `yaml:"name"`
			UID       string         `yaml:"uid"`
			Type      string         `yaml:"type"`
			Access    string         `yaml:"access"`
			URL       string         `yaml:"url"`
			IsDefault bool           `yaml:"isDefault"`
			JSONData  map[string]any `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	decodeStrict(t, "grafana/provisioning/datasources/prometheus.yml", &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Errorf("Grafana datasource %+v; want the compose prometheus", ds.Datasources)
	}
	var dp struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name            string `yaml:"name"`
			Folder          string `yaml:"folder"`
			Type            string `yaml:"type"`
			DisableDeletion bool   `yaml:"disableDeletion"`
			AllowUIUpdates  bool   `yaml:"allowUiUpdates"`
			Options         struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	decodeStrict(t, "grafana/provisioning/dashboards/litsignd.yml", &dp)
	if len(dp.Providers) != 1 || dp.Providers[0].Options.Path != "/var/lib/grafana/dashboards" {
		t.Errorf("Grafana dashboard provider %+v", dp.Providers)
	}
	if !contains(c.Services["grafana"].Volumes, "./grafana/dashboards:/var/lib/grafana/dashboards:ro") {
		t.Error("grafana does not mount ./grafana/dashboards where the provider reads")
	}
}

func checkFlags(t *testing.T, where string, args []string, flags map[string]bool) {
	t.Helper()
	for _, a := range args {
		if name, ok := strings.CutPrefix(a, "--"); ok {
			name, _, _ = strings.Cut(name, "=")
			if !flags[name] {
				t.Errorf("%s: no flag %q", where, name)
			}
		}
	}
}

type promConfig struct {
	Global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	} `yaml:"global"`
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName string `yaml:"job_name"`
		DNSSD   []struct {
			Names []string `yaml:"names"`
			Type  string   `yaml:"type"`
			Port  int      `yaml:"port"`
		} `yaml:"dns_sd_configs"`
		Static []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
		Relabel []struct {
			SourceLabels []string `yaml:"source_labels"`
			Regex        string   `yaml:"regex"`
			Replacement  string   `yaml:"replacement"`
			TargetLabel  string   `yaml:"target_label"`
		} `yaml:"relabel_configs"`
	} `yaml:"scrape_configs"`
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// natsUsers returns the users of nats/accounts.conf by name.
func natsUsers(t testing.TB) map[string]*server.User {
	users := map[string]*server.User{}
	for _, u := range loadNATSConfig(t, "nats-1").Users {
		users[u.Username] = u
	}
	return users
}

// ---- Kubernetes ----

// TestKubernetes decodes the manifests strictly into the Kubernetes API
// types and checks the Deployment: at least two replicas, probes on
// /healthz and /readyz of the metrics port, resources, a locked-down
// security context, the KEK from a Secret, and only flags and variables
// litsignd has; the Service and the PodDisruptionBudget select its pods.
func TestKubernetes(t *testing.T) {
	flags := litsigndFlags(t)
	var dep appsv1.Deployment
	k8sStrict(t, "kubernetes/deployment.yaml", &dep, "Deployment")
	var svc corev1.Service
	k8sStrict(t, "kubernetes/service.yaml", &svc, "Service")
	var pdb policyv1.PodDisruptionBudget
	k8sStrict(t, "kubernetes/pdb.yaml", &pdb, "PodDisruptionBudget")
	var sa corev1.ServiceAccount
	k8sStrict(t, "kubernetes/serviceaccount.yaml", &sa, "ServiceAccount")

	var kust struct {
		APIVersion string   `yaml:"apiVersion"`
		Kind       string   `yaml:"kind"`
		Namespace  string   `yaml:"namespace"`
		Resources  []string `yaml:"resources"`
		Images     []struct {
			Name    string `yaml:"name"`
			NewName string `yaml:"newName"`
			NewTag  string `yaml:"newTag"`
		} `yaml:"images"`
	}
	decodeStrict(t, "kubernetes/kustomization.yaml", &kust)
	for _, r := range kust.Resources {
		if _, err := os.Stat(filepath.Join("kubernetes", r)); err != nil {
			t.Errorf("kustomization resource %s: %v", r, err)
		}
	}
	if len(kust.Resources) != 4 {
		t.Errorf("kustomization lists %v; want the four manifests", kust.Resources)
	}

	if dep.Spec.Replicas == nil || *dep.Spec.Replicas < 2 {
		t.Errorf("replicas %v; want at least 2", dep.Spec.Replicas)
	}
	pod := dep.Spec.Template.Spec
	podLabels := dep.Spec.Template.Labels
	if !selects(dep.Spec.Selector.MatchLabels, podLabels) {
		t.Error("the Deployment's selector does not select its pods")
	}
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot ||
		pod.SecurityContext.SeccompProfile == nil || pod.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod securityContext: want runAsNonRoot and the RuntimeDefault seccomp profile")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers; want litsignd alone", len(pod.Containers))
	}
	ctr := pod.Containers[0]
	checkDaemonArgs(t, "Deployment args", ctr.Args, flags)
	var envNames []string
	for _, e := range ctr.Env {
		envNames = append(envNames, e.Name)
	}
	checkDaemonEnv(t, "Deployment env", envNames, flags, "GOMEMLIMIT")
	arg := func(name string) string {
		for _, a := range ctr.Args {
			if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
				return v
			}
		}
		return ""
	}
	if arg("replicas") != "3" {
		t.Errorf("--replicas %q; want 3", arg("replicas"))
	}
	var metricsPort int32
	for _, p := range ctr.Ports {
		if p.Name == "metrics" {
			metricsPort = p.ContainerPort
		}
	}
	if metricsPort == 0 || !strings.HasSuffix(arg("metrics-listen"), fmt.Sprintf(":%d", metricsPort)) || !strings.HasPrefix(arg("metrics-listen"), "0.0.0.0:") {
		t.Errorf("--metrics-listen %q and container port metrics %d disagree", arg("metrics-listen"), metricsPort)
	}
	for name, probe := range map[string]*corev1.Probe{"liveness": ctr.LivenessProbe, "readiness": ctr.ReadinessProbe, "startup": ctr.StartupProbe} {
		want := "/healthz"
		if name == "readiness" {
			want = "/readyz"
		}
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || probe.HTTPGet.Port.String() != "metrics" {
			t.Errorf("%s probe %+v; want GET %s on port metrics", name, probe, want)
		}
	}
	if ctr.Resources.Requests.Cpu().IsZero() || ctr.Resources.Requests.Memory().IsZero() || ctr.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v; want cpu and memory requests and a memory limit", ctr.Resources)
	}
	sc := ctr.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container securityContext %+v; want no privilege escalation, a read-only root and every capability dropped", sc)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range ctr.VolumeMounts {
		mounts[m.Name] = m
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	kekFile := arg("kek-file")
	kekFromSecret := false
	for name, m := range mounts {
		v := volumes[name]
		if v.Secret != nil && strings.HasPrefix(kekFile, m.MountPath+"/") && m.ReadOnly {
			kekFromSecret = true
			// The files belong to root and the fsGroup; litsignd runs as
			// a non-root member of that group.
			if mode := v.Secret.DefaultMode; mode == nil || *mode&0o040 == 0 || *mode&0o007 != 0 || pod.SecurityContext.FSGroup == nil {
				t.Errorf("KEK Secret mode %v with fsGroup %v: want group-readable, no access for others", mode, pod.SecurityContext.FSGroup)
			}
			for _, it := range v.Secret.Items {
				if m.MountPath+"/"+it.Path != kekFile {
					t.Errorf("the KEK Secret puts %s at %s/%s, not at --kek-file %s", it.Key, m.MountPath, it.Path, kekFile)
				}
			}
		}
		if v.Name == "" {
			t.Errorf("volume mount %s has no volume", name)
		}
	}
	if !kekFromSecret {
		t.Errorf("--kek-file %q is not on a read-only Secret volume", kekFile)
	}
	if m, ok := mounts["data"]; !ok || m.MountPath != arg("data-dir") || volumes["data"].EmptyDir == nil {
		t.Errorf("--data-dir %q is not the mounted emptyDir (the root filesystem is read-only)", arg("data-dir"))
	}
	for _, e := range ctr.Env {
		if e.Name == "LITSIGND_NATS_PASSWORD" && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Error("LITSIGND_NATS_PASSWORD is not read from a Secret")
		}
		if e.Name == "LITSIGND_NATS_USER" && e.Value != "daemon" {
			t.Errorf("LITSIGND_NATS_USER %q; want daemon", e.Value)
		}
	}
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds <= 30 {
		t.Error("terminationGracePeriodSeconds must exceed --drain-timeout (30 s)")
	}

	if !selects(svc.Spec.Selector, podLabels) {
		t.Error("the Service does not select litsignd's pods")
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != metricsPort || svc.Spec.Ports[0].TargetPort.String() != "metrics" {
		t.Errorf("Service ports %+v; want %d → metrics", svc.Spec.Ports, metricsPort)
	}
	if pdb.Spec.Selector == nil || !selects(pdb.Spec.Selector.MatchLabels, podLabels) {
		t.Error("the PodDisruptionBudget does not select litsignd's pods")
	}
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() < 1 || int32(pdb.Spec.MinAvailable.IntValue()) >= *dep.Spec.Replicas {
		t.Errorf("PodDisruptionBudget minAvailable %v with %d replicas: want at least 1 and fewer than the replicas", pdb.Spec.MinAvailable, *dep.Spec.Replicas)
	}
	if pod.ServiceAccountName != sa.Name {
		t.Errorf("pods run as service account %q, the manifest creates %q", pod.ServiceAccountName, sa.Name)
	}
}

func k8sStrict(t testing.TB, path string, v any, kind string) {
	t.Helper()
	if err := k8syaml.UnmarshalStrict([]byte(readFile(t, path)), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var meta struct {
		Kind string `json:"kind"`
	}
	if err := k8syaml.Unmarshal([]byte(readFile(t, path)), &meta); err != nil || meta.Kind != kind {
		t.Fatalf("%s: kind %q, want %s", path, meta.Kind, kind)
	}
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// helmValues is the part of the NATS chart's values (chart 2.14.2
// values.yaml) that kubernetes/nats-values.yaml sets; any other key fails
// the strict decode.
type helmValues struct {
	Config struct {
		Cluster struct {
			Enabled  bool `yaml:"enabled"`
			Replicas int  `yaml:"replicas"`
		} `yaml:"cluster"`
		JetStream struct {
			Enabled   bool `yaml:"enabled"`
			FileStore struct {
				Enabled bool   `yaml:"enabled"`
				Dir     string `yaml:"dir"`
				PVC     struct {
					Enabled bool   `yaml:"enabled"`
					Size    string `yaml:"size"`
				} `yaml:"pvc"`
			} `yaml:"fileStore"`
		} `yaml:"jetstream"`
		Monitor struct {
			Enabled bool `yaml:"enabled"`
		} `yaml:"monitor"`
		Merge struct {
			MaxPayload string `yaml:"max_payload"`
			Include    string `yaml:"zzz$include"`
		} `yaml:"merge"`
	} `yaml:"config"`
	Container struct {
		Image struct {
			Tag string `yaml:"tag"`
		} `yaml:"image"`
		Env   map[string]string `yaml:"env"`
		Merge struct {
			Resources corev1ResourcesYAML `yaml:"resources"`
		} `yaml:"merge"`
		Patch []struct {
			Op    string `yaml:"op"`
			Path  string `yaml:"path"`
			Value struct {
				Name      string `yaml:"name"`
				MountPath string `yaml:"mountPath"`
				ReadOnly  bool   `yaml:"readOnly"`
			} `yaml:"value"`
		} `yaml:"patch"`
	} `yaml:"container"`
	PodTemplate struct {
		TopologySpreadConstraints map[string]struct {
			MaxSkew           int    `yaml:"maxSkew"`
			WhenUnsatisfiable string `yaml:"whenUnsatisfiable"`
		} `yaml:"topologySpreadConstraints"`
		Patch []struct {
			Op    string `yaml:"op"`
			Path  string `yaml:"path"`
			Value struct {
				Name   string `yaml:"name"`
				Secret struct {
					SecretName string `yaml:"secretName"`
				} `yaml:"secret"`
			} `yaml:"value"`
		} `yaml:"patch"`
	} `yaml:"podTemplate"`
	Reloader struct {
		Enabled bool `yaml:"enabled"`
	} `yaml:"reloader"`
	PromExporter struct {
		Enabled    bool `yaml:"enabled"`
		PodMonitor struct {
			Enabled bool `yaml:"enabled"`
		} `yaml:"podMonitor"`
	} `yaml:"promExporter"`
	PodDisruptionBudget struct {
		Enabled bool `yaml:"enabled"`
	} `yaml:"podDisruptionBudget"`
	NatsBox struct {
		Enabled bool `yaml:"enabled"`
	} `yaml:"natsBox"`
}

type corev1ResourcesYAML struct {
	Requests map[string]string `yaml:"requests"`
	Limits   map[string]string `yaml:"limits"`
}

func readHelmValues(t testing.TB) helmValues {
	t.Helper()
	var v helmValues
	decodeStrict(t, "kubernetes/nats-values.yaml", &v)
	return v
}

// TestHelmValues checks the NATS chart values: a three-server cluster,
// JetStream on persistent file storage, the exporter (whose metric names
// the dashboard reads), the nats-server version the tests run, and the
// accounts Secret mounted where the include points (TestHelmAccountsInclude
// parses that include).
func TestHelmValues(t *testing.T) {
	v := readHelmValues(t)
	c := v.Config
	if !c.Cluster.Enabled || c.Cluster.Replicas != 3 {
		t.Errorf("cluster %+v; want enabled with 3 replicas", c.Cluster)
	}
	if !c.JetStream.Enabled || !c.JetStream.FileStore.Enabled || !c.JetStream.FileStore.PVC.Enabled {
		t.Errorf("jetstream %+v; want file storage on a PVC", c.JetStream)
	}
	if want := natsServerVersion(t) + "-alpine"; v.Container.Image.Tag != want {
		t.Errorf("image tag %q; want %s (go.mod's nats-server)", v.Container.Image.Tag, want)
	}
	if !v.PromExporter.Enabled || !c.Monitor.Enabled {
		t.Error("the Prometheus exporter (and the monitor port it reads) must be on")
	}
	if len(v.Container.Patch) != 1 || v.Container.Patch[0].Path != "/volumeMounts/-" ||
		len(v.PodTemplate.Patch) != 1 || v.PodTemplate.Patch[0].Path != "/spec/volumes/-" ||
		v.PodTemplate.Patch[0].Value.Name != v.Container.Patch[0].Value.Name || v.PodTemplate.Patch[0].Value.Secret.SecretName == "" {
		t.Errorf("the accounts Secret is not mounted into the nats container: %+v %+v", v.Container.Patch, v.PodTemplate.Patch)
	}
	if c.Merge.MaxPayload != "<< 1MB >>" {
		t.Errorf("max_payload %q; want << 1MB >>", c.Merge.MaxPayload)
	}
	if v.Container.Merge.Resources.Limits["memory"] == "" {
		t.Error("no memory limit for the NATS servers")
	}
}

// ---- Prometheus rules and the Grafana dashboard ----

// selector is one metric selection of a dashboard or alert expression.
type selector struct {
	where  string // file and panel or alert
	metric string
	labels []string // label names the expression matches on
}

var promParser = parser.NewParser(parser.Options{})

// selectorsOf parses a PromQL expression and returns its metric selectors
// and the labels named by its aggregations.
func selectorsOf(where, expr string) ([]selector, error) {
	e, err := promParser.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var out []selector
	var grouping []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			s := selector{where: where}
			for _, m := range n.LabelMatchers {
				if m.Name == labels.MetricName {
					s.metric = m.Value
				} else {
					s.labels = append(s.labels, m.Name)
				}
			}
			out = append(out, s)
		case *parser.AggregateExpr:
			grouping = append(grouping, n.Grouping...)
		}
		return nil
	})
	// An aggregation's by-labels come from the selectors beneath it; "le"
	// and target labels are checked with them.
	for i := range out {
		out[i].labels = append(out[i].labels, grouping...)
	}
	return out, nil
}

// alertSelectors parses alerts.yml with Prometheus's rule parser (unknown
// fields rejected) and returns every metric selection of its rules.
func alertSelectors(t testing.TB) []selector {
	t.Helper()
	groups, errs := rulefmt.ParseFile("prometheus/alerts.yml", false, model.UTF8Validation, promParser, slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("prometheus/alerts.yml: %v", errors.Join(errs...))
	}
	var out []selector
	names := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("rule %q in %s is not an alert", r.Record, g.Name)
			}
			if names[r.Alert] {
				t.Errorf("alert %s defined twice", r.Alert)
			}
			names[r.Alert] = true
			if sev := r.Labels["severity"]; sev != "page" && sev != "ticket" {
				t.Errorf("alert %s: severity %q; want page or ticket", r.Alert, sev)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: want a summary and a description", r.Alert)
			}
			sels, err := selectorsOf("alerts.yml "+r.Alert, r.Expr)
			if err != nil {
				t.Fatalf("alert %s: %v", r.Alert, err)
			}
			out = append(out, sels...)
		}
	}
	// What the issue asks the alerts to cover.
	for _, want := range []string{"LitsigndJobErrorBudgetFastBurn", "LitsigndNoSuccessfulJobs", "LitsigndDelegationExpiringWithoutRenewal", "LitNetworkUnreachable", "LitsigndJobsBacklog", "LitsigndAckPendingNearLimit"} {
		if !names[want] {
			t.Errorf("no alert %s", want)
		}
	}
	return out
}

// grafanaVars replaces the dashboard's variables with sample values so that
// its queries parse as PromQL.
var grafanaVars = strings.NewReplacer("$__rate_interval", "1m", "$__interval", "1m", "$__range", "1h", "${instance}", ".*", "$instance", ".*")

// dashboardSelectors decodes the dashboard and returns every metric
// selection of its panels and variables.
func dashboardSelectors(t testing.TB) []selector {
	t.Helper()
	var d struct {
		UID           string `json:"uid"`
		Title         string `json:"title"`
		SchemaVersion int    `json:"schemaVersion"`
		Panels        []struct {
			ID         int             `json:"id"`
			Type       string          `json:"type"`
			Title      string          `json:"title"`
			Datasource json.RawMessage `json:"datasource"`
			Targets    []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal([]byte(readFile(t, "grafana/dashboards/litsignd.json")), &d); err != nil {
		t.Fatalf("grafana/dashboards/litsignd.json: %v", err)
	}
	if d.UID != "litsignd" || d.SchemaVersion < 39 {
		t.Errorf("dashboard uid %q schemaVersion %d", d.UID, d.SchemaVersion)
	}
	var out []selector
	ids := map[int]bool{}
	titles := map[string]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		titles[p.Title] = true
		if p.Type == "row" {
			continue
		}
		if !strings.Contains(string(p.Datasource), "${datasource}") {
			t.Errorf("panel %q does not use the ${datasource} variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			sels, err := selectorsOf("dashboard "+p.Title, grafanaVars.Replace(tg.Expr))
			if err != nil {
				t.Errorf("panel %q query %s: %v", p.Title, tg.RefID, err)
				continue
			}
			out = append(out, sels...)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := regexp.MustCompile(`label_values\(([a-z_:]+),\s*([a-z_]+)\)`).FindStringSubmatch(fmt.Sprint(v.Query))
		if m == nil {
			t.Errorf("variable %s: query %v is not label_values(metric, label)", v.Name, v.Query)
			continue
		}
		out = append(out, selector{where: "dashboard variable " + v.Name, metric: m[1], labels: []string{m[2]}})
	}
	// What the issue asks the dashboard to show.
	for _, want := range []string{"Jobs/s by outcome", "Job latency", "Lit request latency p95 by operation", "Lit node errors by code",
		"Retries, republished results and exhausted jobs", "Lit refreshes by result", "Jobs in flight by replica", "Delegations stored",
		"Seconds to the nearest expiry", "Intake rejections by reason", "Resident memory", "CPU"} {
		if !titles[want] {
			t.Errorf("dashboard has no panel %q", want)
		}
	}
	return out
}

// TestAlertRulesParse parses alerts.yml with Prometheus's rule parser.
func TestAlertRulesParse(t *testing.T) {
	if sels := alertSelectors(t); len(sels) == 0 {
		t.Fatal("no metric in the alert rules")
	}
}

// TestDashboardParses decodes the dashboard and parses every query.
func TestDashboardParses(t *testing.T) {
	if sels := dashboardSelectors(t); len(sels) == 0 {
		t.Fatal("no metric in the dashboard")
	}
}
