package vxlan

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MaxVNI is the largest VXLAN Network Identifier: the field is 24 bits wide.
const MaxVNI = 1<<24 - 1

// Selector decides which VNIs are decapsulated. Its zero value selects every VNI.
//
// It is built from SNIFFER_MIRROR_VNIS by ParseVNIs: listed VNIs are included, VNIs
// written with a minus sign are excluded. When nothing is included, every VNI that is
// not excluded is selected. Lookups are a binary search in small sorted slices, so
// Match never allocates and is safe for concurrent use.
type Selector struct {
	include []uint32 // sorted, unique; empty means "all"
	exclude []uint32 // sorted, unique
}

// ParseVNIs parses the SNIFFER_MIRROR_VNIS syntax: a comma-separated list of VNIs,
// where an empty string means all VNIs and a negative number ("-7") excludes that VNI.
// Spaces around items are ignored. Examples: "" (all), "7,9" (only 7 and 9),
// "-7" (all but 7), "7,9,-9" is rejected because 9 is both included and excluded.
func ParseVNIs(s string) (Selector, error) {
	var sel Selector
	if strings.TrimSpace(s) == "" {
		return sel, nil
	}
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return Selector{}, fmt.Errorf("vxlan: SNIFFER_MIRROR_VNIS %q: item %d is empty; write a comma-separated list such as \"7,9\" or \"-7\"", s, i+1)
		}
		neg := strings.HasPrefix(item, "-")
		digits := strings.TrimPrefix(item, "-")
		if strings.HasPrefix(digits, "+") || strings.HasPrefix(digits, "-") {
			return Selector{}, fmt.Errorf("vxlan: SNIFFER_MIRROR_VNIS %q: %q is not a VNI; use a number from 0 to %d, or a minus sign to exclude it", s, item, MaxVNI)
		}
		n, err := strconv.ParseUint(digits, 10, 32)
		if err != nil || n > MaxVNI {
			return Selector{}, fmt.Errorf("vxlan: SNIFFER_MIRROR_VNIS %q: %q is not a VNI; use a number from 0 to %d, or a minus sign to exclude it", s, item, MaxVNI)
		}
		if neg {
			sel.exclude = append(sel.exclude, uint32(n))
		} else {
			sel.include = append(sel.include, uint32(n))
		}
	}
	slices.Sort(sel.include)
	sel.include = slices.Compact(sel.include)
	slices.Sort(sel.exclude)
	sel.exclude = slices.Compact(sel.exclude)
	for _, v := range sel.exclude {
		if _, found := slices.BinarySearch(sel.include, v); found {
			return Selector{}, fmt.Errorf("vxlan: SNIFFER_MIRROR_VNIS %q: VNI %d is both included and excluded; keep one of %d and -%d", s, v, v, v)
		}
	}
	return sel, nil
}

// Match reports whether packets with this VNI are to be decapsulated.
func (s Selector) Match(vni uint32) bool {
	if _, found := slices.BinarySearch(s.exclude, vni); found {
		return false
	}
	if len(s.include) == 0 {
		return true
	}
	_, found := slices.BinarySearch(s.include, vni)
	return found
}

// All reports whether the selector lets every VNI through.
func (s Selector) All() bool { return len(s.include) == 0 && len(s.exclude) == 0 }

// String returns the selector in SNIFFER_MIRROR_VNIS syntax (canonical order), or
// "all" for the zero value, for logs and the end-of-run summary.
func (s Selector) String() string {
	if s.All() {
		return "all"
	}
	parts := make([]string, 0, len(s.include)+len(s.exclude))
	for _, v := range s.include {
		parts = append(parts, strconv.FormatUint(uint64(v), 10))
	}
	for _, v := range s.exclude {
		parts = append(parts, "-"+strconv.FormatUint(uint64(v), 10))
	}
	return strings.Join(parts, ",")
}
