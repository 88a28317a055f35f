package proc

import (
	"bytes"
	"strings"
	"testing"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// Lines as Linux 6.18 writes them.
const (
	statCat      = "5390 (cat) R 5388 5388 2643 0 -1 4194304 102 0 0 0 0 0 0 0 20 0 1 0 34945 3133440 405 18446744073709551615 94446667612160 94446667632041 140729425896320 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 94446667648048 94446667649664 94446674505728 140729425902276 140729425902296 140729425902296 140729425903595 0\n"
	statKthreadd = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 1 0 0 20 0 1 0 24 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
	statusCat    = "Name:\tcat\nUmask:\t0022\nState:\tR (running)\nTgid:\t5427\nNgid:\t0\nPid:\t5427\nPPid:\t5416\nTracerPid:\t0\nUid:\t1000\t1001\t1002\t1003\nGid:\t100\t101\t102\t103\nFDSize:\t256\nGroups:\t \nKthread:\t0\n"
	cgroupHybrid = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/7bf57d664dccce2026a232250cf80a5b\n1:cpu:/\n0::/system.slice/foo.service\n"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want stat
	}{
		{"cat", statCat, stat{PID: 5390, ParentPID: 5388, Comm: "cat", State: 'R', Flags: 4194304, StartTicks: 34945}},
		{"kernel thread", statKthreadd, stat{PID: 2, ParentPID: 0, Comm: "kthreadd", State: 'S', Flags: 2129984, StartTicks: 24}},
		{"comm with spaces and parentheses", strings.Replace(statCat, "(cat)", "(a) (b c) )", 1),
			stat{PID: 5390, ParentPID: 5388, Comm: "a) (b c) ", State: 'R', Flags: 4194304, StartTicks: 34945}},
		{"comm that looks like fields", strings.Replace(statCat, "(cat)", "(x) Z 1 2 3)", 1),
			stat{PID: 5390, ParentPID: 5388, Comm: "x) Z 1 2 3", State: 'R', Flags: 4194304, StartTicks: 34945}},
		{"empty comm", strings.Replace(statCat, "(cat)", "()", 1),
			stat{PID: 5390, ParentPID: 5388, State: 'R', Flags: 4194304, StartTicks: 34945}},
		{"exactly the fields needed", "7 (x) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99",
			stat{PID: 7, ParentPID: 1, Comm: "x", State: 'S', StartTicks: 99}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("parseStat = %+v, want %+v", got, tt.want)
			}
		})
	}
	if s, _ := parseStat([]byte(statKthreadd)); !s.Kthread() {
		t.Error("kthreadd is not a kernel thread")
	}
	if s, _ := parseStat([]byte(statCat)); s.Kthread() {
		t.Error("cat is a kernel thread")
	}
}

func TestParseStatErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"5390",
		"5390 cat R 1",
		"5390 (cat",
		"5390 cat) R",
		"(cat) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"x (cat) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"5390(cat) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"5390 (cat)R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"5390 (cat)",
		"5390 (cat) ",
		"5390 (cat) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0",
		"5390 (cat) RR 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"5390 (cat) R -1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"5390 (cat) R 1 1 1 0 -1 x 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"5390 (cat) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5",
		"5390 (cat) R 4294967296 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"5390 (cat) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 18446744073709551616",
		"5390 (cat) R  1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
	} {
		if s, err := parseStat([]byte(in)); err == nil {
			t.Errorf("parseStat(%q) = %+v, want an error", in, s)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte(statCat))
	f.Add([]byte(statKthreadd))
	f.Add([]byte("1 (a) (b) S 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseStat(b)
		if err != nil {
			return
		}
		if !bytes.Contains(b, []byte("("+s.Comm+")")) {
			t.Fatalf("comm %q is not in %q", s.Comm, b)
		}
	})
}

func TestParseStatus(t *testing.T) {
	got, err := parseStatus([]byte(statusCat))
	if err != nil {
		t.Fatal(err)
	}
	want := status{Tgid: 5427, Credentials: event.Credentials{
		UID: 1000, EUID: 1001, SUID: 1002, FSUID: 1003,
		GID: 100, EGID: 101, SGID: 102, FSGID: 103,
	}}
	if got != want {
		t.Errorf("parseStatus = %+v, want %+v", got, want)
	}

	for _, in := range []string{
		"",
		"Tgid:\t1\nUid:\t0\t0\t0\t0\n",         // no Gid
		"Tgid:\t1\nGid:\t0\t0\t0\t0\n",         // no Uid
		"Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n", // no Tgid
		"Tgid:\t1\nUid:\t0\t0\t0\nGid:\t0\t0\t0\t0\n",             // 3 uids
		"Tgid:\t1\nUid:\t0\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n",       // 5 uids
		"Tgid:\t1\nUid:\t0\t0\t-1\t0\nGid:\t0\t0\t0\t0\n",         // negative
		"Tgid:\t1\nUid:\t0\t0\t4294967296\t0\nGid:\t0\t0\t0\t0\n", // out of range
		"Tgid:\tx\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n",          // bad tgid
	} {
		if s, err := parseStatus([]byte(in)); err == nil {
			t.Errorf("parseStatus(%q) = %+v, want an error", in, s)
		}
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte(statusCat))
	f.Add([]byte("Tgid:\t1\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseStatus(b)
	})
}

func TestParseCgroup(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"hybrid", cgroupHybrid, "/system.slice/foo.service"},
		{"v2 only", "0::/user.slice/user-1000.slice/session-3.scope\n", "/user.slice/user-1000.slice/session-3.scope"},
		{"root", "0::/\n", "/"},
		{"no newline", "0::/a", "/a"},
		{"colon in path", "0::/system.slice/a:b.service\n", "/system.slice/a:b.service"},
		{"deleted cgroup", "0::/system.slice/gone.service (deleted)\n", "/system.slice/gone.service"},
		{"v1 only", "12:pids:/\n2:cpu,cpuacct:/\n1:name=systemd:/init.scope\n", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCgroup([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("parseCgroup = %q, want %q", got, tt.want)
			}
		})
	}
	for _, in := range []string{
		"0::\n",
		"0::relative\n",
		"0:/\n",
		"garbage\n",
		"x::/\n",
		"0:: (deleted)\n",
	} {
		if p, err := parseCgroup([]byte(in)); err == nil {
			t.Errorf("parseCgroup(%q) = %q, want an error", in, p)
		}
	}
}

func FuzzParseCgroup(f *testing.F) {
	f.Add([]byte(cgroupHybrid))
	f.Add([]byte("0::/\n"))
	f.Add([]byte("1:name=systemd:/init.scope\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseCgroup(b)
		if err == nil && p != "" && p[0] != '/' {
			t.Fatalf("parseCgroup(%q) = %q, not absolute", b, p)
		}
	})
}

func TestParseLoginUID(t *testing.T) {
	for in, want := range map[string]uint32{"4294967295": event.NoLoginUID, "1000": 1000, "0\n": 0} {
		if got, err := parseLoginUID([]byte(in)); err != nil || got != want {
			t.Errorf("parseLoginUID(%q) = %d, %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "4294967296", "x"} {
		if _, err := parseLoginUID([]byte(in)); err == nil {
			t.Errorf("parseLoginUID(%q): no error", in)
		}
	}
}

func TestTicksToBoottime(t *testing.T) {
	tests := []struct {
		ticks, hz, want uint64
	}{
		{0, 100, 0},
		{34945, 100, 349_450_000_000},
		{34945, 1000, 34_945_000_000},
		{3, 1, 3_000_000_000},
	}
	for _, tt := range tests {
		if got, err := ticksToBoottime(tt.ticks, tt.hz); err != nil || got != tt.want {
			t.Errorf("ticksToBoottime(%d, %d) = %d, %v, want %d", tt.ticks, tt.hz, got, err, tt.want)
		}
	}
	for _, tt := range []struct{ ticks, hz uint64 }{
		{1, 0},
		{1, 3},
		{1, 2_000_000_000},
		{1 << 60, 100},
	} {
		if got, err := ticksToBoottime(tt.ticks, tt.hz); err == nil {
			t.Errorf("ticksToBoottime(%d, %d) = %d, want an error", tt.ticks, tt.hz, got)
		}
	}
}

func FuzzTicksToBoottime(f *testing.F) {
	f.Add(uint64(34945), uint64(100))
	f.Add(uint64(1<<62), uint64(1))
	f.Fuzz(func(t *testing.T, ticks, hz uint64) {
		ns, err := ticksToBoottime(ticks, hz)
		if err != nil {
			return
		}
		if tick := 1e9 / hz; ns/tick != ticks || ns%tick != 0 {
			t.Fatalf("ticksToBoottime(%d, %d) = %d", ticks, hz, ns)
		}
	})
}
