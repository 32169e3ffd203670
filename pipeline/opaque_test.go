package pipeline

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"

	"sniffer/model"
	"sniffer/output"
)

// storedGzip is text in a gzip stream of stored (uncompressed) blocks, as a server's
// gzip writes data it cannot compress: the text's letters are in the stream, so a
// masking regex run over the compressed bytes matches them.
func storedGzip(t *testing.T, text string) []byte {
	t.Helper()
	var z bytes.Buffer
	w, err := gzip.NewWriterLevel(&z, gzip.NoCompression)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(text))
	w.Close()
	if !bytes.Contains(z.Bytes(), []byte("someone@example.com")) {
		t.Fatal("the stored stream does not hold the text")
	}
	return z.Bytes()
}

// throughDefaults sends c through a pipeline with the default rules into NDJSON, and
// returns what was written and the pipeline, for its counters.
func throughDefaults(c *model.Call, decode bool) (*bytes.Buffer, *Pipeline) {
	var nd bytes.Buffer
	var out output.Fanout
	out.Add("ndjson", output.NewWriter(&nd))
	p := New(Config{Decode: decode, BodyLimit: 1 << 20}, &out)
	p.Put(c)
	p.Close(context.Background(), func(string, output.Summary, error) {})
	return &nd, p
}

// TestEncodedBodyNotRewritten: with bodies not decoded, the default rules leave a body
// still in its content coding as captured (rules.Opaque) and count the call, instead of
// masking bytes of the compressed stream into one that no longer decodes; decoded, the
// same body is masked. A plain-text body labelled gzip is masked either way.
func TestEncodedBodyNotRewritten(t *testing.T) {
	const text = `{"email":"someone@example.com","card":"4111111111111111"}`
	gz := storedGzip(t, text)
	for _, decode := range []bool{false, true} {
		resp := &model.Response{Status: 200, Message: model.Message{Proto: "HTTP/1.1",
			Headers: []model.Header{{Name: "Content-Encoding", Value: "gzip"}}, Body: bytes.Clone(gz), BodySize: int64(len(gz))}}
		c := &model.Call{URL: "http://api.test/u", VNI: -1, Request: model.Request{Method: "GET", Target: "/u", Message: model.Message{Proto: "HTTP/1.1"}}, Response: resp}
		nd, p := throughDefaults(c, decode)
		var got struct {
			Response struct {
				Body     string `json:"body"`
				Encoding string `json:"body_encoding"`
			} `json:"response"`
		}
		if err := json.Unmarshal(nd.Bytes(), &got); err != nil {
			t.Fatalf("decode %v: %v in %s", decode, err, nd.String())
		}
		notMasked := p.Counters().NotMasked
		if decode {
			if strings.Contains(got.Response.Body, "someone@") || strings.Contains(got.Response.Body, "4111") || notMasked != 0 {
				t.Errorf("decoded: body %q, not masked %d: want it masked, none counted", got.Response.Body, notMasked)
			}
			continue
		}
		body := []byte(got.Response.Body)
		if got.Response.Encoding == "base64" {
			var err error
			if body, err = base64.StdEncoding.DecodeString(got.Response.Body); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(body, gz) {
			t.Errorf("not decoded: the body is not the one captured")
		}
		r, err := gzip.NewReader(bytes.NewReader(body))
		if err == nil {
			var plain []byte
			if plain, err = io.ReadAll(r); err == nil && string(plain) != text {
				t.Errorf("not decoded: body decodes to %q", plain)
			}
		}
		if err != nil {
			t.Errorf("not decoded: the body sent no longer decodes: %v", err)
		}
		if notMasked != 1 {
			t.Errorf("not decoded: %d calls counted with bodies not masked, want 1", notMasked)
		}
	}
}

// TestTextLabelledGzipMasked: a request body labelled gzip that is plain JSON (as an
// Android SDK in the corpus sends, http-encoding-gzip-uncompressed.pcap) fails to decode
// and is left as captured: it is text, so the default rules still mask its digit run.
func TestTextLabelledGzipMasked(t *testing.T) {
	for _, decode := range []bool{false, true} {
		body := []byte(`{"device_id":"350672920106648"}`)
		c := &model.Call{URL: "http://api.test/init", VNI: -1, Request: model.Request{Method: "POST", Target: "/init", Message: model.Message{Proto: "HTTP/1.1",
			Headers: []model.Header{{Name: "Content-Encoding", Value: "gzip"}}, Body: body, BodySize: int64(len(body))}},
			Response: &model.Response{Status: 200, Message: model.Message{Proto: "HTTP/1.1"}}}
		nd, p := throughDefaults(c, decode)
		if strings.Contains(nd.String(), "350672920106648") || !strings.Contains(nd.String(), `device_id\":\"0\"`) || p.Counters().NotMasked != 0 {
			t.Errorf("decode %v: not masked %d, NDJSON %s", decode, p.Counters().NotMasked, nd.String())
		}
	}
}
