package model

import (
	"net/netip"
	"strings"
	"time"
)

// Header is one header line as it appeared on the wire: original case, original order.
type Header struct {
	Name, Value string
}

// Message is what a request and a response have in common.
type Message struct {
	Proto    string   // "HTTP/1.1", "HTTP/1.0"
	Headers  []Header // in wire order
	Trailers []Header // chunked trailers, if any
	// Body holds the message body after transfer decoding (chunks joined), at most the
	// configured body limit; BodySize is the full size seen on the wire (after de-chunking).
	Body      []byte
	BodySize  int64
	Truncated bool // Body was cut at the body limit (parsing went on past it)
	// Decoded is set once Body has been content-decoded (gzip, deflate, br, zstd);
	// DecodeError says why decoding failed (Body is then left as captured).
	Decoded     bool
	DecodeError string
}

// Get returns the first value of the header with the given name (case-insensitive).
func (m *Message) Get(name string) string {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// Request is an HTTP/1.x request.
type Request struct {
	Message
	Method string
	Target string // request target as sent: origin-form, absolute-form, authority-form or "*"
}

// Response is an HTTP/1.x final response.
type Response struct {
	Message
	Status int
	Reason string
}

// Call is one HTTP exchange: a request and its final response.
type Call struct {
	Start    time.Time // capture time of the first request byte
	End      time.Time // capture time of the last response byte (last request byte for half calls)
	Client   netip.AddrPort
	Server   netip.AddrPort
	URL      string // absolute URL: http:// + Host (or the server address) + target
	Request  Request
	Response *Response // nil for a half call (no response seen)
	Interim  []int     // statuses of 1xx interim responses that preceded the final one
	// Incomplete is empty for a complete call, else the reason it is not (for example
	// "no response", "gap in request", "gap in response", "stream closed").
	Incomplete string
	// Shed is empty, or what the pipeline left out of this call because it had fallen
	// behind the capture (ShedDecoding, ShedBodies): the call is right, only less complete.
	Shed string
	// VNI is the VXLAN network identifier the call arrived on, or -1 when not encapsulated.
	VNI int
	// Anomalies lists what was odd about the call's messages, each once, as
	// "request:NAME" or "response:NAME" with the names of anomaly.go, in the order found.
	Anomalies []string
	// Mirrored is set on a request a proxy mirrored to sniffer's listener (SNIFFER_MIRROR_LISTEN)
	// rather than one captured: it has no response by design (Response is nil and Incomplete
	// empty), Start and End are when it arrived, Client and URL are what the proxy forwarded
	// (X-Forwarded-For, Forwarded, Host), and Server is unknown (invalid).
	Mirrored bool
}

// What an overloaded pipeline sheds, cheapest loss first (the values of Call.Shed).
const (
	ShedDecoding = "bodies not decoded" // bodies kept as captured (compressed), not content-decoded
	ShedBodies   = "bodies dropped"     // bodies left out; BodySize still says how long they were
)

// Duration is the time from the first request byte to the last response byte.
func (c *Call) Duration() time.Duration { return c.End.Sub(c.Start) }

// hasTokenBut tells whether a header named name holds a token (split and trimmed as
// HeaderTokens does) other than but (any token when but is empty; case-insensitive),
// without the allocations of HeaderTokens: it runs once per message on the hot path.
func hasTokenBut(hs []Header, name, but string) bool {
	for _, h := range hs {
		if !strings.EqualFold(h.Name, name) {
			continue
		}
		for t := range strings.SplitSeq(h.Value, ",") {
			if t = strings.Trim(t, " \t"); t != "" && (but == "" || !strings.EqualFold(t, but)) {
				return true
			}
		}
	}
	return false
}

// HeaderTokens returns every value of a header, split on commas, for list-valued
// headers such as Transfer-Encoding, Content-Encoding and Connection. Only spaces and
// tabs are trimmed, as browsers do: "\vchunked" is not chunked.
func HeaderTokens(hs []Header, name string) []string {
	var out []string
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			for _, v := range strings.Split(h.Value, ",") {
				if v = strings.Trim(v, " \t"); v != "" {
					out = append(out, strings.ToLower(v))
				}
			}
		}
	}
	return out
}
