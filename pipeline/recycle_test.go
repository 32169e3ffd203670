package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"sniffer/internal/bufpool"
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

// TestCapturedBodiesRecycled: with bodies decoded, the captured buffers go back to
// internal/bufpool too (the compressed response as soon as it is decoded, an identity
// request body once the sinks have written it), and the next calls' bodies are captured
// into them, as http1 does, while the pipeline still works on the earlier ones. Every
// line still carries its own call's bodies, masked, through three workers; half the
// request bodies have nothing to mask, so their lines are written from the captured
// buffers themselves.
func TestCapturedBodiesRecycled(t *testing.T) {
	const n = 1000
	rng := rand.New(rand.NewPCG(1, 2))
	pad := func(i int) string { // random letters (no digits, no secret names): gzip keeps about 60%, so compressed bodies are pooled too
		b := make([]byte, 7000+i%5*3000)
		for k := range b {
			b[k] = "abcdefghijklmnop"[rng.IntN(16)]
		}
		return string(b)
	}
	captured := func(s []byte) []byte { return append(bufpool.Get(len(s)), s...) }
	var nd bytes.Buffer
	var out output.Fanout
	out.Add("ndjson", output.NewWriter(&nd))
	p := New(Config{Decode: true, BodyLimit: 1 << 20, Rules: rules.Default(), Workers: 3, Wait: true}, &out)
	wantReq, wantResp := make([]string, n), make([]string, n)
	for i := range n {
		c := call(t, i)
		pq, pr := pad(i), pad(i+1)
		c.Request.Method = "POST"
		if i%2 == 0 {
			// Nothing to mask: the line is written from the captured buffer itself.
			wantReq[i] = fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, pq)
			c.Request.Body = captured([]byte(wantReq[i]))
		} else {
			c.Request.Body = captured([]byte(fmt.Sprintf(`{"i":%d,"email":"a%d@example.com","pad":"%s"}`, i, i, pq)))
			wantReq[i] = fmt.Sprintf(`{"i":%d,"email":"x@y.com","pad":"%s"}`, i, pq)
		}
		c.Request.BodySize = int64(len(c.Request.Body))
		gz := captured(gzipped(t, fmt.Sprintf(`{"i":%d,"email":"b%d@example.com","pad":"%s"}`, i, i, pr)))
		c.Response.Body, c.Response.BodySize = gz, int64(len(gz))
		wantResp[i] = fmt.Sprintf(`{"i":%d,"email":"x@y.com","pad":"%s"}`, i, pr)
		p.Put(c)
	}
	p.Close(context.Background(), func(string, output.Summary, error) {})
	ls := parse(t, nd.Bytes())
	if len(ls) != n {
		t.Fatalf("%d lines, want %d", len(ls), n)
	}
	for i, l := range ls {
		if l.Request.Body != wantReq[i] {
			t.Fatalf("line %d: request body %.80q..., want %.80q...", i, l.Request.Body, wantReq[i])
		}
		if l.Response.Body != wantResp[i] {
			t.Fatalf("line %d: response body %.80q..., want %.80q...", i, l.Response.Body, wantResp[i])
		}
	}
}
