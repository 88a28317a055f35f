package ebpf

// The generated sensor_x86_bpfel.{go,o} are committed, so a plain go build
// needs no clang. `make generate` reruns this with the pinned clang.
//go:generate go tool bpf2go -tags linux -target amd64 -type record_header -type fork_record -type exit_record -type creds_record -type cred_ids -type record_type -type drop_reason -type record_flag -type file_op -type sock_op -type sock_record -type inode_key -type exclusion -type exclusion_mark -type path_exclusion -type exclusion_state -type prefix_key sensor ../../../bpf/sensor.c -- -I../../../bpf -D__TARGET_ARCH_x86 -O2 -g -Wall -Werror
