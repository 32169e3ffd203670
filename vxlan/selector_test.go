package vxlan

import (
	"strings"
	"testing"
)

func TestParseVNIs(t *testing.T) {
	tests := []struct {
		in       string
		match    []uint32
		nomatch  []uint32
		str      string
		errorHas string
	}{
		{in: "", match: []uint32{0, 1, 42, MaxVNI}, str: "all"},
		{in: "   ", match: []uint32{0, 7}, str: "all"},
		{in: "7", match: []uint32{7}, nomatch: []uint32{0, 6, 8, MaxVNI}, str: "7"},
		{in: " 9 , 7,7 ", match: []uint32{7, 9}, nomatch: []uint32{8}, str: "7,9"},
		{in: "-7", match: []uint32{0, 6, 8, MaxVNI}, nomatch: []uint32{7}, str: "-7"},
		{in: "-0,-16777215", match: []uint32{1, 100}, nomatch: []uint32{0, MaxVNI}, str: "-0,-16777215"},
		{in: "1,2,-3", match: []uint32{1, 2}, nomatch: []uint32{3, 4}, str: "1,2,-3"},
		{in: "16777215", match: []uint32{MaxVNI}, nomatch: []uint32{0}},
		{in: "16777216", errorHas: "0 to 16777215"},
		{in: "7,,9", errorHas: "item 2 is empty"},
		{in: "7,", errorHas: "item 2 is empty"},
		{in: "seven", errorHas: `"seven" is not a VNI`},
		{in: "--7", errorHas: `"--7" is not a VNI`},
		{in: "-+7", errorHas: "not a VNI"},
		{in: "+7", errorHas: "not a VNI"},
		{in: "0x10", errorHas: "not a VNI"},
		{in: "99999999999999999999", errorHas: "not a VNI"},
		{in: "5,-5", errorHas: "both included and excluded"},
	}
	for _, tc := range tests {
		sel, err := ParseVNIs(tc.in)
		if tc.errorHas != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errorHas) {
				t.Errorf("ParseVNIs(%q) error = %v, want one containing %q", tc.in, err, tc.errorHas)
				continue
			}
			if !strings.Contains(err.Error(), "SNIFFER_MIRROR_VNIS") {
				t.Errorf("ParseVNIs(%q) error %q does not name the variable to fix", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseVNIs(%q): %v", tc.in, err)
			continue
		}
		for _, v := range tc.match {
			if !sel.Match(v) {
				t.Errorf("ParseVNIs(%q).Match(%d) = false, want true", tc.in, v)
			}
		}
		for _, v := range tc.nomatch {
			if sel.Match(v) {
				t.Errorf("ParseVNIs(%q).Match(%d) = true, want false", tc.in, v)
			}
		}
		if tc.str != "" && sel.String() != tc.str {
			t.Errorf("ParseVNIs(%q).String() = %q, want %q", tc.in, sel.String(), tc.str)
		}
		// The canonical string parses back to the same selection.
		again, err := ParseVNIs(strings.ReplaceAll(sel.String(), "all", ""))
		if err != nil || again.String() != sel.String() {
			t.Errorf("round trip of %q: %v %q", sel.String(), err, again.String())
		}
	}
}

func TestSelectorZeroValueMatchesAll(t *testing.T) {
	var s Selector
	if !s.All() || !s.Match(0) || !s.Match(MaxVNI) {
		t.Fatal("zero Selector must match every VNI")
	}
}
