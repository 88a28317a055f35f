// Package deploy_test checks what deploy/ ships: the Kubernetes manifests
// decode strictly with the Kubernetes API types and say what the sensor
// needs; the systemd unit verifies and holds the documented capabilities;
// `make install` lays the files out; the Collector configurations and the
// builder manifest agree. (deploy/image has its own test; the Collector
// itself validates the configurations in `make collector-validate`.)
package deploy_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/otel-sensor/otel-sensor/config"
	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
	"github.com/otel-sensor/otel-sensor/internal/privilege"
)

// sensorCaps is what provider auto needs (the eBPF set and the netlink
// fallback's), as Kubernetes names capabilities.
func sensorCaps() []string {
	var caps []string
	for _, mode := range []string{privilege.ModeEBPF, privilege.ModeNetlink} {
		for _, n := range privilege.Needs(mode) {
			c := strings.TrimPrefix(n.Capability.String(), "CAP_")
			if !slices.Contains(caps, c) {
				caps = append(caps, c)
			}
		}
	}
	sort.Strings(caps)
	return caps
}

// manifests holds every object of deploy/kubernetes, by kind and name.
type manifests struct {
	daemonSets  map[string]*appsv1.DaemonSet  // file/name: two files hold otel-sensor
	deployments map[string]*appsv1.Deployment // namespace/name, as the rest
	configMaps  map[string]*corev1.ConfigMap
	accounts    map[string]*corev1.ServiceAccount
	services    map[string]*corev1.Service
	roles       map[string]*rbacv1.ClusterRole
}

// loadManifests decodes every document of every file strictly: an unknown
// or misspelt field (case included), a wrong type or a duplicate key fails.
func loadManifests(t *testing.T) manifests {
	t.Helper()
	m := manifests{
		daemonSets:  map[string]*appsv1.DaemonSet{},
		deployments: map[string]*appsv1.Deployment{},
		configMaps:  map[string]*corev1.ConfigMap{},
		accounts:    map[string]*corev1.ServiceAccount{},
		services:    map[string]*corev1.Service{},
		roles:       map[string]*rbacv1.ClusterRole{},
	}
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(b, []byte("\n---\n")) {
			doc = append(doc, '\n') // the separator took the last line's end
			where := fmt.Sprintf("%s document %d", file, i+1)
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			var obj metav1.Object
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 DaemonSet":
				obj = &appsv1.DaemonSet{}
			case "apps/v1 Deployment":
				obj = &appsv1.Deployment{}
			case "v1 ConfigMap":
				obj = &corev1.ConfigMap{}
			case "v1 ServiceAccount":
				obj = &corev1.ServiceAccount{}
			case "v1 Service":
				obj = &corev1.Service{}
			case "v1 Namespace":
				obj = &corev1.Namespace{}
			case "rbac.authorization.k8s.io/v1 ClusterRole":
				obj = &rbacv1.ClusterRole{}
			case "rbac.authorization.k8s.io/v1 ClusterRoleBinding":
				obj = &rbacv1.ClusterRoleBinding{}
			default:
				t.Fatalf("%s: unexpected %s %s", where, tm.APIVersion, tm.Kind)
			}
			// As the API server's strict field validation: field names
			// case-sensitive, no unknown and no duplicate fields.
			js, err := yaml.YAMLToJSONStrict(doc)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			strict, err := kjson.UnmarshalStrict(js, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
			if err != nil || len(strict) > 0 {
				t.Fatalf("%s: strict decode: %v %v", where, err, strict)
			}
			key := obj.GetNamespace() + "/" + obj.GetName()
			switch o := obj.(type) {
			case *appsv1.DaemonSet:
				m.daemonSets[filepath.Base(file)+"/"+o.Name] = o
			case *appsv1.Deployment:
				m.deployments[key] = o
			case *corev1.ConfigMap:
				m.configMaps[key] = o
			case *corev1.ServiceAccount:
				m.accounts[key] = o
			case *corev1.Service:
				m.services[key] = o
			case *rbacv1.ClusterRole:
				m.roles[o.Name] = o
			}
			if obj.GetName() == "" {
				t.Errorf("%s: no name", where)
			}
		}
	}
	return m
}

func envVar(c corev1.Container, name string) (corev1.EnvVar, int) {
	for i, e := range c.Env {
		if e.Name == name {
			return e, i
		}
	}
	return corev1.EnvVar{}, -1
}

func container(t *testing.T, spec corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return corev1.Container{}
}

func TestKubernetesSensorDaemonSets(t *testing.T) {
	m := loadManifests(t)
	for _, key := range []string{"daemonset.yaml/otel-sensor", "sidecar.yaml/otel-sensor"} {
		t.Run(key, func(t *testing.T) {
			ds := m.daemonSets[key]
			if ds == nil {
				t.Fatalf("no DaemonSet %s", key)
			}
			spec := ds.Spec.Template.Spec
			if !spec.HostPID || !spec.HostNetwork {
				t.Errorf("hostPID %v hostNetwork %v: the proc connector needs the host's PID and network namespaces", spec.HostPID, spec.HostNetwork)
			}
			if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
				t.Error("the sensor pod mounts an API token it does not need")
			}
			c := container(t, spec, "otel-sensor")

			sc := c.SecurityContext
			if sc == nil || sc.Capabilities == nil {
				t.Fatal("no securityContext.capabilities")
			}
			var added []string
			for _, a := range sc.Capabilities.Add {
				added = append(added, string(a))
			}
			sort.Strings(added)
			if !slices.Equal(added, sensorCaps()) {
				t.Errorf("capabilities add %v, want the documented %v", added, sensorCaps())
			}
			if !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
				t.Errorf("capabilities drop %v, want [ALL]", sc.Capabilities.Drop)
			}
			if sc.Privileged == nil || *sc.Privileged || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Error("privileged or privilege escalation allowed")
			}
			// Kubernetes gives a non-root user no ambient capabilities: the
			// sensor runs as uid 0 holding only the added ones.
			if sc.RunAsUser == nil || *sc.RunAsUser != 0 || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Error("want runAsUser 0 and a read-only root file system")
			}
			if c.Command != nil || c.Args != nil {
				t.Errorf("command %q args %q: the image's entrypoint (/otel-sensor run) is meant", c.Command, c.Args)
			}

			p := c.ReadinessProbe
			if p == nil || p.Exec == nil || !slices.Equal(p.Exec.Command, []string{"/otel-sensor", "health"}) {
				t.Errorf("readiness probe %+v, want exec /otel-sensor health", p)
			}
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if _, ok := c.Resources.Requests[r]; !ok {
					t.Errorf("no %s request", r)
				}
				if _, ok := c.Resources.Limits[r]; !ok {
					t.Errorf("no %s limit", r)
				}
			}

			// The node name from the downward API, in the resource.
			node, ni := envVar(c, "NODE_NAME")
			attrs, ai := envVar(c, "OTEL_RESOURCE_ATTRIBUTES")
			if node.ValueFrom == nil || node.ValueFrom.FieldRef == nil || node.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
				t.Errorf("NODE_NAME is not the downward API's spec.nodeName: %+v", node)
			}
			if ni < 0 || ai < ni || !strings.Contains(attrs.Value, "k8s.node.name=$(NODE_NAME)") {
				t.Errorf("OTEL_RESOURCE_ATTRIBUTES %q (at %d) does not take k8s.node.name from NODE_NAME (at %d)", attrs.Value, ai, ni)
			}
			ep, _ := envVar(c, "OTEL_EXPORTER_OTLP_ENDPOINT")
			switch key {
			case "daemonset.yaml/otel-sensor":
				hostIP, hi := envVar(c, "HOST_IP")
				if hostIP.ValueFrom == nil || hostIP.ValueFrom.FieldRef.FieldPath != "status.hostIP" || hi < 0 || ep.Value != "http://$(HOST_IP):4317" {
					t.Errorf("the endpoint %q is not the node-local collector at status.hostIP:4317", ep.Value)
				}
			case "sidecar.yaml/otel-sensor":
				agent := container(t, spec, "otel-agent")
				listen, _ := envVar(agent, "OTLP_GRPC_ENDPOINT")
				if ep.Value != "http://"+listen.Value {
					t.Errorf("the sensor sends to %q, the sidecar listens on %q", ep.Value, listen.Value)
				}
				for _, vm := range c.VolumeMounts {
					if vm.Name == "api-token" {
						t.Error("the sensor container mounts the API token")
					}
				}
			}

			// Mounts: BTF read-only from the host, the configuration, a
			// writable /run for the health socket.
			vols := map[string]corev1.Volume{}
			for _, v := range spec.Volumes {
				vols[v.Name] = v
			}
			mounts := map[string]corev1.VolumeMount{}
			for _, vm := range c.VolumeMounts {
				mounts[vm.MountPath] = vm
			}
			btf := mounts["/sys/kernel/btf"]
			if v := vols[btf.Name]; !btf.ReadOnly || v.HostPath == nil || v.HostPath.Path != "/sys/kernel/btf" {
				t.Errorf("/sys/kernel/btf: mount %+v volume %+v, want the host's, read-only", btf, v)
			}
			cfg := mounts["/etc/otel-sensor"]
			if v := vols[cfg.Name]; !cfg.ReadOnly || v.ConfigMap == nil || m.configMaps["otel-sensor/"+v.ConfigMap.Name] == nil {
				t.Errorf("/etc/otel-sensor: mount %+v volume %+v, want the ConfigMap", cfg, v)
			}
			if run := mounts["/run"]; run.ReadOnly || vols[run.Name].EmptyDir == nil {
				t.Errorf("/run: mount %+v, want a writable emptyDir for the health socket", run)
			}
			if acct := m.accounts["otel-sensor/"+spec.ServiceAccountName]; acct == nil {
				t.Errorf("no ServiceAccount %s", spec.ServiceAccountName)
			}
		})
	}
}

// The sensor's ConfigMap is a valid sensor configuration; the collectors'
// embed deploy/collector's files unchanged.
func TestKubernetesConfigMaps(t *testing.T) {
	m := loadManifests(t)
	cm := m.configMaps["otel-sensor/otel-sensor"]
	if cm == nil {
		t.Fatal("no ConfigMap otel-sensor/otel-sensor")
	}
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte(cm.Data["config.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Sources{File: file, FileRequired: true})
	if err != nil {
		t.Fatalf("the ConfigMap's config.yaml: %v", err)
	}
	if cfg.LogsExporter() != config.ExporterOTLP || cfg.MetricsExporter() != config.ExporterOTLP {
		t.Errorf("logs to %s, metrics to %s: want otlp", cfg.LogsExporter(), cfg.MetricsExporter())
	}
	for _, tc := range []struct{ configMap, file string }{
		{"observability/otel-agent", "collector/agent.yaml"},
		{"otel-sensor/otel-sensor-agent", "collector/agent.yaml"},
		{"observability/otel-gateway", "collector/gateway.yaml"},
	} {
		want, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if cm := m.configMaps[tc.configMap]; cm == nil || cm.Data["config.yaml"] != string(want) {
			t.Errorf("ConfigMap %s does not hold %s unchanged", tc.configMap, tc.file)
		}
	}
	agent := container(t, m.daemonSets["collector-agent.yaml/otel-agent"].Spec.Template.Spec, "otel-agent")
	if n, _ := envVar(agent, "K8S_NODE_NAME"); n.ValueFrom == nil || n.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Error("the agent lacks K8S_NODE_NAME for k8sattributes")
	}
	if !slices.ContainsFunc(agent.Ports, func(p corev1.ContainerPort) bool { return p.HostPort == 4317 }) {
		t.Error("the agent does not listen on the node's port 4317, where the sensor sends")
	}
	if s := m.services["observability/otel-gateway-headless"]; s == nil || s.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Error("no headless Service for the gateway: the agents could not balance across its pods")
	}
	for _, role := range []string{"otel-agent", "otel-sensor-agent"} {
		if r := m.roles[role]; r == nil || !slices.ContainsFunc(r.Rules, func(p rbacv1.PolicyRule) bool {
			return slices.Contains(p.Resources, "pods") && slices.Contains(p.Verbs, "watch")
		}) {
			t.Errorf("ClusterRole %s cannot watch pods, as k8sattributes must", role)
		}
	}
}

// collectorConfig is the part of a Collector configuration checked here.
type collectorConfig struct {
	Receivers  map[string]any `json:"receivers"`
	Processors map[string]any `json:"processors"`
	Exporters  map[string]any `json:"exporters"`
	Extensions map[string]any `json:"extensions"`
	Service    struct {
		Pipelines map[string]struct {
			Receivers  []string `json:"receivers"`
			Processors []string `json:"processors"`
			Exporters  []string `json:"exporters"`
		} `json:"pipelines"`
	} `json:"service"`
}

// Every component a pipeline uses is configured, and built into the
// Collector of builder.yaml.
func TestCollectorConfigsMatchBuilder(t *testing.T) {
	b, err := os.ReadFile("collector/builder.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The module each component type comes from (its name in the classic
	// spelling, as the configurations use it).
	modules := map[string]string{
		"otlp receiver":        "/receiver/otlpreceiver ",
		"memory_limiter":       "/processor/memorylimiterprocessor ",
		"batch":                "/processor/batchprocessor ",
		"k8sattributes":        "/processor/k8sattributesprocessor ",
		"resourcedetection":    "/processor/resourcedetectionprocessor ",
		"otlp exporter":        "/exporter/otlpexporter ",
		"loadbalancing":        "/exporter/loadbalancingexporter ",
		"debug":                "/exporter/debugexporter ",
		"otlphttp":             "/exporter/otlphttpexporter ",
		"file config provider": "/confmap/provider/fileprovider ",
		"env config provider":  "/confmap/provider/envprovider ",
	}
	for _, file := range []string{"collector/agent.yaml", "collector/gateway.yaml"} {
		t.Run(file, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var c collectorConfig
			if err := yaml.Unmarshal(raw, &c); err != nil {
				t.Fatal(err)
			}
			if len(c.Service.Pipelines) == 0 {
				t.Fatal("no pipelines")
			}
			check := func(kind string, ids []string, defined map[string]any) {
				for _, id := range ids {
					if _, ok := defined[id]; !ok {
						t.Errorf("%s %q is used by a pipeline but not configured", kind, id)
					}
					typ, _, _ := strings.Cut(id, "/")
					key := typ
					if typ == "otlp" {
						key = "otlp " + kind
					}
					mod, ok := modules[key]
					if !ok || !bytes.Contains(b, []byte(mod)) {
						t.Errorf("%s %q: its module is not in builder.yaml", kind, id)
					}
				}
			}
			for name, p := range c.Service.Pipelines {
				if len(p.Receivers) == 0 || len(p.Exporters) == 0 {
					t.Errorf("pipeline %s has no receiver or no exporter", name)
				}
				check("receiver", p.Receivers, c.Receivers)
				check("processor", p.Processors, c.Processors)
				check("exporter", p.Exporters, c.Exporters)
				if len(p.Processors) == 0 || p.Processors[0] != "memory_limiter" {
					t.Errorf("pipeline %s: memory_limiter must come first, got %v", name, p.Processors)
				}
			}
		})
	}
	for _, p := range []string{"file config provider", "env config provider"} {
		if !bytes.Contains(b, []byte(modules[p])) {
			t.Errorf("builder.yaml lacks the %s (the configurations use ${env:...})", p)
		}
	}
}

// unitDirectives returns the [Service] directives of a unit file.
func unitDirectives(t *testing.T, unit []byte) map[string][]string {
	t.Helper()
	d := map[string][]string{}
	for _, line := range strings.Split(string(unit), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("unit line %q", line)
		}
		d[k] = append(d[k], v)
	}
	return d
}

func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile("systemd/otel-sensor.service")
	if err != nil {
		t.Fatal(err)
	}
	d := unitDirectives(t, unit)
	var want []string
	for _, c := range sensorCaps() {
		want = append(want, "CAP_"+c)
	}
	for _, k := range []string{"AmbientCapabilities", "CapabilityBoundingSet"} {
		got := strings.Fields(strings.Join(d[k], " "))
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s = %v, want the documented %v", k, got, want)
		}
	}
	for k, v := range map[string]string{
		"User":                     "otel-sensor",
		"NoNewPrivileges":          "yes",
		"ProtectSystem":            "strict",
		"ProtectHome":              "yes",
		"PrivateTmp":               "yes",
		"ProtectKernelTunables":    "yes",
		"StateDirectory":           "otel-sensor",
		"RuntimeDirectory":         "otel-sensor",
		"ConfigurationDirectory":   "otel-sensor",
		"StandardError":            "journal",
		"ExecStart":                "/usr/local/bin/otel-sensor run",
		"RestartPreventExitStatus": "2",
	} {
		if !slices.Equal(d[k], []string{v}) {
			t.Errorf("%s = %q, want %q", k, d[k], v)
		}
	}
	// Settings that would break the sensor: another user, PID or network
	// namespace, or a /proc that hides other users' processes.
	for _, k := range []string{"PrivateUsers", "PrivatePIDs", "PrivateNetwork", "ProtectProc", "ProcSubset", "DynamicUser"} {
		if _, ok := d[k]; ok {
			t.Errorf("%s is set: the sensor needs the host's namespaces and all of /proc", k)
		}
	}
}

// make install lays out the binary, the unit, the sysusers.d entry and the
// configuration under DESTDIR and PREFIX; the installed unit passes
// systemd-analyze verify and sysusers creates the user.
func TestMakeInstall(t *testing.T) {
	for _, tool := range []string{"make", "systemd-analyze", "systemd-sysusers"} {
		if _, err := exec.LookPath(tool); err != nil {
			kerneltest.Unavailable(t, "needs %s (Debian's make and systemd packages): %v", tool, err)
		}
	}
	install := func(t *testing.T, args ...string) string {
		t.Helper()
		dest := t.TempDir()
		cmd := exec.Command("make", append([]string{"-C", "..", "--no-print-directory", "install", "DESTDIR=" + dest}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make install: %v\n%s", err, out)
		}
		return dest
	}
	example, err := os.ReadFile("../config/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		bindir string
		unit   string
	}{
		{"default prefix", nil, "/usr/local/bin", "/usr/local/lib/systemd/system/otel-sensor.service"},
		{"PREFIX=/usr", []string{"PREFIX=/usr"}, "/usr/bin", "/usr/lib/systemd/system/otel-sensor.service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dest := install(t, tc.args...)
			prefix := filepath.Dir(tc.bindir)
			for path, mode := range map[string]os.FileMode{
				tc.bindir + "/otel-sensor": 0o755,
				tc.unit:                    0o644,
				prefix + "/lib/sysusers.d/otel-sensor.conf": 0o644,
				"/etc/otel-sensor/config.yaml":              0o644,
			} {
				st, err := os.Stat(dest + path)
				if err != nil {
					t.Errorf("not installed: %v", err)
					continue
				}
				if st.Mode().Perm() != mode {
					t.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), mode)
				}
			}
			if got, _ := os.ReadFile(dest + "/etc/otel-sensor/config.yaml"); !bytes.Equal(got, example) {
				t.Error("/etc/otel-sensor/config.yaml is not config/example.yaml")
			}
			out, err := exec.Command(dest+tc.bindir+"/otel-sensor", "version").CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), "otel-sensor ") {
				t.Errorf("installed binary: %v %q", err, out)
			}
			unit, err := os.ReadFile(dest + tc.unit)
			if err != nil {
				t.Fatal(err)
			}
			if d := unitDirectives(t, unit); !slices.Equal(d["ExecStart"], []string{tc.bindir + "/otel-sensor run"}) {
				t.Errorf("ExecStart = %q, want %s/otel-sensor run", d["ExecStart"], tc.bindir)
			}

			// systemd-analyze verify checks directives and that ExecStart
			// exists: point it at the installed binary.
			verify := filepath.Join(t.TempDir(), "otel-sensor.service")
			unit = bytes.ReplaceAll(unit, []byte("ExecStart="+tc.bindir), []byte("ExecStart="+dest+tc.bindir))
			if err := os.WriteFile(verify, unit, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err = exec.Command("systemd-analyze", "verify", verify).CombinedOutput()
			if err != nil || len(bytes.TrimSpace(out)) != 0 {
				t.Errorf("systemd-analyze verify: %v\n%s", err, out)
			}

			// sysusers.d creates the user the unit runs as.
			out, err = exec.Command("systemd-sysusers", "--root="+dest).CombinedOutput()
			if err != nil {
				t.Fatalf("systemd-sysusers: %v\n%s", err, out)
			}
			passwd, _ := os.ReadFile(dest + "/etc/passwd")
			if !strings.Contains(string(passwd), "\notel-sensor:x:") && !strings.HasPrefix(string(passwd), "otel-sensor:x:") {
				t.Errorf("no otel-sensor user in %s/etc/passwd:\n%s", dest, passwd)
			}
		})
	}

	// An existing configuration is kept.
	t.Run("keeps the configuration", func(t *testing.T) {
		dest := t.TempDir()
		if err := os.MkdirAll(dest+"/etc/otel-sensor", 0o755); err != nil {
			t.Fatal(err)
		}
		mine := []byte("provider: netlink\n")
		if err := os.WriteFile(dest+"/etc/otel-sensor/config.yaml", mine, 0o640); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("make", "-C", "..", "--no-print-directory", "install", "DESTDIR="+dest)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make install: %v\n%s", err, out)
		}
		if got, _ := os.ReadFile(dest + "/etc/otel-sensor/config.yaml"); !bytes.Equal(got, mine) {
			t.Error("make install replaced an existing configuration")
		}
	})
}
