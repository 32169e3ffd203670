package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"sniffer/model"
	"sniffer/proxymirror"
)

// startProxyMirror starts the proxy mirror listener when SNIFFER_MIRROR_LISTEN is set (nil
// when not): its calls join the captured ones on calls. The returned stop must be called before
// calls is closed; it reports the listener's account unless quiet and returns the calls it had
// to drop.
func startProxyMirror(cfg *Config, emit func(*model.Call) bool, logger *slog.Logger, stderr io.Writer) (*proxymirror.Listener, func() int64, error) {
	if cfg.MirrorListen == "" {
		return nil, func() int64 { return 0 }, nil
	}
	l, err := proxymirror.Listen(proxymirror.Config{
		Addr: cfg.MirrorListen, BodyLimit: cfg.BodyLimit, MaxConns: cfg.MirrorConns, MaxHeaderBytes: cfg.MirrorHeader,
		ReadTimeout: cfg.MirrorTimeout, IdleTimeout: cfg.IdleTimeout, Logger: logger,
	}, emit)
	if err != nil {
		return nil, nil, err
	}
	if !cfg.Quiet {
		fmt.Fprintf(stderr, "sniffer %s: receiving proxy mirrors on %s\n", version, l.Addr())
	}
	if cfg.URL != "" {
		logger.Info("proxy mirror: mirrored calls go to the collector without response_code (Resurface stores it as absent) and with custom_field:mirrored=true")
	}
	return l, func() int64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := l.Close(ctx); err != nil {
			logger.Warn("proxy mirror: stopping the listener", "err", err)
		}
		return l.Stats().Dropped.Load()
	}, nil
}
