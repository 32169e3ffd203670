package output

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"sniffer/model"
	"sniffer/output/resurfacetest"
)

// collector is resurfacetest's real collector on loopback, bound to a test.
type collector struct {
	*resurfacetest.Collector
	t *testing.T
}

func newCollector(t *testing.T, addr string) *collector {
	c, err := resurfacetest.Start(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return &collector{c, t}
}

func (c *collector) restart() {
	if err := c.Restart(); err != nil {
		c.t.Fatal(err)
	}
}

// ids returns the id request_param of every message received, in arrival order.
func (c *collector) ids() []string {
	var out []string
	for _, m := range c.Messages() {
		out = append(out, get(m, "request_param:id"))
	}
	return out
}

func (c *collector) check() {
	c.t.Helper()
	for _, e := range c.Errors() {
		c.t.Error("collector:", e)
	}
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func get(m [][2]string, name string) string {
	for _, kv := range m {
		if kv[0] == name {
			return kv[1]
		}
	}
	return ""
}

func all(m [][2]string, name string) []string {
	var out []string
	for _, kv := range m {
		if kv[0] == name {
			out = append(out, kv[1])
		}
	}
	return out
}

var t0 = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

// testCall builds call number i: GET /items/i?id=i with a JSON response.
func testCall(i int) *model.Call {
	c := &model.Call{
		Start:  t0.Add(time.Duration(i) * time.Millisecond),
		End:    t0.Add(time.Duration(i)*time.Millisecond + 7*time.Millisecond),
		Client: netip.MustParseAddrPort("10.1.2.3:40000"),
		Server: netip.MustParseAddrPort("10.9.8.7:80"),
		URL:    fmt.Sprintf("http://api.example.com/items/%d?id=%d", i, i),
		VNI:    -1,
	}
	c.Request.Method = "GET"
	c.Request.Target = fmt.Sprintf("/items/%d?id=%d", i, i)
	c.Request.Proto = "HTTP/1.1"
	c.Request.Headers = []model.Header{{Name: "Host", Value: "api.example.com"}, {Name: "Accept", Value: "application/json"}}
	c.Response = &model.Response{Status: 200, Reason: "OK"}
	c.Response.Proto = "HTTP/1.1"
	c.Response.Headers = []model.Header{{Name: "Content-Type", Value: "application/json"}}
	c.Response.Body = fmt.Appendf(nil, `{"id":%d,"name":"item <%d> & \"friends\"\n"}`, i, i)
	c.Response.BodySize = int64(len(c.Response.Body))
	return c
}

// checkMessage verifies a received message against the Resurface format for testCall(id).
func checkMessage(t *testing.T, m [][2]string, id string) {
	t.Helper()
	want := map[string]string{
		"request_method":                 "GET",
		"request_url":                    "http://api.example.com/items/" + id,
		"response_code":                  "200",
		"request_header:host":            "api.example.com",
		"request_header:x-forwarded-for": "10.1.2.3",
		"response_header:content-type":   "application/json",
		"interval":                       "7.000",
		"agent":                          "sniffer",
		"version":                        "9.9.9",
		"host":                           hostName(),
	}
	for k, v := range want {
		if got := get(m, k); got != v {
			t.Errorf("message %s: %s = %q, want %q", id, k, got, v)
		}
	}
	if b := get(m, "response_body"); !strings.Contains(b, `"id":`+id+`,`) {
		t.Errorf("message %s: response_body %q", id, b)
	}
	for _, kv := range m {
		if kv[1] == "" {
			t.Errorf("message %s: empty value for %s", id, kv[0])
		}
	}
}
