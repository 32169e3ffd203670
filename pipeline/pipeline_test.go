package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"

	"sniffer/model"
	"sniffer/output"
	"sniffer/rules"
)

// anomalous returns three calls: a smuggling sign on the request, an obs-fold on the
// response, and a gzip body whose CRC is wrong (found by decoding).
func anomalous(t *testing.T) []*model.Call {
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write([]byte(`{"shown":true}`))
	w.Close()
	gz := z.Bytes()
	gz[len(gz)-8] ^= 0xff // the CRC
	call := func(path string, resp *model.Response, marks ...string) *model.Call {
		c := &model.Call{URL: "http://api.test" + path, VNI: -1, Request: model.Request{Method: "GET", Target: path, Message: model.Message{Proto: "HTTP/1.1"}}, Response: resp}
		for _, m := range marks {
			side, name, _ := strings.Cut(m, ":")
			c.Mark(side, name)
		}
		return c
	}
	ok := func() *model.Response { return &model.Response{Status: 200, Message: model.Message{Proto: "HTTP/1.1"}} }
	gzResp := ok()
	gzResp.Headers = []model.Header{{Name: "Content-Encoding", Value: "gzip"}}
	gzResp.Body, gzResp.BodySize = gz, int64(len(gz))
	return []*model.Call{
		call("/smuggled", ok(), "request:"+model.TEAndCL),
		call("/folded", ok(), "response:"+model.ObsFold),
		call("/gzip", gzResp),
	}
}

// TestAnomaliesThroughThePipeline: decoding adds its anomalies, every call is counted
// by anomaly before the rules, rules match the anomalies detail, and the NDJSON and HAR
// sinks carry the field.
func TestAnomaliesThroughThePipeline(t *testing.T) {
	r, err := rules.Parse(`/custom_field:anomalies/ stop_unless /.*(te-and-cl|bad-gzip-trailer).*/`)
	if err != nil {
		t.Fatal(err)
	}
	var nd bytes.Buffer
	harPath := filepath.Join(t.TempDir(), "calls.har")
	har, err := output.NewHAR(harPath)
	if err != nil {
		t.Fatal(err)
	}
	var out output.Fanout
	out.Add("ndjson", output.NewWriter(&nd))
	out.Add("har", har)
	p := New(Config{Decode: true, BodyLimit: 1 << 20, Rules: r}, &out)
	for _, c := range anomalous(t) {
		p.Put(c)
	}
	p.Close(context.Background(), func(string, output.Summary, error) {})

	counts, names := p.Anomalies().Snapshot()
	if len(names) != 3 || counts["request:te-and-cl"] != 1 || counts["response:obs-fold"] != 1 || counts["response:bad-gzip-trailer"] != 1 {
		t.Errorf("counts %v", counts)
	}
	if p.Filtered() != 1 {
		t.Errorf("%d calls filtered, want the one without te-and-cl or bad-gzip-trailer", p.Filtered())
	}
	lines := strings.Split(strings.TrimSpace(nd.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d NDJSON lines:\n%s", len(lines), nd.String())
	}
	for i, want := range [][]string{{"request:te-and-cl"}, {"response:bad-gzip-trailer"}} {
		var v struct {
			Anomalies []string `json:"anomalies"`
			Response  struct {
				Body string `json:"body"`
			} `json:"response"`
		}
		if err := json.Unmarshal([]byte(lines[i]), &v); err != nil {
			t.Fatal(err)
		}
		if strings.Join(v.Anomalies, ",") != strings.Join(want, ",") {
			t.Errorf("line %d: anomalies %q, want %q", i, v.Anomalies, want)
		}
		if i == 1 && v.Response.Body != `{"shown":true}` {
			t.Errorf("gzip body with a bad CRC: %q, want what a browser shows", v.Response.Body)
		}
	}
	b, err := os.ReadFile(harPath)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Log struct {
			Entries []struct {
				Anomalies []string `json:"_anomalies"`
			} `json:"entries"`
		} `json:"log"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Log.Entries) != 2 || len(h.Log.Entries[0].Anomalies) != 1 || h.Log.Entries[1].Anomalies[0] != "response:bad-gzip-trailer" {
		t.Errorf("HAR entries %+v", h.Log.Entries)
	}
}

// TestAnomaliesRemovedByRules: a rule that removes the detail removes the field from
// what the sinks write, as for any other detail.
func TestAnomaliesRemovedByRules(t *testing.T) {
	r, err := rules.Parse(`/custom_field:anomalies/ remove`)
	if err != nil {
		t.Fatal(err)
	}
	var nd bytes.Buffer
	var out output.Fanout
	out.Add("ndjson", output.NewWriter(&nd))
	p := New(Config{Decode: true, BodyLimit: 1 << 20, Rules: r}, &out)
	c := anomalous(t)[0]
	details, _ := r.Apply(output.ResurfaceDetails(c))
	for _, d := range details {
		if d[0] == output.AnomaliesDetail {
			t.Errorf("detail %v left by the rule", d)
		}
	}
	p.Put(c)
	p.Close(context.Background(), func(string, output.Summary, error) {})
	if strings.Contains(nd.String(), "anomalies") || !strings.Contains(nd.String(), "/smuggled") {
		t.Errorf("NDJSON: %s", nd.String())
	}
	if counts, _ := p.Anomalies().Snapshot(); counts["request:te-and-cl"] != 1 {
		t.Errorf("counted before the rules: %v", counts)
	}
}

// TestAnomaliesDetail: the Resurface message carries the anomalies as a custom field, the
// detail name the Resurface database keeps (custom_field:NAME), last among the details.
func TestAnomaliesDetail(t *testing.T) {
	c := anomalous(t)[0]
	c.Mark("response", model.BareLF)
	d := output.ResurfaceDetails(c)
	if last := d[len(d)-1]; last != [2]string{"custom_field:anomalies", "request:te-and-cl,response:bare-lf"} {
		t.Errorf("last detail %v", last)
	}
	for _, kv := range output.ResurfaceDetails(anomalous(t)[2]) {
		if kv[0] == output.AnomaliesDetail {
			t.Errorf("detail %v on a call without anomalies", kv)
		}
	}
}
