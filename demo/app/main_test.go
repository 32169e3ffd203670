package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestDrive runs the load generator against the API and counts what the API answered.
func TestDrive(t *testing.T) {
	var hits atomic.Int64
	h := newAPI().handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1); h.ServeHTTP(w, r) }))
	defer srv.Close()
	n, err := drive(context.Background(), srv.URL, time.Millisecond, 12, 10*time.Second)
	if err != nil || n != 12 || hits.Load() != 12 {
		t.Fatalf("drive: %d calls, err %v, server saw %d", n, err, hits.Load())
	}
	// Nothing listening: it gives up after its deadline instead of hanging.
	srv.Close()
	if n, err := drive(context.Background(), srv.URL, time.Millisecond, 1, 200*time.Millisecond); err == nil || n != 0 {
		t.Fatalf("against a closed server: %d, %v", n, err)
	}
}

func TestAPI(t *testing.T) {
	srv := httptest.NewServer(newAPI().handler())
	defer srv.Close()
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/api/items", "", 200}, {"GET", "/api/items/1", "", 200}, {"GET", "/api/items/42", "", 404},
		{"POST", "/api/items", `{"name":"x","price":1}`, 201}, {"POST", "/api/items", `{}`, 400}, {"GET", "/healthz", "", 200},
	} {
		req := httptest.NewRequest(c.method, srv.URL+c.path, nil)
		if c.body != "" {
			req = httptest.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		}
		req.RequestURI = ""
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.want)
		}
	}
}
