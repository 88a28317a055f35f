package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// outputCount is what the benchmark checks in the sensor's OTLP JSON lines.
type outputCount struct {
	Exported     int // the workload's records (workload.matchRecord)
	EventRecords int // all records of the workload's event names
	// Failed counts the worker's records of those events that carry
	// error.type, by its value: attempts that failed or were interrupted,
	// which no workload makes on purpose (workload.matchRecord leaves them
	// out).
	Failed map[string]int
	// Incomplete counts the exported records that list attributes in
	// sensor.incomplete (the provider could not fill them: the netlink
	// provider reads an exec's program from /proc, after the fact), and
	// IncompleteAttrs how many of them list each attribute.
	Incomplete      int
	IncompleteAttrs map[string]int
	Dropped         int64    // final sum of sensor.events.dropped
	DropSeries      []string // non-zero series, "stage/reason/event.name=N"
}

// The few fields of ExportLogsServiceRequest / ExportMetricsServiceRequest
// (OTLP/JSON) the benchmark reads.
type otlpLine struct {
	ResourceLogs []struct {
		ScopeLogs []struct {
			LogRecords []struct {
				EventName  string     `json:"eventName"`
				Attributes []keyValue `json:"attributes"`
			} `json:"logRecords"`
		} `json:"scopeLogs"`
	} `json:"resourceLogs"`
	ResourceMetrics []struct {
		ScopeMetrics []struct {
			Metrics []struct {
				Name string `json:"name"`
				Sum  *struct {
					DataPoints []struct {
						Attributes []keyValue `json:"attributes"`
						AsInt      jsonInt64  `json:"asInt"`
					} `json:"dataPoints"`
				} `json:"sum"`
			} `json:"metrics"`
		} `json:"scopeMetrics"`
	} `json:"resourceMetrics"`
}

type keyValue struct {
	Key   string `json:"key"`
	Value struct {
		StringValue *string   `json:"stringValue"`
		IntValue    jsonInt64 `json:"intValue"`
		ArrayValue  *struct {
			Values []struct {
				StringValue *string `json:"stringValue"`
			} `json:"values"`
		} `json:"arrayValue"`
	} `json:"value"`
}

// jsonInt64 accepts an int64 as OTLP/JSON writes it (a decimal string) or
// as a plain number.
type jsonInt64 struct {
	V   int64
	Set bool
}

func (j *jsonInt64) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" {
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("int64 %s: %w", b, err)
	}
	j.V, j.Set = v, true
	return nil
}

func attrString(kvs []keyValue, key string) string {
	for _, kv := range kvs {
		if kv.Key == key && kv.Value.StringValue != nil {
			return *kv.Value.StringValue
		}
	}
	return ""
}

// attrStrings returns the strings of an array attribute.
func attrStrings(kvs []keyValue, key string) []string {
	var s []string
	for _, kv := range kvs {
		if kv.Key == key && kv.Value.ArrayValue != nil {
			for _, v := range kv.Value.ArrayValue.Values {
				if v.StringValue != nil {
					s = append(s, *v.StringValue)
				}
			}
		}
	}
	return s
}

func attrInt(kvs []keyValue, key string) (int64, bool) {
	for _, kv := range kvs {
		if kv.Key == key && kv.Value.IntValue.Set {
			return kv.Value.IntValue.V, true
		}
	}
	return 0, false
}

// attrIncomplete lists the attributes the provider could not fill
// (docs/events.md).
const attrIncomplete = "sensor.incomplete"

// countOutput reads the sensor's JSON lines and counts the records of the
// workload's event names, all of them and those the workload recognises as
// its worker's (process id pid), and takes the last reported value of every
// sensor.events.dropped series (the counters are cumulative).
func countOutput(r io.Reader, w *workload, pid int) (outputCount, error) {
	var c outputCount
	drops := map[string]int64{}
	dec := json.NewDecoder(r)
	for line := 1; ; line++ {
		var l otlpLine
		if err := dec.Decode(&l); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return c, fmt.Errorf("JSON value %d: %w", line, err)
		}
		for _, rl := range l.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				for _, rec := range sl.LogRecords {
					if !w.counts(rec.EventName) {
						continue
					}
					c.EventRecords++
					if w.matchRecord(rec.EventName, rec.Attributes, pid) {
						c.Exported++
						if missing := attrStrings(rec.Attributes, attrIncomplete); len(missing) > 0 {
							c.Incomplete++
							if c.IncompleteAttrs == nil {
								c.IncompleteAttrs = map[string]int{}
							}
							for _, a := range missing {
								c.IncompleteAttrs[a]++
							}
						}
					} else if p, _ := attrInt(rec.Attributes, "process.pid"); p == int64(pid) {
						if e := attrString(rec.Attributes, "error.type"); e != "" {
							if c.Failed == nil {
								c.Failed = map[string]int{}
							}
							c.Failed[rec.EventName+" "+e]++
						}
					}
				}
			}
		}
		for _, rm := range l.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					if m.Name != "sensor.events.dropped" || m.Sum == nil {
						continue
					}
					for _, dp := range m.Sum.DataPoints {
						key := attrString(dp.Attributes, "stage") + "/" +
							attrString(dp.Attributes, "reason") + "/" +
							attrString(dp.Attributes, "event.name")
						drops[key] = dp.AsInt.V
					}
				}
			}
		}
	}
	keys := make([]string, 0, len(drops))
	for k := range drops {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c.Dropped += drops[k]
		if drops[k] != 0 {
			c.DropSeries = append(c.DropSeries, fmt.Sprintf("%s=%d", k, drops[k]))
		}
	}
	return c, nil
}
