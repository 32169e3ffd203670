package output

import (
	"net/url"
	"strings"
	"unsafe"

	"sniffer/model"
)

// Mask returns a copy of c that shows only what the rules let through. details are c's
// ResurfaceDetails after the rules ran on them: a header, body, URL or query parameter the
// rules removed is left out of the copy, and one they rewrote carries the new value. The
// NDJSON, file and HAR sinks write the copy, so that what the rules mask never reaches them
// either. c itself is not changed.
//
// The rules only remove details or change their values, so details keep the order
// ResurfaceDetails gave them; Mask asks for them in that same order, each search going
// on from where the last one found its detail (details Mask has no use for, such as
// x-forwarded-for or form parameters, are passed over). That keeps it linear, with no
// map per call.
func Mask(c *model.Call, details [][2]string) *model.Call {
	next := 0
	take := func(name string) (string, bool) {
		for i := next; i < len(details); i++ {
			if details[i][0] == name {
				next = i + 1
				return details[i][1], true
			}
		}
		return "", false
	}

	m := *c
	m.Request = c.Request
	m.Request.Method, _ = take("request_method")
	base, query := splitURL(c.URL)
	if u, ok := take("request_url"); ok {
		base = u
	} else {
		base = ""
	}
	m.Request.Headers = maskHeaders(c.Request.Headers, reqKeys, "request_header:", take)
	m.Request.Trailers = maskHeaders(c.Request.Trailers, reqKeys, "request_header:", take)
	q := maskQuery(query, take)
	m.URL = joinQuery(base, q)
	path, _ := splitURL(c.Request.Target)
	m.Request.Target = joinQuery(path, q)
	var r model.Response
	if c.Response != nil {
		r = *c.Response
		r.Headers = maskHeaders(c.Response.Headers, respKeys, "response_header:", take)
		r.Trailers = maskHeaders(c.Response.Trailers, respKeys, "response_header:", take)
	}
	m.Request.Body = maskBody(c.Request.Body)(take("request_body"))
	if c.Response != nil {
		r.Body = maskBody(c.Response.Body)(take("response_body"))
		m.Response = &r
	}
	if len(c.Anomalies) > 0 {
		if v, ok := take(AnomaliesDetail); !ok {
			m.Anomalies = nil // the rules removed them
		} else if v != strings.Join(c.Anomalies, ",") {
			m.Anomalies = strings.Split(v, ",")
		}
	}
	return &m
}

// maskBody returns the body the rules left: the original slice when the detail is still
// the unchanged view bodyString made of it, else the rules' new text. Callers must
// treat the result as read-only.
func maskBody(orig []byte) func(v string, ok bool) []byte {
	return func(v string, ok bool) []byte {
		switch {
		case !ok:
			return nil
		case len(v) == len(orig) && unsafe.StringData(v) == unsafe.SliceData(orig):
			return orig
		}
		// The rules' new text, viewed as bytes without a copy: strings are never
		// written to, and no sink writes to a body.
		return unsafe.Slice(unsafe.StringData(v), len(v))
	}
}

// maskHeaders returns the headers the rules left, hs itself when they left every one as
// it was (the sinks only read it).
func maskHeaders(hs []model.Header, known map[string]string, prefix string, take func(string) (string, bool)) []model.Header {
	if len(hs) == 0 {
		return nil
	}
	var out []model.Header // nil while every header so far is as in hs
	for i, h := range hs {
		if h.Value == "" { // never a detail, nothing to mask
			if out != nil {
				out = append(out, h)
			}
			continue
		}
		v, ok := take(headerKey(known, prefix, h.Name))
		if ok && v == h.Value && out == nil {
			continue
		}
		if out == nil {
			out = append(make([]model.Header, 0, len(hs)), hs[:i]...)
		}
		if ok {
			out = append(out, model.Header{Name: h.Name, Value: v})
		}
	}
	if out == nil {
		return hs
	}
	return out
}

// maskQuery rebuilds a query string from the request_param details its pairs became
// (parsePairs' reading of it). A pair the rules left alone keeps its raw text, escapes
// included; a rewritten one is escaped afresh; a removed one is left out.
func maskQuery(query string, take func(string) (string, bool)) string {
	if query == "" {
		return ""
	}
	var b strings.Builder
	for n := 0; query != "" && n < maxParams; {
		var raw string
		raw, query, _ = strings.Cut(query, "&")
		if raw == "" {
			continue
		}
		n++
		rk, rv, _ := strings.Cut(raw, "=")
		k, v := unescape(rk), unescape(rv)
		if k != "" && v != "" {
			nv, ok := take("request_param:" + strings.ToLower(k))
			if !ok {
				continue
			}
			if nv != v {
				raw = url.QueryEscape(k) + "=" + url.QueryEscape(nv)
			}
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(raw)
	}
	return b.String()
}

func joinQuery(base, query string) string {
	if query == "" {
		return base
	}
	return base + "?" + query
}
