//go:build !linux

package capture

import (
	"context"
	"errors"
	"runtime"
)

// DefaultAFBlockSize is the AF_PACKET block size on Linux; elsewhere there is no such engine.
const DefaultAFBlockSize = 512 << 10

// afSource exists on Linux only.
type afSource struct{}

func openAFPacket(Config) (*Source, error) {
	return nil, errors.New("the afpacket capture engine needs Linux (this is " + runtime.GOOS + "); use -engine libpcap")
}

func (*afSource) close()                             {}
func (*afSource) stats() (received, dropped int)     { return 0, 0 }
func (*afSource) run(context.Context, Handler) error { return nil }

// OpenGroup needs the afpacket engine, which is Linux only.
func OpenGroup(Config, int) (*Group, error) {
	_, err := openAFPacket(Config{})
	return nil, err
}
