package observe

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// NewLogger makes the process logger from SNIFFER_LOG_LEVEL (debug, info, warn, error) and
// SNIFFER_LOG_FORMAT (text or json), writing to w (standard error).
func NewLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.TrimSpace(level))); err != nil {
		return nil, fmt.Errorf("SNIFFER_LOG_LEVEL/-log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(strings.TrimSpace(format)) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("SNIFFER_LOG_FORMAT/-log-format %q: want text or json", format)
}
