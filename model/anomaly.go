package model

import (
	"slices"
	"sort"
	"sync"
)

// Anomalies are what was odd about a message that was read all the same, the way the
// mainstream clients (Chromium, Firefox, curl) read it. Evasions of inspection tools and
// request smuggling live in exactly these corners, so a call keeps the list, and each name
// is counted. The names are stable: rules match them and dashboards count them.
const (
	// Heads.
	BareLF            = "bare-lf"            // a line ended by LF alone
	BareCR            = "bare-cr"            // a CR alone ended a head line (read as a line end, as Chromium does)
	ObsFold           = "obs-fold"           // a header value folded onto a continuation line
	SpaceBeforeColon  = "space-before-colon" // "Name : value"
	BadHeaderName     = "bad-header-name"    // a header name with bytes a token may not hold (VT, FF, NUL, 8-bit...)
	HeaderJunk        = "header-junk"        // a head line with no colon or no name, skipped
	OddVersion        = "odd-version"        // a version other than HTTP/1.0 and HTTP/1.1 (HTTP/1.10, HTTP/2.0, http/1.1)
	NoStatusCode      = "no-status-code"     // a status line with no code, read as 200 as browsers do
	BadStatusCode     = "bad-status-code"    // a status code that is not three digits
	StatusLineSpacing = "status-line-spacing"

	// Framing, and the request smuggling signs among them.
	TEAndCL           = "te-and-cl"           // Transfer-Encoding and Content-Length both
	DuplicateLength   = "duplicate-length"    // Content-Length repeated with the same value
	ConflictingLength = "conflicting-length"  // Content-Length values that differ
	BadLength         = "bad-length"          // a Content-Length that is not a number
	TENotChunked      = "te-not-chunked"      // Transfer-Encoding without chunked: ignored, as browsers do
	TEChunkedNotLast  = "te-chunked-not-last" // chunked among the codings but not the last one
	TEUnknown         = "te-unknown"          // a transfer coding other than chunked
	TEInHTTP10        = "te-in-http10"        // Transfer-Encoding on an HTTP/1.0 message
	NotChunked        = "not-chunked"         // said chunked, but the body was not: read by length or until close

	// Chunked bodies.
	ChunkSizeJunk        = "chunk-size-junk"        // bytes after the hex size that are not an extension
	ChunkSizeSpace       = "chunk-size-space"       // white space around the hex size
	ChunkSize0x          = "chunk-size-0x"          // a 0x prefix on the size
	ChunkBlankLine       = "chunk-blank-line"       // empty lines where a chunk size was due
	ChunkEndJunk         = "chunk-end-junk"         // chunk data not followed by CRLF
	TrailerJunk          = "trailer-junk"           // lines after the last chunk that are not header fields
	ChunkedUnterminated  = "chunked-unterminated"   // the connection closed between chunks or in the trailer
	BadChunk             = "bad-chunk"              // a chunk size no client reads: the body is cut there
	BadGzipTrailer       = "bad-gzip-trailer"       // gzip CRC or length wrong or missing: the bytes before are kept
	BadDeflateTrailer    = "bad-deflate-trailer"    // zlib checksum wrong or missing
	TruncatedCompression = "truncated-compression"  // compressed data that stops short: what decoded is kept
	JunkAfterCompression = "junk-after-compression" // bytes after the end of the compressed stream
	RawDeflate           = "raw-deflate"            // "deflate" without the zlib wrapper
	SeveralEncodings     = "several-encodings"      // more than one content coding
	UnknownEncoding      = "unknown-encoding"       // a content coding no client decodes: the body is left as captured
	Undecodable          = "undecodable-body"       // nothing decoded: the body is left as captured
)

// Mark adds name to the call's anomalies, for side ("request" or "response"), once.
func (c *Call) Mark(side, name string) {
	a := side + ":" + name
	if !slices.Contains(c.Anomalies, a) {
		c.Anomalies = append(c.Anomalies, a)
	}
}

// Decode content-decodes both messages (see Message.Decode) and marks what was odd about
// their bodies.
func (c *Call) Decode(limit int64) {
	for _, a := range c.Request.Decode(limit) {
		c.Mark("request", a)
	}
	if c.Response != nil {
		for _, a := range c.Response.Decode(limit) {
			c.Mark("response", a)
		}
	}
}

// Decodes tells whether Decode has work to do on c: a message of it Decodes.
func (c *Call) Decodes() bool {
	return c.Request.Decodes() || c.Response != nil && c.Response.Decodes()
}

// AnomalyCounts counts calls by anomaly. Anomalies are rare, so one lock is cheap, and a
// call without any costs nothing. The zero value is ready to use.
type AnomalyCounts struct {
	mu sync.Mutex
	n  map[string]int64
}

// Add counts each of a call's anomalies once.
func (a *AnomalyCounts) Add(names []string) {
	if len(names) == 0 {
		return
	}
	a.mu.Lock()
	if a.n == nil {
		a.n = map[string]int64{}
	}
	for _, s := range names {
		a.n[s]++
	}
	a.mu.Unlock()
}

// Snapshot returns the counts by name, and the names in order.
func (a *AnomalyCounts) Snapshot() (map[string]int64, []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[string]int64, len(a.n))
	names := make([]string, 0, len(a.n))
	for k, v := range a.n {
		m[k] = v
		names = append(names, k)
	}
	sort.Strings(names)
	return m, names
}
