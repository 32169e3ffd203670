package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"sniffer/model"
	"sniffer/output"
	"sniffer/rules"
)

// TestRecycledBodiesKeepOutput: decoded bodies the default rules mask (an e-mail address)
// are handed back to the decoders once masked, and the masked values once the NDJSON
// writer has written them, and later bodies are decoded and masked into their buffers,
// while bodies the rules leave as they are stay with their calls. Every line written,
// through two workers, still carries its own call's body: a buffer recycled while a sink
// could still read it would show another call's bytes. Body sizes vary from call to call,
// so that masked values are both handed out in the rules' scratch buffers and copied out
// of scratch buffers too large for them (rules.ApplyPooled).
func TestRecycledBodiesKeepOutput(t *testing.T) {
	const n = 400
	pad := func(i int) string { return strings.Repeat("p", 6000+i%7*5000) } // large enough to be pooled
	body := func(i int) string {
		if i%3 == 0 {
			return fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, pad(i)) // nothing to mask
		}
		return fmt.Sprintf(`{"i":%d,"email":"user%d@example.com","pad":"%s"}`, i, i, pad(i))
	}
	want := func(i int) string {
		if i%3 == 0 {
			return body(i)
		}
		return fmt.Sprintf(`{"i":%d,"email":"x@y.com","pad":"%s"}`, i, pad(i))
	}
	var nd bytes.Buffer
	var out output.Fanout
	out.Add("ndjson", output.NewWriter(&nd))
	p := New(Config{Decode: true, BodyLimit: 1 << 20, Rules: rules.Default(), Workers: 2, Wait: true}, &out)
	calls := make([]*model.Call, n)
	for i := range calls {
		c := call(t, i)
		gz := gzipped(t, body(i))
		c.Response.Body, c.Response.BodySize = gz, int64(len(gz))
		calls[i] = c
		p.Put(c)
	}
	p.Close(context.Background(), func(string, output.Summary, error) {})
	ls := parse(t, nd.Bytes())
	if len(ls) != n {
		t.Fatalf("%d lines, want %d", len(ls), n)
	}
	for i, l := range ls {
		if l.Response.Body != want(i) {
			t.Fatalf("line %d: body %.80q..., want %.80q...", i, l.Response.Body, want(i))
		}
	}
	for i, c := range calls {
		if recycled := c.Response.Body == nil; recycled != (i%3 != 0) {
			t.Errorf("call %d: body recycled %v, want %v (masked: %v)", i, recycled, i%3 != 0, i%3 != 0)
		}
	}
}
