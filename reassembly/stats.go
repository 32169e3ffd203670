package reassembly

import (
	"sync/atomic"

	"sniffer/http1"
	"sniffer/model"
)

// Reasons a call is incomplete. They are the values of model.Call.Incomplete and the keys of
// the incomplete-call counters.
const (
	NoResponse      = "no response"               // the stream ended or timed out before a response
	GapInRequest    = "gap in request"            // segments of the request were lost
	GapInResponse   = "gap in response"           // segments of the response were lost
	ClosedInRequest = "stream closed in request"  // connection closed before the request ended
	ClosedInResp    = "stream closed in response" // connection closed before the response ended
	CaptureEnded    = "capture ended"             // the capture ended inside the response
	TooManyPending  = "too many pending requests" // pipelining beyond the per-connection cap
	ResponseLost    = "response lost"             // its response fell into a gap
	Unproven        = "pairing unproven"          // responses were lost on a pipelined connection: which is its own cannot be told
)

var reasons = []string{NoResponse, GapInRequest, GapInResponse, ClosedInRequest, ClosedInResp, CaptureEnded, TooManyPending, ResponseLost, Unproven}

// Stats are the reassembler's counters. They are safe to read from other goroutines.
type Stats struct {
	// Counters are the HTTP/1.x parsers': ParseErrors, Tunnels, SkippedBytes,
	// TruncatedBody and HeadBytes.
	http1.Counters
	Streams        atomic.Int64 // TCP connections seen
	StreamsOpen    atomic.Int64 // connections currently tracked
	StreamsRefused atomic.Int64 // connections not tracked because MaxStreams was reached
	Calls          atomic.Int64 // complete calls emitted
	IncompleteOut  atomic.Int64 // incomplete calls emitted (KeepIncomplete)
	Gaps           atomic.Int64 // holes in a stream (lost segments, buffer cap hit)
	Orphans        atomic.Int64 // responses with no request to pair with
	NotHTTP        atomic.Int64 // connections with data but no HTTP/1.x (Config.Detect), ignored
	Stalls         atomic.Int64 // responses that waited for their request's bytes (reordered capture)
	// Unemitted counts the anomalies of incomplete calls that are not emitted
	// (KeepIncomplete off): a smuggling attempt the server closed on is counted too.
	// Emitted calls are counted where they are delivered (pipeline).
	Unemitted  model.AnomalyCounts
	incomplete [9]atomic.Int64
}

func (s *Stats) countIncomplete(reason string) {
	for i, r := range reasons {
		if r == reason {
			s.incomplete[i].Add(1)
			return
		}
	}
}

// Incomplete returns the number of incomplete calls by reason (emitted or not).
func (s *Stats) Incomplete() map[string]int64 {
	m := map[string]int64{}
	for i, r := range reasons {
		if n := s.incomplete[i].Load(); n > 0 {
			m[r] = n
		}
	}
	return m
}

// Reasons are every reason a call can be incomplete, in a fixed order (for reports that list
// them all, zeros included).
func Reasons() []string { return append([]string(nil), reasons...) }

// IncompleteFor is the number of incomplete calls for one reason (emitted or not).
func (s *Stats) IncompleteFor(reason string) int64 {
	for i, r := range reasons {
		if r == reason {
			return s.incomplete[i].Load()
		}
	}
	return 0
}

// IncompleteTotal is the sum of Incomplete.
func (s *Stats) IncompleteTotal() int64 {
	var n int64
	for i := range reasons {
		n += s.incomplete[i].Load()
	}
	return n
}
