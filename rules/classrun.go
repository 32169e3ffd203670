package rules

// classTables returns the nibble tables classRun classifies bytes with: by low nibble
// the high nibbles (0-7) that make a byte of the class with it, one bit each; by high
// nibble its bit (none from 8 up: the class is ASCII); then 0x0f sixteen times.
func classTables(it *seqItem) *[48]byte {
	var t [48]byte
	for c := range 0x80 {
		if it.ascii[c] {
			t[c&15] |= 1 << (c >> 4)
		}
	}
	for h := range 8 {
		t[16+h] = 1 << h
	}
	for i := range 16 {
		t[32+i] = 0x0f
	}
	return &t
}

// classCenter is the bits of a 16-byte block that every run of m bytes inside it
// covers (16-m .. m-1; none past 16 bytes, where no run fits: bit 16, never set).
func classCenter(m int) uint64 {
	if m > 16 {
		return 1 << 16
	}
	return (1<<m - 1) &^ (1<<(16-m) - 1)
}
