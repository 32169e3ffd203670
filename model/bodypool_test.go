package model

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// TestBodyClasses: a buffer asked for n bytes holds n; a recycled buffer is filed under a
// class it holds, so that the next buffer taken from that class holds what was asked.
func TestBodyClasses(t *testing.T) {
	for i := range poolClasses {
		if i > 0 && classSize(i) <= classSize(i-1) {
			t.Fatalf("class %d: %d bytes after %d", i, classSize(i), classSize(i-1))
		}
		if classFor(classSize(i)) != i || i > 0 && classFor(classSize(i-1)+1) != i {
			t.Fatalf("class %d (%d bytes): classFor gives %d for its size, %d for one more than the class below",
				i, classSize(i), classFor(classSize(i)), classFor(classSize(i-1)+1))
		}
	}
	if classSize(0) != 4<<10 || classSize(poolClasses-1) != 1<<20 {
		t.Fatalf("classes from %d to %d bytes", classSize(0), classSize(poolClasses-1))
	}
	for _, n := range []int{1, 4095, 4096, 4097, 5119, 5120, 5121, 65536 + 513, 100000, 1 << 20, 1<<20 + 1, 3 << 20} {
		b := bodyBuffer(n)
		if len(b) != 0 || cap(b) < n {
			t.Fatalf("bodyBuffer(%d): len %d cap %d", n, len(b), cap(b))
		}
		RecycleBody(append(b, 1))
	}
	// Recycled buffers of odd capacities: whatever the pool gives back holds what was asked.
	for c := 4000; c < 300000; c += 7919 {
		RecycleBody(make([]byte, 1, c))
		for _, n := range []int{c / 2, c - 1, c, c + 1} {
			if b := bodyBuffer(n); len(b) != 0 || cap(b) < n {
				t.Fatalf("after a buffer of %d bytes was recycled, bodyBuffer(%d): len %d cap %d", c, n, len(b), cap(b))
			}
		}
	}
}

// TestDecodedBody: only a body a decoder wrote is offered for recycling.
func TestDecodedBody(t *testing.T) {
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(bytes.Repeat([]byte("sniffer "), 1000))
	w.Close()
	for _, tc := range []struct {
		coding string
		want   bool
	}{{"gzip", true}, {"identity", false}, {"", false}, {"nonsense", false}} {
		m := Message{Body: z.Bytes(), Headers: []Header{{Name: "Content-Encoding", Value: tc.coding}}}
		captured := m.Body
		m.Decode(1 << 20)
		got := m.DecodedBody(captured)
		if (got != nil) != tc.want {
			t.Errorf("%q: DecodedBody %v, want a body: %v", tc.coding, got != nil, tc.want)
		}
		if got != nil && string(got) != string(bytes.Repeat([]byte("sniffer "), 1000)) {
			t.Errorf("%q: decoded %q", tc.coding, got)
		}
	}
}
