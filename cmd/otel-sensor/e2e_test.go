package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
)

// buildSensor builds the binary as a user would.
func buildSensor(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "otel-sensor")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// output is what the sensor wrote: every log record and the last metrics.
type output struct {
	records []plog.LogRecord
	res     []pcommon.Resource
	metrics []pmetric.Metrics
}

func parseOutput(t *testing.T, b []byte) output {
	t.Helper()
	var out output
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.HasPrefix(line, []byte(`{"resourceLogs"`)):
			ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(line)
			if err != nil {
				t.Fatalf("log line does not decode as OTLP JSON: %v", err)
			}
			for i := range ld.ResourceLogs().Len() {
				rl := ld.ResourceLogs().At(i)
				for j := range rl.ScopeLogs().Len() {
					lrs := rl.ScopeLogs().At(j).LogRecords()
					for k := range lrs.Len() {
						out.records = append(out.records, lrs.At(k))
						out.res = append(out.res, rl.Resource())
					}
				}
			}
		case bytes.HasPrefix(line, []byte(`{"resourceMetrics"`)):
			md, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(line)
			if err != nil {
				t.Fatalf("metrics line does not decode as OTLP JSON: %v", err)
			}
			out.metrics = append(out.metrics, md)
		default:
			t.Fatalf("line is neither logs nor metrics: %.200s", line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func attr(lr plog.LogRecord, key string) (pcommon.Value, bool) { return lr.Attributes().Get(key) }

// startSensor runs `otel-sensor run` with args and waits until it says it
// is running.
func startSensor(t *testing.T, bin string, stdout *bytes.Buffer, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"run"}, args...)...)
	cmd.Stdout = stdout
	pr, pw, _ := os.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	t.Cleanup(func() { cmd.Process.Kill() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		var all strings.Builder
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "sensor running") {
				ready <- ""
				for sc.Scan() {
				}
				return
			}
		}
		ready <- all.String()
	}()
	select {
	case msg := <-ready:
		if msg != "" {
			t.Fatalf("sensor did not start:\n%s", msg)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sensor not running after 30s")
	}
	return cmd
}

func stopSensor(t *testing.T, cmd *exec.Cmd, sig syscall.Signal) {
	t.Helper()
	cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sensor exited with %v after %v, want exit 0", err, sig)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("sensor did not exit within 20s of %v", sig)
	}
}

// The README's main job: no configuration, events on stdout, a command run
// in another process shows up with its path, argv, cwd, ids and parent.
func TestRunStreamsProcessEventsToStdout(t *testing.T) {
	kerneltest.Require(t)
	bin := buildSensor(t)
	var stdout bytes.Buffer
	sensor := startSensor(t, bin, &stdout)

	dir := t.TempDir()
	marker := "marker-" + strconv.Itoa(os.Getpid())
	sh := exec.Command("/bin/sh", "-c", `/bin/echo "$1" "two words" >/dev/null; exit 4`, "sh", marker)
	sh.Dir = dir
	sh.Run()
	shPID := int64(sh.Process.Pid)
	stopSensor(t, sensor, syscall.SIGTERM)

	out := parseOutput(t, stdout.Bytes())
	var execRec, exitRec plog.LogRecord
	var found, foundExit bool
	for _, lr := range out.records {
		if pid, _ := attr(lr, "process.pid"); int64(pid.Int()) == int64(sensor.Process.Pid) {
			t.Errorf("the sensor reported its own activity: %s", lr.EventName())
		}
		if ppid, _ := attr(lr, "process.parent_pid"); int64(ppid.Int()) == int64(sensor.Process.Pid) {
			t.Errorf("the sensor reported a child of its own: %s", lr.EventName())
		}
		args, ok := attr(lr, "process.command_args")
		if lr.EventName() == "process.exec" && ok && args.Slice().Len() == 3 && args.Slice().At(1).Str() == marker {
			execRec, found = lr, true
		}
		if pid, _ := attr(lr, "process.pid"); lr.EventName() == "process.exit" && pid.Int() == shPID {
			exitRec, foundExit = lr, true
		}
	}
	if !found {
		t.Fatalf("no process.exec of echo %s among %d records", marker, len(out.records))
	}
	echo, _ := filepath.EvalSymlinks("/bin/echo")
	shell, _ := filepath.EvalSymlinks("/bin/sh")
	want := map[string]any{
		"process.executable.path":               echo,
		"process.executable.name":               filepath.Base(echo),
		"process.working_directory":             dir,
		"process.parent_pid":                    shPID,
		"sensor.process.parent.executable.path": shell,
		"process.args_count":                    int64(3),
		"process.user.id":                       int64(os.Geteuid()),
		"process.real_user.id":                  int64(os.Getuid()),
	}
	for k, v := range want {
		got, ok := attr(execRec, k)
		if !ok || got.AsRaw() != v {
			t.Errorf("%s = %v (present %v), want %v", k, got.AsRaw(), ok, v)
		}
	}
	args, _ := attr(execRec, "process.command_args")
	if got := args.Slice().AsRaw(); !slices.Equal(got, []any{"/bin/echo", marker, "two words"}) {
		t.Errorf("command_args = %v", got)
	}
	if execRec.SeverityNumber() != plog.SeverityNumberInfo || execRec.Timestamp() == 0 || execRec.ObservedTimestamp() < execRec.Timestamp() {
		t.Errorf("severity %v timestamp %v observed %v", execRec.SeverityNumber(), execRec.Timestamp(), execRec.ObservedTimestamp())
	}
	if d := time.Since(execRec.Timestamp().AsTime()); d < 0 || d > time.Minute {
		t.Errorf("timestamp %v is %v from now", execRec.Timestamp().AsTime(), d)
	}
	if !foundExit {
		t.Fatalf("no process.exit of the shell %d", shPID)
	}
	if code, _ := attr(exitRec, "process.exit.code"); code.Int() != 4 {
		t.Errorf("exit code %v, want 4", code.AsRaw())
	}

	res := out.res[0].Attributes()
	for _, k := range []string{"service.name", "service.version", "service.instance.id", "host.name", "host.arch", "os.type", "os.version", "sensor.provider"} {
		if _, ok := res.Get(k); !ok {
			t.Errorf("resource lacks %s", k)
		}
	}
	if p, _ := res.Get("sensor.provider"); p.Str() != "ebpf" {
		t.Errorf("sensor.provider = %q", p.Str())
	}

	// The final metrics at shutdown carry the drop counter and the events.
	if len(out.metrics) == 0 {
		t.Fatal("no metrics line at shutdown")
	}
	names := map[string]bool{}
	last := out.metrics[len(out.metrics)-1]
	ms := last.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := range ms.Len() {
		names[ms.At(i).Name()] = true
	}
	for _, n := range []string{"sensor.events", "sensor.events.dropped", "sensor.provider.status"} {
		if !names[n] {
			t.Errorf("final metrics lack %s (have %v)", n, names)
		}
	}
}

// --output writes the same stream to a file; SIGINT stops it cleanly too.
func TestRunOutputFile(t *testing.T) {
	kerneltest.Require(t)
	bin := buildSensor(t)
	file := filepath.Join(t.TempDir(), "events.jsonl")
	var stdout bytes.Buffer
	sensor := startSensor(t, bin, &stdout, "--output", file)
	cmd := exec.Command("/bin/true", "output-file-marker")
	cmd.Run()
	stopSensor(t, sensor, syscall.SIGINT)
	if stdout.Len() != 0 {
		t.Errorf("stdout has %d bytes with --output", stdout.Len())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	out := parseOutput(t, b)
	for _, lr := range out.records {
		if a, ok := attr(lr, "process.command_args"); ok && a.Slice().Len() == 2 && a.Slice().At(1).Str() == "output-file-marker" {
			return
		}
	}
	t.Fatalf("no exec of the marker among %d records in %s", len(out.records), file)
}

func TestUsageAndConfigErrorsExit2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"frobnicate"}, nil, "unknown command"},
		{[]string{"run", "--no-such-flag"}, nil, "--no-such-flag"},
		{[]string{"run", "--provider", "kprobe"}, nil, `"provider"`},
		{[]string{"run", "--config", "/nonexistent/otel-sensor.yaml"}, nil, "/nonexistent/otel-sensor.yaml"},
		{[]string{"run"}, []string{"OTEL_SENSOR_EXPORT__QUEUE_SIZE=many"}, "OTEL_SENSOR_EXPORT__QUEUE_SIZE"},
		{[]string{"version", "extra"}, nil, "extra"},
		{[]string{"run"}, []string{"OTEL_SENSOR_LOG__LEVEL=loud"}, `config key "log.level" (effective configuration; value from environment variable OTEL_SENSOR_LOG__LEVEL)`},
		{[]string{"run"}, []string{"OTEL_SENSOR_LOG__OUTPUT=/nonexistent/dir/sensor.log"}, `config key "log.output" (environment variable OTEL_SENSOR_LOG__OUTPUT): open /nonexistent/dir/sensor.log`},
		{[]string{"diagnostic", "stats", "extra"}, nil, "extra"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			for _, e := range tc.env {
				k, v, _ := strings.Cut(e, "=")
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := execute(context.Background(), tc.args, &stdout, &stderr)
			if code != 2 {
				t.Fatalf("exit %d, want 2 (stderr %q)", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("stderr %q does not name %s", stderr.String(), tc.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := execute(context.Background(), []string{"version"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "otel-sensor ") {
		t.Fatalf("version output %q", stdout.String())
	}
}

// With eBPF switched off, the netlink provider still delivers process
// events, and says it is the one delivering them.
func TestRunNetlinkProvider(t *testing.T) {
	kerneltest.Require(t)
	bin := buildSensor(t)
	var stdout bytes.Buffer
	sensor := startSensor(t, bin, &stdout, "--provider", "netlink")
	// sleep adds up its arguments: a tiny unique duration is the marker,
	// and the process lives long enough for netlink to read /proc.
	marker := "0.0000" + strconv.Itoa(os.Getpid())
	sleep := exec.Command("/bin/sleep", "0.3", marker)
	sleep.Run()
	stopSensor(t, sensor, syscall.SIGTERM)

	out := parseOutput(t, stdout.Bytes())
	sleepPath, _ := filepath.EvalSymlinks("/bin/sleep")
	for i, lr := range out.records {
		args, ok := attr(lr, "process.command_args")
		if lr.EventName() != "process.exec" || !ok || args.Slice().Len() != 3 || args.Slice().At(2).Str() != marker {
			continue
		}
		if p, _ := out.res[i].Attributes().Get("sensor.provider"); p.Str() != "netlink" {
			t.Errorf("sensor.provider = %q, want netlink", p.Str())
		}
		if exe, _ := attr(lr, "process.executable.path"); exe.Str() != sleepPath {
			t.Errorf("executable = %q, want %q", exe.Str(), sleepPath)
		}
		if pid, _ := attr(lr, "process.pid"); pid.Int() != int64(sleep.Process.Pid) {
			t.Errorf("pid = %d, want %d", pid.Int(), sleep.Process.Pid)
		}
		return
	}
	t.Fatalf("no process.exec of sleep %s among %d records", marker, len(out.records))
}
