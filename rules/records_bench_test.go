package rules

import (
	"testing"

	"sniffer/internal/bufpool"
)

// BenchmarkApplyDefaultRecords is the cost of the default set on decoded calls, as the
// pipeline pays it: the bench workload's records (mixCalls, bodies decoded) through
// ApplyOpaque with pooled buffers, handed back to internal/bufpool once the call is done
// as the pipeline does once the sinks have written it. One op is one call.
//
//	go test -run '^$' -bench ApplyDefaultRecords -count 6 ./rules
func BenchmarkApplyDefaultRecords(b *testing.B) {
	calls := mixCalls(100, true)
	var bytes int64
	for _, c := range calls {
		for _, d := range c {
			bytes += int64(len(d[1]))
		}
	}
	r := Default()
	buf := make([][2]string, 0, 32)
	var bufs [][]byte
	b.SetBytes(bytes / int64(len(calls)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		buf = append(buf[:0], calls[i%len(calls)]...)
		i++
		r.ApplyOpaque(buf, &bufs, 0)
		for _, p := range bufs {
			bufpool.Put(p)
		}
		bufs = bufs[:0]
	}
}
