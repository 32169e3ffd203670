package rules

import (
	"slices"
	"testing"
	"unsafe"

	"sniffer/internal/bufpool"
)

// TestApplyPooledSameValues: ApplyPooled gives Apply's details, on the bench mix with
// bodies raw and decoded under every predefined set, and every value it rewrote from
// bufpool.Min bytes up lies in one of the buffers it handed out, each buffer holding one
// such value, so that handing them back frees nothing else.
func TestApplyPooledSameValues(t *testing.T) {
	pooledValues := 0
	for _, decoded := range []bool{false, true} {
		calls := mixCalls(20, decoded)
		for _, set := range []string{"default", "standard", "strict", "debug"} {
			r := mustParse("include " + set)
			for i, c := range calls {
				want, wantKeep := r.Apply(slices.Clone(c))
				var bufs [][]byte
				got, keep := r.ApplyPooled(slices.Clone(c), &bufs)
				if keep != wantKeep || !slices.Equal(got, want) {
					t.Fatalf("%s, call %d (decoded %v): ApplyPooled %v %.200q, Apply %v %.200q", set, i, decoded, keep, got, wantKeep, want)
				}
				used := make([]bool, len(bufs))
				for _, d := range got {
					v := d[1]
					in := slices.IndexFunc(bufs, func(b []byte) bool {
						return len(b) > 0 && unsafe.StringData(v) == unsafe.SliceData(b) && len(v) == len(b)
					})
					changed := !slices.ContainsFunc(c, func(o [2]string) bool { return unsafe.StringData(o[1]) == unsafe.StringData(v) })
					switch {
					case in >= 0:
						if used[in] {
							t.Fatalf("%s, call %d: two values in one buffer", set, i)
						}
						used[in] = true
						pooledValues++
					case changed && len(v) >= bufpool.Min:
						t.Fatalf("%s, call %d: %s was rewritten (%d bytes) outside the pooled buffers", set, i, d[0], len(v))
					}
				}
				if slices.Contains(used, false) {
					t.Fatalf("%s, call %d: %d buffers handed out, not all holding a value", set, i, len(bufs))
				}
				for _, b := range bufs {
					bufpool.Put(b)
				}
			}
		}
	}
	if pooledValues == 0 {
		t.Fatal("no value was made in a pooled buffer: the test checks nothing")
	}
	t.Logf("%d values in pooled buffers", pooledValues)
}
