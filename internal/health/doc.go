// Package health provides what `otel-sensor health` reports and how it
// learns it:
//
//   - Live: the running daemon's state (provider and reason, event and drop
//     totals, exporter state), served by Server on a unix socket that only
//     root can open and read by Query;
//   - ExportTracker: an export.Exporter wrapper that records when exports
//     last succeeded, for the exporter's last_success;
//   - Audit and CheckAudit: the kernel audit subsystem's state (enabled,
//     locked, rules loaded), read over NETLINK_AUDIT;
//   - Report and Build: the health report (the DESIGN.md contract of
//     `health --output json`) with actionable health issues, from the
//     daemon's state, or without a daemon from what can be checked locally.
//
// Rules: Build is pure, so every issue is table-tested. The socket is
// served with its directory 0700 and itself 0600, and the server answers
// only peers running as root or as the daemon's own user (SO_PEERCRED).
// The package holds no package-level mutable state.
package health
