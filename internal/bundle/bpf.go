package bundle

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// BPF is the BPF part: every BPF program and map loaded on the host (the
// sensor's and anyone else's), read with the bpf() syscall, so bpftool is
// not needed.
type BPF struct {
	// Stats says how the run counts were collected: BPF statistics
	// enabled for the window (BPF_ENABLE_STATS), or why they could not be.
	Stats string `json:"stats"`
	// WindowSeconds is how long the window between the two readings of
	// the programs was.
	WindowSeconds float64      `json:"window_seconds"`
	Programs      []BPFProgram `json:"programs"`
	Maps          []BPFMap     `json:"maps"`
	// Errors are programs or maps that could not be read.
	Errors []string `json:"errors"`
}

// BPFProgram is one loaded program, as read at the end of the window.
type BPFProgram struct {
	ID   uint32 `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
	Tag  string `json:"tag"`
	// LoadedAgoSeconds is how long ago it was loaded.
	LoadedAgoSeconds float64  `json:"loaded_ago_seconds,omitempty"`
	CreatedByUID     *uint32  `json:"created_by_uid,omitempty"`
	MapIDs           []uint32 `json:"map_ids"`
	// RunCount and RunTimeNS are the kernel's totals: they grow only while
	// BPF statistics are enabled (kernel.bpf_stats_enabled or a
	// BPF_ENABLE_STATS descriptor held open).
	RunCount        uint64 `json:"run_count"`
	RunTimeNS       uint64 `json:"run_time_ns"`
	RecursionMisses uint64 `json:"recursion_misses"`
	// WindowRunCount and WindowRunTimeNS are the growth over the window;
	// absent for a program loaded during it (LoadedDuringWindow: without a
	// daemon, the probes the stats window loaded, which the kernel may not
	// have freed yet).
	WindowRunCount     *uint64 `json:"window_run_count,omitempty"`
	WindowRunTimeNS    *uint64 `json:"window_run_time_ns,omitempty"`
	LoadedDuringWindow bool    `json:"loaded_during_window,omitempty"`
}

// BPFMap is one loaded map.
type BPFMap struct {
	ID         uint32 `json:"id"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	KeySize    uint32 `json:"key_size"`
	ValueSize  uint32 `json:"value_size"`
	MaxEntries uint32 `json:"max_entries"`
	Flags      uint32 `json:"flags"`
	Frozen     bool   `json:"frozen"`
}

// BPFWindow enables BPF run-time statistics, reads the loaded programs,
// runs window, reads them again and lists the maps. The programs' window
// counts are the difference. It fails only when no program can be listed
// at all (no CAP_BPF or CAP_SYS_ADMIN); window runs in any case.
func BPFWindow(window func()) (BPF, error) {
	var b BPF
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Stats = "not enabled (run counts grow only with kernel.bpf_stats_enabled=1): " + err.Error()
	} else {
		b.Stats = "enabled for the window with BPF_ENABLE_STATS"
		defer stats.Close()
	}
	start := time.Now()
	first, _, listErr := programs()
	before := make(map[uint32]BPFProgram, len(first))
	for _, p := range first {
		before[p.ID] = p
	}
	window()
	b.WindowSeconds = time.Since(start).Round(time.Millisecond).Seconds()
	if listErr != nil {
		return b, fmt.Errorf("list BPF programs: %w", listErr)
	}
	after, errs, err := programs()
	if err != nil {
		return b, fmt.Errorf("list BPF programs: %w", err)
	}
	b.Errors = append([]string{}, errs...)
	b.Programs = []BPFProgram{}
	for _, p := range after {
		switch old, ok := before[p.ID]; {
		case !ok:
			p.LoadedDuringWindow = true
		case p.RunCount >= old.RunCount && p.RunTimeNS >= old.RunTimeNS:
			count, ns := p.RunCount-old.RunCount, p.RunTimeNS-old.RunTimeNS
			p.WindowRunCount, p.WindowRunTimeNS = &count, &ns
		}
		b.Programs = append(b.Programs, p)
	}
	maps, errs, err := maps()
	if err != nil {
		return b, fmt.Errorf("list BPF maps: %w", err)
	}
	b.Maps, b.Errors = maps, append(b.Errors, errs...)
	return b, nil
}

// programs reads every loaded program, in ID order; errs are those that
// could not be read (a program unloaded meanwhile is skipped).
func programs() (progs []BPFProgram, errs []string, err error) {
	progs = []BPFProgram{}
	for id := ebpf.ProgramID(0); ; {
		next, err := ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			return progs, errs, nil
		}
		if err != nil {
			return nil, nil, err
		}
		id = next
		p, err := readProgram(id)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			errs = append(errs, fmt.Sprintf("program %d: %v", id, err))
		default:
			progs = append(progs, p)
		}
	}
}

func readProgram(id ebpf.ProgramID) (BPFProgram, error) {
	prog, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return BPFProgram{}, err
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		return BPFProgram{}, err
	}
	p := BPFProgram{ID: uint32(id), Name: info.Name, Type: info.Type.String(), Tag: info.Tag, MapIDs: []uint32{}}
	if uid, ok := info.CreatedByUID(); ok {
		p.CreatedByUID = &uid
	}
	if ids, ok := info.MapIDs(); ok {
		for _, m := range ids {
			p.MapIDs = append(p.MapIDs, uint32(m))
		}
	}
	if since, ok := info.LoadTime(); ok {
		if up, err := uptime(); err == nil && up > since {
			p.LoadedAgoSeconds = (up - since).Round(time.Millisecond).Seconds()
		}
	}
	if st, err := prog.Stats(); err == nil {
		p.RunCount, p.RunTimeNS, p.RecursionMisses = st.RunCount, uint64(st.Runtime), st.RecursionMisses
	}
	return p, nil
}

// uptime is the time since boot, the clock of a program's load time.
func uptime() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, err
	}
	return time.Duration(ts.Nano()), nil
}

// maps reads every loaded map, in ID order.
func maps() (out []BPFMap, errs []string, err error) {
	out = []BPFMap{}
	for id := ebpf.MapID(0); ; {
		next, err := ebpf.MapGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			return out, errs, nil
		}
		if err != nil {
			return nil, nil, err
		}
		id = next
		m, err := readMap(id)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			errs = append(errs, fmt.Sprintf("map %d: %v", id, err))
		default:
			out = append(out, m)
		}
	}
}

func readMap(id ebpf.MapID) (BPFMap, error) {
	m, err := ebpf.NewMapFromID(id)
	if err != nil {
		return BPFMap{}, err
	}
	defer m.Close()
	info, err := m.Info()
	if err != nil {
		return BPFMap{}, err
	}
	return BPFMap{ID: uint32(id), Name: info.Name, Type: info.Type.String(), KeySize: info.KeySize,
		ValueSize: info.ValueSize, MaxEntries: info.MaxEntries, Flags: info.Flags, Frozen: info.Frozen()}, nil
}
