package main

import (
	"math"
	"sync/atomic"

	"sniffer/capture"
	"sniffer/reassembly"
)

// fanoutMembers is how many AF_PACKET fanout members read the device: on a live capture
// with the afpacket engine (-engine afpacket, or auto choosing it) and several reassembly
// workers, one per worker, so that the kernel splits the traffic by flow and each worker
// reads, decodes and reassembles its own connections (no single reader copying every
// segment to the workers); 0 otherwise. afpacket+mirror keeps one socket: the outer flow
// of a tunnel says nothing of the connections inside it.
func fanoutMembers(cfg *Config, engine string) int {
	if engine != "afpacket" || cfg.File != "" || cfg.Engine == "afpacket+mirror" {
		return 0
	}
	return workers(cfg, true)
}

// openCapture opens the capture: a fanout group of members when there are several (its
// first member then stands for it where one source is asked for), else one source.
func openCapture(ccfg capture.Config, members int) (*capture.Source, *capture.Group, error) {
	if members > 1 {
		group, err := capture.OpenGroup(ccfg, members)
		if err != nil {
			return nil, nil, err
		}
		return group.Members[0], group, nil // Members[0] for its names; group.Run reads every member
	}
	src, err := capture.Open(ccfg)
	return src, nil, err
}

// fanout makes the packet handling of each member of a fanout group: a decoder counting
// into dec's stats, its own reassembler, and a backlog of its own ring (an nth of the
// buffer). The pipeline is told the largest member backlog: one member behind is enough
// for the CPU to be short.
func fanout(dec *capture.Decoder, asms []*reassembly.Assembler, bufferSize int, behind func(float64)) []*packets {
	n := len(asms)
	if bufferSize <= 0 {
		bufferSize = capture.DefaultBufferSize
	}
	shares := make([]atomic.Uint64, n) // float64 bits
	out := make([]*packets, n)
	for i, a := range asms {
		d := dec
		if i > 0 {
			d = dec.Sibling()
		}
		out[i] = &packets{dec: d, asm: a, backlog: capture.NewBacklog(bufferSize / n), behind: func(share float64) {
			shares[i].Store(math.Float64bits(share))
			worst := 0.0
			for j := range shares {
				worst = max(worst, math.Float64frombits(shares[j].Load()))
			}
			behind(worst)
		}}
	}
	return out
}

func handlers(ps []*packets) []capture.Handler {
	out := make([]capture.Handler, len(ps))
	for i, p := range ps {
		out[i] = p
	}
	return out
}
