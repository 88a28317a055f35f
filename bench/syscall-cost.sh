#!/bin/bash
# Per-syscall cost of the sensor and of auditd: `perf bench syscall basic`
# (10 million getppid calls) alternately with nothing running, with the
# sensor running, and under auditd with the benchmark's execve rule. A
# diagnostic beside bench/overhead (see docs/performance.md); needs root,
# perf (Debian: linux-perf) and auditd.
#
#   bench/syscall-cost.sh [ROUNDS] [SENSOR]     (defaults: 5, bin/otel-sensor)
set -euo pipefail

rounds=${1:-5}
sensor=${2:-bin/otel-sensor}
dir=$(mktemp -d /tmp/syscall-cost.XXXXXX)
sensor_pid= auditd_pid=
backlog=$(auditctl -s | awk '$1 == "backlog_limit" {print $2}')
enabled=$(auditctl -s | awk '$1 == "enabled" {print $2}')

if [ "$(auditctl -s | awk '$1 == "pid" {print $2}')" != 0 ]; then
	echo "an audit daemon is already running; leaving it alone" >&2
	exit 1
fi

# Leave audit as bench/overhead does: no daemon, enabled flag and backlog
# as found, only the "never,task" rule (new tasks get no audit context).
cleanup() {
	[ -n "$sensor_pid" ] && kill -TERM "$sensor_pid" 2>/dev/null && wait "$sensor_pid" || true
	auditctl -e "$enabled" >/dev/null
	auditctl -D >/dev/null
	auditctl -a never,task
	auditctl -b "$backlog" >/dev/null
	[ -n "$auditd_pid" ] && kill -TERM "$auditd_pid" 2>/dev/null && wait "$auditd_pid" || true
	rm -rf "$dir"
}
trap cleanup EXIT

ns_per_call() { perf bench syscall basic 2>&1 | awk '/usecs\/op/ {printf "%.0f", $1 * 1000}'; }

wait_for() { # wait_for CMD...: retry for up to 10 s
	for _ in $(seq 200); do "$@" && return 0; sleep 0.05; done
	echo "timed out waiting for: $*" >&2
	return 1
}

sed -e "s|^log_file .*|log_file = $dir/audit.log|" \
    -e 's|^max_log_file_action .*|max_log_file_action = IGNORE|' \
    /etc/audit/auditd.conf >"$dir/auditd.conf"
chmod 600 "$dir/auditd.conf"

echo "| round | baseline ns/getppid | sensor | auditd (execve rule) |"
echo "|---|---|---|---|"
for r in $(seq "$rounds"); do
	base=$(ns_per_call)

	"$sensor" run --output "$dir/sensor.jsonl" 2>"$dir/sensor.err" &
	sensor_pid=$!
	wait_for grep -q "sensor running" "$dir/sensor.err"
	with_sensor=$(ns_per_call)
	kill -TERM "$sensor_pid"
	wait "$sensor_pid"
	sensor_pid=
	rm -f "$dir/sensor.jsonl"

	auditd -n -s nochange -c "$dir" &
	auditd_pid=$!
	wait_for sh -c "auditctl -s | grep -qx 'pid $auditd_pid'"
	auditctl -D >/dev/null
	auditctl -b 8192 >/dev/null
	auditctl -a always,exit -F arch=b64 -S execve -S execveat >/dev/null
	auditctl -e 1 >/dev/null
	with_auditd=$(ns_per_call)
	auditctl -e 0 >/dev/null
	auditctl -D >/dev/null
	auditctl -a never,task >/dev/null
	kill -TERM "$auditd_pid"
	wait "$auditd_pid"
	auditd_pid=

	echo "| $r | $base | $with_sensor | $with_auditd |"
done
