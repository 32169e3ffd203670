package output

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sniffer/model"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

const kafkaTopic = "calls"

// kafkaCall is testCall(i) from one of seven servers, so that keys differ.
func kafkaCall(i int) *model.Call {
	c := testCall(i)
	c.Server = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, 8, byte(1 + i%7)}), uint16(8000+i%7))
	return c
}

func newCluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(4, kafkaTopic)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func newTestKafka(t *testing.T, cfg KafkaConfig) *Kafka {
	t.Helper()
	if cfg.Topic == "" {
		cfg.Topic = kafkaTopic
	}
	cfg.Agent, cfg.Version = "sniffer", "9.9.9"
	k, err := NewKafka(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		k.Close(ctx)
	})
	return k
}

// closeKafka closes k within d and checks that every call is accounted for once.
func closeKafka(t *testing.T, k *Kafka, d time.Duration) (Summary, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	s, err := k.Close(ctx)
	if el := time.Since(start); el > d+4*time.Second {
		t.Errorf("Close took %v with a %v deadline", el, d)
	}
	if s.Written != s.Delivered+s.DroppedTotal() || s.Pending != 0 || s.Queued != 0 {
		t.Errorf("accounting: written %d != delivered %d + dropped %d (pending %d, queued %d): %v", s.Written, s.Delivered, s.DroppedTotal(), s.Pending, s.Queued, s)
	}
	return s, err
}

// consumed is one record read back from the topic.
type consumed struct {
	key, value string
	partition  int32
	offset     int64
}

// consume reads the topic from the start until it has want records (or a while after, to
// catch duplicates), failing after limit.
func consume(t *testing.T, addrs []string, want int, limit time.Duration, opts ...kgo.Opt) []consumed {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(kafkaTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []consumed
	end := time.Now().Add(limit)
	var extra time.Time
	for time.Now().Before(end) {
		if len(out) >= want {
			if extra.IsZero() {
				extra = time.Now().Add(500 * time.Millisecond) // any duplicate arrives with the rest
			} else if time.Now().After(extra) {
				break
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Logf("consumer: %v", err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, consumed{string(r.Key), string(r.Value), r.Partition, r.Offset})
		})
	}
	return out
}

// checkOnce checks that records hold calls 0..n-1 exactly once each, keyed by their server
// address, each key on one partition and in write order there.
func checkOnce(t *testing.T, recs []consumed, n int, format string) {
	t.Helper()
	seen := make([]int, n)
	keyPart := map[string]int32{}
	lastID := map[string]int{}
	for _, r := range recs {
		id, server := -1, ""
		switch format {
		case KafkaResurface:
			var m [][2]string
			if err := json.Unmarshal([]byte(r.value), &m); err != nil {
				t.Fatalf("record is not a Resurface message: %v: %.200s", err, r.value)
			}
			u := get(m, "request_url")
			id, _ = strconv.Atoi(u[strings.LastIndexByte(u, '/')+1:])
			if get(m, "agent") != "sniffer" || get(m, "version") != "9.9.9" || get(m, "response_code") != "200" {
				t.Fatalf("record lacks agent/version/response_code: %.300s", r.value)
			}
			id2 := -1
			fmt.Sscanf(get(m, "response_body"), `{"id":%d`, &id2)
			if id2 != id {
				t.Fatalf("request_url of call %d carries the response of %d", id, id2)
			}
			server = kafkaCall(id).Server.String()
		case KafkaNDJSON:
			var c struct {
				Server  string `json:"server"`
				Request struct {
					Target string `json:"target"`
				} `json:"request"`
			}
			if err := json.Unmarshal([]byte(r.value), &c); err != nil {
				t.Fatalf("record is not an NDJSON call: %v: %.200s", err, r.value)
			}
			if strings.HasSuffix(r.value, "\n") {
				t.Fatalf("NDJSON record ends in a newline")
			}
			fmt.Sscanf(c.Request.Target, "/items/%d", &id)
			server = c.Server
		}
		if id < 0 || id >= n {
			t.Fatalf("record of an unknown call %d: %.200s", id, r.value)
		}
		seen[id]++
		if want := kafkaCall(id).Server.String(); r.key != want || server != want {
			t.Errorf("call %d: key %q, server in the value %q; want both %q", id, r.key, server, want)
		}
		if p, ok := keyPart[r.key]; ok && p != r.partition {
			t.Errorf("key %s on partitions %d and %d", r.key, p, r.partition)
		}
		keyPart[r.key] = r.partition
		if last, ok := lastID[r.key]; ok && id < last {
			t.Errorf("key %s: call %d after call %d, out of write order", r.key, id, last)
		}
		lastID[r.key] = id
	}
	var missing, dup []int
	for id, k := range seen {
		if k == 0 {
			missing = append(missing, id)
		} else if k > 1 {
			dup = append(dup, id)
		}
	}
	if len(missing) > 0 || len(dup) > 0 {
		t.Fatalf("%d records for %d calls: %d missing (first %v), %d duplicated (first %v)", len(recs), n, len(missing), head(missing), len(dup), head(dup))
	}
	if len(keyPart) != 7 {
		t.Errorf("%d keys, want 7", len(keyPart))
	}
}

func head(s []int) []int {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}

func TestKafkaDeliversEveryCallOnceWithServerKey(t *testing.T) {
	for _, tc := range []struct{ format, compression string }{
		{"", ""}, // resurface, zstd
		{KafkaNDJSON, "gzip"},
		{KafkaResurface, "snappy"},
		{KafkaNDJSON, "lz4"},
		{KafkaResurface, "none"},
	} {
		name := tc.format + "/" + tc.compression
		t.Run(name, func(t *testing.T) {
			c := newCluster(t)
			k := newTestKafka(t, KafkaConfig{Brokers: c.ListenAddrs(), Format: tc.format, Compression: tc.compression})
			const n = 3000
			for i := range n {
				if err := k.Write(kafkaCall(i)); err != nil {
					t.Fatal(err)
				}
			}
			s, err := closeKafka(t, k, 20*time.Second)
			if err != nil || s.Delivered != n || s.Written != n {
				t.Fatalf("Close: %v, %v; want %d delivered", s, err, n)
			}
			format := tc.format
			if format == "" {
				format = KafkaResurface
			}
			checkOnce(t, consume(t, c.ListenAddrs(), n, 20*time.Second), n, format)
		})
	}
}

// WriteDetails is the path sniffer uses: the rules' details and the key given by the caller.
func TestKafkaWriteDetailsKeepsKeyAndDetails(t *testing.T) {
	c := newCluster(t)
	k := newTestKafka(t, KafkaConfig{Brokers: c.ListenAddrs()})
	if !k.Details() {
		t.Fatal("resurface format should want details")
	}
	for i := range 50 {
		d := ResurfaceDetails(kafkaCall(i))
		d = append(d, [2]string{"request_header:x-masked", "yes"})
		if err := k.WriteDetails(kafkaCall(i).Server.String(), d); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := closeKafka(t, k, 10*time.Second); err != nil || s.Delivered != 50 {
		t.Fatalf("Close: %v, %v", s, err)
	}
	recs := consume(t, c.ListenAddrs(), 50, 10*time.Second)
	checkOnce(t, recs, 50, KafkaResurface)
	for _, r := range recs {
		var m [][2]string
		json.Unmarshal([]byte(r.value), &m)
		checkMessage(t, m, strconv.Itoa(idOf(m)))
		if get(m, "request_header:x-masked") != "yes" {
			t.Fatalf("details changed on the way: %.300s", r.value)
		}
	}
}

func idOf(m [][2]string) int {
	u := get(m, "request_url")
	id, _ := strconv.Atoi(u[strings.LastIndexByte(u, '/')+1:])
	return id
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// The broker is stopped and started again (same port, same data directory) while calls are
// written: the producer retries and every call arrives exactly once, in order per key.
func TestKafkaBrokerRestartMidRunLosesNothing(t *testing.T) {
	port, dir := freePort(t), t.TempDir()
	opts := []kfake.Opt{kfake.Ports(port), kfake.DataDir(dir)}
	c := newCluster(t, opts...)
	addrs := c.ListenAddrs()
	k := newTestKafka(t, KafkaConfig{Brokers: addrs})
	const n = 6000
	var wrote atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			k.Write(kafkaCall(i))
			wrote.Store(int64(i + 1))
			if i%20 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	waitFor(t, 20*time.Second, "a third of the calls acknowledged", func() bool { return k.Stats().Delivered >= n/3 })
	c.Close()
	down := wrote.Load()
	time.Sleep(1500 * time.Millisecond) // the producer retries against a dead port meanwhile
	if d := k.Stats().Delivered; d > down {
		t.Fatalf("%d delivered while the broker was down, only %d written before it stopped", d, down)
	}
	c2, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(4, kafkaTopic)}, opts...)...)
	if err != nil {
		t.Fatalf("restarting the broker: %v", err)
	}
	t.Cleanup(c2.Close)
	t.Logf("broker down after %d calls written, back after %d", down, wrote.Load())
	<-done
	s, err := closeKafka(t, k, 30*time.Second)
	if err != nil || s.Delivered != n {
		t.Fatalf("Close: %v, %v; want all %d delivered", s, err, n)
	}
	checkOnce(t, consume(t, c2.ListenAddrs(), n, 30*time.Second), n, KafkaResurface)
}

// produceErrors makes the broker answer produce requests with a retriable error while fail
// is set, as a broker losing leadership does.
func produceErrors(c *kfake.Cluster, fail *atomic.Bool, failed *atomic.Int64) {
	c.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !fail.Load() {
			return nil, nil, false
		}
		failed.Add(1)
		req := kr.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		resp.Version = req.Version
		for _, tp := range req.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic, rt.TopicID = tp.Topic, tp.TopicID
			for _, p := range tp.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = kerr.NotLeaderForPartition.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
}

func TestKafkaProduceErrorsForAWhileLoseNothing(t *testing.T) {
	c := newCluster(t)
	var fail atomic.Bool
	var failed atomic.Int64
	produceErrors(c, &fail, &failed)
	k := newTestKafka(t, KafkaConfig{Brokers: c.ListenAddrs()})
	const n = 3000
	for i := range n {
		if i == n/3 {
			fail.Store(true)
		}
		if i == 2*n/3 {
			time.Sleep(time.Second)
			fail.Store(false)
		}
		k.Write(kafkaCall(i))
	}
	s, err := closeKafka(t, k, 30*time.Second)
	if err != nil || s.Delivered != n {
		t.Fatalf("Close: %v, %v", s, err)
	}
	if failed.Load() == 0 {
		t.Fatal("no produce request was failed: the test tested nothing")
	}
	t.Logf("%d produce requests failed on purpose", failed.Load())
	checkOnce(t, consume(t, c.ListenAddrs(), n, 20*time.Second), n, KafkaResurface)
}

// With the broker gone, Close returns at its deadline and counts every call it could not
// deliver; those delivered before still count as delivered.
func TestKafkaCloseDeadlineCountsWhatWasNotAcked(t *testing.T) {
	c := newCluster(t)
	k := newTestKafka(t, KafkaConfig{Brokers: c.ListenAddrs()})
	for i := range 100 {
		k.Write(kafkaCall(i))
	}
	waitFor(t, 10*time.Second, "100 calls acknowledged", func() bool { return k.Stats().Delivered == 100 })
	c.Close()
	for i := 100; i < 250; i++ {
		k.Write(kafkaCall(i))
	}
	if q := k.Stats().Queued; q != 150 {
		t.Errorf("Stats().Queued = %d, want 150", q)
	}
	start := time.Now()
	s, err := closeKafka(t, k, 700*time.Millisecond)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close error %v, want the deadline", err)
	}
	if el := time.Since(start); el < 600*time.Millisecond || el > 4*time.Second {
		t.Errorf("Close took %v with a 700ms deadline", el)
	}
	if s.Written != 250 || s.Delivered != 100 || s.Dropped[DropShutdown] != 150 || s.Undelivered() != 150 {
		t.Errorf("summary %v, want written=250 delivered=100 dropped_shutdown=150", s)
	}
	if err := k.Write(kafkaCall(999)); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	if s2 := k.Stats(); s2.Written != 250 || s2.Dropped[DropClosed] != 0 {
		// the final account stays the one Close returned
		t.Errorf("Stats after Close: %v", s2)
	}
}

// The buffer is bounded: with the broker down, calls beyond it are dropped at once and
// counted, and Write never blocks.
func TestKafkaBufferFullDropsNewestWithoutBlocking(t *testing.T) {
	c := newCluster(t)
	addrs := c.ListenAddrs()
	c.Close()
	k := newTestKafka(t, KafkaConfig{Brokers: addrs, MaxBufferedRecords: 20})
	start := time.Now()
	for i := range 500 {
		k.Write(kafkaCall(i))
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("500 writes took %v with the broker down: Write blocked", el)
	}
	s, _ := closeKafka(t, k, 300*time.Millisecond)
	if s.Dropped[DropQueueFull] < 480 || s.Dropped[DropQueueFull]+s.Dropped[DropShutdown] != 500 || s.Delivered != 0 {
		t.Errorf("summary %v, want 480 or more queue_full and the rest shutdown", s)
	}
}

// A call larger than a record may be is rejected, counted, and does not hold up the rest;
// with KAFKA_MAX_MESSAGE_BYTES raised (and the broker's limit) it goes through.
func TestKafkaOversizedCallIsRejectedAndCounted(t *testing.T) {
	for _, tc := range []struct {
		max, delivered, rejected int64
	}{{0, 9, 1}, {4 << 20, 10, 0}} {
		t.Run(strconv.FormatInt(tc.max, 10), func(t *testing.T) {
			c := newCluster(t, kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.FormatInt(max(tc.max, 1000012), 10)}))
			k := newTestKafka(t, KafkaConfig{Brokers: c.ListenAddrs(), Compression: "none", Format: KafkaNDJSON, MaxMessageBytes: int(tc.max)})
			for i := range 10 {
				call := kafkaCall(i)
				if i == 5 {
					call.Response.Body = []byte(strings.Repeat("x", 1500000))
				}
				k.Write(call)
			}
			s, _ := closeKafka(t, k, 10*time.Second)
			if s.Delivered != tc.delivered || s.Dropped[DropRejected] != tc.rejected {
				t.Errorf("summary %v, want %d delivered and %d rejected", s, tc.delivered, tc.rejected)
			}
		})
	}
}

func TestKafkaTLSAndSASL(t *testing.T) {
	caFile, serverCert := selfSigned(t)
	for _, tc := range []struct {
		name, mech, kfakeMech string
		tls                   bool
	}{
		{"tls", "", "", true},
		{"plain", "plain", "PLAIN", false},
		{"scram-sha-256", "scram-sha-256", "SCRAM-SHA-256", false},
		{"tls+scram-sha-512", "SCRAM-SHA-512", "SCRAM-SHA-512", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []kfake.Opt
			var consumerOpts []kgo.Opt
			cfg := KafkaConfig{}
			if tc.tls {
				opts = append(opts, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{serverCert}}))
				cfg.TLS, cfg.CAFile = true, caFile
				pool := x509.NewCertPool()
				b, _ := os.ReadFile(caFile)
				pool.AppendCertsFromPEM(b)
				consumerOpts = append(consumerOpts, kgo.DialTLSConfig(&tls.Config{RootCAs: pool}))
			}
			if tc.mech != "" {
				opts = append(opts, kfake.EnableSASL(), kfake.Superuser(tc.kfakeMech, "sniffer", "s3cret"))
				cfg.SASLMechanism, cfg.SASLUser, cfg.SASLPassword = tc.mech, "sniffer", "s3cret"
				switch tc.kfakeMech {
				case "PLAIN":
					consumerOpts = append(consumerOpts, kgo.SASL(plain.Auth{User: "sniffer", Pass: "s3cret"}.AsMechanism()))
				case "SCRAM-SHA-256":
					consumerOpts = append(consumerOpts, kgo.SASL(scram.Auth{User: "sniffer", Pass: "s3cret"}.AsSha256Mechanism()))
				default:
					consumerOpts = append(consumerOpts, kgo.SASL(scram.Auth{User: "sniffer", Pass: "s3cret"}.AsSha512Mechanism()))
				}
			}
			c := newCluster(t, opts...)
			cfg.Brokers = c.ListenAddrs()
			k := newTestKafka(t, cfg)
			for i := range 70 {
				k.Write(kafkaCall(i))
			}
			if s, err := closeKafka(t, k, 10*time.Second); err != nil || s.Delivered != 70 {
				t.Fatalf("Close: %v, %v", s, err)
			}
			checkOnce(t, consume(t, c.ListenAddrs(), 70, 10*time.Second, consumerOpts...), 70, KafkaResurface)

			if tc.mech != "" { // a wrong password delivers nothing, and says so at Close
				bad := cfg
				bad.SASLPassword = "wrong"
				k := newTestKafka(t, bad)
				k.Write(kafkaCall(0))
				s, _ := closeKafka(t, k, time.Second)
				if s.Delivered != 0 || s.DroppedTotal() != 1 {
					t.Errorf("wrong password: %v", s)
				}
			}
		})
	}
}

// selfSigned writes a CA certificate for 127.0.0.1 to a file and returns it with its key pair.
func selfSigned(t *testing.T) (caFile string, cert tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kfake test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	cert, err = tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	if err != nil {
		t.Fatal(err)
	}
	return caFile, cert
}

func TestKafkaConfigErrorsNameTheSetting(t *testing.T) {
	ok := KafkaConfig{Brokers: []string{"127.0.0.1:9"}, Topic: "t"}
	for _, tc := range []struct {
		mod  func(*KafkaConfig)
		want string
	}{
		{func(c *KafkaConfig) { c.Brokers = nil }, "KAFKA_BROKERS"},
		{func(c *KafkaConfig) { c.Topic = "" }, "KAFKA_TOPIC"},
		{func(c *KafkaConfig) { c.Format = "avro" }, "KAFKA_FORMAT"},
		{func(c *KafkaConfig) { c.Compression = "brotli" }, "KAFKA_COMPRESSION"},
		{func(c *KafkaConfig) { c.SASLMechanism = "gssapi"; c.SASLUser = "u" }, "KAFKA_SASL_MECHANISM"},
		{func(c *KafkaConfig) { c.SASLMechanism = "plain" }, "KAFKA_SASL_USER"},
		{func(c *KafkaConfig) { c.SASLUser = "u" }, "KAFKA_SASL_MECHANISM"},
		{func(c *KafkaConfig) { c.CAFile = "/nonexistent/ca.pem" }, "KAFKA_TLS_CA_FILE"},
		{func(c *KafkaConfig) { c.CertFile = "/x.pem" }, "KAFKA_TLS_KEY_FILE"},
	} {
		cfg := ok
		tc.mod(&cfg)
		k, err := NewKafka(cfg)
		if err == nil {
			k.Close(context.Background())
			t.Errorf("%s: no error", tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %q does not name %s", err, tc.want)
		}
	}
}
