package output

import (
	"testing"

	"sniffer/model"
)

// Mask leaves what the rules did not touch exactly as captured (query escapes, header
// case, the body slice itself) and removes or rewrites only what they did.
func TestMaskKeepsUntouchedBytes(t *testing.T) {
	c := &model.Call{
		URL: "http://h/p?x=1&y=two%20words&flag&pw=secret&e=a%40b.c",
		Request: model.Request{Method: "GET", Target: "/p?x=1&y=two%20words&flag&pw=secret&e=a%40b.c",
			Message: model.Message{Headers: []model.Header{{Name: "Host", Value: "h"}, {Name: "X-Token", Value: "t1"}, {Name: "Accept", Value: "a"}}, Body: []byte("body")}},
		Response: &model.Response{Status: 200, Message: model.Message{Headers: []model.Header{{Name: "Set-Cookie", Value: "c"}}, Body: []byte("resp")}},
	}
	d := ResurfaceDetails(c)
	var out [][2]string
	for _, kv := range d {
		switch kv[0] {
		case "request_param:pw", "request_header:x-token", "response_header:set-cookie":
			continue // removed by the rules
		case "request_param:e":
			kv[1] = "xxx"
		case "response_body":
			kv[1] = "masked"
		}
		out = append(out, kv)
	}
	m := Mask(c, out)
	if want := "http://h/p?x=1&y=two%20words&flag&e=xxx"; m.URL != want {
		t.Errorf("URL %q, want %q", m.URL, want)
	}
	if want := "/p?x=1&y=two%20words&flag&e=xxx"; m.Request.Target != want {
		t.Errorf("target %q, want %q", m.Request.Target, want)
	}
	if len(m.Request.Headers) != 2 || m.Request.Headers[0] != (model.Header{Name: "Host", Value: "h"}) || m.Request.Headers[1].Name != "Accept" {
		t.Errorf("request headers %v", m.Request.Headers)
	}
	if len(m.Response.Headers) != 0 || string(m.Response.Body) != "masked" {
		t.Errorf("response %v %q", m.Response.Headers, m.Response.Body)
	}
	if &m.Request.Body[0] != &c.Request.Body[0] {
		t.Error("an untouched body was copied")
	}
	if c.URL != "http://h/p?x=1&y=two%20words&flag&pw=secret&e=a%40b.c" || len(c.Request.Headers) != 3 || string(c.Response.Body) != "resp" {
		t.Error("Mask changed the original call")
	}
}
