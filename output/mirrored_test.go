package output

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sniffer/model"
	"sniffer/output/resurfacetest"
)

// mirroredCall is a request a proxy mirrored: no response, no server address.
func mirroredCall() *model.Call {
	c := testCall(7)
	c.Response, c.Server, c.Mirrored = nil, netip.AddrPort{}, true
	c.End = c.Start
	c.Request.Method = "POST"
	c.Request.Body = []byte(`{"qty":2}`)
	c.Request.BodySize = int64(len(c.Request.Body))
	return c
}

// TestMirroredCallInEverySink: NDJSON and HAR carry a mirrored call as it is, marked; the
// Resurface message leaves response_code out (the message reader stores it as absent), marks
// the call with custom_field:mirrored, and still passes the format check.
func TestMirroredCallInEverySink(t *testing.T) {
	c := mirroredCall()

	var obj map[string]any
	line := EncodeNDJSON(nil, c)
	if err := json.Unmarshal(line, &obj); err != nil {
		t.Fatalf("NDJSON %s: %v", line, err)
	}
	if obj["mirrored"] != true || obj["response"] != nil || obj["server"] != "" || obj["incomplete"] != nil {
		t.Errorf("NDJSON of a mirrored call: %s", line)
	}
	if req := obj["request"].(map[string]any); req["body"] != `{"qty":2}` {
		t.Errorf("NDJSON request %v", req)
	}

	m := Resurface(c, "sniffer", "test")
	seen := map[string]string{}
	for _, kv := range m {
		seen[kv[0]] = kv[1]
	}
	for _, absent := range []string{"response_code", "response_body", "interval"} {
		if v, ok := seen[absent]; ok {
			t.Errorf("Resurface message has %s=%q for a call without response", absent, v)
		}
	}
	if seen["custom_field:mirrored"] != "true" || seen["request_body"] != `{"qty":2}` || seen["now"] == "" {
		t.Errorf("Resurface message %q", m)
	}
	if errs := resurfacetest.CheckMessage(m); len(errs) > 0 {
		t.Errorf("Resurface message %q: %s", m, strings.Join(errs, "; "))
	}

	path := filepath.Join(t.TempDir(), "calls.har")
	s, err := NewHAR(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Write(c)
	if _, err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var har struct {
		Log struct {
			Entries []struct {
				Mirrored bool   `json:"_mirrored"`
				Comment  string `json:"comment"`
				Request  struct {
					PostData struct{ Text string } `json:"postData"`
				} `json:"request"`
				Response struct{ Status int } `json:"response"`
			} `json:"entries"`
		} `json:"log"`
	}
	if err := json.Unmarshal(raw, &har); err != nil || len(har.Log.Entries) != 1 {
		t.Fatalf("HAR %s: %v", raw, err)
	}
	e := har.Log.Entries[0]
	if !e.Mirrored || e.Response.Status != 0 || e.Request.PostData.Text != `{"qty":2}` || !strings.Contains(e.Comment, "mirrored") {
		t.Errorf("HAR entry of a mirrored call: %+v", e)
	}
}
