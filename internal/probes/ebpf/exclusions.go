package ebpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Exclusions say whose and which events are not reported. They are applied
// in the kernel, before a record is written, and can be changed while the
// provider runs (SetExclusions).
type Exclusions struct {
	// Initiators are executables whose processes' events are not reported.
	Initiators []Initiator
	// Paths are files (that file) or directories (everything below them)
	// whose file events are not reported. They are matched by inode, so
	// bind mounts and hard links do not get around them; a path must
	// exist when the exclusions are set.
	Paths []string
	// Syscalls are syscall numbers (x86_64) whose events are not reported.
	Syscalls []int
}

// Initiator is an excluded executable.
type Initiator struct {
	Path string
	// Descendants excludes the processes it starts too, whatever they run.
	Descendants bool
}

// ExclusionCounts are the events not reported, by reason.
type ExclusionCounts struct {
	Initiator, Path, Syscall uint64
}

// kernelDev is the kernel's internal dev_t (MKDEV) of a stat(2) st_dev.
func kernelDev(stDev uint64) uint32 {
	return unix.Major(stDev)<<20 | unix.Minor(stDev)
}

// inodeKey stats path (following symlinks, as exec and open do) and says
// whether it is a directory.
func inodeKey(path string) (sensorInodeKey, bool, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return sensorInodeKey{}, false, err
	}
	return sensorInodeKey{Ino: st.Ino, Dev: kernelDev(st.Dev)}, st.Mode&unix.S_IFMT == unix.S_IFDIR, nil
}

// SetExclusions replaces the exclusions in the running programs. Paths that
// cannot be resolved are skipped and named in the returned error; the rest
// apply. Processes already running an excluded executable are found in
// /proc and excluded too.
func (p *Provider) SetExclusions(x Exclusions) error {
	if !p.loaded {
		return errors.New("set exclusions: provider not started")
	}
	var errs []error

	exes := map[sensorInodeKey]uint32{}
	for _, in := range x.Initiators {
		k, _, err := inodeKey(in.Path)
		if err != nil {
			errs = append(errs, fmt.Errorf("excluded initiator %s: %w", in.Path, err))
			continue
		}
		mark := uint32(sensorExclusionMarkMARK_EXCLUDED)
		if in.Descendants {
			mark |= uint32(sensorExclusionMarkMARK_DESCENDANTS)
		}
		exes[k] |= mark
	}
	inodes := map[sensorInodeKey]uint32{}
	prefixes := map[sensorPrefixKey]uint32{}
	for _, path := range x.Paths {
		k, dir, err := inodeKey(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("excluded path %s: %w", path, err))
			continue
		}
		how := uint32(sensorPathExclusionPATH_EXACT)
		if dir {
			how = uint32(sensorPathExclusionPATH_SUBTREE)
		}
		inodes[k] |= how
		for _, key := range prefixKeys(path, dir) {
			prefixes[key] = how
		}
	}
	if err := replaceHash(p.objs.ExcludedExes, exes); err != nil {
		return fmt.Errorf("update excluded executables: %w", err)
	}
	if err := replaceHash(p.objs.ExcludedInodes, inodes); err != nil {
		return fmt.Errorf("update excluded paths: %w", err)
	}
	if err := replaceHash(p.objs.ExcludedPrefixes, prefixes); err != nil {
		return fmt.Errorf("update excluded path strings: %w", err)
	}
	var state uint32
	if len(exes) > 0 {
		state |= uint32(sensorExclusionStateEXCLUDING_TASKS)
	}
	if len(inodes) > 0 {
		state |= uint32(sensorExclusionStateEXCLUDING_INODES)
	}
	if len(prefixes) > 0 {
		state |= uint32(sensorExclusionStateEXCLUDING_PREFIXES)
	}
	if err := p.objs.ExclusionFlags.Put(uint32(0), state); err != nil {
		return fmt.Errorf("update exclusion state: %w", err)
	}
	syscalls := map[int]bool{}
	for _, id := range x.Syscalls {
		if id < 0 || id >= 512 {
			errs = append(errs, fmt.Errorf("excluded syscall %d: out of range", id))
			continue
		}
		syscalls[id] = true
	}
	for id := range 512 {
		v := uint8(0)
		if syscalls[id] {
			v = 1
		}
		if err := p.objs.ExcludedSyscalls.Put(uint32(id), v); err != nil {
			return fmt.Errorf("update excluded syscalls: %w", err)
		}
	}
	if err := replaceHash(p.objs.ExcludedTasks, runningMarks(exes)); err != nil {
		return fmt.Errorf("update excluded processes: %w", err)
	}
	return errors.Join(errs...)
}

// prefixKeys are the excluded_prefixes entries of an excluded path, for
// operations given an absolute path string: the path as configured
// (cleaned) and as resolved (symlinks followed), each as "PATH\0" (that
// path) and, for a directory, "PATH/" (everything below it). A path too
// long for the trie's keys gets none: it is matched by inode only.
func prefixKeys(path string, dir bool) []sensorPrefixKey {
	spellings := []string{filepath.Clean(path)}
	if real, err := filepath.EvalSymlinks(path); err == nil && real != spellings[0] {
		spellings = append(spellings, real)
	}
	var keys []sensorPrefixKey
	add := func(s string) {
		var k sensorPrefixKey
		if len(s) > len(k.Data) {
			return
		}
		copy(k.Data[:], s)
		k.Prefixlen = uint32(len(s)) * 8
		keys = append(keys, k)
	}
	for _, s := range spellings {
		if !filepath.IsAbs(s) {
			continue
		}
		add(s + "\x00")
		if dir {
			if s == "/" {
				add("/")
			} else {
				add(s + "/")
			}
		}
	}
	return keys
}

// runningMarks finds the processes that run an excluded executable, and
// their descendants where that is asked for.
func runningMarks(exes map[sensorInodeKey]uint32) map[uint32]uint32 {
	marks := map[uint32]uint32{}
	if len(exes) == 0 {
		return marks
	}
	entries, _ := os.ReadDir("/proc")
	children := map[uint32][]uint32{}
	for _, e := range entries {
		pid64, err := strconv.ParseUint(e.Name(), 10, 32)
		if err != nil {
			continue
		}
		pid := uint32(pid64)
		if ppid, ok := parentOf(pid); ok {
			children[ppid] = append(children[ppid], pid)
		}
		k, _, err := inodeKey(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			continue
		}
		if m, ok := exes[k]; ok {
			marks[pid] = m
		}
	}
	// Spread descendant marks down the tree.
	var spread func(pid uint32)
	spread = func(pid uint32) {
		for _, c := range children[pid] {
			if marks[c]&uint32(sensorExclusionMarkMARK_DESCENDANTS) == 0 {
				marks[c] = uint32(sensorExclusionMarkMARK_EXCLUDED | sensorExclusionMarkMARK_DESCENDANTS)
				spread(c)
			}
		}
	}
	for pid, m := range marks {
		if m&uint32(sensorExclusionMarkMARK_DESCENDANTS) != 0 {
			spread(pid)
		}
	}
	return marks
}

// parentOf reads a process's parent from /proc/PID/stat.
func parentOf(pid uint32) (uint32, bool) {
	b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/stat")
	if err != nil {
		return 0, false
	}
	// The fields after the last ')' are: state ppid ...
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ')' {
			var state string
			var ppid uint32
			if _, err := fmt.Sscan(string(b[i+1:]), &state, &ppid); err != nil {
				return 0, false
			}
			return ppid, true
		}
	}
	return 0, false
}

// replaceHash makes hash map m hold exactly want.
func replaceHash[K comparable, V any](m *ebpf.Map, want map[K]V) error {
	var (
		k     K
		v     V
		stale []K
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		if _, ok := want[k]; !ok {
			stale = append(stale, k)
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	for _, k := range stale {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return err
		}
	}
	for k, v := range want {
		if err := m.Put(k, v); err != nil {
			return err
		}
	}
	return nil
}

// Excluded returns the events not reported because of an exclusion.
func (p *Provider) Excluded() ExclusionCounts {
	p.finalMu.Lock()
	defer p.finalMu.Unlock()
	if !p.loaded {
		return p.finalExcluded
	}
	return p.excluded()
}

func (p *Provider) excluded() ExclusionCounts {
	var c ExclusionCounts
	var perCPU []uint64
	for why, dst := range map[sensorExclusion]*uint64{
		sensorExclusionEXCLUDED_INITIATOR: &c.Initiator,
		sensorExclusionEXCLUDED_PATH:      &c.Path,
		sensorExclusionEXCLUDED_SYSCALL:   &c.Syscall,
	} {
		if err := p.objs.ExcludedCounts.Lookup(uint32(why), &perCPU); err == nil {
			for _, n := range perCPU {
				*dst += n
			}
		}
	}
	return c
}
