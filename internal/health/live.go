package health

import "time"

// Live is the running daemon's state, as it answers on the health socket.
type Live struct {
	PID       int       `json:"pid"`
	Version   string    `json:"version"`
	StartTime time.Time `json:"start_time"`
	// Provider is the active provider (ebpf or netlink), ProviderReason why
	// it is the one (probes.Select's reason).
	Provider       string `json:"provider"`
	ProviderReason string `json:"provider_reason"`
	// EventsTotal is the sum of sensor.events, EventsDroppedTotal of
	// sensor.events.dropped.
	EventsTotal        uint64   `json:"events_total"`
	EventsDroppedTotal uint64   `json:"events_dropped_total"`
	Exporter           Exporter `json:"exporter"`
	// Reloads counts the configuration reloads (SIGHUP) the daemon has
	// done; LastReload is when the last one began (nil before the first),
	// LastReloadError why it was not applied (empty when it was).
	// `config set` waits on LastReload after its SIGHUP.
	Reloads         uint64     `json:"reloads"`
	LastReload      *time.Time `json:"last_reload"`
	LastReloadError string     `json:"last_reload_error"`
}

// Exporter is where the events go and how that goes.
type Exporter struct {
	// Type is otlp, console or none: where the events (logs) go.
	Type string `json:"type"`
	// Endpoint is the OTLP endpoint with its protocol, the output file, or
	// stdout.
	Endpoint string `json:"endpoint"`
	// LastError is the error of the last export; empty when it succeeded.
	LastError string `json:"last_error"`
	// LastSuccess is when an export last succeeded (with a persistent
	// queue: when a batch was last written to it); nil before the first.
	LastSuccess *time.Time `json:"last_success"`
	// QueueSize is the events waiting for export, QueueCapacity how many
	// fit before new ones are dropped.
	QueueSize     int `json:"queue_size"`
	QueueCapacity int `json:"queue_capacity"`
}
