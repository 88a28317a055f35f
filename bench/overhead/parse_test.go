package main

import (
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These tests check the harness's parsers and arithmetic; they time nothing.

func TestParseStatus(t *testing.T) {
	in := "Name:\totel-sensor\nVmPeak:\t 1300000 kB\nVmHWM:\t   27136 kB\nVmRSS:\t   24200 kB\nThreads:\t8\n"
	st, err := parseStatus([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if st.HWMKiB != 27136 || st.RSSKiB != 24200 {
		t.Errorf("got %+v, want HWM 27136 RSS 24200", st)
	}
	if _, err := parseStatus([]byte("Name:\tx\n")); err == nil {
		t.Error("status without VmRSS/VmHWM: want an error")
	}
}

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and parentheses; utime 150, stime 50 ticks.
	in := "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 8 0 100 0 0\n"
	got, err := parseStatCPU([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * time.Second; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if _, err := parseStatCPU([]byte("1234 (x) S 1")); err == nil {
		t.Error("short stat: want an error")
	}
}

func TestParseAuditStatus(t *testing.T) {
	in := "enabled 1\nfailure 1\npid 4242\nrate_limit 0\nbacklog_limit 8192\nlost 7\nbacklog 3\nbacklog_wait_time 15000\n"
	st, err := parseAuditStatus([]byte(in + "backlog_wait_time_actual 12\nloginuid_immutable 0 unlocked\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (auditStatus{Enabled: 1, PID: 4242, BacklogLimit: 8192, Lost: 7, Backlog: 3, BacklogWaitActual: 12}); st != want {
		t.Errorf("got %+v, want %+v", st, want)
	}
	// Kernels before 5.9 do not report backlog_wait_time_actual.
	st, err = parseAuditStatus([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if st.BacklogWaitActual != -1 {
		t.Errorf("backlog_wait_time_actual absent: got %d, want -1", st.BacklogWaitActual)
	}
	if _, err := parseAuditStatus([]byte("enabled 1\n")); err == nil {
		t.Error("incomplete status: want an error")
	}
}

func TestParseSmaps(t *testing.T) {
	in := `00400000-00ea0000 r-xp 00000000 fe:00 123 /usr/bin/otel-sensor
Size:              10880 kB
Rss:                6000 kB
00ea0000-01a00000 r--p 00aa0000 fe:00 123 /usr/bin/otel-sensor
Rss:                3000 kB
7f0000000000-7f0000400000 r--s 00000000 00:0e 55 anon_inode:bpf-map
Rss:                4100 kB
7f0000400000-7f0000800000 r--s 00000000 00:0e 55 anon_inode:bpf-map
Rss:                4096 kB
c000000000-c004000000 rw-p 00000000 00:00 0
Rss:                7000 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
Rss:                  20 kB
`
	got := parseSmaps([]byte(in), "/usr/bin/otel-sensor")
	if want := (rssBreakdown{ExeKiB: 9000, BPFKiB: 8196, AnonKiB: 7020}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestCountOutput(t *testing.T) {
	exec := func(ppid, name string) string {
		return `{"eventName":"process.exec","attributes":[` +
			`{"key":"process.parent_pid","value":{"intValue":"` + ppid + `"}},` +
			`{"key":"process.executable.name","value":{"stringValue":"` + name + `"}}]}`
	}
	logs := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[` +
		exec("100", "true") + "," + exec("100", "true") + "," + exec("7", "true") + "," + exec("100", "sh") + "," +
		`{"eventName":"process.fork","attributes":[{"key":"process.parent_pid","value":{"intValue":"100"}}]}` +
		`]}]}]}`
	drops := func(v string) string {
		return `{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"sensor.events.dropped","sum":{"dataPoints":[` +
			`{"attributes":[{"key":"stage","value":{"stringValue":"kernel"}},{"key":"reason","value":{"stringValue":"ringbuf_full"}},{"key":"event.name","value":{"stringValue":"process.exec"}}],"asInt":"` + v + `"},` +
			`{"attributes":[{"key":"stage","value":{"stringValue":"queue"}},{"key":"reason","value":{"stringValue":"queue_full"}}],"asInt":"0"}` +
			`]}}]}]}]}`
	}
	// Cumulative counters: the last line's value counts, not the sum.
	in := logs + "\n" + drops("2") + "\n" + logs + "\n" + drops("5") + "\n"
	w := testForkExec(t)
	c, err := countOutput(strings.NewReader(in), w, 100)
	if err != nil {
		t.Fatal(err)
	}
	if c.Exported != 4 || c.EventRecords != 8 || c.Dropped != 5 {
		t.Errorf("got %+v, want 4 exported, 8 exec records, 5 dropped", c)
	}
	if want := []string{"kernel/ringbuf_full/process.exec=5"}; !slices.Equal(c.DropSeries, want) {
		t.Errorf("drop series %q, want %q", c.DropSeries, want)
	}
	if _, err := countOutput(strings.NewReader(logs+"\n{\"resourceLogs\":"), w, 100); err == nil {
		t.Error("truncated JSON: want an error")
	}
}

// The netlink provider reads an exec's program from /proc after the event;
// when the child is gone by then the record has no executable and lists it
// in sensor.incomplete. Such a record of the worker's child is the loop's,
// and is counted as such.
func TestCountOutputIncomplete(t *testing.T) {
	num := func(k, v string) string { return `{"key":"` + k + `","value":{"intValue":"` + v + `"}}` }
	str := func(k, v string) string { return `{"key":"` + k + `","value":{"stringValue":"` + v + `"}}` }
	incomplete := func(names ...string) string {
		var vs []string
		for _, n := range names {
			vs = append(vs, `{"stringValue":"`+n+`"}`)
		}
		return `{"key":"sensor.incomplete","value":{"arrayValue":{"values":[` + strings.Join(vs, ",") + `]}}}`
	}
	rec := func(attrs ...string) string {
		return `{"eventName":"process.exec","attributes":[` + strings.Join(attrs, ",") + `]}`
	}
	in := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[` + strings.Join([]string{
		rec(num("process.parent_pid", "100"), str("process.executable.path", "/usr/bin/true")),
		rec(num("process.parent_pid", "100"), str("process.executable.path", "/usr/bin/true"), incomplete("process.working_directory")),
		rec(num("process.parent_pid", "100"), incomplete("process.executable.path", "sensor.process.comm", "process.command_args")),
		rec(num("process.parent_pid", "100"), incomplete("process.executable.path", "sensor.process.comm")),
		rec(num("process.parent_pid", "100")),                                                // no executable, not listed: not the loop's
		rec(num("process.parent_pid", "7"), incomplete("process.executable.path")),           // another parent
		rec(num("process.parent_pid", "100"), str("process.executable.path", "/usr/bin/sh")), // another program
	}, ",") + `]}]}]}` + "\n"
	c, err := countOutput(strings.NewReader(in), testForkExec(t), 100)
	if err != nil {
		t.Fatal(err)
	}
	if c.Exported != 4 || c.EventRecords != 7 || c.Incomplete != 3 {
		t.Errorf("got %+v, want 4 exported (3 with sensor.incomplete) of 7 records", c)
	}
	want := map[string]int{"process.executable.path": 2, "sensor.process.comm": 2, "process.command_args": 1, "process.working_directory": 1}
	if !reflect.DeepEqual(c.IncompleteAttrs, want) {
		t.Errorf("incomplete attributes %v, want %v", c.IncompleteAttrs, want)
	}
	if got, want := countList(c.IncompleteAttrs), "process.executable.path: 2, sensor.process.comm: 2, process.command_args: 1, process.working_directory: 1"; got != want {
		t.Errorf("countList %q, want %q", got, want)
	}
}

func TestLogValue(t *testing.T) {
	line := `time=2026-11-27T20:20:32.862Z level=INFO msg="sensor running" provider=netlink version=b3e00ed events=/dev/null`
	if got := logValue(line, "provider"); got != "netlink" {
		t.Errorf("provider %q, want netlink", got)
	}
	if got := logValue(`level=INFO msg="sensor running" provider="ebpf"`, "provider"); got != "ebpf" {
		t.Errorf("quoted provider %q, want ebpf", got)
	}
	if got := logValue(line, "reason"); got != "" {
		t.Errorf("absent key: got %q", got)
	}
}

// Only the fork+exec loop makes events the netlink provider reports.
func TestProcessEventWorkloads(t *testing.T) {
	for _, name := range workloadNames {
		w, err := newWorkload(name, workloadEnv{dir: "/tmp/b/work", exe: "/bin/true"})
		if err != nil {
			t.Fatal(err)
		}
		if w.processEvents != (name == "forkexec") {
			t.Errorf("%s: processEvents %v", name, w.processEvents)
		}
	}
	if !sensorModes["sensor-netlink"].processOnly || !slices.Contains(sensorModes["sensor-netlink"].overrides, "OTEL_SENSOR_PROVIDER=netlink") {
		t.Errorf("sensor-netlink: %+v", sensorModes["sensor-netlink"])
	}
}

// testForkExec is the forkexec workload execing /bin/true.
func testForkExec(t *testing.T) *workload {
	t.Helper()
	w, err := newForkExec(workloadEnv{exe: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestCountAuditExecs(t *testing.T) {
	serial := 455
	rec := func(sys, success, ppid, exe string) string {
		serial++
		return `type=SYSCALL msg=audit(1764264000.123:` + strconv.Itoa(serial) + `): arch=c000003e syscall=` + sys + ` success=` + success +
			` exit=0 a0=1 a1=2 a2=3 a3=4 items=2 ppid=` + ppid + ` pid=999 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="true" exe="` + exe +
			`" subj=unconfined key=(null)` + "\x1d" + `ARCH=x86_64 SYSCALL=execve AUID="root" UID="root"`
	}
	in := strings.Join([]string{
		rec("59", "yes", "100", "/usr/bin/true"),
		rec("322", "yes", "100", "/usr/bin/true"),
		`type=EXECVE msg=audit(1764264000.123:456): argc=1 a0="true"`,
		rec("59", "no", "100", "/usr/bin/true"),
		rec("59", "yes", "1000", "/usr/bin/true"),
		rec("59", "yes", "100", "/usr/bin/sh"),
		rec("2", "yes", "100", "/usr/bin/true"),
	}, "\n")
	w := testForkExec(t)
	n, err := countAudit(strings.NewReader(in), func(r auditRecord) bool { return w.matchAudit(r, 100) })
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("counted %d, want 2", n)
	}
}

func TestRatiosArePairwise(t *testing.T) {
	r := newResults(&workload{perIter: 1}, []string{"baseline", "sensor"}, 3, 1000, 0)
	for i, b := range []float64{1.0, 2.0, 1.0} {
		r.add(&roundResult{Round: i, Mode: "baseline", Elapsed: time.Duration(b * float64(time.Second))})
	}
	// Round 1 is slow for both: the pair's ratio stays 1.05.
	for i, s := range []float64{1.05, 2.1, 1.2} {
		r.add(&roundResult{Round: i, Mode: "sensor", Elapsed: time.Duration(s * float64(time.Second))})
	}
	if got := median(r.ratios("sensor")); math.Abs(got-1.05) > 1e-9 {
		t.Errorf("median ratio %v, want 1.05", got)
	}
	if got := median([]float64{3, 1, 2, 4}); got != 2.5 {
		t.Errorf("median of an even count %v, want 2.5", got)
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing: want NaN")
	}
}

func TestForeignBPFRoundsAreSetAside(t *testing.T) {
	r := newResults(&workload{perIter: 1}, []string{"baseline", "sensor", "sensor-netlink"}, 3, 1000, 0)
	sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	// 2 programs idle, the sensor adds 5, the netlink sensor none; in
	// round 2 another user loaded 5 more while the baseline ran, which
	// made that baseline slow.
	for i, v := range []struct {
		base, sensor float64
		baseProgs    int
	}{{1.0, 1.05, 2}, {1.2, 1.05, 7}, {1.0, 1.07, 2}} {
		r.add(&roundResult{Round: i, Mode: "baseline", Elapsed: sec(v.base), BPFPrograms: v.baseProgs})
		r.add(&roundResult{Round: i, Mode: "sensor", Elapsed: sec(v.sensor), BPFPrograms: 7})
		r.add(&roundResult{Round: i, Mode: "sensor-netlink", Elapsed: sec(v.sensor), BPFPrograms: 2})
	}
	b, ok := r.bpfPrograms()
	if !ok || b.idle != 2 || b.own != 5 {
		t.Fatalf("got idle %d own %d (ok %v), want 2 and 5 (the eBPF sensor's, whatever the netlink mode's)", b.idle, b.own, ok)
	}
	if got := b.foreign["baseline"]; len(got) != 1 || got[1] != 5 {
		t.Errorf("foreign baseline rounds %v, want round index 1 with +5", got)
	}
	if len(b.foreign["sensor"]) != 0 || len(b.foreign["sensor-netlink"]) != 0 {
		t.Errorf("foreign sensor rounds %v, netlink %v, want none", b.foreign["sensor"], b.foreign["sensor-netlink"])
	}
	if got := median(r.cleanRatios("sensor", b)); math.Abs(got-1.06) > 1e-9 {
		t.Errorf("clean median ratio %v, want 1.06", got)
	}
}

func TestParseAuditSyscall(t *testing.T) {
	line := `type=SYSCALL msg=audit(1764264000.123:456): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c items=2 ppid=10 pid=20 auid=0 comm="overhead" exe="/tmp/go-build/exe/overhead" key=(null)` +
		"\x1d" + `ARCH=x86_64 SYSCALL=openat pid=99`
	got, ok := parseAuditSyscall(line)
	if want := (auditRecord{Syscall: 257, Success: true, PID: 20, PPID: 10, Exe: "/tmp/go-build/exe/overhead"}); !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v (ok %v), want %+v", got, ok, want)
	}
	if _, ok := parseAuditSyscall(`type=PATH msg=audit(1764264000.123:456): item=0 name="/tmp/x"`); ok {
		t.Error("a PATH record parsed as SYSCALL")
	}
}

func TestWorkloadRecords(t *testing.T) {
	str := func(k, v string) string { return `{"key":"` + k + `","value":{"stringValue":"` + v + `"}}` }
	num := func(k, v string) string { return `{"key":"` + k + `","value":{"intValue":"` + v + `"}}` }
	rec := func(event string, attrs ...string) string {
		return `{"eventName":"` + event + `","attributes":[` + strings.Join(attrs, ",") + `]}`
	}
	line := func(recs ...string) string {
		return `{"resourceLogs":[{"scopeLogs":[{"logRecords":[` + strings.Join(recs, ",") + `]}]}]}` + "\n"
	}
	env := workloadEnv{dir: "/tmp/b/work"}
	for _, tc := range []struct {
		workload          string
		in                string
		exported, records int
		failed            map[string]int
	}{
		{"openclose", line(
			rec("file.open", num("process.pid", "42"), str("file.path", "/tmp/b/work/f")),
			rec("file.open", num("process.pid", "42"), str("file.path", "/proc/42/status")),  // not the loop's
			rec("file.open", num("process.pid", "7"), str("file.path", "/tmp/b/work/f")),     // another process
			rec("file.rename", num("process.pid", "42"), str("file.path", "/tmp/b/work/f"))), // another event
			1, 3, nil},
		{"rename", line(
			rec("file.rename", num("process.pid", "42"), str("file.path", "/tmp/b/work/b")),
			rec("file.rename", num("process.pid", "42"), str("file.path", "/tmp/b/workshop/b"))),
			1, 2, nil},
		{"connect", line(
			rec("network.connect", num("process.pid", "42"), str("network.transport", "tcp"), str("network.peer.address", "127.0.0.1")),
			rec("network.accept", num("process.pid", "42"), str("network.transport", "tcp"), str("network.local.address", "127.0.0.1")),
			rec("network.connect", num("process.pid", "42"), str("network.transport", "tcp"), str("network.peer.address", "127.0.0.1"), str("error.type", "512")),
			rec("network.bind", num("process.pid", "42"), str("network.transport", "tcp"), str("network.local.address", "127.0.0.1"))),
			2, 3, map[string]int{"network.connect 512": 1}},
	} {
		w, err := newWorkload(tc.workload, env)
		if err != nil {
			t.Fatal(err)
		}
		c, err := countOutput(strings.NewReader(tc.in), w, 42)
		if err != nil {
			t.Fatal(err)
		}
		if c.Exported != tc.exported || c.EventRecords != tc.records || len(c.Failed) != len(tc.failed) {
			t.Errorf("%s: got %+v, want %d exported of %d records, failed %v", tc.workload, c, tc.exported, tc.records, tc.failed)
		}
		for k, v := range tc.failed {
			if c.Failed[k] != v {
				t.Errorf("%s: failed[%q] = %d, want %d", tc.workload, k, c.Failed[k], v)
			}
		}
	}
}

func TestAuditMatch(t *testing.T) {
	env := workloadEnv{dir: "/tmp/b/work"}
	for _, tc := range []struct {
		workload string
		rec      auditRecord
		want     bool
	}{
		{"openclose", auditRecord{Syscall: sysOpenat, Success: true, PID: 42, Paths: []string{"/tmp/b/work/", "/tmp/b/work/f"}}, true},
		{"openclose", auditRecord{Syscall: sysOpenat, Success: true, PID: 42, Paths: []string{"/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"}}, false},
		{"openclose", auditRecord{Syscall: sysOpenat, Success: true, PID: 43, Paths: []string{"/tmp/b/work/f"}}, false},
		{"openclose", auditRecord{Syscall: sysOpenat, Success: false, PID: 42, Paths: []string{"/tmp/b/work/f"}}, false},
		{"openclose", auditRecord{Syscall: sysRenameat, Success: true, PID: 42, Paths: []string{"/tmp/b/work/f"}}, false},
		{"rename", auditRecord{Syscall: sysRenameat, Success: true, PID: 42, Paths: []string{"/tmp/b/work/a", "/tmp/b/work/b"}}, true},
		{"connect", auditRecord{Syscall: sysConnect, Success: true, PID: 42}, true},
		{"connect", auditRecord{Syscall: sysAccept4, Success: true, PID: 42}, true},
		{"connect", auditRecord{Syscall: 49 /* bind */, Success: true, PID: 42}, false},
	} {
		w, err := newWorkload(tc.workload, env)
		if err != nil {
			t.Fatal(err)
		}
		if got := w.matchAudit(tc.rec, 42); got != tc.want {
			t.Errorf("%s %+v: got %v, want %v", tc.workload, tc.rec, got, tc.want)
		}
	}
	w, _ := newWorkload("openclose", env)
	if got, want := strings.Join(auditRule(w), " "), "-a always,exit -F arch=b64 -S creat -S open -S openat -S openat2"; got != want {
		t.Errorf("rule %q, want %q", got, want)
	}
}

func TestSensorEnviron(t *testing.T) {
	base := []string{"PATH=/bin", "OTEL_SENSOR_FILE__OPENS=writes"}
	got := sensorEnviron(base, fileEventsEnv, nil)
	if want := []string{"PATH=/bin", "OTEL_SENSOR_FILE__OPENS=writes", "OTEL_SENSOR_FILE__FAILED=true"}; !slices.Equal(got, want) {
		t.Errorf("the harness's own setting must win: got %q, want %q", got, want)
	}
	got = sensorEnviron(base, fileEventsEnv, []string{"OTEL_SENSOR_FILE__OPENS=none"})
	if want := []string{"PATH=/bin", "OTEL_SENSOR_FILE__OPENS=none", "OTEL_SENSOR_FILE__FAILED=true"}; !slices.Equal(got, want) {
		t.Errorf("a mode's override must win: got %q, want %q", got, want)
	}
	if got, want := sensorSettings(got), []string{"OTEL_SENSOR_FILE__FAILED=true", "OTEL_SENSOR_FILE__OPENS=none"}; !slices.Equal(got, want) {
		t.Errorf("settings %q, want %q", got, want)
	}
	if len(base) != 2 || base[1] != "OTEL_SENSOR_FILE__OPENS=writes" {
		t.Errorf("base changed: %q", base)
	}
}

func TestVerdictNeedsEveryRecord(t *testing.T) {
	w := &workload{title: "open+close", target: 1.25, perIter: 1}
	for _, tc := range []struct {
		exported int
		want     string
	}{
		{1000, "sensor/baseline 1.100 (target ≤ 1.25): MET"},
		{990, "NOT MET (the time is within the target, but 10 of the worker's 1000 records were not exported)"},
		{1001, "NOT MET (the time is within the target, but more records were counted than expected"},
	} {
		r := newResults(w, []string{"baseline", "sensor"}, 1, 900, 100)
		r.add(&roundResult{Mode: "baseline", Elapsed: time.Second})
		r.add(&roundResult{Mode: "sensor", Elapsed: 1100 * time.Millisecond, Sensor: &sensorRound{Counted: true, Exported: tc.exported}})
		if got := r.verdict(); !strings.Contains(got, tc.want) {
			t.Errorf("exported %d: verdict %q, want it to contain %q", tc.exported, got, tc.want)
		}
	}
	// The netlink mode is reported beside the target, for comparison.
	r := newResults(w, []string{"baseline", "sensor", "sensor-netlink"}, 1, 900, 100)
	r.add(&roundResult{Mode: "baseline", Elapsed: time.Second})
	r.add(&roundResult{Mode: "sensor", Elapsed: 1100 * time.Millisecond, Sensor: &sensorRound{Counted: true, Exported: 1000}})
	r.add(&roundResult{Mode: "sensor-netlink", Elapsed: 1300 * time.Millisecond, Sensor: &sensorRound{Counted: true, Exported: 1000, Incomplete: 120}})
	want := "sensor/baseline 1.100 (target ≤ 1.25): MET; exported 1000/1000; sensor-netlink/baseline 1.300 (comparison), exported 1000/1000, 120 of them with sensor.incomplete"
	if got := r.verdict(); !strings.Contains(got, want) {
		t.Errorf("verdict %q, want it to contain %q", got, want)
	}
}

func TestCountAuditJoinsPathRecords(t *testing.T) {
	// Two events of pid 42: an open of the workload's file (its PATH
	// records name it, one hex-encoded) and one of the Go runtime's.
	in := strings.Join([]string{
		`type=SYSCALL msg=audit(1764264000.100:7): arch=c000003e syscall=257 success=yes exit=3 ppid=1 pid=42 comm="w" exe="/w"`,
		`type=CWD msg=audit(1764264000.100:7): cwd="/"`,
		`type=PATH msg=audit(1764264000.100:7): item=0 name=2F746D702F622F776F726B2F inode=1 nametype=PARENT`,
		`type=PATH msg=audit(1764264000.100:7): item=1 name="/tmp/b/work/f" inode=2 nametype=NORMAL`,
		`type=EOE msg=audit(1764264000.100:7):`,
		`type=SYSCALL msg=audit(1764264000.100:8): arch=c000003e syscall=257 success=yes exit=3 ppid=1 pid=42 comm="w" exe="/w"`,
		`type=PATH msg=audit(1764264000.100:8): item=0 name="/sys/kernel/mm/transparent_hugepage/hpage_pmd_size" nametype=NORMAL`,
	}, "\n")
	w, err := newWorkload("openclose", workloadEnv{dir: "/tmp/b/work"})
	if err != nil {
		t.Fatal(err)
	}
	var paths [][]string
	n, err := countAudit(strings.NewReader(in), func(r auditRecord) bool {
		paths = append(paths, r.Paths)
		return w.matchAudit(r, 42)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("counted %d, want 1 (paths seen: %q)", n, paths)
	}
	if want := []string{"/tmp/b/work/", "/tmp/b/work/f"}; len(paths) == 0 || !slices.Equal(paths[0], want) {
		t.Errorf("paths of the first event %q, want %q", paths, want)
	}
}
