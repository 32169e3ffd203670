package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// writeCalls writes a pcap of n connections, one call each, spread over three servers
// (10.0.1.1:80, 10.0.1.2:8080, 10.0.1.3:80); call i asks for /items/i.
func writeCalls(t *testing.T, n int) string {
	t.Helper()
	convs := make([]testConv, n)
	for i := range convs {
		sport := 80
		if i%3 == 1 {
			sport = 8080
		}
		body := fmt.Sprintf(`{"id":%d}`, i)
		convs[i] = testConv{
			client: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), uint16(20000+i)),
			server: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 1, byte(1 + i%3)}), uint16(sport)),
			req:    fmt.Sprintf("GET /items/%d HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer tok-%d\r\n\r\n", i, i),
			resp:   fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body),
		}
	}
	return writeConvs(t, convs)
}

// readTopic reads every record of topic, waiting until want have come (and a moment more).
func readTopic(t *testing.T, addrs []string, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	end := time.Now().Add(15 * time.Second)
	for time.Now().Before(end) && len(recs) < want {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		recs = append(recs, cl.PollFetches(ctx).Records()...)
		cancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	recs = append(recs, cl.PollFetches(ctx).Records()...) // a duplicate would come now
	cancel()
	return recs
}

// sniffer -r with KAFKA_BROKERS: in ndjson format every record is exactly the line printed
// on standard output (masked by the default rules), keyed by the server address; in
// resurface format it is the collector's message, masked too. Standard output is not used
// by default once Kafka is the output.
func TestKafkaSinkFromCapture(t *testing.T) {
	const n = 60
	pcap := writeCalls(t, n)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "nd", "rs"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := strings.Join(c.ListenAddrs(), ",")

	code, out, errs := runSniffer(t, map[string]string{"KAFKA_BROKERS": brokers, "KAFKA_TOPIC": "nd", "KAFKA_FORMAT": "ndjson"}, "-ports", "80,8080", "-o", "-", "-r", pcap)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, fmt.Sprintf("kafka nd: written=%d delivered=%d", n, n)) {
		t.Errorf("summary lacks the Kafka account: %s", errs)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		lines[l] = true
	}
	if len(lines) != n {
		t.Fatalf("%d distinct lines on standard output, want %d", len(lines), n)
	}
	recs := readTopic(t, c.ListenAddrs(), "nd", n)
	if len(recs) != n {
		t.Fatalf("%d records in the topic, want %d", len(recs), n)
	}
	for _, r := range recs {
		if !lines[string(r.Value)] {
			t.Fatalf("record is not a line of standard output: %s", r.Value)
		}
		delete(lines, string(r.Value))
		var call struct{ Server string }
		json.Unmarshal(r.Value, &call)
		if string(r.Key) != call.Server || call.Server == "" {
			t.Errorf("key %q, server %q", r.Key, call.Server)
		}
		if strings.Contains(string(r.Value), "tok-") {
			t.Errorf("the Authorization header was not masked: %s", r.Value)
		}
	}

	code, out, errs = runSniffer(t, map[string]string{"KAFKA_BROKERS": brokers, "KAFKA_TOPIC": "rs", "KAFKA_FORMAT": "resurface"}, "-ports", "80,8080", "-r", pcap)
	if code != 0 || out != "" {
		t.Fatalf("exit %d, stdout %q: %s", code, out, errs)
	}
	recs = readTopic(t, c.ListenAddrs(), "rs", n)
	seen := map[string]bool{}
	for _, r := range recs {
		var m [][2]string
		if err := json.Unmarshal(r.Value, &m); err != nil {
			t.Fatalf("not a Resurface message: %s", r.Value)
		}
		d := map[string]string{}
		for _, kv := range m {
			d[kv[0]] = kv[1]
		}
		u := d["request_url"]
		if seen[u] || !strings.HasPrefix(u, "http://api.test/items/") || d["agent"] != "sniffer" || strings.Contains(string(r.Value), "tok-") {
			t.Errorf("bad or repeated message: %s", r.Value)
		}
		seen[u] = true
		var i int
		fmt.Sscanf(u, "http://api.test/items/%d", &i)
		wantKey := fmt.Sprintf("10.0.1.%d:80", 1+i%3)
		if i%3 == 1 {
			wantKey = "10.0.1.2:8080"
		}
		if string(r.Key) != wantKey {
			t.Errorf("call %d: key %q, want %q", i, r.Key, wantKey)
		}
	}
	if len(seen) != n || len(recs) != n {
		t.Errorf("%d records, %d distinct calls; want %d", len(recs), len(seen), n)
	}
}

// Kafka down: sniffer -r waits out the flush timeout, says how many calls were lost, exits 1.
func TestKafkaUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	pcap := writeCalls(t, 5)
	start := time.Now()
	code, _, errs := runSniffer(t, map[string]string{"KAFKA_BROKERS": addr, "KAFKA_TOPIC": "x", "SNIFFER_FLUSH_TIMEOUT": "1s"}, "-ports", "80,8080", "-r", pcap)
	if code != 1 || !strings.Contains(errs, "5 calls were not delivered") || !strings.Contains(errs, "dropped_shutdown=5") {
		t.Errorf("exit %d: %s", code, errs)
	}
	if el := time.Since(start); el > 8*time.Second {
		t.Errorf("took %v with a 1s flush timeout", el)
	}
}
