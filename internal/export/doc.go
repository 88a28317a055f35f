// Package export turns provider-neutral events into OpenTelemetry data and
// delivers it.
//
// It provides:
//
//   - NewLogs: the mapping of events to pdata log records
//     (one ResourceLogs, one ScopeLogs "otel-sensor", one LogRecord per event);
//   - Resource and DetectResource: the sensor's resource attributes, detected
//     from the host and overridden by OTEL_RESOURCE_ATTRIBUTES and
//     OTEL_SERVICE_NAME;
//   - Exporter and its implementations: JSONLines writes OTLP JSON, one
//     request per line; OTLP sends over OTLP/gRPC or OTLP/HTTP through the
//     Collector's own exporters, retrying what the specification calls
//     retryable; Split sends logs and metrics to different places;
//   - Pipeline: the bounded queue, batching and metrics between a provider
//     and an Exporter. It maps the next batch while one is exported, and
//     reuses the pdata records of past batches (an Exporter must not keep
//     what it is given).
//
// Rules the mapping keeps (docs/events.md is the user-facing contract):
//
//   - A field the provider could not know (zero, empty or nil) is left out,
//     never invented.
//   - Every string written is valid UTF-8. A kernel string that is not gets
//     each invalid byte replaced by U+FFFD, and the exact original bytes are
//     kept beside it in a bytes attribute named "sensor.raw." + the attribute
//     name. Nothing is lost.
//   - Lengths are kept as given: the provider bounds them and lists what it cut
//     in event.Event.Truncated, exported as sensor.truncated.
//
// Rules the pipeline keeps (docs/metrics.md is the user-facing contract):
//
//   - Handle never blocks. An event that does not fit in the queue is dropped
//     and counted; every event delivered is counted exactly once as accepted
//     (sensor.events) or dropped at the queue, and an accepted event whose
//     export fails is counted again as dropped at the export stage: as
//     "rejected" when the error wraps ErrRejected, else "export_failed".
//   - An export error is final: retrying is the Exporter's job. What an
//     Exporter loses after an export succeeded (an OTLP partial success) it
//     reports through DropCounter, and only that.
//   - Memory is bounded: the queue (QueueSize events), plus one batch being
//     mapped and one being exported, each bounded by MaxBatch records and
//     MaxBatchBytes of OTLP protobuf.
//   - Shutdown drains the queue, exports a last metrics snapshot and shuts the
//     Exporter down; it is idempotent and safe without Start.
//
// The package holds no package-level mutable state.
package export
