package ebpf

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
	"github.com/otel-sensor/otel-sensor/internal/mounts"
)

// verifierBudget bounds the instructions the verifier may process per
// program, far below its limit (1,000,000): a change that multiplies the
// states it explores (pointers of two kinds in the path walk's loop state,
// a branch after a walk) shows here first. Measured on 6.18: handle_sys_exit
// 78,289 with direct loads, 95,603 with the read calls of older kernels,
// handle_exec 13,441 and 11,408.
const verifierBudget = 150_000

// TestVerifierComplexity loads the programs as Start does, with the
// verifier's statistics, and logs what it processed for each: with the
// direct loads this kernel allows, and with the read calls a kernel before
// 6.2 gets.
func TestVerifierComplexity(t *testing.T) {
	kerneltest.Require(t)
	if !hasDirectLoads() {
		t.Fatal("this kernel has no bpf_rdonly_cast: the direct loads are not tested")
	}
	for _, probeReads := range []bool{false, true} {
		t.Run(map[bool]string{false: "direct-loads", true: "probe-reads"}[probeReads], func(t *testing.T) {
			verifierComplexity(t, Options{ProbeReads: probeReads})
		})
	}
}

func verifierComplexity(t *testing.T, opts Options) {
	h, err := mounts.OpenHost(mounts.HostMountInfo)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	table, _ := h.Table()
	root, ok := table.TreeRoot()
	if !ok {
		t.Fatal("no host tree root")
	}
	spec, err := loadSensor()
	if err != nil {
		t.Fatal(err)
	}
	p := New(opts)
	rootID, _ := table.RootID()
	if err := p.configure(spec, uint32(root), uint32(rootID)); err != nil {
		t.Fatal(err)
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{
		Programs: ebpf.ProgramOptions{LogLevel: ebpf.LogLevelStats},
	})
	if err != nil {
		t.Fatalf("load: %+v", err)
	}
	defer coll.Close()
	re := regexp.MustCompile(`processed (\d+) insns`)
	for name, prog := range coll.Programs {
		m := re.FindStringSubmatch(prog.VerifierLog)
		if m == nil {
			t.Errorf("%s: no statistics in the verifier log: %q", name, prog.VerifierLog)
			continue
		}
		n, _ := strconv.Atoi(m[1])
		t.Logf("%s: %d instructions processed", name, n)
		if n > verifierBudget {
			t.Errorf("%s: the verifier processed %d instructions, over the budget of %d", name, n, verifierBudget)
		}
	}
}
