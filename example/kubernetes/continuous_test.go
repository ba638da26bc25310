package kubernetes

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// podIndexField is the downward API path of a StatefulSet pod's ordinal
// (the label Kubernetes >= 1.28 sets on each pod).
const podIndexField = "metadata.labels['apps.kubernetes.io/pod-index']"

// shardArg is --continuous.shard=$(VAR)/N, VAR expanded by Kubernetes.
var shardArg = regexp.MustCompile(`^--continuous\.shard=\$\(([A-Z_][A-Z0-9_]*)\)/([0-9]+)$`)

// TestContinuousStatefulSet checks continuous/: a StatefulSet whose pod I
// of N runs with --continuous.shard=I/N, so that the pods split the
// ConfigMap's targets, each exactly once.
func TestContinuousStatefulSet(t *testing.T) {
	m := loadManifestsIn(t, "continuous")
	for what, n := range map[string]int{
		"ConfigMap": len(m.configMaps), "StatefulSet": len(m.statefulSets), "Service": len(m.services),
		"ServiceMonitor": len(m.serviceMonitors), "NetworkPolicy": len(m.networkPolicies),
	} {
		if n != 1 {
			t.Fatalf("continuous/: want one %s, got %d", what, n)
		}
	}
	cm, sts, svc := m.configMaps[0], m.statefulSets[0], m.services[0]
	pod := sts.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	podLabels := sts.Spec.Template.Labels

	t.Run("pod I of N runs with --continuous.shard=I/N", func(t *testing.T) {
		var shard []string
		for _, a := range c.Args {
			if strings.HasPrefix(a, "--continuous.shard=") {
				shard = shardArg.FindStringSubmatch(a)
				if shard == nil {
					t.Fatalf("%s: want --continuous.shard=$(VAR)/N", a)
				}
			}
		}
		if shard == nil {
			t.Fatal("no --continuous.shard: every pod would check every target")
		}
		replicas := "unset (1)"
		if sts.Spec.Replicas != nil {
			replicas = fmt.Sprint(*sts.Spec.Replicas)
		}
		if replicas != shard[2] {
			t.Errorf("replicas %s but --continuous.shard=.../%s: some shards would be checked twice or never", replicas, shard[2])
		}
		i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == shard[1] })
		if i < 0 {
			t.Fatalf("$(%s) is not an env variable of the container: Kubernetes would pass it literally", shard[1])
		}
		if from := c.Env[i].ValueFrom; from == nil || from.FieldRef == nil || from.FieldRef.FieldPath != podIndexField {
			t.Errorf("%s does not come from %s: %+v", shard[1], podIndexField, c.Env[i])
		}
	})

	t.Run("the ConfigMap is mounted where --config.file points and has continuous targets", func(t *testing.T) {
		var file string
		for _, a := range c.Args {
			if v, ok := strings.CutPrefix(a, "--config.file="); ok {
				file = v
			}
		}
		mounted := slices.ContainsFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool {
			return slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool {
				return v.Name == vm.Name && v.ConfigMap != nil && v.ConfigMap.Name == cm.Name &&
					file == filepath.Join(vm.MountPath, "config.yml")
			})
		})
		if !mounted {
			t.Errorf("--config.file=%s is not config.yml of ConfigMap %s", file, cm.Name)
		}
		var cfg struct {
			Continuous []struct {
				Targets []string `json:"targets"`
				Files   []string `json:"files"`
			} `json:"continuous"`
		}
		if err := yaml.Unmarshal([]byte(cm.Data["config.yml"]), &cfg); err != nil {
			t.Fatalf("config.yml: %v", err)
		}
		if len(cfg.Continuous) == 0 || len(cfg.Continuous[0].Targets)+len(cfg.Continuous[0].Files) == 0 {
			t.Error("config.yml has no continuous targets to split")
		}
	})

	t.Run("unprivileged, no CPU limit", func(t *testing.T) {
		if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
			t.Error("pod securityContext.runAsNonRoot is not true")
		}
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			t.Errorf("container securityContext is not read-only, no escalation, drop [ALL]: %+v", sc)
		}
		if _, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
			t.Error("a CPU limit throttles the exporter and can break the half-open guarantee (docs/caveats.md)")
		}
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			t.Error("no memory limit")
		}
	})

	t.Run("headless service, scraped as job synack_exporter, not behind the /probe Service", func(t *testing.T) {
		if sts.Spec.ServiceName != svc.Name || svc.Spec.ClusterIP != corev1.ClusterIPNone {
			t.Errorf("serviceName %q, service %q with clusterIP %q: want the headless service", sts.Spec.ServiceName, svc.Name, svc.Spec.ClusterIP)
		}
		if !subset(svc.Spec.Selector, podLabels) || !subset(sts.Spec.Selector.MatchLabels, podLabels) {
			t.Errorf("selectors %v / %v do not match pod labels %v", svc.Spec.Selector, sts.Spec.Selector.MatchLabels, podLabels)
		}
		sm := m.serviceMonitors[0]
		if !subset(sm.Spec.Selector.MatchLabels, svc.Labels) || !setsJob(sm.Spec.Endpoints[0].RelabelConfigs, "synack_exporter") {
			t.Errorf("ServiceMonitor does not scrape %s as job synack_exporter", svc.Name)
		}
		if np := m.networkPolicies[0]; !subset(np.Spec.PodSelector.MatchLabels, podLabels) {
			t.Errorf("NetworkPolicy selects %v, not the pods %v", np.Spec.PodSelector.MatchLabels, podLabels)
		}
		// The /probe Service sends any module name to its pods; these
		// have the continuous ConfigMap's modules only.
		probe := loadManifests(t).services[0]
		if subset(probe.Spec.Selector, podLabels) {
			t.Errorf("the /probe Service %s (selector %v) also selects the continuous pods", probe.Name, probe.Spec.Selector)
		}
	})
}
