package output

import (
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"sniffer/model"
)

// maxParams bounds the request_param pairs taken from one query string or one form body, so
// a hostile "a=1&a=1&..." body cannot blow up a message far beyond the body limit's intent.
const maxParams = 1000

// Resurface returns the message details of a call in the order Resurface's loggers send them
// (logger-java HttpMessage.build + HttpLogger.submitIfPassing): request_method, request_url,
// response_code, request headers, request params, response headers, request_body,
// response_body, now, interval, then agent, host, version. Empty values are left out.
func Resurface(c *model.Call, agent, version string) [][2]string {
	return AppendTrailer(ResurfaceDetails(c), agent, version)
}

// ResurfaceDetails is Resurface without the trailing agent, host and version: the part the
// loggers hand to their rules. The Poster applies its Transform to this and then appends the
// trailer, so rules can neither remove nor rewrite who sent the message.
func ResurfaceDetails(c *model.Call) [][2]string {
	req := &c.Request
	m := make([][2]string, 0, 16+len(req.Headers)+respHeaderCount(c))
	add := func(name, value string) {
		if value != "" {
			m = append(m, [2]string{name, value})
		}
	}
	add("request_method", req.Method)
	raw := c.URL
	if raw == "" && c.Server.IsValid() && strings.HasPrefix(req.Target, "/") {
		raw = "http://" + c.Server.String() + req.Target // the server address stands in for a missing Host
	}
	u, query := splitURL(raw)
	add("request_url", u)
	if c.Response != nil {
		add("response_code", strconv.Itoa(c.Response.Status))
	}

	hasAddr := false
	for _, hs := range [][]model.Header{req.Headers, req.Trailers} {
		for _, h := range hs {
			key := headerKey(reqKeys, "request_header:", h.Name)
			hasAddr = hasAddr || h.Value != "" && model.IsClientAddressHeader(key[len("request_header:"):])
			add(key, h.Value)
		}
	}
	// The Resurface database takes the call's client address (request_address) from the
	// last client-address header in the message (model.IsClientAddressHeader). Without a
	// proxy in front there is none, so the address seen on the wire stands in, as logger-go
	// does with the socket's remote address. When the request carries one (X-Real-IP,
	// CF-Connecting-IP...), the address on the wire is the proxy's: added, it would become
	// the stored client.
	if !hasAddr && c.Client.IsValid() {
		add("request_header:x-forwarded-for", c.Client.Addr().Unmap().String())
	}

	m = appendParams(m, query, false)
	if body := formBody(req); body != "" {
		m = appendParams(m, body, req.Truncated)
	}

	if c.Response != nil {
		for _, hs := range [][]model.Header{c.Response.Headers, c.Response.Trailers} {
			for _, h := range hs {
				add(headerKey(respKeys, "response_header:", h.Name), h.Value)
			}
		}
	}
	add("request_body", bodyString(req.Body))
	if c.Response != nil {
		add("response_body", bodyString(c.Response.Body))
	}
	// "now" is when the response was complete: the database stores it as
	// response_time_millis ("the timestamp marking the completion of the response",
	// resurfaceio/ndjson HttpMessage), logger-java takes System.currentTimeMillis() after the
	// response, GoReplay's Resurface output the response's timestamp. A call without a
	// response has its last request byte there.
	end := c.End
	if end.IsZero() {
		end = c.Start
	}
	if !end.IsZero() {
		add("now", strconv.FormatInt(end.UnixMilli(), 10))
	}
	if c.Response != nil && !c.Start.IsZero() && !c.End.IsZero() {
		add("interval", intervalMillis(c.End.Sub(c.Start)))
	}
	// The Resurface database keeps details named custom_field:NAME as custom fields
	// (resurfaceio/ndjson HttpMessage.add: the "custom_" prefix, the name after the
	// colon); rules can match this one like any other detail.
	add(AnomaliesDetail, strings.Join(c.Anomalies, ","))
	if c.Mirrored {
		// A mirrored request has no response: the message goes without response_code, which
		// Resurface's message reader takes as absent (NULL) like every other detail, and this
		// custom field (the reader's custom_ details, v3) says why.
		add("custom_field:mirrored", "true")
	}
	return m
}

// AnomaliesDetail is the detail that carries a call's anomalies, comma-separated.
const AnomaliesDetail = "custom_field:anomalies"

// intervalMillis formats a call's duration as the database reads "interval": milliseconds
// as a decimal, "0."-something read as 1, anything else cut to whole milliseconds, and 0
// read as no interval at all (resurfaceio/ndjson HttpMessage.add). Three decimals keep
// a sub-millisecond call from coming out as "0" (logger-java sends the double, logger-go
// at least 1).
func intervalMillis(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 3, 64)
}

// AppendTrailer adds agent, host and version, as HttpLogger.submitIfPassing does after the rules.
func AppendTrailer(m [][2]string, agent, version string) [][2]string {
	for _, kv := range [...][2]string{{"agent", agent}, {"host", hostName()}, {"version", version}} {
		if kv[1] != "" {
			m = append(m, kv)
		}
	}
	return m
}

// AppendResurfaceJSON appends details as one JSON array of [name, value] string pairs, with
// no trailing newline: one line of a Resurface NDJSON bundle.
func AppendResurfaceJSON(dst []byte, details [][2]string) []byte {
	dst = append(dst, '[')
	for i, kv := range details {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		dst = appendString(dst, kv[0])
		dst = append(dst, ',')
		dst = appendString(dst, kv[1])
		dst = append(dst, ']')
	}
	return append(dst, ']')
}

// Keys for the header names seen most, in the case they usually have on the wire, so the
// common case costs a map lookup instead of lower-casing and concatenating per header.
var reqKeys, respKeys = func() (req, resp map[string]string) {
	names := []string{"Host", "User-Agent", "Accept", "Accept-Encoding", "Accept-Language", "Authorization",
		"Connection", "Content-Type", "Content-Length", "Cookie", "Origin", "Referer", "X-Forwarded-For",
		"X-Forwarded-Proto", "X-Request-Id", "X-Real-Ip", "Cache-Control", "Date", "Server", "Set-Cookie",
		"Content-Encoding", "Transfer-Encoding", "Vary", "Etag", "ETag", "Last-Modified", "Location", "Keep-Alive",
		"Access-Control-Allow-Origin", "Strict-Transport-Security", "X-Content-Type-Options", "Pragma", "Expires"}
	req, resp = map[string]string{}, map[string]string{}
	for _, n := range names {
		for _, v := range []string{n, strings.ToLower(n)} {
			req[v] = "request_header:" + strings.ToLower(n)
			resp[v] = "response_header:" + strings.ToLower(n)
		}
	}
	return
}()

func headerKey(known map[string]string, prefix, name string) string {
	if k, ok := known[name]; ok {
		return k
	}
	return prefix + strings.ToLower(name)
}

// hostName is the "host" detail: the machine running sniffer, as the loggers report theirs.
var hostName = sync.OnceValue(func() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "unknown"
})

func respHeaderCount(c *model.Call) int {
	if c.Response == nil {
		return 0
	}
	return len(c.Response.Headers)
}

// splitURL cuts the query string (and any fragment) off an absolute URL: the server keys
// calls by scheme, host and path, and the query's parameters travel as request_param pairs.
func splitURL(raw string) (u, query string) {
	if i := strings.IndexByte(raw, '#'); i >= 0 {
		raw = raw[:i]
	}
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		return raw[:i], raw[i+1:]
	}
	return raw, ""
}

// formBody returns the request body when it is an application/x-www-form-urlencoded form
// whose text we actually have (content-decoded, or never encoded).
func formBody(req *model.Request) string {
	if len(req.Body) == 0 {
		return ""
	}
	if !isForm(req.Get("Content-Type")) {
		return ""
	}
	if !req.Decoded {
		if ce := strings.TrimSpace(req.Get("Content-Encoding")); ce != "" && !strings.EqualFold(ce, "identity") {
			return ""
		}
	}
	return string(req.Body)
}

// appendParams appends request_param:<lower-case name> pairs parsed from a query string or a
// form body, in their order; empty names and values are left out.
func appendParams(m [][2]string, s string, truncated bool) [][2]string {
	for _, kv := range parsePairs(s, truncated) {
		if kv[0] != "" && kv[1] != "" {
			m = append(m, [2]string{"request_param:" + strings.ToLower(kv[0]), kv[1]})
		}
	}
	return m
}

// parsePairs splits name=value pairs on '&' and unescapes them (a pair that fails to
// unescape keeps its raw text), at most maxParams of them. When the text was cut at the
// body limit its last pair is dropped, since it may be a fragment.
func parsePairs(s string, truncated bool) [][2]string {
	if truncated {
		i := strings.LastIndexByte(s, '&')
		if i < 0 {
			return nil
		}
		s = s[:i]
	}
	var out [][2]string
	for s != "" && len(out) < maxParams {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		out = append(out, [2]string{unescape(k), unescape(v)})
	}
	return out
}

func unescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// bodyString views a body as a string without copying it: bodies are most of a call's
// bytes, and nothing writes to a body once the call has left reassembly (decoding
// replaces the slice, never its bytes). Mask recognises such views and keeps the
// original slice.
func bodyString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
