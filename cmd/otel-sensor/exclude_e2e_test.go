package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
)

// An excluded program is not reported; SIGHUP with the exclusion removed
// makes it reported again without a restart; the final metrics count what
// was excluded.
func TestRunExclusionsAndSIGHUP(t *testing.T) {
	kerneltest.Require(t)
	bin := buildSensor(t)
	dir := t.TempDir()
	quiet := filepath.Join(dir, "quiet-true")
	b, _ := os.ReadFile("/bin/true")
	os.WriteFile(quiet, b, 0o755)
	cfgFile := filepath.Join(dir, "config.yaml")
	write := func(body string) {
		if err := os.WriteFile(cfgFile, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("health:\n  socket: \"\"\nexclude:\n  initiators:\n    - path: " + quiet + "\n")

	var stdout bytes.Buffer
	sensor := startSensor(t, bin, &stdout, "--config", cfgFile)
	exec.Command(quiet, "while-excluded").Run()

	write("health:\n  socket: \"\"\n")
	sensor.Process.Signal(syscall.SIGHUP)
	// The reload is asynchronous: run the program until it is reported.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		exec.Command(quiet, "after-sighup").Run()
		if bytes.Contains(stdout.Bytes(), []byte("after-sighup")) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	stopSensor(t, sensor, syscall.SIGTERM)

	out := parseOutput(t, stdout.Bytes())
	var before, after int
	for _, lr := range out.records {
		args, ok := attr(lr, "process.command_args")
		if !ok || args.Slice().Len() != 2 {
			continue
		}
		switch args.Slice().At(1).Str() {
		case "while-excluded":
			before++
		case "after-sighup":
			after++
		}
	}
	if before != 0 {
		t.Errorf("the excluded program was reported %d times", before)
	}
	if after == 0 {
		t.Error("after SIGHUP removed the exclusion, the program was still not reported")
	}
	last := out.metrics[len(out.metrics)-1].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := range last.Len() {
		m := last.At(i)
		if m.Name() != "sensor.events.excluded" {
			continue
		}
		for j := range m.Sum().DataPoints().Len() {
			dp := m.Sum().DataPoints().At(j)
			if r, _ := dp.Attributes().Get("reason"); r.Str() == "initiator" && dp.IntValue() > 0 {
				return
			}
		}
	}
	t.Error("the final metrics do not count the excluded events")
}
