package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
)

// discardServer answers OTLP/HTTP logs requests with success at once,
// without decoding them: a collector that costs (almost) nothing, to tell
// the sensor's own limit from the receiver's. It counts requests and bytes
// only; the records are not counted.
type discardServer struct {
	srv             *http.Server
	addr            string
	requests, bytes atomic.Int64
}

func startDiscard() (*discardServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d := &discardServer{addr: l.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/logs", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		d.requests.Add(1)
		d.bytes.Add(n)
		// An empty body is an empty ExportLogsServiceResponse: full success.
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})
	d.srv = &http.Server{Handler: mux}
	go func() {
		if err := d.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err)
		}
	}()
	return d, nil
}

// logsURL is the URL for OTEL_EXPORTER_OTLP_LOGS_ENDPOINT.
func (d *discardServer) logsURL() string { return "http://" + d.addr + "/v1/logs" }

func (d *discardServer) stop() { d.srv.Close() }
