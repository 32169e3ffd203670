package observe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Serve serves /metrics and /healthz on addr (host:port; ":9090" for every interface) until
// stop is called. An empty addr serves nothing and returns a no-op stop. /healthz answers
// 200 while the server runs, which is from before the capture starts until stop (call it
// when the capture has ended). The listener is bound before Serve returns, so a port in use
// is an error here rather than a log line later.
func Serve(addr string, src Sources, logger *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	if logger == nil {
		logger = slog.Default()
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(newCollector(src)); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("SNIFFER_METRICS_ADDR/-metrics-addr %q: %w (pick a free host:port, e.g. :9090)", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics endpoint stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	logger.Info("serving /metrics and /healthz", "addr", ln.Addr().String())
	var once atomic.Bool
	return func() {
		if !once.CompareAndSwap(false, true) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
		<-done
	}, nil
}

// collector is a prometheus.Collector over the counter table: the counters are not counted
// a second time, they are read at each scrape.
type collector struct {
	src   Sources
	descs map[*family]*prometheus.Desc
}

func newCollector(src Sources) *collector {
	c := &collector{src: src, descs: map[*family]*prometheus.Desc{}}
	for _, f := range families {
		var labels []string
		if f.label != "" {
			labels = []string{f.label}
		}
		c.descs[f] = prometheus.NewDesc("sniffer_"+f.name, f.help, labels, nil)
	}
	return c
}

// Describe sends every descriptor, so the registry can check them once.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range families {
		ch <- c.descs[f]
	}
}

// Collect reads the counters.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.src.read() {
		kind := prometheus.CounterValue
		if s.f.gauge {
			kind = prometheus.GaugeValue
		}
		var labels []string
		if s.f.label != "" {
			labels = []string{s.label}
		}
		ch <- prometheus.MustNewConstMetric(c.descs[s.f], kind, float64(s.v), labels...)
	}
}
