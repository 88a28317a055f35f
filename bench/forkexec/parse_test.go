package main

import (
	"math"
	"slices"
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
	in := "enabled 1\nfailure 1\npid 4242\nrate_limit 0\nbacklog_limit 8192\nlost 7\nbacklog 0\nbacklog_wait_time 15000\n"
	st, err := parseAuditStatus([]byte(in + "backlog_wait_time_actual 12\nloginuid_immutable 0 unlocked\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (auditStatus{Enabled: 1, PID: 4242, BacklogLimit: 8192, Lost: 7, BacklogWaitActual: 12}); st != want {
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
	c, err := countOutput(strings.NewReader(in), 100, "true")
	if err != nil {
		t.Fatal(err)
	}
	if c.Exported != 4 || c.ExecRecords != 8 || c.Dropped != 5 {
		t.Errorf("got %+v, want 4 exported, 8 exec records, 5 dropped", c)
	}
	if want := []string{"kernel/ringbuf_full/process.exec=5"}; !slices.Equal(c.DropSeries, want) {
		t.Errorf("drop series %q, want %q", c.DropSeries, want)
	}
	if _, err := countOutput(strings.NewReader(logs+"\n{\"resourceLogs\":"), 100, "true"); err == nil {
		t.Error("truncated JSON: want an error")
	}
}

func TestCountAuditExecs(t *testing.T) {
	rec := func(sys, success, ppid, exe string) string {
		return `type=SYSCALL msg=audit(1764264000.123:456): arch=c000003e syscall=` + sys + ` success=` + success +
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
	n, err := countAuditExecs(strings.NewReader(in), 100, "true")
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("counted %d, want 2", n)
	}
}

func TestRatiosArePairwise(t *testing.T) {
	r := newResults([]string{"baseline", "sensor"}, 3, 1000)
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
	r := newResults([]string{"baseline", "sensor"}, 3, 1000)
	sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	// 2 programs idle, the sensor adds 5; in round 2 another user loaded 5
	// more while the baseline ran, which made that baseline slow.
	for i, v := range []struct {
		base, sensor float64
		baseProgs    int
	}{{1.0, 1.05, 2}, {1.2, 1.05, 7}, {1.0, 1.07, 2}} {
		r.add(&roundResult{Round: i, Mode: "baseline", Elapsed: sec(v.base), BPFPrograms: v.baseProgs})
		r.add(&roundResult{Round: i, Mode: "sensor", Elapsed: sec(v.sensor), BPFPrograms: 7})
	}
	b, ok := r.bpfPrograms()
	if !ok || b.idle != 2 || b.own != 5 {
		t.Fatalf("got idle %d own %d (ok %v), want 2 and 5", b.idle, b.own, ok)
	}
	if got := b.foreign["baseline"]; len(got) != 1 || got[1] != 5 {
		t.Errorf("foreign baseline rounds %v, want round index 1 with +5", got)
	}
	if len(b.foreign["sensor"]) != 0 {
		t.Errorf("foreign sensor rounds %v, want none", b.foreign["sensor"])
	}
	if got := median(r.cleanRatios("sensor", b)); math.Abs(got-1.06) > 1e-9 {
		t.Errorf("clean median ratio %v, want 1.06", got)
	}
}
