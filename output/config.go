package output

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// PostConfig tunes the Poster. Zero values take the defaults below, which follow the
// Resurface loggers where they have one (USAGE_LOGGERS_BUNDLE_SIZE = 5 MiB).
type PostConfig struct {
	URL       string // USAGE_LOGGERS_URL
	AllowHTTP bool   // the rules' allow_http_url: plain http:// to a non-loopback host
	// QueueSize bounds the in-memory queue in calls (USAGE_LOGGERS_MESSAGE_QUEUE_SIZE,
	// default 4096); QueueBytes bounds it in encoded bytes (default 64 MiB). With the
	// defaults the Poster holds at most about 64 MiB queued plus ~15 MiB per sender in flight.
	QueueSize  int
	QueueBytes int64
	// MemoryBytes, when set, bounds the queue and the bundles being filled or in flight
	// together: half for the queue (QueueBytes no more than that), half for the
	// Concurrency+1 bundles, each counted twice while posted (its messages and the body:
	// the joined NDJSON, or, compressed, its zlib stream, about a fifth of that), so
	// BundleSize shrinks to fit. A slow or absent collector then costs no more
	// memory than this; what does not fit goes to the spool or is dropped and counted.
	MemoryBytes int64
	// A bundle is posted when it holds BundleSize bytes of NDJSON (USAGE_LOGGERS_BUNDLE_SIZE,
	// default 5 MiB) or BundleCount calls (default 1000), and at the latest FlushInterval
	// (default 1 s) after its first call arrived.
	BundleSize    int
	BundleCount   int
	FlushInterval time.Duration
	Timeout       time.Duration // per request, connect to answer (default 10 s)
	Concurrency   int           // bundles in flight (default 4)
	// MaxRetries is how many times a failed bundle is retried; 0 retries until Close's
	// deadline (the default: with a spool nothing is lost while the collector is down).
	MaxRetries int
	BackoffMin time.Duration // first retry delay (default 100 ms), doubled up to BackoffMax
	BackoffMax time.Duration // default 5 s
	// SpoolDir, when set, holds calls that do not fit in memory while the collector is slow
	// or down, up to SpoolMax bytes (default 1 GiB); they are replayed in order, also by the
	// next run. Empty: no spool.
	SpoolDir string
	SpoolMax int64
	// DropOldest drops the oldest queued calls to make room when everything is full;
	// false drops the newest (the call being written).
	DropOldest bool
	// Compress sends zlib (RFC 1950) bundles with Content-Encoding: deflated. main sets it
	// from SNIFFER_COMPRESS and skip_compression (compressPosts); the zero value sends plain
	// NDJSON.
	Compress bool
	// CompressLevel is the zlib level, 1 (fastest) to 9; 0 means 1. The loggers use zlib's
	// default, 6; the collector reads any level. Level 1 was chosen by measuring sniffer
	// posting the bench workload's calls (542 MB of NDJSON, mostly decoded JSON bodies,
	// klauspost zlib, 27,643 calls, old and new binaries interleaved): level 1 took 0.72x
	// the whole run's CPU of level 3 (compressing 1.76 CPU-s against 2.78 in the profiles)
	// for 3.4% more bytes on the wire (21.1% of the NDJSON against 20.4%), level 2 0.82x
	// for 1.6% more. Level 3 had been chosen over 6 the same way (0.52x the CPU of level 6
	// for 1% more bytes). On a typical small API call (BenchmarkPosterLoopback, 1.6 KB of
	// NDJSON) the whole Poster costs ~12 us of CPU and 185 bytes on the wire per call at
	// level 6, ~9.3 us and 233 bytes at level 1.
	CompressLevel int
	Agent         string // the "agent" detail
	Version       string // the "version" detail and the User-Agent's version
	// Transform receives each call's details (without agent/host/version) and returns them,
	// possibly changed; false drops the call (counted as Filtered). The rules plug in here.
	Transform func([][2]string) ([][2]string, bool)
}

// ErrPlainHTTP is returned by ValidateURL for http:// to a host off this machine without AllowHTTP.
var ErrPlainHTTP = errors.New("plain http:// capture URL")

// ValidateURL checks a capture URL as the loggers do, but loudly. A malformed URL or a scheme
// other than http/https is an error. Resurface's loggers disable themselves (silently) when
// the URL starts with http: and the rules lack allow_http_url; sniffer refuses the URL instead
// (ErrPlainHTTP) so the operator learns why nothing arrives. One exception the loggers do not
// make: a loopback host (localhost, 127.0.0.0/8, ::1), the usual address of a collector run
// next to sniffer, since the calls then never cross a network in clear text.
func ValidateURL(raw string, allowHTTP bool) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("USAGE_LOGGERS_URL %q is not a URL: %v", raw, err)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return nil, fmt.Errorf("USAGE_LOGGERS_URL %q must start with https:// (or http://), like https://collector.example.com:7701/message", raw)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("USAGE_LOGGERS_URL %q has no host", raw)
	}
	if p := u.Port(); p != "" {
		if _, err := net.LookupPort("tcp", p); err != nil {
			return nil, fmt.Errorf("USAGE_LOGGERS_URL %q has a bad port %q", raw, p)
		}
	}
	if scheme == "http" && !allowHTTP && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("%w %q: calls would cross the network in clear text (Resurface's loggers silently disable themselves here). "+
			"Use https://, or add the line allow_http_url to USAGE_LOGGERS_RULES", ErrPlainHTTP, raw)
	}
	return u, nil
}

// LoopbackURL tells whether the URL's host is a loopback address or localhost (by name,
// not looked up: RFC 6761 reserves it for loopback).
func LoopbackURL(raw string) bool {
	u, err := url.Parse(strings.TrimSpace(raw))
	return err == nil && u.Hostname() != "" && isLoopback(u.Hostname())
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

func (c *PostConfig) setDefaults() {
	if c.QueueSize <= 0 {
		c.QueueSize = 4096
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = 64 << 20
	}
	if c.BundleSize <= 0 {
		c.BundleSize = 5 << 20
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.MemoryBytes > 0 {
		c.QueueBytes = min(c.QueueBytes, c.MemoryBytes/2)
		c.BundleSize = max(min(c.BundleSize, int(c.MemoryBytes/2/int64(2*(c.Concurrency+1)))), 64<<10)
	}
	if c.BundleCount <= 0 {
		c.BundleCount = 1000
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = 100 * time.Millisecond
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = 5 * time.Second
		if c.BackoffMax < c.BackoffMin {
			c.BackoffMax = c.BackoffMin
		}
	}
	if c.CompressLevel <= 0 || c.CompressLevel > 9 {
		c.CompressLevel = 1
	}
	if c.SpoolDir != "" && c.SpoolMax <= 0 {
		c.SpoolMax = 1 << 30
	}
}
