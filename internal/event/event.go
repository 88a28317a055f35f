// Package event defines the provider-neutral event that every provider (eBPF,
// netlink) emits and every exporter consumes.
//
// Rules: a field the provider could not know is left at its zero value and is
// not exported (strings empty, pointers nil, times zero); a value that had to be
// cut is listed in Truncated by the name of the attribute it maps to. Strings
// hold the bytes the kernel gave, which need not be valid UTF-8; the mapping to
// OTLP decides how to carry such bytes losslessly.
package event

import "time"

// Kind is what happened.
type Kind uint8

// The kinds of events. Their EventName strings are fixed by the design contract.
const (
	KindUnknown Kind = iota
	KindExec
	KindFork
	KindExit
	KindCredentialsChange
	kindCount
)

var kindNames = [kindCount]string{
	KindUnknown:           "unknown",
	KindExec:              "process.exec",
	KindFork:              "process.fork",
	KindExit:              "process.exit",
	KindCredentialsChange: "process.credentials_change",
}

// Name is the OpenTelemetry EventName of the kind.
func (k Kind) Name() string {
	if k >= kindCount {
		return kindNames[KindUnknown]
	}
	return kindNames[k]
}

// Kinds lists every known kind, in order.
func Kinds() []Kind {
	return []Kind{KindExec, KindFork, KindExit, KindCredentialsChange}
}

// Credentials are a task's user and group ids.
type Credentials struct {
	UID, EUID, SUID, FSUID uint32
	GID, EGID, SGID, FSGID uint32
}

// NoLoginUID is the kernel's value of loginuid for a task that never logged in.
const NoLoginUID = ^uint32(0)

// Process is the process an event is about: the initiator of the action (for
// process.fork, the new child).
type Process struct {
	PID       uint32
	ParentPID uint32
	// StartTime is the creation time of the process (thread-group leader).
	StartTime time.Time
	// ExecutablePath is absolute, or relative when the path walk was cut
	// (then Truncated names process.executable.path).
	ExecutablePath string
	// ParentExecutablePath is the parent's executable, when known.
	ParentExecutablePath string
	// Credentials is nil when unknown.
	Credentials *Credentials
	// LoginUID is the audit login uid (NoLoginUID when unset); valid only
	// when Credentials is non-nil.
	LoginUID uint32
	// CgroupPath is the cgroup v2 path ("/system.slice/x.service").
	CgroupPath string
	// ContainerID is derived from the cgroup path when the process runs in
	// a container.
	ContainerID string
	// Comm is the kernel's 16-byte task name.
	Comm string
}

// Exec holds what is specific to process.exec.
type Exec struct {
	// Args is nil when unknown; it may be cut (see Event.Truncated).
	Args []string
	// ArgsCount is the kernel's argc, exact even when Args was cut; -1 when
	// unknown. Zero is a real value (an exec with an empty argv).
	ArgsCount        int
	WorkingDirectory string
	SessionLeaderPID uint32
	GroupLeaderPID   uint32
	Interactive      bool
	TTY              string
}

// Exit holds what is specific to process.exit.
type Exit struct {
	Code       int
	Signal     int
	CoreDumped bool
}

// CredentialsChange holds what is specific to process.credentials_change.
// The new ids are Process.Credentials.
type CredentialsChange struct {
	Previous    Credentials
	SyscallID   int
	SyscallName string
}

// Event is one observation.
type Event struct {
	Kind Kind
	// Time is when it happened in the kernel, as wall-clock time.
	Time time.Time
	// Observed is when the sensor read it.
	Observed time.Time
	Process  Process

	Exec        *Exec
	Exit        *Exit
	Credentials *CredentialsChange

	// Truncated lists the attribute names whose values were cut.
	Truncated []string
}

// Attribute names used in Truncated. They are the names the exporter uses.
const (
	AttrExecutablePath       = "process.executable.path"
	AttrParentExecutablePath = "sensor.process.parent.executable.path"
	AttrCommandArgs          = "process.command_args"
	AttrWorkingDirectory     = "process.working_directory"
	AttrCgroup               = "process.linux.cgroup"
)
