package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"sniffer/model"
	"sniffer/output"
	"sniffer/rules"
)

// delivery is the stage after reassembly: it decodes bodies, applies the logging rules
// once per call, and hands the result to every sink. It runs on its own goroutine, beside
// the one that reassembles.
type delivery struct {
	cfg    *Config
	rules  *rules.Rules
	poster *output.Poster // the collector, given the rules' details; nil when not posting
	kafka  *output.Kafka  // Kafka, given the details (resurface) or the masked call (ndjson); nil when off
	sinks  []output.Sink  // NDJSON and HAR sinks, given the masked call
	names  []string       // of poster (first, when set), kafka (next, when set) and sinks, for the summary

	filtered atomic.Int64 // calls the rules stopped or sampled out

	// wait, when set (reading a file), makes the collector's queue wait for room rather than
	// drop calls, until it ends (a signal) or the collector takes nothing for the flush timeout.
	wait context.Context
}

// newDelivery builds the sinks the settings ask for. With no collector URL and no file,
// calls go to standard output as NDJSON.
func newDelivery(cfg *Config, stdout io.Writer) (*delivery, error) {
	text := cfg.Rules
	var r *rules.Rules
	var err error
	if text == "" {
		r = rules.Default()
	} else if r, err = rules.Parse(text); err != nil {
		return nil, fmt.Errorf("USAGE_LOGGERS_RULES: %v", err)
	}
	d := &delivery{cfg: cfg, rules: r}
	if cfg.URL != "" && !cfg.Disable && !r.SkipSubmission() {
		if _, err := output.ValidateURL(cfg.URL, r.AllowHTTPURL()); err != nil {
			return nil, err
		}
		d.poster, err = output.NewPoster(output.PostConfig{
			URL: cfg.URL, AllowHTTP: r.AllowHTTPURL(), QueueSize: cfg.QueueSize, BundleSize: cfg.BundleSize,
			SpoolDir: cfg.SpoolDir, SpoolMax: cfg.SpoolMax, DropOldest: cfg.DropPolicy == "oldest",
			Compress: !r.SkipCompression(), Agent: "sniffer", Version: version,
		})
		if err != nil {
			return nil, err
		}
		d.names = append(d.names, "collector "+cfg.URL)
	}
	if cfg.KafkaBrokers != "" {
		if d.kafka, err = newKafka(cfg); err != nil {
			d.close(context.Background(), io.Discard)
			return nil, err
		}
		d.names = append(d.names, "kafka "+cfg.KafkaTopic)
	}
	add := func(s output.Sink, err error, name string) error {
		if err != nil {
			return err
		}
		d.sinks, d.names = append(d.sinks, s), append(d.names, name)
		return nil
	}
	switch {
	case cfg.OutFile == "-":
		err = add(output.NewWriter(stdout), nil, "standard output")
	case cfg.OutFile != "":
		s, e := output.NewNDJSONFile(cfg.OutFile, cfg.OutMaxBytes)
		err = add(s, e, cfg.OutFile)
	case cfg.URL == "" && cfg.HARFile == "" && cfg.KafkaBrokers == "":
		err = add(output.NewWriter(stdout), nil, "standard output")
	}
	if err == nil && cfg.HARFile != "" {
		s, e := output.NewHAR(cfg.HARFile)
		err = add(s, e, cfg.HARFile)
	}
	if err != nil {
		d.close(context.Background(), io.Discard)
		return nil, err
	}
	return d, nil
}

// run consumes calls until the channel closes.
func (d *delivery) run(calls <-chan *model.Call) {
	for c := range calls {
		d.one(c)
	}
}

func (d *delivery) one(c *model.Call) {
	cfg := d.cfg
	if cfg.Decode {
		c.Request.Decode(cfg.BodyLimit)
		if c.Response != nil {
			c.Response.Decode(cfg.BodyLimit)
		}
	}
	if cfg.RealIPHeader != "" && c.Request.Get(cfg.RealIPHeader) == "" {
		c.Request.Headers = append(c.Request.Headers, model.Header{Name: cfg.RealIPHeader, Value: c.Client.Addr().String()})
	}
	details, keep := d.rules.Apply(output.ResurfaceDetails(c))
	if !keep {
		d.filtered.Add(1)
		return
	}
	if d.kafka != nil && d.kafka.Details() {
		_ = d.kafka.WriteDetails(c.Server.String(), details) // counted by the sink
	}
	if len(d.sinks) > 0 || d.kafka != nil && !d.kafka.Details() {
		masked := output.Mask(c, details)
		for _, s := range d.sinks {
			_ = s.Write(masked) // a failed write is counted by the sink
		}
		if d.kafka != nil && !d.kafka.Details() {
			_ = d.kafka.Write(masked)
		}
	}
	if d.poster != nil {
		_ = d.poster.WriteDetailsWait(d.wait, d.cfg.FlushTimeout, details)
	}
}

// close flushes every sink within the flush timeout and reports what each delivered. It
// returns the number of calls that were not delivered.
func (d *delivery) close(ctx context.Context, w io.Writer) int64 {
	var lost int64
	all := d.sinks
	if d.kafka != nil {
		all = append([]output.Sink{d.kafka}, all...)
	}
	if d.poster != nil {
		all = append([]output.Sink{d.poster}, all...)
	}
	for i, s := range all {
		sum, err := s.Close(ctx)
		lost += sum.Undelivered()
		if err != nil {
			fmt.Fprintf(w, "sniffer: %s: %v\n", d.names[i], err)
		}
		if w != io.Discard && !d.cfg.Quiet {
			fmt.Fprintf(w, "sniffer:   %s: %s\n", d.names[i], sum)
		}
	}
	if n := d.filtered.Load(); n > 0 && !d.cfg.Quiet {
		fmt.Fprintf(w, "sniffer:   calls stopped or sampled out by the rules: %d\n", n)
	}
	if n := d.rules.EngineFailures(); n > 0 {
		fmt.Fprintf(w, "sniffer:   rules: %d regex evaluations ran out of time and failed closed\n", n)
	}
	return lost
}

// newKafka makes the Kafka sink from the KAFKA_* settings.
func newKafka(cfg *Config) (*output.Kafka, error) {
	var brokers []string
	for _, b := range strings.Split(cfg.KafkaBrokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	return output.NewKafka(output.KafkaConfig{
		Brokers: brokers, Topic: cfg.KafkaTopic, Format: cfg.KafkaFormat, Compression: cfg.KafkaCompression,
		TLS: cfg.KafkaTLS, CAFile: cfg.KafkaTLSCA, CertFile: cfg.KafkaTLSCert, KeyFile: cfg.KafkaTLSKey,
		SASLMechanism: cfg.KafkaSASLMechanism, SASLUser: cfg.KafkaSASLUser, SASLPassword: cfg.KafkaSASLPassword,
		MaxBufferedRecords: cfg.KafkaMaxBuffered, MaxBufferedBytes: cfg.KafkaMaxBufferedBytes,
		MaxMessageBytes: cfg.KafkaMaxMessageBytes, Agent: "sniffer", Version: version,
	})
}

// liveStats sums what the sinks have done so far, for the metrics endpoint; calls the
// rules dropped count as filtered.
func (d *delivery) liveStats() output.Summary {
	sum := output.Summary{Filtered: d.filtered.Load(), Dropped: map[string]int64{}}
	add := func(s output.Summary) {
		sum.Written += s.Written
		sum.Filtered += s.Filtered
		sum.Delivered += s.Delivered
		sum.Pending += s.Pending
		sum.Queued += s.Queued
		sum.Recovered += s.Recovered
		sum.Posts += s.Posts
		sum.PostFails += s.PostFails
		for k, v := range s.Dropped {
			sum.Dropped[k] += v
		}
	}
	if d.poster != nil {
		add(d.poster.Stats())
	}
	if d.kafka != nil {
		add(d.kafka.Stats())
	}
	return sum
}
