package config

import (
	"fmt"
	"path/filepath"
	"strconv"
)

// Exclude lists what is not reported: events are dropped in the kernel
// before a record is written, and counted (docs/exclusions.md). Changes
// apply on SIGHUP without a restart.
type Exclude struct {
	// Initiators are executables whose processes' events are not reported.
	Initiators []ExcludedInitiator `koanf:"initiators"`
	// Paths are files, or directories with everything below them.
	Paths []string `koanf:"paths"`
	// Syscalls are names (openat) or x86_64 numbers (257) of hooked
	// syscalls whose events are not reported.
	Syscalls []string `koanf:"syscalls"`
}

// ExcludedInitiator is an excluded executable.
type ExcludedInitiator struct {
	Path string `koanf:"path"`
	// Descendants excludes every process it starts, at any depth.
	Descendants bool `koanf:"descendants"`
}

// SyscallNumbers resolves the excluded syscalls with lookup (a name to its
// number, for the syscalls the provider hooks); errors name the key.
func (x Exclude) SyscallNumbers(lookup func(name string) (int, bool)) ([]int, error) {
	var ids []int
	for i, s := range x.Syscalls {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			ids = append(ids, n)
			continue
		}
		n, ok := lookup(s)
		if !ok {
			return nil, &Error{Key: fmt.Sprintf("exclude.syscalls[%d]", i), Source: "effective configuration",
				Err: fmt.Errorf("%q is not a syscall the sensor hooks (give a name such as openat, or a number)", s)}
		}
		ids = append(ids, n)
	}
	return ids, nil
}

func (x Exclude) validate() error {
	bad := func(key, format string, args ...any) error {
		return &Error{Key: key, Source: "effective configuration", Err: fmt.Errorf(format, args...)}
	}
	for i, in := range x.Initiators {
		if !filepath.IsAbs(in.Path) {
			return bad(fmt.Sprintf("exclude.initiators[%d].path", i), "must be an absolute path, not %q", in.Path)
		}
	}
	for i, p := range x.Paths {
		if !filepath.IsAbs(p) {
			return bad(fmt.Sprintf("exclude.paths[%d]", i), "must be an absolute path, not %q", p)
		}
	}
	for i, s := range x.Syscalls {
		if s == "" {
			return bad(fmt.Sprintf("exclude.syscalls[%d]", i), "is empty")
		}
	}
	return nil
}
