package ebpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// Byte layout of the records in bpf/sensor.h. TestRecordLayout checks these
// against the types bpf2go generated from the C.
const (
	headerSize      = 96
	execFixedSize   = 160 // exec_record up to data[]
	exitRecordSize  = 104
	credsRecordSize = 136
	commLen         = 16
	ttyLen          = 32
)

// Record flags (enum record_flag).
const (
	flagArgsTruncated   = uint32(processRecordFlagFLAG_ARGS_TRUNCATED)
	flagExeTruncated    = uint32(processRecordFlagFLAG_EXE_TRUNCATED)
	flagCwdTruncated    = uint32(processRecordFlagFLAG_CWD_TRUNCATED)
	flagCgroupTruncated = uint32(processRecordFlagFLAG_CGROUP_TRUNCATED)
	flagArgsFault       = uint32(processRecordFlagFLAG_ARGS_FAULT)
	flagExeDeleted      = uint32(processRecordFlagFLAG_EXE_DELETED)
	flagExeDisconnected = uint32(processRecordFlagFLAG_EXE_DISCONNECTED)
	flagCwdDisconnected = uint32(processRecordFlagFLAG_CWD_DISCONNECTED)
	flagTTY             = uint32(processRecordFlagFLAG_TTY)
	flagLoginUID        = uint32(processRecordFlagFLAG_LOGINUID)
)

var errShort = errors.New("record shorter than its layout")

// bootClock converts CLOCK_BOOTTIME nanoseconds (bpf_ktime_get_boot_ns,
// task->start_boottime) to wall-clock time.
type bootClock struct {
	// bootWall is the wall-clock time at which CLOCK_BOOTTIME was zero.
	bootWall time.Time
}

func (c bootClock) wall(bootNs uint64) time.Time {
	if bootNs == 0 {
		return time.Time{}
	}
	return c.bootWall.Add(time.Duration(bootNs))
}

// recordKind maps a record type to the event kind.
func recordKind(t uint32) event.Kind {
	switch processRecordType(t) {
	case processRecordTypeRECORD_EXEC:
		return event.KindExec
	case processRecordTypeRECORD_FORK:
		return event.KindFork
	case processRecordTypeRECORD_EXIT:
		return event.KindExit
	case processRecordTypeRECORD_CREDS:
		return event.KindCredentialsChange
	}
	return event.KindUnknown
}

// record is a decoded ring-buffer record: the event and the kernel's
// identities of the processes it names, for the process cache.
type record struct {
	ev          *event.Event
	start       uint64 // the process's start_boottime
	parentStart uint64 // the parent's start_boottime (exec records only)
}

// decodeRecord turns one ring-buffer record into an event. It trusts no
// length in the record: every length is checked against the bytes at hand.
// The event's identity fields come from the kernel; enrichment from the
// process cache happens later.
func decodeRecord(b []byte, clock bootClock) (record, error) {
	if len(b) < headerSize {
		return record{}, fmt.Errorf("header: %w (%d bytes)", errShort, len(b))
	}
	le := binary.LittleEndian
	typ := le.Uint32(b[0:])
	flags := le.Uint32(b[4:])
	kind := recordKind(typ)
	if kind == event.KindUnknown {
		return record{}, fmt.Errorf("unknown record type %d", typ)
	}
	ev := &event.Event{
		Kind: kind,
		Time: clock.wall(le.Uint64(b[8:])),
	}
	startBoot := le.Uint64(b[16:])
	p := &ev.Process
	p.StartTime = clock.wall(startBoot)
	p.PID = le.Uint32(b[32:])
	p.ParentPID = le.Uint32(b[40:])
	if flags&flagLoginUID != 0 {
		p.LoginUID = le.Uint32(b[44:])
	} else {
		p.LoginUID = event.NoLoginUID
	}
	p.Credentials = decodeCreds(b[48:80])
	p.Comm = cString(b[80 : 80+commLen])

	switch kind {
	case event.KindExec:
		if err := decodeExec(b, flags, ev); err != nil {
			return record{}, err
		}
	case event.KindExit:
		if len(b) < exitRecordSize {
			return record{}, fmt.Errorf("exit: %w (%d bytes)", errShort, len(b))
		}
		status := le.Uint32(b[96:])
		ev.Exit = &event.Exit{
			Code:       int(status>>8) & 0xff,
			Signal:     int(status & 0x7f),
			CoreDumped: status&0x80 != 0,
		}
	case event.KindCredentialsChange:
		if len(b) < credsRecordSize {
			return record{}, fmt.Errorf("credentials: %w (%d bytes)", errShort, len(b))
		}
		id := int(le.Uint32(b[128:]))
		ev.Credentials = &event.CredentialsChange{
			Previous:    *decodeCreds(b[96:128]),
			SyscallID:   id,
			SyscallName: syscallName(id),
		}
	}
	r := record{ev: ev, start: startBoot}
	if kind == event.KindExec {
		r.parentStart = le.Uint64(b[96:])
	}
	return r, nil
}

func decodeCreds(b []byte) *event.Credentials {
	le := binary.LittleEndian
	return &event.Credentials{
		UID: le.Uint32(b[0:]), EUID: le.Uint32(b[4:]), SUID: le.Uint32(b[8:]), FSUID: le.Uint32(b[12:]),
		GID: le.Uint32(b[16:]), EGID: le.Uint32(b[20:]), SGID: le.Uint32(b[24:]), FSGID: le.Uint32(b[28:]),
	}
}

func decodeExec(b []byte, flags uint32, ev *event.Event) error {
	if len(b) < execFixedSize {
		return fmt.Errorf("exec: %w (%d bytes)", errShort, len(b))
	}
	le := binary.LittleEndian
	argsLen := int(le.Uint16(b[116:]))
	exeLen := int(le.Uint16(b[118:]))
	cwdLen := int(le.Uint16(b[120:]))
	cgLen := int(le.Uint16(b[122:]))
	data := b[execFixedSize:]
	if argsLen+exeLen+cwdLen+cgLen > len(data) {
		return fmt.Errorf("exec: lengths %d+%d+%d+%d exceed the %d data bytes: %w",
			argsLen, exeLen, cwdLen, cgLen, len(data), errShort)
	}
	args, data := data[:argsLen], data[argsLen:]
	exe, data := data[:exeLen], data[exeLen:]
	cwd, data := data[:cwdLen], data[cwdLen:]
	cg := data[:cgLen]

	x := &event.Exec{
		ArgsCount:        int(le.Uint32(b[112:])),
		SessionLeaderPID: le.Uint32(b[104:]),
		GroupLeaderPID:   le.Uint32(b[108:]),
		Interactive:      flags&flagTTY != 0,
	}
	if x.Interactive {
		x.TTY = ttyName(cString(b[128 : 128+ttyLen]))
	}
	ev.Exec = x

	if flags&flagArgsFault == 0 {
		var cut bool
		x.Args, cut = splitArgs(args, flags&flagArgsTruncated != 0)
		if cut {
			ev.Truncated = append(ev.Truncated, event.AttrCommandArgs)
		}
	}

	path, cut := joinComponents(exe, flags&flagExeTruncated != 0, flags&flagExeDisconnected != 0)
	if path != "" && flags&flagExeDeleted != 0 {
		path += " (deleted)"
	}
	ev.Process.ExecutablePath = path
	if cut {
		ev.Truncated = append(ev.Truncated, event.AttrExecutablePath)
	}
	x.WorkingDirectory, cut = joinComponents(cwd, flags&flagCwdTruncated != 0, flags&flagCwdDisconnected != 0)
	if cut {
		ev.Truncated = append(ev.Truncated, event.AttrWorkingDirectory)
	}
	ev.Process.CgroupPath, cut = joinComponents(cg, flags&flagCgroupTruncated != 0, false)
	if cut {
		ev.Truncated = append(ev.Truncated, event.AttrCgroup)
	}
	return nil
}

// splitArgs splits the NUL-separated argument area. The area of a complete
// argv ends with a NUL; when the kernel cut it, the last argument is partial.
func splitArgs(b []byte, truncated bool) ([]string, bool) {
	if len(b) == 0 {
		return []string{}, truncated
	}
	if !truncated && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	n := bytes.Count(b, []byte{0}) + 1
	args := make([]string, 0, n)
	for {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			args = append(args, string(b))
			break
		}
		args = append(args, string(b[:i]))
		b = b[i+1:]
	}
	return args, truncated
}

// joinComponents builds a path from NUL-terminated components stored leaf
// first. A complete walk gives an absolute path. A walk cut short gives the
// tail it has, without a leading "/", and reports the cut. A disconnected
// dentry (memfd, pipe) gives its name alone, as d_path() does.
func joinComponents(b []byte, truncated, disconnected bool) (string, bool) {
	var comps [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0)
		if i < 0 { // a component the kernel cut: unusable
			truncated = true
			break
		}
		comps = append(comps, b[:i])
		b = b[i+1:]
	}
	if len(comps) == 0 {
		if truncated {
			return "", true
		}
		if disconnected {
			return "", false
		}
		return "/", false
	}
	slices.Reverse(comps)
	joined := bytes.Join(comps, []byte{'/'})
	if disconnected && len(comps) == 1 && !truncated {
		return "/" + string(joined), false
	}
	if truncated || disconnected {
		return string(joined), true
	}
	return "/" + string(joined), false
}

// ttyName gives the kernel's tty name as users know it from /dev: pty
// slaves are "pts3" in the kernel (tty_line_name) and /dev/pts/3 on disk.
func ttyName(kernel string) string {
	if n, ok := strings.CutPrefix(kernel, "pts"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
		return "pts/" + n
	}
	return kernel
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// syscallName names the x86_64 syscalls the programs hook.
func syscallName(id int) string {
	switch id {
	case 105:
		return "setuid"
	case 106:
		return "setgid"
	case 113:
		return "setreuid"
	case 114:
		return "setregid"
	case 117:
		return "setresuid"
	case 119:
		return "setresgid"
	case 122:
		return "setfsuid"
	case 123:
		return "setfsgid"
	}
	return ""
}
