package rules

import (
	"testing"
	"time"

	"sniffer/internal/testenv"
)

// BenchmarkMix applies each predefined set to the workload mix (mix_test.go) and reports
// ns/call, the figure sniffer's throughput target is stated in, for -decode=false (the
// 64 KiB response as gzip bytes) and -decode=true (as JSON). On a busy machine wall time
// says little: cpu-ns/call is the process's CPU time (garbage collection included) per
// call, min-ns/call the fastest pass over the 100 calls (garbage collection mostly not).
//
//	go test -run '^$' -bench Mix -benchtime 2s ./rules
func BenchmarkMix(b *testing.B) {
	for _, mode := range []struct {
		name    string
		decoded bool
	}{{"raw", false}, {"decoded", true}} {
		calls := mixCalls(100, mode.decoded)
		var bytes int64
		for _, c := range calls {
			for _, d := range c {
				bytes += int64(len(d[1]))
			}
		}
		for _, set := range []string{"default", "standard", "strict", "debug"} {
			b.Run(mode.name+"/"+set, func(b *testing.B) {
				r := mustParse("include " + set)
				buf := make([][2]string, 0, 32)
				b.SetBytes(bytes)
				b.ReportAllocs()
				n := 0
				fastest := time.Duration(1<<63 - 1)
				cpu0 := testenv.CPUTime()
				for b.Loop() {
					t0 := time.Now()
					for _, c := range calls {
						buf = append(buf[:0], c...)
						r.Apply(buf)
					}
					fastest = min(fastest, time.Since(t0))
					n += len(calls)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/call")
				b.ReportMetric(float64((testenv.CPUTime()-cpu0).Nanoseconds())/float64(n), "cpu-ns/call")
				b.ReportMetric(float64(fastest.Nanoseconds())/float64(len(calls)), "min-ns/call")
			})
		}
	}
}
