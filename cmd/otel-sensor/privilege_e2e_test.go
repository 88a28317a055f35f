package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
)

// unprivilegedUID is the user the least-privilege tests run the sensor as
// (nobody on Debian).
const unprivilegedUID = 65534

// documentedCaps returns the capabilities docs/privileges.md documents for
// a provider mode, as setpriv names them.
func documentedCaps(mode string) []string {
	switch mode {
	case "ebpf":
		return []string{"bpf", "perfmon", "sys_ptrace"}
	case "netlink":
		return []string{"net_admin", "sys_ptrace"}
	}
	return []string{"bpf", "perfmon", "sys_ptrace", "net_admin"}
}

// asUser returns the command that runs the sensor as unprivilegedUID
// holding exactly caps (inheritable, ambient and bounding sets), as a user
// would with setpriv.
func asUser(t *testing.T, bin string, caps []string, args ...string) *exec.Cmd {
	t.Helper()
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		kerneltest.Unavailable(t, "needs setpriv (util-linux): %v", err)
	}
	set := "-all"
	for _, c := range caps {
		set += ",+" + c
	}
	id := strconv.Itoa(unprivilegedUID)
	argv := append([]string{"--reuid=" + id, "--regid=" + id, "--clear-groups",
		"--inh-caps=" + set, "--ambient-caps=" + set, "--bounding-set=" + set,
		"--", bin, "run"}, args...)
	return exec.Command(setpriv, argv...)
}

// worldDir returns a new directory that the unprivileged user can enter
// and write to.
func worldDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// startUnprivileged starts cmd and waits until the sensor says it is
// running; it returns what the sensor wrote to stderr until then.
func startUnprivileged(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	t.Cleanup(func() { cmd.Process.Kill() })
	type started struct {
		running bool
		log     string
	}
	ready := make(chan started, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		var all strings.Builder
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "sensor running") {
				ready <- started{true, all.String()}
				for sc.Scan() {
				}
				return
			}
		}
		ready <- started{false, all.String()}
	}()
	select {
	case s := <-ready:
		if !s.running {
			t.Fatalf("sensor did not start:\n%s", s.log)
		}
		return s.log
	case <-time.After(30 * time.Second):
		t.Fatal("sensor not running after 30s")
	}
	return ""
}

// The sensor runs as an unprivileged user holding only the documented
// capabilities, and delivers events; each provider with its own set. For
// each capability, a run without it fails with the error naming it.
func TestLeastPrivilege(t *testing.T) {
	kerneltest.Require(t)
	bin := filepath.Join(worldDir(t), "otel-sensor")
	if err := os.Rename(buildSensor(t), bin); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	self, _ = filepath.EvalSymlinks(self)

	t.Run("missing", func(t *testing.T) { testMissingCapability(t, bin) })
	t.Run("runs", func(t *testing.T) { testRunsUnprivileged(t, bin, self) })
}

// testRunsUnprivileged: with the documented set, events arrive.
func testRunsUnprivileged(t *testing.T, bin, self string) {
	for _, tc := range []struct {
		name, provider string
		caps           []string
		want           string // the provider that runs
		log            string // in the start-up log
	}{
		{"auto with the documented set", "auto", documentedCaps("auto"), "ebpf", `reason="auto: eBPF programs loaded and attached"`},
		{"ebpf with its own", "ebpf", documentedCaps("ebpf"), "ebpf", `reason="configured: ebpf"`},
		{"netlink with its own", "netlink", documentedCaps("netlink"), "netlink", `reason="configured: netlink"`},
		{"auto with netlink's only falls back", "auto", documentedCaps("netlink"), "netlink", `missing=CAP_BPF,CAP_PERFMON`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := worldDir(t)
			file := filepath.Join(dir, "events.jsonl")
			// The health socket in a directory the sensor makes itself, as
			// systemd's RuntimeDirectory= gives it one.
			socketEnv := "OTEL_SENSOR_HEALTH__SOCKET=" + filepath.Join(dir, "run", "health.sock")
			cmd := asUser(t, bin, tc.caps, "--provider", tc.provider, "--output", file)
			cmd.Env = append(os.Environ(), socketEnv)
			var stdout bytes.Buffer
			cmd.Stdout = &stdout
			log := startUnprivileged(t, cmd)
			if !strings.Contains(log, "provider="+tc.want) || !strings.Contains(log, tc.log) {
				t.Errorf("start-up log lacks provider=%s and %s:\n%s", tc.want, tc.log, log)
			}

			// root reads the unprivileged daemon's state.
			health := exec.Command(bin, "health", "--output", "json")
			health.Env = append(os.Environ(), socketEnv)
			hout, _ := health.Output() // exit 1 lists issues; the report is what counts
			var report struct {
				DaemonRunning bool   `json:"daemon_running"`
				Provider      string `json:"provider"`
			}
			if err := json.Unmarshal(hout, &report); err != nil || !report.DaemonRunning || report.Provider != tc.want {
				t.Errorf("health as root: %v, daemon running %v, provider %q, want %q:\n%s", err, report.DaemonRunning, report.Provider, tc.want, hout)
			}

			// A child of this test process (root, started before the
			// sensor): its fork event takes the parent's executable from
			// /proc/<test>/exe, which only CAP_SYS_PTRACE lets uid 65534
			// read.
			marker := "least-privilege-" + strconv.Itoa(os.Getpid())
			// It lives 0.3 s, so that the netlink provider, which reads
			// /proc after the event, finds it.
			run := exec.Command("/bin/sh", "-c", "sleep 0.3; true", "sh", marker)
			if err := run.Run(); err != nil {
				t.Fatal(err)
			}
			stopSensor(t, cmd, syscall.SIGTERM)

			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			out := parseOutput(t, b)
			var sawExec, sawFork bool
			for i, lr := range out.records {
				if p, _ := out.res[i].Attributes().Get("sensor.provider"); p.Str() != tc.want {
					t.Fatalf("sensor.provider = %q, want %q", p.Str(), tc.want)
				}
				pid, _ := attr(lr, "process.pid")
				switch lr.EventName() {
				case "process.exec":
					args, ok := attr(lr, "process.command_args")
					if ok && args.Slice().Len() == 5 && args.Slice().At(4).Str() == marker && pid.Int() == int64(run.Process.Pid) {
						sawExec = true
					}
				case "process.fork":
					if pid.Int() == int64(run.Process.Pid) {
						sawFork = true
						if exe, _ := attr(lr, "process.executable.path"); exe.Str() != self {
							t.Errorf("fork of %d: process.executable.path = %q, want the test binary %q (read from /proc as uid %d)",
								run.Process.Pid, exe.Str(), self, unprivilegedUID)
						}
					}
				}
			}
			if !sawExec || !sawFork {
				t.Fatalf("exec of the marker seen %v, fork of its shell seen %v, among %d records", sawExec, sawFork, len(out.records))
			}
		})
	}
}

// testMissingCapability: for each documented capability, a run without it
// fails at once with exit code 1 and an error that names it.
func testMissingCapability(t *testing.T, bin string) {
	without := func(set []string, drop string) []string {
		var out []string
		for _, c := range set {
			if c != drop {
				out = append(out, c)
			}
		}
		return out
	}
	type tc struct {
		provider string
		caps     []string
		want     []string // named in the error
	}
	var cases []tc
	for _, mode := range []string{"ebpf", "netlink"} {
		for _, c := range documentedCaps(mode) {
			cases = append(cases, tc{mode, without(documentedCaps(mode), c), []string{"CAP_" + strings.ToUpper(c) + " (" + mode + ")"}})
		}
	}
	cases = append(cases,
		tc{"auto", without(documentedCaps("auto"), "sys_ptrace"), []string{"CAP_SYS_PTRACE (ebpf, netlink)"}},
		tc{"auto", nil, []string{"CAP_BPF (ebpf)", "CAP_PERFMON (ebpf)", "CAP_SYS_PTRACE (ebpf, netlink)", "CAP_NET_ADMIN (netlink)"}},
	)
	for _, c := range cases {
		held := strings.Join(c.caps, ",")
		if held == "" {
			held = "none"
		}
		t.Run(c.provider+" with "+held, func(t *testing.T) {
			cmd := asUser(t, bin, c.caps, "--provider", c.provider, "--output", filepath.Join(worldDir(t), "events.jsonl"))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("exit %v, want exit code 1; stderr:\n%s", err, stderr.String())
			}
			msg := stderr.String()
			for _, w := range c.want {
				if !strings.Contains(msg, "\n  "+w+": ") {
					t.Errorf("error does not name %s:\n%s", w, msg)
				}
			}
			if n := strings.Count(msg, "\n  CAP_"); n != len(c.want) {
				t.Errorf("error names %d capabilities, want %d:\n%s", n, len(c.want), msg)
			}
			if strings.Contains(msg, "provider selected") || strings.Contains(msg, "start ") {
				t.Errorf("the sensor tried to start a provider before failing:\n%s", msg)
			}
		})
	}
}
