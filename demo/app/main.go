// Command app is the compose demo's sample HTTP API, the traffic sniffer watches: a small
// in-memory list of items with JSON requests and responses. With -load URL it is instead the
// demo's client, calling that API at a steady rate so that calls show up without anyone
// typing curl.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", envOr("APP_ADDR", ":8080"), "listen address (env APP_ADDR)")
	load := flag.String("load", os.Getenv("LOAD_URL"), "instead of serving, call the API at this base URL, e.g. http://app:8080 (env LOAD_URL)")
	every := flag.Duration("every", 500*time.Millisecond, "with -load: time between calls")
	count := flag.Int("n", 0, "with -load: stop after this many calls (0: until stopped)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *load != "" {
		n, err := drive(ctx, *load, *every, *count, 30*time.Second)
		slog.Info("load done", "calls", n, "err", err)
		if err != nil {
			os.Exit(1)
		}
		return
	}
	srv := &http.Server{Addr: *addr, Handler: newAPI().handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); srv.Shutdown(context.Background()) }()
	slog.Info("demo app listening", "addr", *addr)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		slog.Error("demo app stopped", "err", err)
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

type item struct {
	ID    int     `json:"id"`
	Name  string  `json:"name"`
	Price float64 `json:"price"`
	Email string  `json:"email,omitempty"` // personal data: the default rules mask it
}

// api keeps at most maxItems items so that a long-running demo stays small.
type api struct {
	mu     sync.Mutex
	items  map[int]item
	nextID int
}

const maxItems = 1000

func newAPI() *api {
	a := &api{items: map[int]item{}, nextID: 1}
	a.add(item{Name: "coffee", Price: 3.5})
	a.add(item{Name: "tea", Price: 2.25})
	return a
}

func (a *api) add(it item) item {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.items) >= maxItems {
		delete(a.items, a.nextID-maxItems)
	}
	it.ID = a.nextID
	a.nextID++
	a.items[it.ID] = it
	return it
}

func (a *api) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /api/items", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		list := make([]item, 0, len(a.items))
		for _, it := range a.items {
			list = append(list, it)
		}
		a.mu.Unlock()
		if lim, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && lim >= 0 && lim < len(list) {
			list = list[:lim]
		}
		writeJSON(w, http.StatusOK, list)
	})
	mux.HandleFunc("GET /api/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.Atoi(r.PathValue("id"))
		a.mu.Lock()
		it, ok := a.items[id]
		a.mu.Unlock()
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such item"})
			return
		}
		writeJSON(w, http.StatusOK, it)
	})
	mux.HandleFunc("POST /api/items", func(w http.ResponseWriter, r *http.Request) {
		var it item
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&it); err != nil || it.Name == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want a JSON object with a name"})
			return
		}
		writeJSON(w, http.StatusCreated, a.add(it))
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// drive calls the API at base every interval: a mix of lists, reads, creates and a miss.
// It returns the number of calls answered. Errors are logged and retried on the next tick,
// so the client can start before the app; n > 0 makes it stop after n calls, and fail if
// fewer than n were answered within n*interval + grace.
func drive(ctx context.Context, base string, every time.Duration, n int, grace time.Duration) (int, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	if n > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(n)*every+grace)
		defer cancel()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	done := 0
	for i := 0; n == 0 || done < n; i++ {
		var req *http.Request
		switch i % 4 {
		case 0:
			req, _ = http.NewRequestWithContext(ctx, "GET", base+"/api/items?limit=5", nil)
		case 1:
			body, _ := json.Marshal(item{Name: fmt.Sprintf("item-%d", i), Price: float64(rand.IntN(1000)) / 100, Email: "someone@example.com"})
			req, _ = http.NewRequestWithContext(ctx, "POST", base+"/api/items", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
		case 2:
			req, _ = http.NewRequestWithContext(ctx, "GET", base+"/api/items/1", nil)
		case 3:
			req, _ = http.NewRequestWithContext(ctx, "GET", base+"/api/items/999999", nil)
		}
		if resp, err := client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			done++
		} else if ctx.Err() == nil {
			slog.Warn("call failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			if n > 0 && done < n {
				return done, fmt.Errorf("only %d of %d calls answered", done, n)
			}
			return done, nil
		case <-t.C:
		}
	}
	return done, nil
}
