package ebpf

import (
	"testing"
)

// BenchmarkDecode decodes file.open records as the kernel writes them: an
// absolute path the process passed, and a relative one with the walk of the
// directory it is relative to (leaf first). Each event is released, as the
// pipeline releases it, here at once on the same goroutine: in the sensor
// another goroutine does it, later. Run it with
//
//	go test ./internal/probes/ebpf/ -run XXX -bench Decode -benchmem
func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct {
		name string
		rec  []byte
	}{
		{"file_open_absolute", fileBytes(b, sensorFileOpFILE_OP_OPEN, 257, 0,
			fileParts{str1: []byte("/tmp/otel-sensor-throughput-3361044172/run-3/target")})},
		{"file_open_relative", fileBytes(b, sensorFileOpFILE_OP_OPEN, 257, 0,
			fileParts{str1: []byte("target"), walk1: []byte("run-3\x00otel-sensor-throughput-3361044172\x00tmp\x00")})},
	} {
		copy(bc.rec[80:96], "throughput\x00") // the comm
		b.Run(bc.name, func(b *testing.B) {
			d := decoder{clock: testClock}
			b.ReportAllocs()
			for b.Loop() {
				r, err := d.decode(bc.rec)
				if err != nil {
					b.Fatal(err)
				}
				r.ev.Release() // as the pipeline does once it has mapped the event
			}
		})
	}
}
