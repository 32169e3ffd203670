package output

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"sniffer/model"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Kafka message formats (KafkaConfig.Format).
const (
	KafkaResurface = "resurface" // the Resurface message: a JSON array of [name, value] pairs
	KafkaNDJSON    = "ndjson"    // the NDJSON call object, without the newline
)

// KafkaConfig says where and how the Kafka sink produces. Zero values take the defaults
// given with each field.
type KafkaConfig struct {
	Brokers []string // seed brokers, host:port (KAFKA_BROKERS); required
	Topic   string   // KAFKA_TOPIC; required

	// TLS turns TLS on (KAFKA_TLS); it is on too when any of the files is set. CAFile
	// replaces the system roots; CertFile and KeyFile are a client certificate (PEM).
	TLS                       bool
	CAFile, CertFile, KeyFile string

	// SASLMechanism is "", plain, scram-sha-256 or scram-sha-512 (KAFKA_SASL_MECHANISM).
	SASLMechanism, SASLUser, SASLPassword string

	Compression string // zstd (default), gzip, snappy, lz4 or none (KAFKA_COMPRESSION)
	Format      string // resurface (default) or ndjson (KAFKA_FORMAT)

	// MaxBufferedRecords and MaxBufferedBytes bound what waits in memory for the brokers'
	// acknowledgement (defaults 10000 records, 64 MiB); beyond them a call is dropped and
	// counted (queue_full), never waited for.
	MaxBufferedRecords int
	MaxBufferedBytes   int
	// MaxMessageBytes is the largest record batch sent (default 1000012, Kafka's default
	// message.max.bytes); a call encoded larger is dropped as rejected. Raise it together
	// with the topic's max.message.bytes for large bodies.
	MaxMessageBytes int
	// Linger is how long a partition waits for more records before a request (default 5 ms).
	Linger time.Duration

	Agent, Version string // the Resurface "agent" and "version" details (resurface format)
}

// Kafka produces calls to a Kafka topic with an idempotent producer (franz-go). The record
// key is the server address (ip:port), so the calls of one service land on one partition,
// in the order they were written. Every call is accounted for once: Delivered when the
// brokers acknowledged it, or Dropped by cause.
type Kafka struct {
	cfg    KafkaConfig
	client *kgo.Client

	mu     sync.RWMutex // Write holds it shared, Close exclusively: no Write after Close starts
	closed bool
	final  *Summary // set by Close

	written, delivered atomic.Int64
	settled            atomic.Int64 // promises called (delivered or dropped)
	dmu                sync.Mutex
	dropped            map[string]int64

	dropWarn, errWarn warnLimiter
	log               *slog.Logger
}

// NewKafka checks cfg and creates the producer. It does not wait for the brokers: while
// they are unreachable calls are buffered up to the bounds, as the collector sink does.
func NewKafka(cfg KafkaConfig) (*Kafka, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("KAFKA_BROKERS: no broker given; set it to a comma list of host:port")
	}
	if cfg.Topic == "" {
		return nil, errors.New("KAFKA_TOPIC: set the topic calls are produced to")
	}
	if cfg.Format == "" {
		cfg.Format = KafkaResurface
	}
	if cfg.Format != KafkaResurface && cfg.Format != KafkaNDJSON {
		return nil, fmt.Errorf("KAFKA_FORMAT %q: want resurface or ndjson", cfg.Format)
	}
	if cfg.MaxBufferedRecords <= 0 {
		cfg.MaxBufferedRecords = 10000
	}
	if cfg.MaxBufferedBytes <= 0 {
		cfg.MaxBufferedBytes = 64 << 20
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 1000012
	}
	if cfg.MaxMessageBytes > 1<<30 {
		return nil, fmt.Errorf("KAFKA_MAX_MESSAGE_BYTES %d: at most 1 GiB", cfg.MaxMessageBytes)
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 5 * time.Millisecond
	}
	codec, err := kafkaCodec(cfg.Compression)
	if err != nil {
		return nil, err
	}
	k := &Kafka{
		cfg:      cfg,
		dropped:  map[string]int64{},
		dropWarn: warnLimiter{period: time.Minute},
		errWarn:  warnLimiter{period: time.Minute},
		log:      slog.Default().With("sink", "kafka", "topic", cfg.Topic),
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.ProducerBatchCompression(codec),
		kgo.MaxBufferedRecords(cfg.MaxBufferedRecords),
		kgo.MaxBufferedBytes(cfg.MaxBufferedBytes),
		kgo.ProducerLinger(cfg.Linger),
		kgo.ProducerBatchMaxBytes(int32(cfg.MaxMessageBytes)),
		kgo.RequiredAcks(kgo.AllISRAcks()), // what the idempotent producer requires
		kgo.ClientID("sniffer"),
		kgo.SoftwareNameAndVersion("sniffer", softwareVersion(cfg.Version)),
		kgo.WithLogger(kafkaLog{k}),
	}
	if t, err := kafkaTLS(cfg); err != nil {
		return nil, err
	} else if t != nil {
		opts = append(opts, kgo.DialTLSConfig(t))
	}
	if m, err := kafkaSASL(cfg); err != nil {
		return nil, err
	} else if m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	if k.client, err = kgo.NewClient(opts...); err != nil {
		return nil, fmt.Errorf("KAFKA_BROKERS: %v", err)
	}
	return k, nil
}

// softwareVersion is what ApiVersions carries: Kafka allows [a-zA-Z0-9.-] only.
func softwareVersion(v string) string {
	if v == "" {
		return "dev"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, v)
}

func kafkaCodec(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "", "zstd":
		return kgo.ZstdCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "none":
		return kgo.NoCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("KAFKA_COMPRESSION %q: want zstd, gzip, snappy, lz4 or none", name)
}

func kafkaTLS(cfg KafkaConfig) (*tls.Config, error) {
	if !cfg.TLS && cfg.CAFile == "" && cfg.CertFile == "" && cfg.KeyFile == "" {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12} // ServerName: franz-go sets it per broker
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("KAFKA_TLS_CA_FILE: %v", err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("KAFKA_TLS_CA_FILE %s: no PEM certificate in it", cfg.CAFile)
		}
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, errors.New("KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE: set both for a client certificate, or neither")
	}
	if cfg.CertFile != "" {
		c, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("KAFKA_TLS_CERT_FILE/KAFKA_TLS_KEY_FILE: %v", err)
		}
		t.Certificates = []tls.Certificate{c}
	}
	return t, nil
}

func kafkaSASL(cfg KafkaConfig) (sasl.Mechanism, error) {
	mech := strings.ToLower(cfg.SASLMechanism)
	if mech == "" {
		if cfg.SASLUser != "" {
			return nil, errors.New("KAFKA_SASL_USER is set but KAFKA_SASL_MECHANISM is not: set it to plain, scram-sha-256 or scram-sha-512")
		}
		return nil, nil
	}
	if cfg.SASLUser == "" {
		return nil, fmt.Errorf("KAFKA_SASL_MECHANISM %s needs KAFKA_SASL_USER and KAFKA_SASL_PASSWORD", mech)
	}
	switch mech {
	case "plain":
		return plain.Auth{User: cfg.SASLUser, Pass: cfg.SASLPassword}.AsMechanism(), nil
	case "scram-sha-256":
		return scram.Auth{User: cfg.SASLUser, Pass: cfg.SASLPassword}.AsSha256Mechanism(), nil
	case "scram-sha-512":
		return scram.Auth{User: cfg.SASLUser, Pass: cfg.SASLPassword}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("KAFKA_SASL_MECHANISM %q: want plain, scram-sha-256 or scram-sha-512", cfg.SASLMechanism)
}

// kafkaLog passes the client's warnings and errors (a broker unreachable, TLS or SASL
// refused) to the log, at most one a minute, so that an operator learns why calls wait.
type kafkaLog struct{ k *Kafka }

func (kafkaLog) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l kafkaLog) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if ok, held := l.k.errWarn.allow(time.Now()); ok {
		lv := slog.LevelWarn
		if level == kgo.LogLevelError {
			lv = slog.LevelError
		}
		l.k.log.Log(context.Background(), lv, "kafka client: "+msg, append(keyvals, "warnings_held_back", held)...)
	}
}

// Details tells whether the sink wants the rules' details (resurface format, through
// WriteDetails) rather than the masked call (ndjson format, through Write).
func (k *Kafka) Details() bool { return k.cfg.Format == KafkaResurface }

// DetailsOnly tells whether Send uses only the record's details (resurface format).
func (k *Kafka) DetailsOnly() bool { return k.Details() }

// Send produces the record: its details (resurface format) or its masked call (ndjson),
// keyed by the server address.
func (k *Kafka) Send(r *Record) error {
	if k.Details() {
		return k.WriteDetails(r.Key(), r.Details())
	}
	return k.Write(r.Call())
}

// Write produces one call, keyed by its server address. In ndjson format the call is
// encoded as it is (mask it first); in resurface format its details are taken as they are,
// without rules. It never waits for the brokers.
func (k *Kafka) Write(c *model.Call) error {
	if k.cfg.Format == KafkaResurface {
		return k.WriteDetails(c.Server.String(), ResurfaceDetails(c))
	}
	v := EncodeNDJSON(make([]byte, 0, 512+len(c.Request.Body)+respBodyLen(c)), c)
	if n := len(v); n > 0 && v[n-1] == '\n' {
		v = v[:n-1]
	}
	return k.produce(c.Server.String(), v)
}

func respBodyLen(c *model.Call) int {
	if c.Response == nil {
		return 0
	}
	return len(c.Response.Body)
}

// WriteDetails produces a call given as its details, already through the rules, with key
// (the server address, ip:port): the Resurface message with agent, host and version added.
func (k *Kafka) WriteDetails(key string, d [][2]string) error {
	d = AppendTrailer(d, k.cfg.Agent, k.cfg.Version)
	size := 2
	for _, kv := range d {
		size += len(kv[0]) + len(kv[1]) + 8
	}
	return k.produce(key, AppendResurfaceJSON(make([]byte, 0, size+size/16), d))
}

func (k *Kafka) produce(key string, value []byte) error {
	k.mu.RLock()
	defer k.mu.RUnlock()
	k.written.Add(1)
	if k.closed {
		k.drop(DropClosed, 1, nil)
		k.settled.Add(1)
		return ErrClosed
	}
	r := &kgo.Record{Key: []byte(key), Value: value}
	// TryProduce fails at once (ErrMaxBuffered, to the promise) rather than wait for room.
	k.client.TryProduce(context.Background(), r, k.promise)
	return nil
}

// promise is called once per record, serially, when the brokers acknowledged it or it
// failed for good.
func (k *Kafka) promise(_ *kgo.Record, err error) {
	defer k.settled.Add(1)
	if err == nil {
		k.delivered.Add(1)
		return
	}
	k.drop(dropCause(err), 1, err)
}

// dropCause maps a producer error to the Drop* cause it is counted under.
func dropCause(err error) string {
	var ke *kerr.Error
	switch {
	case errors.Is(err, kgo.ErrMaxBuffered):
		return DropQueueFull
	case errors.Is(err, kgo.ErrAborting), errors.Is(err, kgo.ErrClientClosed), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return DropShutdown
	case errors.Is(err, kgo.ErrRecordTimeout), errors.Is(err, kgo.ErrRecordRetries):
		return DropRetries
	case errors.As(err, &ke):
		return DropRejected // the brokers refused it: too large, not authorized, no such topic
	}
	return DropRetries
}

func (k *Kafka) drop(cause string, n int64, err error) {
	k.dmu.Lock()
	k.dropped[cause] += n
	total := k.dropped[cause]
	k.dmu.Unlock()
	if ok, held := k.dropWarn.allow(time.Now()); ok {
		why := map[string]string{
			DropQueueFull: "too many calls wait for the brokers (Kafka slow or down); raise KAFKA_MAX_BUFFERED_RECORDS/BYTES",
			DropRejected:  "the brokers refused records (too large, not authorized, or no such topic)",
			DropRetries:   "records failed after retries",
			DropShutdown:  "the flush deadline passed",
			DropClosed:    "calls arrived after the output was closed",
		}[cause]
		k.log.Warn("dropping calls: "+why, "cause", cause, "err", err, "dropped_total", total, "warnings_held_back", held)
	}
}

// Stats is a live account, for metrics; Close returns the final one.
func (k *Kafka) Stats() Summary {
	k.mu.RLock()
	if k.final != nil {
		s := *k.final
		k.mu.RUnlock()
		return s
	}
	k.mu.RUnlock()
	return k.stats()
}

func (k *Kafka) stats() Summary {
	s := Summary{Written: k.written.Load(), Delivered: k.delivered.Load(), Dropped: map[string]int64{}}
	k.dmu.Lock()
	for c, n := range k.dropped {
		s.Dropped[c] = n
	}
	k.dmu.Unlock()
	if q := s.Written - s.Delivered - s.DroppedTotal(); q > 0 {
		s.Queued = q
	}
	return s
}

// Close waits until every buffered call is acknowledged or ctx ends. At the deadline the
// rest is abandoned and counted as Dropped["shutdown"] (a call in flight then may still
// have reached the brokers: it is counted as lost, never the other way round).
func (k *Kafka) Close(ctx context.Context) (Summary, error) {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return k.Stats(), nil
	}
	k.closed = true
	k.mu.Unlock()

	err := k.client.Flush(ctx)
	if err != nil {
		// Fail what is buffered now, without waiting for requests in flight to answer.
		k.client.UnsafeAbortBufferedRecords()
	}
	closed := make(chan struct{})
	go func() { k.client.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(2 * time.Second): // Close waits for nothing we need; do not hang on it
	}
	// Promises of aborted records run on the client's goroutine: give them a moment.
	for end := time.Now().Add(time.Second); k.settled.Load() < k.written.Load() && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
	s := k.stats()
	if n := s.Written - s.Delivered - s.DroppedTotal(); n > 0 {
		s.Dropped[DropShutdown] += n // never settled: lost as far as we know
	}
	s.Queued = 0
	k.mu.Lock()
	k.final = &s
	k.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("output: kafka: flush deadline passed with %d calls not acknowledged: %w", s.Undelivered(), err)
	}
	return s, err
}
