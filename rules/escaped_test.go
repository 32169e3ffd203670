package rules

import (
	"errors"
	"testing"
)

// network-sniffer's .env writes USAGE_LOGGERS_RULES on one line with literal \n between
// the rules (its entrypoint expands them with echo -e); Parse reads such text the same way,
// but leaves a \n that is part of a regex alone.
func TestEscapedNewlines(t *testing.T) {
	r, err := Parse(`include debug\nallow_http_url`) // network-sniffer .env, verbatim
	if err != nil {
		t.Fatal(err)
	}
	if !r.AllowHTTPURL() || r.Len() != 3 || r.Text() != `include debug\nallow_http_url` {
		t.Errorf("read as %d rules, allow_http_url %v, text %q", r.Len(), r.AllowHTTPURL(), r.Text())
	}
	r, err = Parse(`include default\nallow_http_url\nskip_compression`) // network-sniffer's older .env
	if err != nil || !r.SkipCompression() || !r.AllowHTTPURL() {
		t.Fatalf("%v", err)
	}

	// A \n inside a regex, on a line after an escaped break, stays the regex's line feed.
	r, err = Parse(`include debug\n/request_body/ replace /\n/, / /`)
	if err != nil {
		t.Fatal(err)
	}
	out, keep := r.Apply([][2]string{{"request_body", "a\nb"}, {"now", "1"}})
	if !keep || out[0][1] != "a b" {
		t.Errorf("replace /\\n/ gave %v", out)
	}
	// Text that parses as written keeps its \n: one rule.
	r, err = Parse(`/request_body/ remove_if_found /x\ny/`)
	if err != nil || r.Len() != 1 {
		t.Fatalf("%v, %d rules", err, r.Len())
	}
	out, _ = r.Apply([][2]string{{"request_body", "x\ny"}, {"now", "1"}})
	if len(out) != 1 {
		t.Errorf("remove_if_found /x\\ny/ kept %v", out)
	}

	// A bad rule after an escaped break is reported on its own line.
	_, err = Parse(`include debug\n/x/ frobnicate`)
	var pe *Error
	if !errors.As(err, &pe) || pe.Line != 2 || pe.Text != "/x/ frobnicate" {
		t.Errorf("error %v, want line 2", err)
	}
}
