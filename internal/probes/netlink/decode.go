package netlink

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The proc connector's wire format, from include/uapi/linux/connector.h and
// include/uapi/linux/cn_proc.h. Multi-byte fields are in the host's byte
// order; the sensor is built for little-endian x86_64.
const (
	cnIdxProc = 1 // CN_IDX_PROC, also the multicast group
	cnValProc = 1 // CN_VAL_PROC

	// struct cn_msg: struct cb_id { __u32 idx, val } id; __u32 seq, ack;
	// __u16 len, flags; __u8 data[].
	cnMsgSize = 20

	// struct proc_event: what, cpu, timestamp_ns (8-byte aligned), then
	// the event_data union. The union's largest members (comm, exit) are
	// 24 bytes, so the kernel always sends 40 bytes.
	procEventHeaderSize = 16
	procEventSize       = procEventHeaderSize + 24
)

// enum proc_cn_event.
const (
	procEventNone     = 0x00000000 // an acknowledgement
	procEventFork     = 0x00000001
	procEventExec     = 0x00000002
	procEventUID      = 0x00000004
	procEventGID      = 0x00000040
	procEventSID      = 0x00000080
	procEventPtrace   = 0x00000100
	procEventComm     = 0x00000200
	procEventCoredump = 0x40000000
	procEventExit     = 0x80000000

	// procEventAll is PROC_EVENT_ALL of 6.6+: every event, and
	// acknowledgements too (the kernel's filter passes everything when a
	// listener asks for exactly this set).
	procEventAll = procEventFork | procEventExec | procEventUID | procEventGID |
		procEventSID | procEventPtrace | procEventComm | 0x20000000 /* NONZERO_EXIT */ |
		procEventCoredump | procEventExit

	// subscribed is what the provider asks a 6.6+ kernel for. A setsid
	// is no event but tells the worker that a session read from /proc
	// after an exec may be newer than the exec. Ptrace, comm and coredump
	// events map to no event kind (a core dump shows in the exit status)
	// and are left in the kernel.
	subscribed = procEventFork | procEventExec | procEventUID | procEventGID | procEventSID | procEventExit
)

// mcastListen is PROC_CN_MCAST_LISTEN of enum proc_cn_mcast_op.
const mcastListen = 1

var errShort = errors.New("message shorter than its layout")

// message is one decoded proc connector message. Which fields are set
// depends on what.
type message struct {
	what uint32
	cpu  uint32
	seq  uint32 // cn_msg.seq: the kernel's per-CPU message counter
	ack  uint32 // cn_msg.ack: the listen request's ack + 1 for an acknowledgement
	time uint64 // CLOCK_MONOTONIC nanoseconds (ktime_get_ns)

	// pid and tgid are the task the event is about (for fork, the child).
	pid, tgid uint32
	// parentPID and parentTgid are the parent (fork, exit; 0 when the
	// kernel did not say).
	parentPID, parentTgid uint32
	// real and effective are the new ruid/euid (PROC_EVENT_UID) or
	// rgid/egid (PROC_EVENT_GID).
	real, effective uint32
	// exitCode is the wait status (exit, also coredump-free exits).
	exitCode uint32
	// err is an acknowledgement's error number (0: success).
	err uint32
}

// leader reports whether the task is a thread-group leader: a process,
// not one of its other threads.
func (m *message) leader() bool { return m.pid == m.tgid }

// decodeMessage decodes the payload of one netlink message from the proc
// connector: a cn_msg and the proc_event it carries. It trusts no length in
// the payload: every length is checked against the bytes at hand.
func decodeMessage(b []byte) (message, error) {
	if len(b) < cnMsgSize {
		return message{}, fmt.Errorf("cn_msg: %w (%d bytes)", errShort, len(b))
	}
	le := binary.LittleEndian
	if idx, val := le.Uint32(b[0:]), le.Uint32(b[4:]); idx != cnIdxProc || val != cnValProc {
		return message{}, fmt.Errorf("connector id %d.%d is not the proc connector", idx, val)
	}
	n := int(le.Uint16(b[16:]))
	data := b[cnMsgSize:]
	if n > len(data) {
		return message{}, fmt.Errorf("cn_msg: length %d exceeds the %d data bytes: %w", n, len(data), errShort)
	}
	data = data[:n]
	if len(data) < procEventHeaderSize {
		return message{}, fmt.Errorf("proc_event: %w (%d bytes)", errShort, len(data))
	}
	m := message{
		seq:  le.Uint32(b[8:]),
		ack:  le.Uint32(b[12:]),
		what: le.Uint32(data[0:]),
		cpu:  le.Uint32(data[4:]),
		time: le.Uint64(data[8:]),
	}
	u := data[procEventHeaderSize:]
	need := 0
	switch m.what {
	case procEventNone:
		need = 4
	case procEventExec, procEventSID, procEventComm, procEventPtrace, procEventCoredump:
		need = 8 // only the process is decoded
	case procEventFork, procEventUID, procEventGID:
		need = 16
	case procEventExit:
		// parent_pid and parent_tgid (the last 8 bytes) came later;
		// the kernel zeroes the union, so 0 means "not told".
		need = 16
	default:
		return m, nil // a kind this sensor does not know: nothing to decode
	}
	if len(u) < need {
		return message{}, fmt.Errorf("proc_event %#x: %w (%d union bytes, want %d)", m.what, errShort, len(u), need)
	}
	switch m.what {
	case procEventNone:
		m.err = le.Uint32(u[0:])
	case procEventFork:
		m.parentPID, m.parentTgid = le.Uint32(u[0:]), le.Uint32(u[4:])
		m.pid, m.tgid = le.Uint32(u[8:]), le.Uint32(u[12:])
	case procEventUID, procEventGID:
		m.pid, m.tgid = le.Uint32(u[0:]), le.Uint32(u[4:])
		m.real, m.effective = le.Uint32(u[8:]), le.Uint32(u[12:])
	case procEventExit:
		m.pid, m.tgid = le.Uint32(u[0:]), le.Uint32(u[4:])
		m.exitCode = le.Uint32(u[8:]) // u[12:] is exit_signal: the signal sent to the parent
		if len(u) >= 24 {
			m.parentPID, m.parentTgid = le.Uint32(u[16:]), le.Uint32(u[20:])
		}
	default: // exec, sid, comm, ptrace, coredump begin with the process
		m.pid, m.tgid = le.Uint32(u[0:]), le.Uint32(u[4:])
	}
	return m, nil
}

// listenRequest is the payload of the netlink message that subscribes the
// socket: a cn_msg addressed to the proc connector carrying either a bare
// enum proc_cn_mcast_op (every kernel) or, when events is non-zero, a
// struct proc_input with the event filter (6.6+; an older kernel ignores a
// payload of that size).
func listenRequest(op, events, ack uint32) []byte {
	n := 4
	if events != 0 {
		n = 8
	}
	b := make([]byte, cnMsgSize+n)
	le := binary.LittleEndian
	le.PutUint32(b[0:], cnIdxProc)
	le.PutUint32(b[4:], cnValProc)
	le.PutUint32(b[12:], ack)
	le.PutUint16(b[16:], uint16(n))
	le.PutUint32(b[cnMsgSize:], op)
	if events != 0 {
		le.PutUint32(b[cnMsgSize+4:], events)
	}
	return b
}

// exitStatus splits a wait status as WEXITSTATUS, WTERMSIG and WCOREDUMP do.
func exitStatus(status uint32) (code, signal int, core bool) {
	return int(status>>8) & 0xff, int(status & 0x7f), status&0x80 != 0
}
