package export

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// referenceLogs is NewLogs as it was before attrList, built on
// referenceMapEvent.
func referenceLogs(res Resource, events []*event.Event) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	res.copyTo(rl.Resource())
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(ScopeName)
	sl.Scope().SetVersion(res.Version)
	records := sl.LogRecords()
	records.EnsureCapacity(len(events))
	for _, ev := range events {
		referenceMapEvent(ev, records.AppendEmpty())
	}
	return ld
}

// referenceMapEvent is the mapping as it was before attrList: every
// attribute put into the record's map directly. The tests hold the mapping
// to it.
func referenceMapEvent(ev *event.Event, lr plog.LogRecord) {
	lr.SetEventName(ev.Kind.Name())
	if !ev.Time.IsZero() {
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ev.Time))
	}
	if !ev.Observed.IsZero() {
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ev.Observed))
	}
	lr.SetSeverityNumber(plog.SeverityNumberInfo)
	lr.SetSeverityText("INFO")

	a := refAttrs{m: lr.Attributes()}
	a.m.EnsureCapacity(refCapacityHint(ev))
	a.process(&ev.Process, ev.Truncated)
	switch ev.Kind {
	case event.KindExec:
		if ev.Exec != nil {
			a.exec(ev.Exec)
		}
	case event.KindExit:
		if ev.Exit != nil {
			a.exit(ev.Exit, ev.Time)
		}
	case event.KindCredentialsChange:
		if ev.Credentials != nil {
			a.credentialsChange(ev.Credentials)
		}
	}
	if ev.File != nil {
		a.file(ev.Kind, ev.File)
	}
	if ev.Network != nil {
		a.network(ev.Network)
	}
	for _, attr := range slices.Sorted(maps.Keys(ev.ProcessView)) {
		a.str(ProcessViewPrefix+attr, ev.ProcessView[attr])
	}
	if len(ev.HostPathUnknown) > 0 {
		a.strs(attrHostPathUnknown, ev.HostPathUnknown)
	}
	if len(ev.Truncated) > 0 {
		a.strs(attrTruncated, ev.Truncated)
	}
	if len(ev.Incomplete) > 0 {
		// What the provider could not fill is absent, whatever default
		// its field holds (a bool has no "unknown").
		for _, name := range ev.Incomplete {
			a.m.Remove(name)
		}
		a.strs(attrIncomplete, ev.Incomplete)
	}
}

// capacityHint is the number of attributes ev will most likely get, so the
// map is allocated once.
func refCapacityHint(ev *event.Event) int {
	n := 18 // common attributes
	switch ev.Kind {
	case event.KindExec:
		n += 7
	case event.KindExit:
		n += 4
	case event.KindCredentialsChange:
		n += 10
	}
	if ev.File != nil || ev.Network != nil {
		n += 8
	}
	if len(ev.Truncated) > 0 {
		n++
	}
	return n
}

// attrs writes attributes into a map, keeping every string valid UTF-8.
type refAttrs struct {
	m pcommon.Map
}

func (a refAttrs) process(p *event.Process, truncated []string) {
	if p.PID != 0 {
		a.m.PutInt(attrPID, int64(p.PID))
	}
	if p.ParentPID != 0 {
		a.m.PutInt(attrParentPID, int64(p.ParentPID))
	}
	if p.ExecutablePath != "" {
		a.str(attrExecutablePath, p.ExecutablePath)
		if !slices.Contains(truncated, event.AttrExecutablePath) {
			if name := basename(p.ExecutablePath); name != "" {
				a.str(attrExecutableName, name)
			}
		}
	}
	if !p.StartTime.IsZero() {
		a.m.PutStr(attrCreationTime, timestamp(p.StartTime))
	}
	if c := p.Credentials; c != nil {
		a.m.PutInt(attrUserID, int64(c.EUID))
		a.m.PutInt(attrRealUserID, int64(c.UID))
		a.m.PutInt(attrSavedUserID, int64(c.SUID))
		a.m.PutInt(attrFSUserID, int64(c.FSUID))
		a.m.PutInt(attrGroupID, int64(c.EGID))
		a.m.PutInt(attrRealGroupID, int64(c.GID))
		a.m.PutInt(attrSavedGroupID, int64(c.SGID))
		a.m.PutInt(attrFSGroupID, int64(c.FSGID))
		if p.LoginUID != event.NoLoginUID {
			a.m.PutInt(attrLoginUserID, int64(p.LoginUID))
		}
	}
	if p.CgroupPath != "" {
		a.str(attrCgroup, cgroupV2Prefix+p.CgroupPath)
	}
	if p.ContainerID != "" {
		a.str(attrContainerID, p.ContainerID)
	}
	if p.ParentExecutablePath != "" {
		a.str(attrParentExecutablePath, p.ParentExecutablePath)
	}
	if p.Comm != "" {
		a.str(attrComm, p.Comm)
	}
}

func (a refAttrs) exec(e *event.Exec) {
	if len(e.Args) > 0 {
		a.strs(attrCommandArgs, e.Args)
	}
	if e.ArgsCount >= 0 {
		a.m.PutInt(attrArgsCount, int64(e.ArgsCount))
	}
	if e.WorkingDirectory != "" {
		a.str(attrWorkingDirectory, e.WorkingDirectory)
	}
	if e.SessionLeaderPID != 0 {
		a.m.PutInt(attrSessionLeaderPID, int64(e.SessionLeaderPID))
	}
	if e.GroupLeaderPID != 0 {
		a.m.PutInt(attrGroupLeaderPID, int64(e.GroupLeaderPID))
	}
	a.m.PutBool(attrInteractive, e.Interactive)
	if e.TTY != "" {
		a.str(attrTTY, e.TTY)
	}
}

func (a refAttrs) exit(e *event.Exit, at time.Time) {
	a.m.PutInt(attrExitCode, int64(e.Code))
	if !at.IsZero() {
		a.m.PutStr(attrExitTime, timestamp(at))
	}
	if e.Signal != 0 {
		a.m.PutInt(attrExitSignal, int64(e.Signal))
	}
	if e.CoreDumped {
		a.m.PutBool(attrExitCoreDumped, true)
	}
}

func (a refAttrs) credentialsChange(c *event.CredentialsChange) {
	prev := &c.Previous
	a.m.PutInt(attrPreviousUserID, int64(prev.EUID))
	a.m.PutInt(attrPreviousRealUserID, int64(prev.UID))
	a.m.PutInt(attrPreviousSavedUserID, int64(prev.SUID))
	a.m.PutInt(attrPreviousFSUserID, int64(prev.FSUID))
	a.m.PutInt(attrPreviousGroupID, int64(prev.EGID))
	a.m.PutInt(attrPreviousRealGroupID, int64(prev.GID))
	a.m.PutInt(attrPreviousSavedGroupID, int64(prev.SGID))
	a.m.PutInt(attrPreviousFSGroupID, int64(prev.FSGID))
	if c.SyscallID != 0 {
		a.m.PutInt(attrSyscallID, int64(c.SyscallID))
	}
	if c.SyscallName != "" {
		a.str(attrSyscallName, c.SyscallName)
	}
}

func (a refAttrs) file(kind event.Kind, f *event.File) {
	if f.Path != "" {
		a.str(attrFilePath, f.Path)
		if strings.HasPrefix(f.Path, "/") {
			dir, name := path.Split(f.Path)
			if name != "" {
				a.str(attrFileName, name)
				a.str(attrFileDirectory, path.Clean(dir))
			}
		}
	}
	if f.PreviousPath != "" {
		a.str(attrFilePrevious, f.PreviousPath)
	}
	if f.SourcePath != "" {
		a.str(attrFileLinkSource, f.SourcePath)
	}
	if kind == event.KindFileSymlink {
		a.str(attrFileSymlinkTarget, f.SymlinkTarget)
	}
	switch kind {
	case event.KindFileOpen:
		a.m.PutStr(attrFileAccess, f.Access.String())
		a.strs(attrFileFlags, openFlagNames(f.Flags))
		a.m.PutBool(attrFileCreated, f.Created)
		a.m.PutBool(attrFileTruncated, f.Truncated)
	case event.KindFileDelete:
		a.m.PutBool(attrFileIsDirectory, f.Directory)
	case event.KindFileRename:
		if f.Exchange {
			a.m.PutBool(attrFileExchange, true)
		}
		if f.NoReplace {
			a.m.PutBool(attrFileNoReplace, true)
		}
	}
	if f.HasMode {
		a.m.PutStr(attrFileMode, fmt.Sprintf("%04o", f.Mode))
	}
	if f.OwnerID != event.NoID && kind == event.KindFileChown {
		a.m.PutStr(attrFileOwnerID, strconv.FormatUint(uint64(f.OwnerID), 10))
	}
	if f.GroupID != event.NoID && kind == event.KindFileChown {
		a.m.PutStr(attrFileGroupID, strconv.FormatUint(uint64(f.GroupID), 10))
	}
	if f.SyscallID != 0 {
		a.m.PutInt(attrSyscallID, int64(f.SyscallID))
	}
	if f.SyscallName != "" {
		a.m.PutStr(attrSyscallName, f.SyscallName)
	}
	if f.Errno != 0 {
		a.m.PutInt(attrSyscallErrno, int64(f.Errno))
		a.m.PutStr(attrErrorType, errnoName(f.Errno))
	}
}

func (a refAttrs) network(n *event.Network) {
	if n.Transport != "" {
		a.m.PutStr(attrNetTransport, n.Transport)
	} else {
		a.m.PutInt(attrNetProtocol, int64(n.Protocol))
	}
	if n.Type != "" {
		a.m.PutStr(attrNetType, n.Type)
	}
	if t := socketType(n.SocketType); t != "" {
		a.m.PutStr(attrNetSocketType, t)
	}
	if n.LocalAddress != "" {
		a.str(attrNetLocalAddress, n.LocalAddress)
		if n.Type != "" {
			a.m.PutInt(attrNetLocalPort, int64(n.LocalPort))
		}
		if n.LocalAbstract {
			a.m.PutBool(attrNetLocalAbstract, true)
		}
	}
	if n.PeerAddress != "" {
		a.str(attrNetPeerAddress, n.PeerAddress)
		if n.Type != "" {
			a.m.PutInt(attrNetPeerPort, int64(n.PeerPort))
		}
		if n.PeerAbstract {
			a.m.PutBool(attrNetPeerAbstract, true)
		}
		if n.PeerFromCall {
			a.m.PutBool(attrNetPeerFromCall, true)
		}
	}
	if n.InProgress {
		a.m.PutBool(attrNetInProgress, true)
	}
	if n.SyscallID != 0 {
		a.m.PutInt(attrSyscallID, int64(n.SyscallID))
	}
	if n.SyscallName != "" {
		a.m.PutStr(attrSyscallName, n.SyscallName)
	}
	if n.Errno != 0 {
		a.m.PutInt(attrSyscallErrno, int64(n.Errno))
		a.m.PutStr(attrErrorType, errnoName(n.Errno))
	}
}

// str puts a string attribute. A value that is not valid UTF-8 is written
// with each invalid byte replaced by U+FFFD, and its exact bytes go to
// RawPrefix+k.
func (a refAttrs) str(k, v string) {
	if utf8.ValidString(v) {
		a.m.PutStr(k, v)
		return
	}
	a.m.PutStr(k, validUTF8(v))
	a.m.PutEmptyBytes(RawPrefix + k).FromRaw([]byte(v))
}

// strs puts a string array attribute. When any element is not valid UTF-8,
// RawPrefix+k holds the exact bytes of every element, so indices match.
func (a refAttrs) strs(k string, vs []string) {
	s := a.m.PutEmptySlice(k)
	s.EnsureCapacity(len(vs))
	valid := true
	for _, v := range vs {
		if utf8.ValidString(v) {
			s.AppendEmpty().SetStr(v)
			continue
		}
		valid = false
		s.AppendEmpty().SetStr(validUTF8(v))
	}
	if valid {
		return
	}
	raw := a.m.PutEmptySlice(RawPrefix + k)
	raw.EnsureCapacity(len(vs))
	for _, v := range vs {
		raw.AppendEmpty().SetEmptyBytes().FromRaw([]byte(v))
	}
}
