//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// serverMain runs in the server namespace: it serves handler() on every address in
// SNIFFER_E2E_LISTEN, records each call it served in SNIFFER_E2E_LOG ("port method target status"
// a line, written as the handler returns), prints "ready" once it listens, and exits on SIGTERM.
func serverMain() int {
	var lns []net.Listener
	for _, addr := range strings.Split(os.Getenv("SNIFFER_E2E_LISTEN"), ",") {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "server:", err)
			return 1
		}
		lns = append(lns, ln)
	}
	if addr := os.Getenv("SNIFFER_E2E_TLS_LISTEN"); addr != "" { // HTTPS: not HTTP on the wire
		ln, err := tlsListen(addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "server:", err)
			return 1
		}
		lns = append(lns, ln)
	}
	log, err := os.Create(os.Getenv("SNIFFER_E2E_LOG"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		return 1
	}
	var mu sync.Mutex
	h := handler()
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := &statusRecorder{ResponseWriter: w, status: 200}
			h.ServeHTTP(rec, r)
			_, port, _ := net.SplitHostPort(r.Context().Value(http.LocalAddrContextKey).(net.Addr).String())
			mu.Lock()
			fmt.Fprintf(log, "%s %s %s %d\n", port, r.Method, r.RequestURI, rec.status)
			mu.Unlock()
		}),
	}
	for _, ln := range lns {
		go srv.Serve(ln)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("ready")
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	mu.Lock()
	defer mu.Unlock()
	if err := log.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		return 1
	}
	return 0
}

// statusRecorder remembers the status a handler sent.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote && code >= 200 {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() { s.ResponseWriter.(http.Flusher).Flush() }
