package bufpool

import "testing"

// TestClasses: a buffer asked for n bytes holds n; a buffer put back is filed under a
// class it holds, so that the next buffer taken from that class holds what was asked.
func TestClasses(t *testing.T) {
	for i := range classes {
		if i > 0 && classSize(i) <= classSize(i-1) {
			t.Fatalf("class %d: %d bytes after %d", i, classSize(i), classSize(i-1))
		}
		if classFor(classSize(i)) != i || i > 0 && classFor(classSize(i-1)+1) != i {
			t.Fatalf("class %d (%d bytes): classFor gives %d for its size, %d for one more than the class below",
				i, classSize(i), classFor(classSize(i)), classFor(classSize(i-1)+1))
		}
	}
	if classSize(0) != Min || classSize(classes-1) != 1<<20 {
		t.Fatalf("classes from %d to %d bytes", classSize(0), classSize(classes-1))
	}
	for _, n := range []int{1, 4095, 4096, 4097, 5119, 5120, 5121, 65536 + 513, 100000, 1 << 20, 1<<20 + 1, 3 << 20} {
		b := Get(n)
		if len(b) != 0 || cap(b) < n {
			t.Fatalf("Get(%d): len %d cap %d", n, len(b), cap(b))
		}
		Put(append(b, 1))
	}
	// Buffers of odd capacities put back: whatever the pool gives holds what was asked.
	for c := 4000; c < 300000; c += 7919 {
		Put(make([]byte, 1, c))
		for _, n := range []int{c / 2, c - 1, c, c + 1} {
			if b := Get(n); len(b) != 0 || cap(b) < n {
				t.Fatalf("after a buffer of %d bytes was put back, Get(%d): len %d cap %d", c, n, len(b), cap(b))
			}
		}
	}
}
