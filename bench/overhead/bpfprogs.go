package main

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// loadedBPFPrograms counts the eBPF programs loaded on the machine, by
// walking their ids (BPF_PROG_GET_NEXT_ID). The machine is shared: another
// eBPF sensor (a test run, say) attached during a baseline round makes that
// round pay for it, and the report says when that happened.
func loadedBPFPrograms() (int, error) {
	var attr struct {
		StartID, NextID, OpenFlags uint32
	}
	n := 0
	for {
		_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_GET_NEXT_ID,
			uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		if errno == unix.ENOENT {
			return n, nil
		}
		if errno != 0 {
			return n, errors.New("bpf(BPF_PROG_GET_NEXT_ID): " + errno.Error())
		}
		n++
		attr.StartID = attr.NextID
	}
}
