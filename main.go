// Command sniffer captures HTTP/1.x API calls from the network (a device or a capture
// file), reassembles them from TCP and writes them out: NDJSON on standard output.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"sniffer/capture"
	"sniffer/model"
	"sniffer/observe"
	"sniffer/pipeline"
	"sniffer/reassembly"
	"sniffer/vxlan"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if os.Getenv("GOGC") == "" {
		// Most of what sniffer allocates is short-lived bodies; collecting at twice
		// the live heap instead of once costs about 10% less CPU for about 12 MiB
		// more peak memory on the bench capture (53 instead of 41 MiB).
		debug.SetGCPercent(200)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit, so that tests can drive it: 0 on success, 1 on a
// failure while running, 2 on bad settings.
func run(args []string, stdout, stderr io.Writer) int {
	stderr = &lockedWriter{w: stderr} // the logger writes from the sinks' goroutines too
	cfg, err := loadConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "sniffer:", err)
		return 2
	}
	logger, err := observe.NewLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "sniffer:", err)
		return 2
	}
	slog.SetDefault(logger)
	ports, anyPort, err := cfg.appPorts()
	if err != nil {
		fmt.Fprintln(stderr, "sniffer: APP_PORTS/-ports:", err)
		return 2
	}
	dec := capture.NewDecoder()
	obs := observe.Sources{Decoder: &dec.Stats}
	filter := capture.Filter(ports)
	engine := "libpcap" // what reads packets; mirror decapsulates on top of either
	switch cfg.Engine {
	case "libpcap", "pcap":
	case "auto", "":
		engine = capture.AutoEngine(capture.Config{File: cfg.File, Device: cfg.Device, Immediate: cfg.Immediate})
	case "none": // no packets: the proxy mirror listener alone (loadConfig made sure it is set)
	case "afpacket":
		engine = "afpacket"
	case "mirror", "vxlan", "afpacket+mirror":
		// vxlan is the name network-sniffer's README gives the mirror engine
		// (SNIFFER_ENGINE=vxlan with SNIFFER_MIRROR_VXLANPORT and SNIFFER_MIRROR_VNIS).
		if cfg.Engine == "afpacket+mirror" {
			engine = "afpacket"
		}
		var decap *vxlan.Decapsulator
		var geneve *vxlan.Geneve
		if filter, decap, geneve, err = mirrorMode(cfg, ports, dec); err != nil {
			fmt.Fprintln(stderr, "sniffer:", err)
			return 2
		}
		obs.VXLAN = decap
		if geneve != nil {
			obs.Geneve = geneve
		}
	case "k8s":
		// The Resurface Helm chart's DaemonSet sets SNIFFER_ENGINE=k8s and hands GoReplay
		// its pod/service discovery options in K8S_INPUT; sniffer has no pod discovery.
		fmt.Fprintln(stderr, "sniffer: SNIFFER_ENGINE=k8s (the Resurface Helm chart's pod discovery through K8S_INPUT) is not supported: "+
			"run sniffer in the node's network namespace (hostNetwork: true) with APP_PORTS set to the pods' ports, as deploy/daemonset.yaml does, and leave SNIFFER_ENGINE unset")
		return 2
	default:
		fmt.Fprintf(stderr, "sniffer: SNIFFER_ENGINE/-engine %q: want auto, libpcap, afpacket, mirror (or vxlan), afpacket+mirror or none\n", cfg.Engine)
		return 2
	}
	switch {
	case cfg.NoFilter:
		// network-sniffer's SNIFFER_NOFILTER drops only the kernel filter: GoReplay still
		// keeps the --input-raw ports. So do we, in user space, so that calls on other ports
		// (and sniffer's own posts to a collector on this host) stay out.
		filter = ""
		dec.Ports = ports
	case cfg.BPF != "":
		filter = cfg.BPF
	}
	if !capture.CompilesFilters && filter != "" {
		// A build without libpcap (macOS without cgo) cannot compile filters: the ports
		// are kept in user space instead, and a filter of one's own cannot be honoured.
		if cfg.BPF != "" {
			fmt.Fprintln(stderr, "sniffer: BPF_FILTER/-bpf needs libpcap, which this build does not have (made without cgo): select traffic with APP_PORTS, or build sniffer with cgo")
			return 2
		}
		filter = ""
		dec.Ports = ports
	}
	if cfg.File == "" && cfg.MirrorDevice != "" && (cfg.VXLANCreate || cfg.VXLANVNI >= 0) {
		cleanup, err := vxlanDevice(cfg, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "sniffer:", err)
			return 1
		}
		defer cleanup()
	}
	rls, err := newRules(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "sniffer:", err)
		return 2
	}
	sinks, poster, err := newSinks(cfg, rls, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "sniffer:", err)
		return 2
	}
	if why := compressPosts(cfg, rls); poster != nil && why != "" && !cfg.Quiet {
		fmt.Fprintf(stderr, "sniffer: posting to %s uncompressed: %s\n", cfg.URL, why)
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintln(stderr, "sniffer: cpu profile:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err == nil {
			defer pprof.StopCPUProfile()
		}
	}
	var src *capture.Source  // nil with SNIFFER_ENGINE=none, or with a fanout group
	var group *capture.Group // -engine afpacket with several workers: one fanout member each
	live := true
	if cfg.Engine != "none" {
		ccfg := capture.Config{File: cfg.File, Device: cfg.Device, Filter: filter, Promisc: cfg.Promisc, BufferSize: cfg.PcapBuffer, Immediate: cfg.Immediate,
			Engine: engine, FanoutGroup: cfg.AFFanout, BlockSize: cfg.AFBlockSize, NumBlocks: cfg.AFBlocks}
		src, group, err = openCapture(ccfg, fanoutMembers(cfg, engine))
		// auto falls back to libpcap when afpacket fails, but not with SNIFFER_AFPACKET_FANOUT:
		// the processes of that group rely on the kernel splitting the traffic between them,
		// and one reading all of it with libpcap would print every call a second time. Nor on
		// an afpacket setting that is wrong (capture.SettingError): that is said, not ignored.
		var setting capture.SettingError
		if err != nil && engine == "afpacket" && (cfg.Engine == "auto" || cfg.Engine == "") && cfg.AFFanout == 0 && !errors.As(err, &setting) {
			fmt.Fprintf(stderr, "sniffer: warning: SNIFFER_ENGINE=auto: the AF_PACKET socket could not be opened, capturing with libpcap instead (set SNIFFER_ENGINE=libpcap to skip the attempt): %v\n", err)
			engine, ccfg.Engine = "libpcap", "libpcap"
			src, group, err = openCapture(ccfg, 0)
		}
		if err != nil {
			fmt.Fprintln(stderr, "sniffer:", err)
			if cfg.MirrorListen != "" {
				fmt.Fprintln(stderr, "sniffer: to receive proxy mirrors without capturing packets, set SNIFFER_ENGINE=none")
			}
			return 1
		}
		if group != nil {
			defer group.Close()
			obs.Capture = group
		} else {
			defer src.Close()
			obs.Capture = src
			live = src.Live()
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if !live && poster != nil {
		poster.WaitForRoom(ctx, cfg.FlushTimeout) // a file waits for the collector instead of dropping calls
	}
	// Decoding, rules and sinks run on the pipeline's workers: the packet reader only queues
	// finished calls. A file waits for room (nothing lost, same output every run); a live
	// capture never waits, the pipeline sheds work instead. The pipeline is made once the
	// reassembler is (its batch arenas allocated): the budget is split now that the capture's
	// ring is mapped and the heap's fixed part is known (memory.go). No call is put before.
	var dl *pipeline.Pipeline
	put := func(c *model.Call) { dl.Put(c) }
	behind := func(share float64) { dl.CaptureBacklog(share) }

	rcfg := reassembly.DefaultConfig()
	rcfg.MaxBodyBytes = cfg.BodyLimit
	rcfg.KeepIncomplete = cfg.KeepIncomplete
	rcfg.IdleTimeout, rcfg.GapTimeout = cfg.IdleTimeout, cfg.GapTimeout
	rcfg.ReorderPackets, rcfg.ReorderWindow = cfg.ReorderPackets, cfg.ReorderWindow
	rcfg.MaxBufferedBytes, rcfg.MaxStreams, rcfg.MaxPending = cfg.MaxBuffered, cfg.MaxStreams, cfg.MaxPending
	rcfg.MaxHeadBytes = cfg.MaxHeadBytes
	rcfg.Detect = anyPort
	var asm reassembler
	var members []*packets // a fanout group's: one per member, each on the member's goroutine
	switch n := workers(cfg, live); {
	case group != nil:
		members = fanout(dec, reassembly.NewGroup(rcfg, len(group.Members), put), cfg.PcapBuffer, behind)
		asm = members[0].asm
	case n > 1:
		asm = reassembly.NewParallel(rcfg, n, put)
	default:
		asm = reassembly.New(rcfg, put)
	}
	var sinkShare int64
	if poster != nil {
		sinkShare = cfg.MemoryBudget / 16 // its PostConfig.MemoryBytes (sinks.go)
	}
	_, queue, warning := memoryShares(cfg.MemoryBudget, fixedHeap(), sinkShare, live)
	if warning != "" {
		fmt.Fprintln(stderr, "sniffer: warning:", warning)
	}
	dl = pipeline.New(pipeline.Config{Decode: cfg.Decode, BodyLimit: cfg.BodyLimit, RealIPHeader: cfg.RealIPHeader, Rules: rls,
		Wait: !live, QueueBytes: queue}, sinks)
	obs.Delivery, obs.Pipeline, obs.Anomalies = dl, dl, dl.Anomalies()
	p := &packets{dec: dec, asm: asm}
	if src != nil && live {
		p.backlog, p.behind = capture.NewBacklog(cfg.PcapBuffer), behind
	}
	obs.Reassembly = asm.Stats()
	// The pipeline counts what it sheds or drops, so the listener is told every call was taken.
	mirror, stopMirror, err := startProxyMirror(cfg, func(c *model.Call) bool { dl.Put(c); return true }, logger, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "sniffer:", err)
		return 2
	}
	if mirror != nil {
		obs.ProxyMirror = mirror.Stats()
	}
	stopObs, err := observe.Serve(cfg.MetricsAddr, obs, logger)
	if err != nil {
		fmt.Fprintln(stderr, "sniffer:", err)
		return 2 // a bad or taken SNIFFER_METRICS_ADDR is a settings error
	}
	defer stopObs()

	if !cfg.Quiet && src != nil {
		what := "reading " + cfg.File
		if src.Live() {
			what = fmt.Sprintf("capturing on %v with %s", src.Names(), engine)
			if group != nil {
				what += fmt.Sprintf(" through %d AF_PACKET fanout members, split by flow", len(group.Members))
			}
		}
		how := fmt.Sprintf("filter %q", filter)
		if filter == "" && len(dec.Ports) > 0 {
			// SNIFFER_NOFILTER, or a build without libpcap's filter compiler (macOS)
			how = "no kernel filter, APP_PORTS kept in user space"
		}
		if anyPort {
			how += ", HTTP/1.x told by its first bytes on every port"
		}
		fmt.Fprintf(stderr, "sniffer %s: %s, %s\n", version, what, how)
	}
	if src != nil && src.UserFilter() != "" {
		fmt.Fprintln(stderr, "sniffer: "+src.UserFilter())
	}
	stopProgress := func() {}
	if !cfg.Quiet && !live && stderrIsTerminal() {
		stopProgress = observe.Progress(stderr, obs)
	}
	start := time.Now()
	var runErr error
	switch {
	case group != nil:
		runErr = group.Run(ctx, handlers(members))
	case src != nil:
		runErr = src.Run(ctx, p)
	default:
		<-ctx.Done()
	}
	mirrorDropped := stopMirror() // before Drain: the listener puts calls too
	for _, m := range members[min(1, len(members)):] {
		m.asm.Close() // the first is asm
	}
	asm.Close()
	dl.Drain()
	stopProgress()
	if !cfg.Quiet {
		observe.Summary(stderr, obs, time.Since(start))
	}
	flushCtx, cancel := context.WithTimeout(context.Background(), cfg.FlushTimeout)
	lost := dl.Close(flushCtx, observe.SinkReport(stderr, cfg.Quiet)).Undelivered() + mirrorDropped
	cancel()
	observe.RulesReport(stderr, dl.Filtered(), dl.RuleFailures(), cfg.Quiet)
	switch {
	case errors.Is(runErr, capture.ErrTruncated), errors.Is(runErr, capture.ErrStopCut):
		fmt.Fprintln(stderr, "sniffer: warning:", runErr)
	case runErr != nil:
		fmt.Fprintln(stderr, "sniffer:", runErr)
		return 1
	}
	if lost > 0 {
		fmt.Fprintf(stderr, "sniffer: %d calls were not delivered\n", lost)
		return 1
	}
	return 0
}

// packets connects the packet source to the decoder and the reassembler.
type packets struct {
	dec     *capture.Decoder
	asm     reassembler
	backlog *capture.Backlog    // live: how far the reader is behind the wire
	behind  func(share float64) // told the backlog's share of the capture buffer (pipeline.CaptureBacklog)
}

// reassembler is a reassembly.Assembler, or a reassembly.Parallel of several.
type reassembler interface {
	Packet(netFlow gopacket.Flow, t *layers.TCP, ci gopacket.CaptureInfo, vni int)
	Tick(now time.Time)
	Close()
	Stats() *reassembly.Stats
}

// workers is the number of reassembly workers: as set, or one per CPU on a live device
// and one for a file, whose calls then come out in the same order on every run.
func workers(cfg *Config, live bool) int {
	switch {
	case cfg.Workers > 0:
		return cfg.Workers
	case live:
		return runtime.NumCPU()
	}
	return 1
}

func (p *packets) Packet(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) {
	p.dec.Decode(data, ci, lt, p.asm.Packet)
	if p.backlog != nil {
		if share, ok := p.backlog.Packet(ci); ok {
			p.behind(share)
		}
	}
}

func (p *packets) Idle(now time.Time) {
	if p.backlog != nil {
		p.behind(0) // nothing waiting: the reader has caught up
	}
	p.asm.Tick(now)
}

// lockedWriter serialises writes: the summary, the progress line and the logger share
// standard error from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
