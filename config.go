package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"time"

	"sniffer/capture"
)

// Config is every setting. Each is read from the environment (network-sniffer's and the
// Resurface loggers' variable names where they have one, so their users can switch by
// changing the image name) and can be overridden by its command-line flag.
type Config struct {
	File           string        `envconfig:"PCAP_FILE" flag:"r" desc:"read packets from this .pcap/.pcapng file instead of a device (- for standard input)"`
	Device         string        `envconfig:"NET_DEVICE" flag:"i" desc:"capture device: name, IP address, prefix* pattern or comma list; empty for every interface that is up"`
	MirrorDevice   string        `envconfig:"VPC_MIRROR_DEVICE" flag:"mirror-device" desc:"VXLAN device receiving mirrored traffic (used when NET_DEVICE is empty)"`
	Ports          string        `envconfig:"APP_PORTS" flag:"ports" desc:"application TCP ports, e.g. 80,8080 or 8000-8010, or any: every port, HTTP/1.x found by its first bytes (costs CPU for all TCP traffic live); unset (and no APP_PORT): any for a file, 80 live"`
	Port           string        `envconfig:"APP_PORT" flag:"-" desc:"single application port (old name of APP_PORTS)"`
	BPF            string        `envconfig:"BPF_FILTER" flag:"bpf" desc:"BPF filter replacing the one generated from the ports"`
	NoFilter       bool          `envconfig:"SNIFFER_NOFILTER" flag:"nofilter" desc:"capture without a kernel (BPF) filter; APP_PORTS still apply, in user space"`
	Promisc        bool          `envconfig:"SNIFFER_PROMISC_ENABLED" default:"true" flag:"promisc" desc:"put the device in promiscuous mode"`
	Immediate      bool          `envconfig:"SNIFFER_PCAP_IMMEDIATE" flag:"immediate" desc:"libpcap immediate mode: packets handed over at once, but on Linux one ring slot per packet of the 256 KiB snaplen, so bursts drop; off, they come in blocks within 200 ms"`
	PcapBuffer     int           `envconfig:"SNIFFER_PCAP_BUFFER_SIZE" default:"16777216" flag:"pcap-buffer" desc:"kernel capture buffer in bytes"`
	RealIPHeader   string        `envconfig:"SNIFFER_REALIP_HEADER" flag:"realip-header" desc:"header carrying the client address seen on the wire, e.g. X-Real-IP, added to requests that carry none (no X-Forwarded-For, X-Real-IP...)"`
	Decode         bool          `envconfig:"SNIFFER_DECODE_BODIES" default:"true" flag:"decode" desc:"decode gzip/deflate/br/zstd bodies; false keeps bodies exactly as captured (and unmasked: see Logging rules)"`
	BodyLimit      int64         `envconfig:"USAGE_LOGGERS_BODY_LIMIT" default:"1048576" flag:"body-limit" desc:"body bytes kept per message; longer bodies are cut and marked truncated"`
	KeepIncomplete bool          `envconfig:"SNIFFER_KEEP_INCOMPLETE" flag:"keep-incomplete" desc:"also emit incomplete calls (no response, lost segments), marked with the reason"`
	IdleTimeout    time.Duration `envconfig:"SNIFFER_IDLE_TIMEOUT" default:"2m" flag:"idle-timeout" desc:"close connections idle this long and flush their calls"`
	GapTimeout     time.Duration `envconfig:"SNIFFER_GAP_TIMEOUT" default:"5s" flag:"gap-timeout" desc:"wait this long for a lost segment before skipping the hole"`
	ReorderPackets int           `envconfig:"SNIFFER_REORDER_PACKETS" default:"512" flag:"reorder-packets" desc:"a hole the other side acknowledged past is taken for lost only after this many packets and -reorder-window have both passed (segments come late from mirror sessions and multi-queue NICs)"`
	ReorderWindow  time.Duration `envconfig:"SNIFFER_REORDER_WINDOW" default:"50ms" flag:"reorder-window" desc:"capture time a hole the other side acknowledged past is waited for before it is taken for lost (with -reorder-packets)"`
	MaxBuffered    int64         `envconfig:"SNIFFER_MAX_BUFFERED_BYTES" default:"33554432" flag:"max-buffered" desc:"out-of-order bytes buffered over all connections (the reassembly workers share it); beyond it holes are skipped"`
	MaxStreams     int           `envconfig:"SNIFFER_MAX_STREAMS" default:"100000" flag:"max-streams" desc:"connections tracked at once; more are counted and ignored"`
	MaxHeadBytes   int64         `envconfig:"SNIFFER_MAX_HEAD_BYTES" default:"67108864" flag:"max-head-bytes" desc:"bytes of unfinished heads held over all connections (slowloris bound); past it heads are given up and counted"`
	MaxPending     int           `envconfig:"SNIFFER_MAX_PENDING" default:"256" flag:"max-pending" desc:"requests waiting for responses per connection"`
	Engine         string        `envconfig:"SNIFFER_ENGINE" default:"auto" flag:"engine" desc:"auto: afpacket on live Linux devices (any included), libpcap for files, NFLOG, immediate mode, other systems, and when the AF_PACKET socket cannot be opened (said at start); libpcap; afpacket (Linux AF_PACKET TPACKET_V3 rings, less CPU, fanout); mirror (or vxlan, network-sniffer's name): decapsulate VXLAN- and Geneve-mirrored traffic (UDP, SNIFFER_MIRROR_VXLANPORT, SNIFFER_MIRROR_GENEVEPORT) in user space; afpacket+mirror: both; none: no packet capture, only SNIFFER_MIRROR_LISTEN"`
	MirrorPort     int           `envconfig:"SNIFFER_MIRROR_VXLANPORT" default:"4789" flag:"mirror-port" desc:"UDP port of mirrored VXLAN traffic (mirror engine)"`
	MirrorGeneve   int           `envconfig:"SNIFFER_MIRROR_GENEVEPORT" default:"6081" flag:"mirror-geneve-port" desc:"UDP port of Geneve traffic (mirror engine; AWS Gateway Load Balancer); 0 turns Geneve off"`
	MirrorVNIs     string        `envconfig:"SNIFFER_MIRROR_VNIS" flag:"mirror-vnis" desc:"VNIs to decapsulate, comma list; empty for all; -N excludes N (mirror engine)"`
	VXLANCreate    bool          `envconfig:"VXLAN_CREATE" flag:"vxlan-create" desc:"create VPC_MIRROR_DEVICE as a VXLAN device via netlink if it does not exist (deleted again on exit)"`
	VXLANVNI       int           `envconfig:"VXLAN_VNI" default:"-1" flag:"vxlan-vni" desc:"VNI of the VXLAN device to create; setting it implies -vxlan-create"`
	VXLANPort      int           `envconfig:"VXLAN_PORT" default:"4789" flag:"vxlan-port" desc:"UDP port of the VXLAN device to create"`
	VXLANParent    string        `envconfig:"VXLAN_PARENT" flag:"vxlan-parent" desc:"underlay device of the VXLAN device to create"`
	VXLANLocal     string        `envconfig:"VXLAN_LOCAL" flag:"vxlan-local" desc:"local tunnel address of the VXLAN device to create (optional)"`
	VXLANRemote    string        `envconfig:"VXLAN_REMOTE" flag:"vxlan-remote" desc:"remote tunnel address of the VXLAN device to create (optional)"`
	MirrorListen   string        `envconfig:"SNIFFER_MIRROR_LISTEN" flag:"mirror-listen" desc:"receive requests that proxies mirror (NGINX mirror, Envoy/Istio request mirroring, Traefik mirroring) on this host:port, e.g. :8445; each is a call without response, marked mirrored; unset: off"`
	MirrorConns    int           `envconfig:"SNIFFER_MIRROR_MAX_CONNS" default:"256" flag:"mirror-max-conns" desc:"proxy mirror connections served at once; more are answered 503 and counted"`
	MirrorHeader   int           `envconfig:"SNIFFER_MIRROR_MAX_HEADER_BYTES" default:"65536" flag:"mirror-max-header-bytes" desc:"largest mirrored request line and headers; longer heads are answered 431 and counted"`
	MirrorTimeout  time.Duration `envconfig:"SNIFFER_MIRROR_READ_TIMEOUT" default:"30s" flag:"mirror-read-timeout" desc:"time to receive one mirrored request whole; slower senders are answered 408 and counted (idle keep-alive connections close after SNIFFER_IDLE_TIMEOUT)"`
	URL            string        `envconfig:"USAGE_LOGGERS_URL" flag:"url" desc:"Resurface capture URL calls are posted to, e.g. http://localhost:7701/message; unset: NDJSON on standard output"`
	Rules          string        `envconfig:"USAGE_LOGGERS_RULES" flag:"rules" desc:"logging rules (text, one a line, or file://PATH); unset: include default (credentials and personal data masked)"`
	Disable        bool          `envconfig:"USAGE_LOGGERS_DISABLE" flag:"disable" desc:"do not post to USAGE_LOGGERS_URL"`
	Compress       string        `envconfig:"SNIFFER_COMPRESS" default:"auto" flag:"compress" desc:"zlib-compress the posts to USAGE_LOGGERS_URL: auto (on, except to a loopback collector such as http://localhost:7701/message, where compressing costs CPU at both ends and saves no network), on, or off; a skip_compression rule turns it off"`
	QueueSize      int           `envconfig:"USAGE_LOGGERS_MESSAGE_QUEUE_SIZE" default:"4096" flag:"queue-size" desc:"calls queued in memory for the collector"`
	BundleSize     int           `envconfig:"USAGE_LOGGERS_BUNDLE_SIZE" default:"5242880" flag:"bundle-size" desc:"bytes of NDJSON per post to the collector"`
	SpoolDir       string        `envconfig:"SPOOL_DIR" flag:"spool-dir" desc:"directory for calls that do not fit in memory while the collector is down (replayed in order)"`
	SpoolMax       int64         `envconfig:"SPOOL_MAX_BYTES" default:"1073741824" flag:"spool-max" desc:"size cap of the spool"`
	DropPolicy     string        `envconfig:"SNIFFER_DROP_POLICY" default:"oldest" flag:"drop" desc:"when queue and spool are full drop the oldest or the newest calls"`
	MemoryBudget   int64         `envconfig:"SNIFFER_MEMORY_BUDGET" default:"67108864" flag:"memory-budget" desc:"bytes of memory sniffer keeps under, peak RSS: what is resident outside the Go heap once the capture is open (the capture ring, the binary) is taken off, the rest is the Go memory limit (unless GOMEMLIMIT is set); a sixteenth of the budget for the collector's queue and bundles; of what the heap's fixed part (rules, reassembly buffers, measured after setup) and the collector's share leave of the limit, a fifth for calls waiting for the workers (live; past half of it bodies are left undecoded, past three quarters dropped)"`
	FlushTimeout   time.Duration `envconfig:"SNIFFER_FLUSH_TIMEOUT" default:"10s" flag:"flush-timeout" desc:"how long to deliver queued calls at exit"`
	OutFile        string        `envconfig:"SNIFFER_OUTPUT_FILE" flag:"o" desc:"write NDJSON calls to this file (- for standard output), rotated at SNIFFER_OUTPUT_MAX_BYTES"`
	OutMaxBytes    int64         `envconfig:"SNIFFER_OUTPUT_MAX_BYTES" flag:"o-max-bytes" desc:"rotate the -o file at this size (0: never)"`
	HARFile        string        `envconfig:"SNIFFER_HAR_FILE" flag:"har" desc:"write an HTTP Archive (HAR 1.2) of the calls to this file at exit"`
	Workers        int           `envconfig:"SNIFFER_WORKERS" flag:"workers" desc:"reassembly workers, connections split by flow hash (with the afpacket engine live, auto's choice on Linux, one AF_PACKET fanout member each, the kernel splitting); 0: one per CPU live, one for files (calls then come out in the same order on every run)"`
	CPUProfile     string        `envconfig:"SNIFFER_CPUPROFILE" flag:"cpuprofile" desc:"write a Go CPU profile to this file (for performance work)"`
	Quiet          bool          `envconfig:"SNIFFER_QUIET" flag:"q" desc:"no summary or progress on standard error"`
	MetricsAddr    string        `envconfig:"SNIFFER_METRICS_ADDR" flag:"metrics-addr" desc:"serve Prometheus /metrics and /healthz on this host:port, e.g. :9090; unset: off"`
	LogLevel       string        `envconfig:"SNIFFER_LOG_LEVEL" default:"info" flag:"log-level" desc:"log level: debug, info, warn or error"`
	LogFormat      string        `envconfig:"SNIFFER_LOG_FORMAT" default:"text" flag:"log-format" desc:"log format on standard error: text or json"`

	// The Kafka sink (a second output beside the collector and files; several may run at once).
	KafkaBrokers          string `envconfig:"KAFKA_BROKERS" flag:"kafka-brokers" desc:"Kafka brokers, comma list of host:port: calls are produced to KAFKA_TOPIC, keyed by server address; unset: off"`
	KafkaTopic            string `envconfig:"KAFKA_TOPIC" flag:"kafka-topic" desc:"Kafka topic calls are produced to"`
	KafkaFormat           string `envconfig:"KAFKA_FORMAT" default:"resurface" flag:"kafka-format" desc:"Kafka record value: resurface (the collector's JSON message, after the rules) or ndjson (the masked call)"`
	KafkaCompression      string `envconfig:"KAFKA_COMPRESSION" default:"zstd" flag:"kafka-compression" desc:"Kafka batch compression: zstd, gzip, snappy, lz4 or none"`
	KafkaTLS              bool   `envconfig:"KAFKA_TLS" flag:"kafka-tls" desc:"connect to the Kafka brokers over TLS (implied by the KAFKA_TLS_*_FILE settings)"`
	KafkaTLSCA            string `envconfig:"KAFKA_TLS_CA_FILE" flag:"kafka-tls-ca" desc:"PEM file of the CA certificates the Kafka brokers are checked against (default: the system's)"`
	KafkaTLSCert          string `envconfig:"KAFKA_TLS_CERT_FILE" flag:"kafka-tls-cert" desc:"PEM client certificate for the Kafka brokers (with KAFKA_TLS_KEY_FILE)"`
	KafkaTLSKey           string `envconfig:"KAFKA_TLS_KEY_FILE" flag:"kafka-tls-key" desc:"PEM private key of KAFKA_TLS_CERT_FILE"`
	KafkaSASLMechanism    string `envconfig:"KAFKA_SASL_MECHANISM" flag:"kafka-sasl-mechanism" desc:"Kafka SASL mechanism: plain, scram-sha-256 or scram-sha-512; unset: none"`
	KafkaSASLUser         string `envconfig:"KAFKA_SASL_USER" flag:"kafka-sasl-user" desc:"Kafka SASL user name"`
	KafkaSASLPassword     string `envconfig:"KAFKA_SASL_PASSWORD" flag:"kafka-sasl-password" desc:"Kafka SASL password (prefer the environment: flags show in ps)"`
	KafkaMaxBuffered      int    `envconfig:"KAFKA_MAX_BUFFERED_RECORDS" default:"10000" flag:"kafka-max-buffered" desc:"calls waiting for Kafka's acknowledgement; beyond it calls are dropped and counted"`
	KafkaMaxBufferedBytes int    `envconfig:"KAFKA_MAX_BUFFERED_BYTES" default:"67108864" flag:"kafka-max-buffered-bytes" desc:"bytes of calls waiting for Kafka's acknowledgement"`
	KafkaMaxMessageBytes  int    `envconfig:"KAFKA_MAX_MESSAGE_BYTES" default:"1000012" flag:"kafka-max-message-bytes" desc:"largest Kafka record batch; a bigger call is dropped as rejected (keep it at most the topic's max.message.bytes)"`

	// The afpacket engine (Linux).
	AFFanout    int `envconfig:"SNIFFER_AFPACKET_FANOUT" flag:"afpacket-fanout" desc:"afpacket engine: join this PACKET_FANOUT_HASH group (1-65535) so that the sniffers sharing it split the device's traffic by flow; 0: none"`
	AFBlockSize int `envconfig:"SNIFFER_AFPACKET_BLOCK_SIZE" default:"524288" flag:"afpacket-block-size" desc:"afpacket engine: ring block size in bytes (a multiple of the page size; holds the largest packet)"`
	AFBlocks    int `envconfig:"SNIFFER_AFPACKET_BLOCKS" flag:"afpacket-blocks" desc:"afpacket engine: ring blocks; 0: SNIFFER_PCAP_BUFFER_SIZE / block size (at least 4)"`
}

// loadConfig reads the environment, then the flags in args.
func loadConfig(args []string, stderr io.Writer) (*Config, error) {
	var c Config
	if err := readEnv(&c); err != nil {
		return nil, fmt.Errorf("environment: %v", err)
	}
	fs := flag.NewFlagSet("sniffer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	v := reflect.ValueOf(&c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("flag")
		if name == "-" {
			continue
		}
		usage := fmt.Sprintf("%s (env %s)", f.Tag.Get("desc"), f.Tag.Get("envconfig"))
		switch p := v.Field(i).Addr().Interface().(type) {
		case *string:
			fs.StringVar(p, name, *p, usage)
		case *bool:
			fs.Var((*boolFlag)(p), name, usage)
		case *int:
			fs.IntVar(p, name, *p, usage)
		case *int64:
			fs.Int64Var(p, name, *p, usage)
		case *time.Duration:
			fs.DurationVar(p, name, *p, usage)
		default:
			panic("config field of unsupported type: " + f.Name)
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "sniffer captures HTTP/1.x API calls from the network.\n\nUsage: sniffer [flags]\n\nEvery flag can also be set by the environment variable named with it; flags win.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q: settings are flags (see -h)", strings.Join(fs.Args(), " "))
	}
	if c.Ports == "" {
		c.Ports = c.Port
	}
	if c.Device == "" {
		c.Device = c.MirrorDevice
	}
	switch {
	case c.BodyLimit < 0:
		return nil, fmt.Errorf("USAGE_LOGGERS_BODY_LIMIT/-body-limit must be 0 or more, not %d", c.BodyLimit)
	case c.Workers < 0 || c.Workers > 256:
		return nil, fmt.Errorf("SNIFFER_WORKERS/-workers must be 0 (automatic) to 256, not %d", c.Workers)
	case c.DropPolicy != "oldest" && c.DropPolicy != "newest":
		return nil, fmt.Errorf("SNIFFER_DROP_POLICY/-drop must be oldest or newest, not %q", c.DropPolicy)
	case c.IdleTimeout <= 0:
		return nil, fmt.Errorf("SNIFFER_IDLE_TIMEOUT/-idle-timeout must be a positive duration such as 2m, not %s", c.IdleTimeout)
	case c.ReorderPackets < 0 || c.ReorderWindow < 0:
		return nil, fmt.Errorf("SNIFFER_REORDER_PACKETS/-reorder-packets and SNIFFER_REORDER_WINDOW/-reorder-window must not be negative (0 takes an acknowledged hole for lost at once)")
	case c.GapTimeout <= 0:
		return nil, fmt.Errorf("SNIFFER_GAP_TIMEOUT/-gap-timeout must be a positive duration such as 5s, not %s", c.GapTimeout)
	case c.MirrorConns <= 0 || c.MirrorHeader < 1024:
		return nil, fmt.Errorf("SNIFFER_MIRROR_MAX_CONNS must be positive and SNIFFER_MIRROR_MAX_HEADER_BYTES at least 1024, not %d and %d", c.MirrorConns, c.MirrorHeader)
	case c.MirrorTimeout <= 0:
		return nil, fmt.Errorf("SNIFFER_MIRROR_READ_TIMEOUT/-mirror-read-timeout must be a positive duration such as 30s, not %s", c.MirrorTimeout)
	case c.Engine == "none" && c.MirrorListen == "":
		return nil, fmt.Errorf("SNIFFER_ENGINE=none captures nothing: set SNIFFER_MIRROR_LISTEN (e.g. :8445) to receive proxy mirrors, or choose a capture engine")
	case c.MemoryBudget < 16<<20:
		return nil, fmt.Errorf("SNIFFER_MEMORY_BUDGET/-memory-budget must be at least 16777216 (16 MiB), not %d", c.MemoryBudget)
	case c.Compress != "auto" && c.Compress != "on" && c.Compress != "off":
		return nil, fmt.Errorf("SNIFFER_COMPRESS/-compress must be auto, on or off, not %q", c.Compress)
	case c.FlushTimeout <= 0:
		return nil, fmt.Errorf("SNIFFER_FLUSH_TIMEOUT/-flush-timeout must be a positive duration such as 10s, not %s", c.FlushTimeout)
	}
	return &c, nil
}

// appPorts reads APP_PORTS: the application's ports, or anyPort for every port (the
// reassembler then tells HTTP from other protocols by the first bytes of each
// connection). Unset, a file is read on every port, as tshark shows it, and a device is
// captured on port 80, network-sniffer's default: any port live hands every TCP packet
// of the machine to sniffer instead of letting the kernel's filter drop them.
func (c *Config) appPorts() (ports []capture.PortRange, anyPort bool, err error) {
	spec := strings.TrimSpace(c.Ports)
	switch {
	case strings.EqualFold(spec, "any"):
		return nil, true, nil
	case spec == "" && c.File != "":
		return nil, true, nil
	case spec == "":
		spec = "80"
	}
	ports, err = capture.ParsePorts(spec)
	if err == nil && len(ports) == 0 {
		err = fmt.Errorf("no port in %q: want e.g. 80,8080, 8000-8010 or any", c.Ports)
	}
	return ports, false, err
}

// stderrIsTerminal tells whether progress lines would reach a person.
func stderrIsTerminal() bool {
	fi, err := os.Stderr.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
