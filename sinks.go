package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"sniffer/output"
	"sniffer/rules"
)

// newRules parses USAGE_LOGGERS_RULES; unset, the default rules.
func newRules(cfg *Config) (*rules.Rules, error) {
	if cfg.Rules == "" {
		return rules.Default(), nil
	}
	r, err := rules.Parse(cfg.Rules)
	if err != nil {
		return nil, fmt.Errorf("USAGE_LOGGERS_RULES: %v", err)
	}
	return r, nil
}

// compressPosts tells why posts to the collector go uncompressed, or "" when they are
// compressed. On loopback (auto) zlib level 1 was 45% of sniffer's CPU posting the bench
// workload, and the collector spends more inflating it, for bytes that never reach a network.
func compressPosts(cfg *Config, r *rules.Rules) string {
	switch {
	case r.SkipCompression():
		return "the rules say skip_compression"
	case cfg.Compress == "off":
		return "SNIFFER_COMPRESS=off"
	case cfg.Compress == "auto" && output.LoopbackURL(cfg.URL):
		return "the collector is on loopback, where compressing would cost CPU at both ends and save no network (for a port that tunnels to a remote collector, set SNIFFER_COMPRESS=on)"
	}
	return ""
}

// newSinks builds the sinks the settings ask for, in the order they are reported: the
// collector, Kafka, then the files. With no collector URL, no Kafka and no file, calls go
// to standard output as NDJSON.
func newSinks(cfg *Config, r *rules.Rules, stdout io.Writer) (*output.Fanout, *output.Poster, error) {
	out := &output.Fanout{}
	var poster *output.Poster
	fail := func(err error) (*output.Fanout, *output.Poster, error) {
		out.Close(context.Background(), nil)
		return nil, nil, err
	}
	if cfg.URL != "" && !cfg.Disable && !r.SkipSubmission() {
		if _, err := output.ValidateURL(cfg.URL, r.AllowHTTPURL()); err != nil {
			if errors.Is(err, output.ErrPlainHTTP) {
				err = fmt.Errorf("%v, for example USAGE_LOGGERS_RULES=%q", err, withAllowHTTP(cfg.Rules))
			}
			return nil, nil, err
		}
		p, err := output.NewPoster(output.PostConfig{
			URL: cfg.URL, AllowHTTP: r.AllowHTTPURL(), QueueSize: cfg.QueueSize, BundleSize: cfg.BundleSize,
			SpoolDir: cfg.SpoolDir, SpoolMax: cfg.SpoolMax, DropOldest: cfg.DropPolicy == "oldest",
			Compress: compressPosts(cfg, r) == "", Agent: "sniffer", Version: version, MemoryBytes: cfg.MemoryBudget / 16, // taken off the pipeline's share (main.go, memoryShares)
		})
		if err != nil {
			return nil, nil, err
		}
		poster = p
		out.Add("collector "+cfg.URL, p)
	}
	if cfg.KafkaBrokers != "" {
		k, err := newKafka(cfg)
		if err != nil {
			return fail(err)
		}
		out.Add("kafka "+cfg.KafkaTopic, k)
	}
	switch {
	case cfg.OutFile == "-":
		out.Add("standard output", output.NewWriter(stdout))
	case cfg.OutFile != "":
		s, err := output.NewNDJSONFile(cfg.OutFile, cfg.OutMaxBytes)
		if err != nil {
			return fail(err)
		}
		out.Add(cfg.OutFile, s)
	case cfg.URL == "" && cfg.HARFile == "" && cfg.KafkaBrokers == "":
		out.Add("standard output", output.NewWriter(stdout))
	}
	if cfg.HARFile != "" {
		s, err := output.NewHAR(cfg.HARFile)
		if err != nil {
			return fail(err)
		}
		out.Add(cfg.HARFile, s)
	}
	return out, poster, nil
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

// withAllowHTTP is the rules text with an allow_http_url line added: what to set when a
// plain http:// collector URL (the Resurface Helm chart's http://worker.NAMESPACE:7701) is meant.
func withAllowHTTP(text string) string {
	text = strings.TrimRight(text, "\n")
	if strings.TrimSpace(text) == "" {
		text = "include default"
	}
	return text + "\nallow_http_url"
}
