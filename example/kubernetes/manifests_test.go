// Package kubernetes checks the example manifests without a cluster: each
// decodes strictly (an unknown or misspelt field fails) into the upstream
// Go types, the manifests agree with each other, the scrape configuration
// in operator-generated/ is what prometheus-operator makes of probes.yaml,
// and ../grafana-dashboard.json decodes into the Grafana Foundation SDK's
// types.
//
// It is a module of its own so that the exporter's go.mod stays free of
// Kubernetes and Grafana: cd example/kubernetes && go test ./...
package kubernetes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	grafanaprometheus "github.com/grafana/grafana-foundation-sdk/go/prometheus"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// manifests holds every object of every *.yaml file here, by kind.
type manifests struct {
	configMaps      []*corev1.ConfigMap
	deployments     []*appsv1.Deployment
	statefulSets    []*appsv1.StatefulSet
	services        []*corev1.Service
	networkPolicies []*networkingv1.NetworkPolicy
	serviceMonitors []*monitoringv1.ServiceMonitor
	probes          []*monitoringv1.Probe
	disruptions     []*policyv1.PodDisruptionBudget
}

// target returns a new object of the Go type that apiVersion and kind
// name, kept in m.
func (m *manifests) target(apiVersion, kind string) (any, error) {
	kinds := map[string]func() any{
		"v1 ConfigMap":                            keep(&m.configMaps),
		"apps/v1 Deployment":                      keep(&m.deployments),
		"apps/v1 StatefulSet":                     keep(&m.statefulSets),
		"v1 Service":                              keep(&m.services),
		"networking.k8s.io/v1 NetworkPolicy":      keep(&m.networkPolicies),
		"monitoring.coreos.com/v1 ServiceMonitor": keep(&m.serviceMonitors),
		"monitoring.coreos.com/v1 Probe":          keep(&m.probes),
		"policy/v1 PodDisruptionBudget":           keep(&m.disruptions),
	}
	newObject, ok := kinds[apiVersion+" "+kind]
	if !ok {
		return nil, fmt.Errorf("no Go type for apiVersion %q kind %q", apiVersion, kind)
	}
	return newObject(), nil
}

// keep returns a function that allocates a T and appends it to list.
func keep[T any](list *[]*T) func() any {
	return func() any {
		o := new(T)
		*list = append(*list, o)
		return o
	}
}

// splitDocuments splits a multi-document YAML file at its "---" lines.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	for doc := range bytes.SplitSeq(data, []byte("\n---\n")) {
		if len(bytes.TrimSpace(stripComments(doc))) > 0 {
			docs = append(docs, doc)
		}
	}
	return docs
}

func stripComments(doc []byte) []byte {
	var out []byte
	for line := range bytes.Lines(doc) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
		}
	}
	return out
}

// decodeStrict decodes one document into the type its apiVersion and kind
// name; an unknown field, a field set twice or a wrong type fails.
func (m *manifests) decodeStrict(doc []byte) error {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return err
	}
	obj, err := m.target(meta.APIVersion, meta.Kind)
	if err != nil {
		return err
	}
	// As the API server decodes: case-sensitive field names (encoding/json
	// alone would take "jobname" for jobName), no unknown or duplicate
	// fields.
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(js, obj)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	return loadManifestsIn(t, ".")
}

// loadManifestsIn decodes every *.yaml file of dir.
func loadManifestsIn(t *testing.T, dir string) *manifests {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no *.yaml manifests found")
	}
	m := &manifests{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range splitDocuments(data) {
			if err := m.decodeStrict(doc); err != nil {
				t.Errorf("%s, document %d: %v", f, i+1, err)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return m
}

// TestStrictDecodeCatchesMistakes makes sure the decoding above would see
// the mistakes it is there for.
func TestStrictDecodeCatchesMistakes(t *testing.T) {
	tests := []struct{ name, doc string }{
		{"misspelt field", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {slector: {a: b}}\n"},
		{"field of another type", "apiVersion: monitoring.coreos.com/v1\nkind: Probe\nmetadata: {name: x}\nspec: {jobName: j, prober: {url: a:1}, targets: {staticConfig: {static: [a:1], lables: {module: m}}}}\n"},
		{"wrong value type", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: two}\n"},
		{"field name in the wrong case", "apiVersion: monitoring.coreos.com/v1\nkind: Probe\nmetadata: {name: x}\nspec: {jobname: j, prober: {url: a:1}}\n"},
		{"field set twice", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\ndata: {c: d}\n"},
		{"unknown kind", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := (&manifests{}).decodeStrict([]byte(tt.doc)); err == nil {
				t.Errorf("decoded without error:\n%s", tt.doc)
			}
		})
	}
}

func TestManifests(t *testing.T) {
	m := loadManifests(t)
	for what, n := range map[string]int{
		"ConfigMap": len(m.configMaps), "Deployment": len(m.deployments), "Service": len(m.services),
		"NetworkPolicy": len(m.networkPolicies), "ServiceMonitor": len(m.serviceMonitors),
		"PodDisruptionBudget": len(m.disruptions),
	} {
		if n != 1 {
			t.Fatalf("want one %s, got %d", what, n)
		}
	}
	if len(m.probes) == 0 {
		t.Fatal("no Probe")
	}
	cm, dep, svc := m.configMaps[0], m.deployments[0], m.services[0]
	modules := configModules(t, cm)

	t.Run("deployment runs unprivileged", func(t *testing.T) {
		pod := dep.Spec.Template.Spec
		if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
			t.Error("pod securityContext.runAsNonRoot is not true")
		}
		if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
			t.Error("automountServiceAccountToken is not false: the exporter needs no API access")
		}
		for _, c := range pod.Containers {
			sc := c.SecurityContext
			switch {
			case sc == nil:
				t.Fatalf("container %s has no securityContext", c.Name)
			case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
				t.Errorf("container %s: readOnlyRootFilesystem is not true", c.Name)
			case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
				t.Errorf("container %s: allowPrivilegeEscalation is not false", c.Name)
			case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
				t.Errorf("container %s: capabilities are not drop [ALL] and add none: %+v", c.Name, sc.Capabilities)
			}
		}
	})

	t.Run("deployment sized from the measured per-probe cost", func(t *testing.T) {
		c := dep.Spec.Template.Spec.Containers[0]
		if _, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
			t.Error("a CPU limit throttles the exporter and can break the half-open guarantee (docs/caveats.md)")
		}
		limit, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok {
			t.Fatal("no memory limit")
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[r]; !ok {
				t.Errorf("no %s request", r)
			}
		}
		// docs/benchmarks.md: 31.7 kB a probe in flight, measured at
		// 9,950, on top of about 20 MB idle; the concurrency limit must
		// keep the pod under its memory limit.
		var concurrency int64 = -1
		for _, a := range c.Args {
			if v, ok := strings.CutPrefix(a, "--probe.max-concurrency="); ok {
				if _, err := fmt.Sscan(v, &concurrency); err != nil {
					t.Fatalf("%s: %v", a, err)
				}
			}
		}
		if concurrency <= 0 {
			t.Fatal("no --probe.max-concurrency > 0: the default 10,000 would need ~340 MB")
		}
		need := resource.NewQuantity(20e6+concurrency*32e3, resource.DecimalSI)
		if limit.Cmp(*need) < 0 {
			t.Errorf("memory limit %s is below the %s that %d probes in flight take", limit.String(), need.String(), concurrency)
		}
	})

	t.Run("deployment mounts the ConfigMap where --config.file points", func(t *testing.T) {
		pod := dep.Spec.Template.Spec
		c := pod.Containers[0]
		var file string
		for _, a := range c.Args {
			if v, ok := strings.CutPrefix(a, "--config.file="); ok {
				file = v
			}
		}
		var mounted bool
		for _, vm := range c.VolumeMounts {
			for _, v := range pod.Volumes {
				if v.Name == vm.Name && v.ConfigMap != nil && v.ConfigMap.Name == cm.Name &&
					file == filepath.Join(vm.MountPath, "config.yml") {
					mounted = true
				}
			}
		}
		if !mounted {
			t.Errorf("--config.file=%s is not config.yml of ConfigMap %s mounted in the container", file, cm.Name)
		}
	})

	podLabels := dep.Spec.Template.Labels
	portName := dep.Spec.Template.Spec.Containers[0].Ports[0].Name
	t.Run("service selects the pods", func(t *testing.T) {
		if !subset(svc.Spec.Selector, podLabels) {
			t.Errorf("service selector %v does not match pod labels %v", svc.Spec.Selector, podLabels)
		}
		if svc.Spec.Ports[0].TargetPort.StrVal != portName {
			t.Errorf("service targetPort %v, want %s", svc.Spec.Ports[0].TargetPort, portName)
		}
	})

	t.Run("network policy covers the pods and port", func(t *testing.T) {
		np := m.networkPolicies[0]
		if !subset(np.Spec.PodSelector.MatchLabels, podLabels) {
			t.Errorf("podSelector %v does not match pod labels %v", np.Spec.PodSelector.MatchLabels, podLabels)
		}
		if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].From) == 0 {
			t.Fatal("want one ingress rule with sources: everyone else must be kept out")
		}
		if p := np.Spec.Ingress[0].Ports; len(p) != 1 || p[0].Port.StrVal != portName {
			t.Errorf("ingress ports %v, want %s", p, portName)
		}
		// A podSelector alone admits pods of the exporter's namespace
		// only; a namespaceSelector alone, every pod of the namespace.
		for _, peer := range np.Spec.Ingress[0].From {
			if peer.NamespaceSelector == nil || len(peer.NamespaceSelector.MatchLabels) == 0 ||
				peer.PodSelector == nil || peer.PodSelector.MatchLabels["app.kubernetes.io/name"] != "prometheus" {
				t.Errorf("ingress peer %+v: want Prometheus pods selected by both their namespace and their labels", peer)
			}
		}
	})

	t.Run("image is the release image", func(t *testing.T) {
		// ghcr.io/<GitHub path of .promu.yml's repository>:v<VERSION>
		promu, err := os.ReadFile("../../.promu.yml")
		if err != nil {
			t.Fatal(err)
		}
		var build struct {
			Repository struct {
				Path string `json:"path"`
			} `json:"repository"`
		}
		if err := yaml.Unmarshal(promu, &build); err != nil {
			t.Fatal(err)
		}
		version, err := os.ReadFile("../../VERSION")
		if err != nil {
			t.Fatal(err)
		}
		path, ok := strings.CutPrefix(build.Repository.Path, "github.com/")
		if !ok {
			t.Fatalf(".promu.yml repository.path %q is not on github.com", build.Repository.Path)
		}
		want := "ghcr.io/" + path + ":v" + strings.TrimSpace(string(version))
		if got := dep.Spec.Template.Spec.Containers[0].Image; got != want {
			t.Errorf("image %q, want the release image %q", got, want)
		}
	})

	t.Run("replicas spread over nodes, with a disruption budget", func(t *testing.T) {
		replicas := int32(1)
		if dep.Spec.Replicas != nil {
			replicas = *dep.Spec.Replicas
		}
		if replicas < 2 {
			t.Skipf("%d replica: nothing to spread", replicas)
		}
		var spread bool
		for _, c := range dep.Spec.Template.Spec.TopologySpreadConstraints {
			if c.TopologyKey == "kubernetes.io/hostname" && c.LabelSelector != nil && subset(c.LabelSelector.MatchLabels, podLabels) {
				spread = true
			}
		}
		if !spread {
			t.Error("no topologySpreadConstraints over kubernetes.io/hostname selecting the pods: both replicas may share a node")
		}
		pdb := m.disruptions[0]
		if pdb.Spec.Selector == nil || !subset(pdb.Spec.Selector.MatchLabels, podLabels) {
			t.Errorf("PodDisruptionBudget selector %v does not match pod labels %v", pdb.Spec.Selector, podLabels)
		}
		if pdb.Namespace != dep.Namespace {
			t.Errorf("PodDisruptionBudget in namespace %q, the pods in %q", pdb.Namespace, dep.Namespace)
		}
		// minAvailable as a count, below the replicas so that a drain can
		// go on; at least 1 so that one replica keeps serving.
		if least := pdb.Spec.MinAvailable; least == nil || least.IntVal < 1 || least.IntVal >= replicas {
			t.Errorf("PodDisruptionBudget minAvailable %v: want a count from 1 to %d", least, replicas-1)
		}
	})

	t.Run("probes and service monitor carry the label Prometheus selects them by", func(t *testing.T) {
		want := m.serviceMonitors[0].Labels["release"]
		if want == "" {
			t.Fatal("the ServiceMonitor has no release label (kube-prometheus-stack's serviceMonitorSelector)")
		}
		for _, p := range m.probes {
			if got := p.Labels["release"]; got != want {
				t.Errorf("Probe %s: release label %q, want %q as on the ServiceMonitor", p.Name, got, want)
			}
		}
	})

	t.Run("probes cover a module of each kind", func(t *testing.T) {
		kinds := map[string]bool{}
		for _, p := range m.probes {
			mod := modules[p.Spec.Module]
			switch {
			case mod.SYNCount > 1:
				kinds["syn_count"] = true
			case mod.Addresses == "all":
				kinds["addresses: all"] = true
			case mod.Expect != "" && mod.Expect != "open":
				kinds["expect"] = true
			default:
				kinds["one check"] = true
			}
		}
		for _, kind := range []string{"one check", "syn_count", "addresses: all", "expect"} {
			if !kinds[kind] {
				t.Errorf("no Probe of a module with %s: the dashboard's rows for it stay empty", kind)
			}
		}
	})

	t.Run("service monitor scrapes /metrics as job synack_exporter", func(t *testing.T) {
		sm := m.serviceMonitors[0]
		if !subset(sm.Spec.Selector.MatchLabels, svc.Labels) {
			t.Errorf("selector %v does not match service labels %v", sm.Spec.Selector.MatchLabels, svc.Labels)
		}
		ep := sm.Spec.Endpoints[0]
		if ep.Port != svc.Spec.Ports[0].Name || ep.Path != "/metrics" {
			t.Errorf("endpoint port %q path %q, want %q /metrics", ep.Port, ep.Path, svc.Spec.Ports[0].Name)
		}
		if !setsJob(ep.RelabelConfigs, "synack_exporter") {
			t.Errorf("relabelings %+v do not set job to synack_exporter, which example/alerts.yml expects", ep.RelabelConfigs)
		}
	})

	for _, p := range m.probes {
		t.Run("probe "+p.Name, func(t *testing.T) {
			s := p.Spec
			if s.JobName != "synack_"+s.Module {
				t.Errorf("jobName %q, want synack_%s: the rules match job=~\"synack_.+\"", s.JobName, s.Module)
			}
			mod, ok := modules[s.Module]
			if !ok {
				t.Fatalf("module %q is not in the ConfigMap's config.yml", s.Module)
			}
			timeout := mod.Timeout
			sc := s.Targets.StaticConfig
			if sc == nil || sc.Labels["module"] != s.Module {
				t.Errorf("staticConfig.labels.module is not %q: the dashboard groups by it", s.Module)
			}
			expect := mod.Expect
			if expect == "open" {
				expect = "" // the default, as if not written
			}
			if sc != nil && sc.Labels["expect"] != expect {
				t.Errorf("staticConfig.labels.expect is %q, want %q: the alerts tell expect modules apart by it", sc.Labels["expect"], expect)
			}
			want := fmt.Sprintf("%s.%s.svc:%d", svc.Name, svc.Namespace, svc.Spec.Ports[0].Port)
			if s.ProberSpec.URL != want || s.ProberSpec.Path != "/probe" {
				t.Errorf("prober %s%s, want %s/probe", s.ProberSpec.URL, s.ProberSpec.Path, want)
			}
			st, err := time.ParseDuration(string(s.ScrapeTimeout))
			if err != nil || st < timeout+500*time.Millisecond {
				t.Errorf("scrapeTimeout %q: want the module's timeout (%s) plus more than --timeout-offset (0.5s)", s.ScrapeTimeout, timeout)
			}
		})
	}

	t.Run("operator-generated/prometheus.yml is what the operator makes of the probes", func(t *testing.T) {
		checkGeneratedConfig(t, m.probes, "operator-generated/prometheus.yml")
	})
}

// module is what the Probes rely on of a module in config.yml.
type module struct {
	Timeout   time.Duration
	SYNCount  int
	Addresses string
	Expect    string
}

// configModules returns the modules of the ConfigMap's config.yml. The
// exporter's own --config.check validates the file in CI
// (.ci/kubernetes-check.sh); this only reads what the Probes rely on.
func configModules(t *testing.T, cm *corev1.ConfigMap) map[string]module {
	t.Helper()
	raw, ok := cm.Data["config.yml"]
	if !ok {
		t.Fatal(`ConfigMap has no "config.yml" key`)
	}
	var cfg struct {
		Modules map[string]struct {
			Timeout   string `json:"timeout"`
			SYNCount  int    `json:"syn_count"`
			Addresses string `json:"addresses"`
			Expect    string `json:"expect"`
		} `json:"modules"`
	}
	if err := yaml.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatalf("config.yml: %v", err)
	}
	out := map[string]module{}
	for name, mod := range cfg.Modules {
		d := 5 * time.Second // the exporter's default
		if mod.Timeout != "" {
			var err error
			if d, err = time.ParseDuration(mod.Timeout); err != nil {
				t.Fatalf("module %s: timeout: %v", name, err)
			}
		}
		out[name] = module{Timeout: d, SYNCount: mod.SYNCount, Addresses: mod.Addresses, Expect: mod.Expect}
	}
	return out
}

// checkGeneratedConfig compares file's scrape configs with what
// prometheus-operator's generateProbeConfig (pkg/prometheus/promcfg.go)
// writes for a Probe with static targets, for a Prometheus with one shard
// whose $(SHARD) the config-reloader has replaced with 0.
func checkGeneratedConfig(t *testing.T, probes []*monitoringv1.Probe, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		ScrapeConfigs []any `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	var want []any
	for _, p := range probes {
		want = append(want, operatorProbeJob(p, 1, "0"))
	}
	wantJSON, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var wantNorm []any
	if err := json.Unmarshal(wantJSON, &wantNorm); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.ScrapeConfigs, wantNorm) {
		g, _ := yaml.Marshal(got.ScrapeConfigs)
		w, _ := yaml.Marshal(wantNorm)
		t.Errorf("%s differs from what the operator generates for probes.yaml\n--- in the file:\n%s\n--- generated:\n%s", file, g, w)
	}
}

type obj = map[string]any

func operatorProbeJob(p *monitoringv1.Probe, shards int, shard string) obj {
	s := p.Spec
	labels := obj{"namespace": p.Namespace}
	for k, v := range s.Targets.StaticConfig.Labels {
		labels[k] = v
	}
	relabel := []obj{{"source_labels": []string{"job"}, "target_label": "__tmp_prometheus_job_name"}}
	if s.JobName != "" {
		relabel = append(relabel, obj{"target_label": "job", "replacement": s.JobName})
	}
	relabel = append(relabel,
		obj{"source_labels": []string{"__address__"}, "target_label": "__param_target"},
		obj{"source_labels": []string{"__param_target"}, "target_label": "instance"},
		obj{"target_label": "__address__", "replacement": s.ProberSpec.URL},
		// Sharding hashes the probed target, not the prober's address.
		obj{"source_labels": []string{"__param_target", "__tmp_hash"}, "target_label": "__tmp_hash",
			"regex": "(.+);", "replacement": "$1", "action": "replace"},
		obj{"source_labels": []string{"__tmp_hash"}, "target_label": "__tmp_hash", "modulus": shards, "action": "hashmod"},
		obj{"source_labels": []string{"__tmp_hash", "__tmp_disable_sharding"}, "regex": shard + ";|.+;.+", "action": "keep"},
	)
	job := obj{
		"job_name":         fmt.Sprintf("probe/%s/%s", p.Namespace, p.Name),
		"honor_timestamps": true,
		"metrics_path":     s.ProberSpec.Path,
		"static_configs":   []obj{{"targets": s.Targets.StaticConfig.Targets, "labels": labels}},
		"relabel_configs":  relabel,
	}
	if s.Interval != "" {
		job["scrape_interval"] = s.Interval
	}
	if s.ScrapeTimeout != "" {
		job["scrape_timeout"] = s.ScrapeTimeout
	}
	if s.Module != "" {
		job["params"] = obj{"module": []string{s.Module}}
	}
	return job
}

func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func setsJob(rcs []monitoringv1.RelabelConfig, job string) bool {
	for _, rc := range rcs {
		if rc.TargetLabel == "job" && rc.Replacement != nil && *rc.Replacement == job &&
			len(rc.SourceLabels) == 0 && (rc.Action == "" || strings.EqualFold(rc.Action, "replace")) {
			return true
		}
	}
	return false
}

// TestDashboard decodes the dashboard into the Grafana Foundation SDK's
// types with every panel plugin and data source type registered, strictly:
// an unknown field anywhere (dashboard, panel, options, field config,
// query, variable) or a value of the wrong type fails. A field the schema
// requires but the JSON leaves out is accepted: Grafana fills those in
// from the panel plugin's defaults on import, and spelling every default
// out would bury the settings that matter.
func TestDashboard(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	raw, err := os.ReadFile("../grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard.Dashboard
	if err := d.UnmarshalJSONStrict(raw); err != nil {
		var errs cog.BuildErrors
		if !errors.As(err, &errs) {
			t.Fatal(err)
		}
		for _, e := range errs {
			// The SDK has no sentinel for this case, only its message.
			if e.Message != "required field is missing from input" {
				t.Errorf("%s: %s", e.Path, e.Message)
			}
		}
	}
	// The strict decoder leaves the panels out when it reports anything,
	// missing defaults included: look at them through the lenient one.
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Panels) == 0 {
		t.Fatal("no panels")
	}
	queries := 0
	for i, pr := range d.Panels {
		panels := []dashboard.Panel{}
		switch {
		case pr.Panel != nil:
			panels = append(panels, *pr.Panel)
		case pr.RowPanel != nil:
			for _, p := range pr.RowPanel.Panels {
				panels = append(panels, p)
			}
		}
		for _, p := range panels {
			name := fmt.Sprintf("panels[%d] %q", i, ptrString(p.Title))
			if p.Options != nil {
				if _, untyped := p.Options.(map[string]any); untyped {
					t.Errorf("%s: options of panel type %q were not checked against a schema", name, p.Type)
				}
			}
			for j, q := range p.Targets {
				if _, ok := q.(*grafanaprometheus.Dataquery); !ok {
					t.Errorf("%s: targets[%d] decoded as %T, want a Prometheus query", name, j, q)
				}
				queries++
			}
		}
	}
	if queries == 0 {
		t.Error("no Prometheus query in any panel")
	}
	t.Logf("%d panels, %d queries", len(d.Panels), queries)
}

// TestDashboardStrictDecodeCatchesMistakes: a misspelt field in a panel
// must fail the decoding that TestDashboard relies on.
func TestDashboardStrictDecodeCatchesMistakes(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	raw, err := os.ReadFile("../grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(raw, []byte(`"title":`), []byte(`"titel":`), 2)
	if bytes.Equal(bad, raw) {
		t.Fatal("the dashboard has no title to misspell")
	}
	var d dashboard.Dashboard
	err = d.UnmarshalJSONStrict(bad)
	if err == nil || !strings.Contains(err.Error(), "titel") {
		t.Errorf("a misspelt field was not reported: %v", err)
	}
}

func ptrString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
