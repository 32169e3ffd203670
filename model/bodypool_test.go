package model

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// TestDecodedBody: only a body a decoder wrote is offered for recycling.
func TestDecodedBody(t *testing.T) {
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(bytes.Repeat([]byte("sniffer "), 1000))
	w.Close()
	for _, tc := range []struct {
		coding string
		want   bool
	}{{"gzip", true}, {"identity", false}, {"", false}, {"nonsense", false}} {
		m := Message{Body: z.Bytes(), Headers: []Header{{Name: "Content-Encoding", Value: tc.coding}}}
		captured := m.Body
		m.Decode(1 << 20)
		got := m.DecodedBody(captured)
		if (got != nil) != tc.want {
			t.Errorf("%q: DecodedBody %v, want a body: %v", tc.coding, got != nil, tc.want)
		}
		if got != nil && string(got) != string(bytes.Repeat([]byte("sniffer "), 1000)) {
			t.Errorf("%q: decoded %q", tc.coding, got)
		}
	}
}
