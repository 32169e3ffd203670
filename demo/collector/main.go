// Command collector is the compose demo's stand-in for a Resurface collector: it takes the
// NDJSON bundles sniffer posts to USAGE_LOGGERS_URL (zlib-compressed when the request says
// Content-Encoding: deflated, as sniffer sends to a collector that is not on loopback) and keeps the newest calls in memory.
// GET / lists them, newest first, filtered by path and status (?path=&status=); GET
// /calls/{id} shows one call's headers and bodies (page.go). GET /messages returns them as
// NDJSON, GET /healthz says it is up. It is a demo and a test fixture, not a system of
// record: nothing is written to disk.
package main

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", envOr("COLLECTOR_ADDR", ":7701"), "listen address (env COLLECTOR_ADDR)")
	keep := flag.Int("keep", 1000, "calls kept in memory; older ones are forgotten")
	flag.Parse()
	st := newStore(*keep)
	srv := &http.Server{Addr: *addr, Handler: st.handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
	slog.Info("collector listening", "addr", *addr, "post", "/message", "show", "/")
	if err := srv.ListenAndServe(); err != nil {
		slog.Error("collector stopped", "err", err)
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Limits on one post: sniffer's bundles are 5 MiB of NDJSON by default.
const (
	maxWire    = 64 << 20  // bytes on the wire
	maxInflate = 256 << 20 // bytes after inflating
	maxLine    = 64 << 20  // one message
)

// store keeps the newest calls in a ring and counts everything it was sent.
type store struct {
	mu       sync.Mutex
	keep     int
	msgs     []message // ring, len <= keep
	next     int
	total    int64 // messages received
	bad      int64 // lines that were not a message
	posts    int64
	badPosts int64
	started  time.Time
}

// message is one call as Resurface's loggers send it: [name, value] pairs, numbered in the
// order received (from 1), which names it in /calls/{id}.
type message struct {
	ID       int64
	Pairs    [][2]string
	Received time.Time
}

func newStore(keep int) *store {
	if keep < 1 {
		keep = 1
	}
	return &store{keep: keep, started: time.Now()}
}

func (s *store) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /messages", s.serveNDJSON)
	mux.HandleFunc("GET /{$}", s.serveList)
	mux.HandleFunc("GET /calls/{id}", s.serveCall)
	mux.HandleFunc("GET /static/{name}", serveStatic)
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("POST /", s.receive) // Resurface's path is /message; any path is taken
	return mux
}

// receive takes one bundle: NDJSON, one JSON array of [name, value] pairs a line.
func (s *store) receive(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		s.mu.Lock()
		s.badPosts++
		s.mu.Unlock()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now()
	var got []message
	var bad int64
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var pairs [][2]string
		if err := json.Unmarshal(line, &pairs); err != nil {
			bad++
			continue
		}
		got = append(got, message{Pairs: pairs, Received: now})
	}
	if err := sc.Err(); err != nil {
		bad++
	}
	s.mu.Lock()
	s.posts++
	s.bad += bad
	for _, m := range got {
		s.total++
		m.ID = s.total
		if len(s.msgs) < s.keep {
			s.msgs = append(s.msgs, m)
		} else {
			s.msgs[s.next] = m
		}
		s.next = (s.next + 1) % s.keep
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// readBody reads the request body, inflating it when Content-Encoding says deflated (zlib,
// what Resurface's loggers send) or deflate, with the size limits above.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	var rd io.Reader = http.MaxBytesReader(w, r.Body, maxWire)
	switch ce := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); ce {
	case "", "identity":
	case "deflated", "deflate":
		zr, err := zlib.NewReader(rd)
		if err != nil {
			return nil, fmt.Errorf("Content-Encoding %s but the body is not zlib: %v", ce, err)
		}
		defer zr.Close()
		rd = zr
	default:
		return nil, fmt.Errorf("Content-Encoding %q: want deflated or none", ce)
	}
	b, err := io.ReadAll(io.LimitReader(rd, maxInflate+1))
	if err != nil {
		return nil, fmt.Errorf("reading the bundle: %v", err)
	}
	if len(b) > maxInflate {
		return nil, errors.New("bundle larger than 256 MiB inflated")
	}
	return b, nil
}

// snapshot returns the kept messages, oldest first, and the counters.
func (s *store) snapshot() (msgs []message, total, bad, posts, badPosts int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.msgs) < s.keep {
		msgs = append(msgs, s.msgs...)
	} else {
		msgs = append(append(msgs, s.msgs[s.next:]...), s.msgs[:s.next]...)
	}
	return msgs, s.total, s.bad, s.posts, s.badPosts
}

func (s *store) serveNDJSON(w http.ResponseWriter, r *http.Request) {
	msgs, total, _, _, _ := s.snapshot()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Total-Messages", strconv.FormatInt(total, 10))
	enc := json.NewEncoder(w)
	for _, m := range msgs {
		enc.Encode(m.Pairs)
	}
}

// get returns the message numbered id if it is still kept: message k went into slot
// (k-1) % keep, and the ring holds the last len(msgs) received.
func (s *store) get(id int64) (message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id < 1 || id > s.total || id <= s.total-int64(len(s.msgs)) {
		return message{}, false
	}
	return s.msgs[(id-1)%int64(s.keep)], true
}
