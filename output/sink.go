package output

// Every sink accounts for every call it was given, so the process can say at exit how many
// were delivered and how many were not.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"sniffer/model"
)

// Sink is where calls go once the rules have let them through. Every sink is given the same
// Record and takes from it the form it writes (the masked call or the Resurface details).
// Send must not block on the network; Close flushes what it can before ctx ends and returns
// the account of every call it was given.
type Sink interface {
	Send(r *Record) error
	Close(ctx context.Context) (Summary, error)
}

// LiveSink is a Sink that can also account for its calls while it runs (for metrics).
type LiveSink interface {
	Sink
	Stats() Summary
}

// Record is one call the rules let through, as every sink receives it: the Resurface details
// after the rules, and the call masked by them. The masked call is made on first use and then
// shared, so a run that only posts details never masks. A Record is used by one goroutine.
type Record struct {
	call    *model.Call
	details [][2]string
	masked  *model.Call
}

// NewRecord makes the record of call c (as captured) and its details after the rules.
func NewRecord(c *model.Call, details [][2]string) *Record {
	return &Record{call: c, details: details}
}

// Call is the call as the rules masked it (Mask): what file and NDJSON sinks write.
func (r *Record) Call() *model.Call {
	if r.masked == nil && r.call != nil {
		r.masked = Mask(r.call, r.details)
	}
	return r.masked
}

// Details are the call's Resurface details after the rules (without agent, host, version).
func (r *Record) Details() [][2]string { return r.details }

// Key is the server address (ip:port), what keyed sinks (Kafka) partition by.
func (r *Record) Key() string {
	if r.call == nil {
		return ""
	}
	return r.call.Server.String()
}

// Causes of drops, the keys of Summary.Dropped.
const (
	DropQueueFull  = "queue_full"  // in-memory queue full and no spool (or spool refused)
	DropSpoolFull  = "spool_full"  // spool at its size cap
	DropSpoolError = "spool_error" // the spool could not be written or read (disk error)
	DropRejected   = "rejected"    // the collector refused the bundle with a 4xx that retrying cannot fix
	DropRetries    = "retries"     // MaxRetries attempts failed
	DropShutdown   = "shutdown"    // still queued when Close's deadline passed and there is no spool
	DropEncode     = "encode"      // the sink could not encode or write the call
	DropClosed     = "closed"      // Write after Close
)

// errNilCall is what a sink says to a nil call instead of panicking.
var errNilCall = errors.New("output: nil call")

// Summary is what a sink did with the calls it was given.
type Summary struct {
	Written   int64            // calls handed to Write
	Filtered  int64            // calls the Transform (rules) chose not to send: not a loss
	Delivered int64            // calls the destination acknowledged (2xx) or that were written out
	Dropped   map[string]int64 // calls lost, by cause (Drop* constants)
	Pending   int64            // calls kept in the disk spool for the next run
	Queued    int64            // calls in the in-memory queue (live Stats only; 0 after Close)
	Recovered int64            // calls found in the spool at start, left by an earlier run
	Posts     int64            // requests made to the destination (the collector)
	PostFails int64            // of those, the ones not answered 2xx (network errors included)
}

// DropCauses are every cause a sink may count a drop under, in the order reports list them.
func DropCauses() []string {
	return []string{DropQueueFull, DropSpoolFull, DropSpoolError, DropRejected, DropRetries, DropShutdown, DropEncode, DropClosed}
}

// Add adds o's counts to s (for totals over several sinks).
func (s *Summary) Add(o Summary) {
	s.Written += o.Written
	s.Filtered += o.Filtered
	s.Delivered += o.Delivered
	s.Pending += o.Pending
	s.Queued += o.Queued
	s.Recovered += o.Recovered
	s.Posts += o.Posts
	s.PostFails += o.PostFails
	if len(o.Dropped) > 0 && s.Dropped == nil {
		s.Dropped = map[string]int64{}
	}
	for k, v := range o.Dropped {
		s.Dropped[k] += v
	}
}

// DroppedTotal sums Dropped over all causes.
func (s Summary) DroppedTotal() int64 {
	var n int64
	for _, v := range s.Dropped {
		n += v
	}
	return n
}

// Undelivered is every call that did not reach its destination: dropped or still spooled.
func (s Summary) Undelivered() int64 { return s.DroppedTotal() + s.Pending }

// String is a one-line account suitable for the exit log.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "written=%d delivered=%d filtered=%d pending=%d dropped=%d", s.Written, s.Delivered, s.Filtered, s.Pending, s.DroppedTotal())
	keys := make([]string, 0, len(s.Dropped))
	for k, v := range s.Dropped {
		if v != 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " dropped_%s=%d", k, s.Dropped[k])
	}
	return b.String()
}
