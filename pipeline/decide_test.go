package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"

	"sniffer/model"
	"sniffer/output"
	"sniffer/rules"
)

// decideCalls are calls with gzip bodies of several kinds: call i's URL names i (and
// "large" for every fifth); every seventh response is a gzip stream with a wrong CRC
// (found by decoding), every eleventh decodes past the body limit (truncated), every
// third request is a gzip form body (its parameters are details), every thirteenth
// response is labelled gzip but plain text (undecodable).
func decideCalls(t *testing.T, n int) []*model.Call {
	calls := make([]*model.Call, n)
	for i := range calls {
		c := call(t, i)
		if i%5 == 0 {
			c.URL = fmt.Sprintf("http://api.test/large/%d", i)
		}
		switch {
		case i%7 == 0:
			c.Response.Body[len(c.Response.Body)-8] ^= 0xff
		case i%11 == 0:
			gz := gzipped(t, strings.Repeat(fmt.Sprintf(`{"i":%d,"email":"u%d@example.com"}`, i, i), 200))
			c.Response.Body, c.Response.BodySize = gz, int64(len(gz))
		case i%13 == 0:
			c.Response.Body = []byte(fmt.Sprintf(`{"i":%d}`, i))
			c.Response.BodySize = int64(len(c.Response.Body))
		}
		if i%3 == 0 {
			gz := gzipped(t, fmt.Sprintf("user=u%d&password=secret&card=4111111111111111", i))
			c.Request.Method = "POST"
			c.Request.Headers = append(c.Request.Headers, model.Header{Name: "Content-Type", Value: "application/x-www-form-urlencoded"},
				model.Header{Name: "Content-Encoding", Value: "gzip"})
			c.Request.Body, c.Request.BodySize = gz, int64(len(gz))
		}
		calls[i] = c
	}
	return calls
}

// decideRun runs calls through a pipeline with rules r, deciding early or not, and
// returns what it wrote and counted.
type decideRun struct {
	out       string
	filtered  int64
	counters  Counters
	anomalies map[string]int64
	early     bool // the pipeline decided early
}

func runDecide(t *testing.T, r *rules.Rules, calls []*model.Call, early bool) decideRun {
	var nd bytes.Buffer
	var out output.Fanout
	out.Add("ndjson", output.NewWriter(&nd))
	p := New(Config{Decode: true, BodyLimit: 4 << 10, Rules: r, Workers: 2, Wait: true, RealIPHeader: "X-Real-IP"}, &out)
	run := decideRun{early: p.decideEarly}
	p.decideEarly = p.decideEarly && early // before any Put: the workers read it after a job arrives
	for _, c := range calls {
		p.Put(c)
	}
	p.Close(context.Background(), func(string, output.Summary, error) {})
	run.out, run.filtered, run.counters = nd.String(), p.Filtered(), p.Counters()
	run.anomalies, _ = p.Anomalies().Snapshot()
	return run
}

// TestDecideEarlySameOutput: deciding the stop rules before decoding writes the same
// NDJSON, filters and counts the same, as deciding after, for rule sets that drop calls
// by details decoding does not change (and for those it does, which decide after). Calls
// the rules drop are never decoded; the only trace of it is that the anomalies decoding
// would have found on them are not counted.
func TestDecideEarlySameOutput(t *testing.T) {
	const n = 200
	for _, tc := range []struct {
		rules string
		early bool // the pipeline decides early
	}{
		{"include default", false},
		{"include strict", false},
		{"include debug", false},
		{"include debug\n/request_url/ stop_if /.*large.*/", true},
		{"include default\n/request_url/ stop_if /.*large.*/", true},
		{"include strict\n/request_url/ stop_unless_found /[02468]$/", true},
		{"include standard\n/request_method/ stop_if /POST/\n/request_header:x-real-ip/ stop_unless /10\\..*/", true},
		{"/request_method/ stop", true}, // drops every call
		{"include debug\n/response_body/ stop_if_found /\"i\":1[0-9]\\b/", false},
		{"include debug\n/request_param:user/ stop_if /u1.*/", false},
		{"include debug\n/custom_field:anomalies/ stop_if_found /trailer/", false},
	} {
		r, err := rules.Parse(tc.rules)
		if err != nil {
			t.Fatal(err)
		}
		calls := decideCalls(t, n)
		before := runDecide(t, r, decideCalls(t, n), false)
		after := runDecide(t, r, calls, true)
		if after.early != tc.early {
			t.Errorf("%q: decides early %v, want %v", tc.rules, after.early, tc.early)
		}
		if before.out != after.out {
			t.Errorf("%q: NDJSON differs deciding early:\n%.600s\nwant\n%.600s", tc.rules, after.out, before.out)
		}
		if before.filtered != after.filtered || before.counters != after.counters {
			t.Errorf("%q: filtered %d %+v, want %d %+v", tc.rules, after.filtered, after.counters, before.filtered, before.counters)
		}
		// The anomalies of the calls dropped undecoded are those found before decoding:
		// decoding's own are not counted.
		want := maps.Clone(before.anomalies)
		dropped := 0
		for i, c := range calls {
			if decodeTried(c) {
				continue
			}
			if !tc.early || strings.Contains(after.out, fmt.Sprintf(`"url":%q`, c.URL)) {
				t.Fatalf("%q: call %d not decoded, yet deciding late or written", tc.rules, i)
			}
			dropped++
			switch {
			case i%7 == 0:
				want["response:"+model.BadGzipTrailer]--
			case i%11 == 0:
			case i%13 == 0:
				want["response:"+model.Undecodable]--
			}
		}
		if tc.early && int64(dropped) != after.filtered || !tc.early && dropped != 0 {
			t.Errorf("%q: %d calls left undecoded, %d filtered", tc.rules, dropped, after.filtered)
		}
		maps.DeleteFunc(want, func(_ string, v int64) bool { return v == 0 })
		if !maps.Equal(want, after.anomalies) {
			t.Errorf("%q: anomalies %v, want %v", tc.rules, after.anomalies, want)
		}
	}
}

// TestDecideEarlySamples: with sampling, each call is drawn once and before decoding: the
// calls written are about the share asked, each the line it is without sampling, and
// only they were decoded.
func TestDecideEarlySamples(t *testing.T) {
	const n = 400
	full := runDecide(t, rules.Default(), decideCalls(t, n), false)
	lines := map[string]bool{}
	for _, l := range strings.SplitAfter(full.out, "\n") {
		lines[l] = true
	}
	calls := decideCalls(t, n)
	sampled := runDecide(t, mustParse(t, "include default\nsample 50"), calls, true)
	if !sampled.early {
		t.Fatal("sample 50 does not decide early")
	}
	kept := strings.SplitAfter(sampled.out, "\n")
	kept = kept[:len(kept)-1] // after the last newline
	if len(kept) < n/5 || len(kept) > n*4/5 || int64(len(kept))+sampled.filtered != n {
		t.Fatalf("sample 50 kept %d of %d calls, filtered %d", len(kept), n, sampled.filtered)
	}
	for _, l := range kept {
		if !lines[l] {
			t.Fatalf("sampled line not written without sampling: %.300s", l)
		}
	}
	decoded := 0
	for _, c := range calls {
		if decodeTried(c) {
			decoded++
		}
	}
	if decoded != len(kept) {
		t.Errorf("%d calls decoded, %d written", decoded, len(kept))
	}
}

// decodeTried tells whether the pipeline decoded c's response body, or tried to.
func decodeTried(c *model.Call) bool {
	return c.Response.Decoded || c.Response.DecodeError != ""
}

func mustParse(t *testing.T, text string) *rules.Rules {
	t.Helper()
	r, err := rules.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
