package netlink

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDecodeMessage(t *testing.T) {
	le := binary.LittleEndian
	withLen := func(b []byte, n uint16) []byte { le.PutUint16(b[16:], n); return b }
	for _, tc := range []struct {
		name string
		b    []byte
		want message
		err  bool
	}{
		{"fork", msg(procEventFork, 42, 7, 0, 10, 11, 12, 12),
			message{what: procEventFork, seq: 7, time: 42, parentPID: 10, parentTgid: 11, pid: 12, tgid: 12}, false},
		{"exec", msg(procEventExec, 42, 0, 0, 12, 12), message{what: procEventExec, time: 42, pid: 12, tgid: 12}, false},
		{"uid", msg(procEventUID, 42, 0, 0, 12, 12, 1000, 0),
			message{what: procEventUID, time: 42, pid: 12, tgid: 12, real: 1000, effective: 0}, false},
		{"gid", msg(procEventGID, 42, 0, 0, 12, 13, 5, 6),
			message{what: procEventGID, time: 42, pid: 12, tgid: 13, real: 5, effective: 6}, false},
		{"exit", msg(procEventExit, 42, 0, 0, 12, 12, 0x8b, 17, 1, 1),
			message{what: procEventExit, time: 42, pid: 12, tgid: 12, exitCode: 0x8b, parentPID: 1, parentTgid: 1}, false},
		// Kernels before the parent fields send 16 union bytes of meaning
		// in the same 40-byte proc_event, zeroed after them.
		{"exit without parent", msg(procEventExit, 42, 0, 0, 12, 12, 3<<8, 17),
			message{what: procEventExit, time: 42, pid: 12, tgid: 12, exitCode: 3 << 8}, false},
		{"ack", msg(procEventNone, 42, 0, 8, 1), message{what: procEventNone, time: 42, ack: 8, err: 1}, false},
		{"sid", msg(procEventSID, 42, 0, 0, 12, 13), message{what: procEventSID, time: 42, pid: 12, tgid: 13}, false},
		{"unknown event", msg(0x400, 42, 0, 0, 12, 12), message{what: 0x400, time: 42}, false},
		{"exit in 24 union bytes", withLen(msg(procEventExit, 42, 0, 0, 12, 12, 9, 17)[:cnMsgSize+procEventHeaderSize+16], 32),
			message{what: procEventExit, time: 42, pid: 12, tgid: 12, exitCode: 9}, false},
		{"empty", nil, message{}, true},
		{"short cn_msg", make([]byte, cnMsgSize-1), message{}, true},
		{"other connector", func() []byte { b := msg(procEventExec, 1, 0, 0, 1, 1); le.PutUint32(b[4:], 2); return b }(), message{}, true},
		{"length past the data", withLen(msg(procEventExec, 1, 0, 0, 1, 1), procEventSize+1), message{}, true},
		{"no proc_event header", withLen(msg(procEventExec, 1, 0, 0, 1, 1), procEventHeaderSize-1), message{}, true},
		{"fork cut", withLen(msg(procEventFork, 1, 0, 0, 1, 1, 2, 2), procEventHeaderSize+12), message{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeMessage(tc.b)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if err == nil && got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		status       uint32
		code, signal int
		core         bool
	}{
		{0, 0, 0, false},
		{3 << 8, 3, 0, false},
		{255 << 8, 255, 0, false},
		{15, 0, 15, false},
		{11 | 0x80, 0, 11, true},
	} {
		code, sig, core := exitStatus(tc.status)
		if code != tc.code || sig != tc.signal || core != tc.core {
			t.Errorf("exitStatus(%#x) = %d %d %v, want %d %d %v", tc.status, code, sig, core, tc.code, tc.signal, tc.core)
		}
	}
}

func TestListenRequest(t *testing.T) {
	le := binary.LittleEndian
	plain := listenRequest(mcastListen, 0, 9)
	if len(plain) != cnMsgSize+4 || le.Uint16(plain[16:]) != 4 || le.Uint32(plain[12:]) != 9 || le.Uint32(plain[20:]) != mcastListen {
		t.Errorf("plain = %x", plain)
	}
	filtered := listenRequest(mcastListen, subscribed, 9)
	if len(filtered) != cnMsgSize+8 || le.Uint16(filtered[16:]) != 8 || le.Uint32(filtered[24:]) != subscribed {
		t.Errorf("filtered = %x", filtered)
	}
}

// FuzzDecodeMessage: any bytes decode or fail, without panicking, and a
// decoded message never claims more than the bytes held.
func FuzzDecodeMessage(f *testing.F) {
	for _, b := range [][]byte{
		msg(procEventFork, 1, 2, 3, 4, 5, 6, 7),
		msg(procEventExec, 1, 2, 3, 4, 5),
		msg(procEventUID, 1, 2, 3, 4, 5, 6, 7),
		msg(procEventExit, 1, 2, 3, 4, 5, 6, 7, 8, 9),
		msg(procEventNone, 1, 2, 3, 4),
		msg(procEventComm, 1, 2, 3, 4, 5, 0x41414141),
		{},
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil {
			return
		}
		if len(b) < cnMsgSize+procEventHeaderSize {
			t.Fatalf("decoded %d bytes: %+v", len(b), m)
		}
		if n := int(binary.LittleEndian.Uint16(b[16:])); n > len(b)-cnMsgSize {
			t.Fatalf("decoded with length %d past %d bytes", n, len(b))
		}
	})
}

func TestParseStat(t *testing.T) {
	line := "4242 (a) b (c)) R 1 4242 4200 34819 4242 4194560 1 0 0 0 0 0 0 0 20 0 1 0 123456 8024064 0\n"
	s, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := procStat{pid: 4242, ppid: 1, pgrp: 4242, session: 4200, ttyNr: 34819, state: 'R', startTicks: 123456}
	if s != want {
		t.Errorf("got %+v, want %+v", s, want)
	}
	for _, bad := range []string{
		"",
		"4242 a R 1",
		"x (a) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19",
		"4242 (a) R 1 2 3 4",
		"4242 (a) RR 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19",
		"4242 (a) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 -19",
		"4242 (a) R  1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19",
	} {
		if s, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) = %+v, want an error", bad, s)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("4242 (a) b (c)) R 1 4242 4200 34819 4242 4194560 1 0 0 0 0 0 0 0 20 0 1 0 123456 8024064 0\n"))
	f.Add([]byte("1 () Z 0 0 0 -1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseStat(b)
	})
}

func TestTTYName(t *testing.T) {
	for dev, want := range map[uint32]string{
		136<<8 | 3:                 "pts/3",
		136<<8 | 0x05 | 0x1200<<12: "pts/4613", // minor 0x1205, encoded as new_encode_dev does
		4<<8 | 1:                   "tty1",
		4<<8 | 64:                  "ttyS0",
		5<<8 | 1:                   "console",
		0:                          "",
		188<<8 | 0:                 "", // ttyUSB0: not known
		137<<8 | 1:                 "",
	} {
		if got := ttyName(dev); got != want {
			t.Errorf("ttyName(%#x) = %q, want %q", dev, got, want)
		}
	}
}

func TestParseSocketDrops(t *testing.T) {
	b := []byte(`sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode
0000000088ea94c6 0   0          00000000 0        0        0     2        0        4
000000007389cd11 11  12615      00000001 0        0        0     2        17       557
`)
	if n, err := parseSocketDrops(b, 557); err != nil || n != 17 {
		t.Errorf("drops = %d, %v; want 17", n, err)
	}
	if _, err := parseSocketDrops(b, 558); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing socket: %v", err)
	}
}

func FuzzParseSocketDrops(f *testing.F) {
	f.Add([]byte("sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode\n0 11 1 1 0 0 0 2 17 557\n"), uint64(557))
	f.Fuzz(func(t *testing.T, b []byte, inode uint64) {
		parseSocketDrops(b, inode)
	})
}

func TestCmdline(t *testing.T) {
	long := make([]string, 5000)
	for i := range long {
		long[i] = "argument-" + strings.Repeat("x", i%7)
	}
	for _, tc := range []struct {
		name    string
		content string
		args    []string
		argc    int
		cut     bool
		err     bool
	}{
		{"plain", "a\x00b c\x00\x00", []string{"a", "b c", ""}, 3, false, false},
		{"rewritten, no terminator", "a\x00b", []string{"a", "b"}, 2, false, false},
		{"empty: zombie or no memory", "", nil, -1, false, true},
		{"long", strings.Join(long, "\x00") + "\x00", nil, len(long), true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			os.Mkdir(filepath.Join(root, "1"), 0o755)
			if err := os.WriteFile(filepath.Join(root, "1", "cmdline"), []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			r := newProcReader(root)
			d, err := r.open(1)
			if err != nil {
				t.Fatal(err)
			}
			defer d.close()
			args, argc, cut, err := d.cmdline()
			if (err != nil) != tc.err {
				t.Fatalf("err = %v", err)
			}
			if argc != tc.argc || cut != tc.cut {
				t.Errorf("argc %d cut %v, want %d %v", argc, cut, tc.argc, tc.cut)
			}
			if tc.cut {
				// The kept arguments are whole and in order but the last,
				// a prefix of the real one; they fill maxArgsBytes.
				joined := strings.Join(args, "\x00")
				if len(joined) != maxArgsBytes || !strings.HasPrefix(strings.Join(long, "\x00"), joined) {
					t.Errorf("kept %d bytes, not a prefix of %d", len(joined), maxArgsBytes)
				}
				return
			}
			if !slices.Equal(args, tc.args) {
				t.Errorf("args = %q, want %q", args, tc.args)
			}
		})
	}
}

func FuzzSplitCmdline(f *testing.F) {
	f.Add([]byte("a\x00b\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		args := splitCmdline(b)
		if got := strings.Join(args, "\x00"); got != strings.TrimSuffix(string(b), "\x00") {
			t.Fatalf("split %q joins to %q", b, got)
		}
	})
}
