package rules

import (
	"slices"
	"testing"
)

// TestApplyOpaque: replace rules skip the bodies marked opaque and mask the others; remove
// rules still remove an opaque body; MasksBodies names the bodies replace rules scope.
func TestApplyOpaque(t *testing.T) {
	details := func() [][2]string {
		return [][2]string{
			{"request_url", "http://a.test/x"},
			{"request_body", "mail someone@example.com"},
			{"response_body", "mail someone@example.com"},
		}
	}
	get := func(ds [][2]string, name string) string {
		for _, d := range ds {
			if d[0] == name {
				return d[1]
			}
		}
		return "<none>"
	}
	def := Default()
	if got := def.MasksBodies(); got != OpaqueRequestBody|OpaqueResponseBody {
		t.Errorf("default MasksBodies %b, want both bodies", got)
	}
	out, keep := def.ApplyOpaque(details(), nil, OpaqueResponseBody)
	if !keep || get(out, "request_body") != "mail x@y.com" || get(out, "response_body") != "mail someone@example.com" {
		t.Errorf("opaque response body: %q", out)
	}
	out, _ = def.ApplyOpaque(details(), nil, 0)
	if get(out, "response_body") != "mail x@y.com" {
		t.Errorf("no mark: %q", out)
	}
	rm, err := Parse("/response_body/ remove\n/request_body/ replace /mail/, /m/")
	if err != nil {
		t.Fatal(err)
	}
	if got := rm.MasksBodies(); got != OpaqueRequestBody {
		t.Errorf("MasksBodies %b, want the request body only", got)
	}
	out, _ = rm.ApplyOpaque(details(), nil, OpaqueRequestBody|OpaqueResponseBody)
	if get(out, "response_body") != "<none>" || get(out, "request_body") != "mail someone@example.com" {
		t.Errorf("remove with opaque bodies: %q", out)
	}
	for _, text := range []string{DebugRules, StrictRules} {
		r, err := Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.MasksBodies(); got != 0 {
			t.Errorf("%q: MasksBodies %b, want none", text, got)
		}
	}
	// Apply is ApplyOpaque with nothing marked.
	a, _ := def.Apply(details())
	b, _ := def.ApplyOpaque(details(), nil, 0)
	if !slices.Equal(a, b) {
		t.Errorf("Apply %q, ApplyOpaque %q", a, b)
	}
}
