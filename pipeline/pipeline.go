// Package pipeline is the stage after reassembly: it takes finished calls, decodes their
// bodies, applies the logging rules once per call and hands the result to the sinks
// (output.Fanout). It knows nothing of where calls come from or how the settings are read:
// the caller fills its Config.
package pipeline

import (
	"context"
	"sync/atomic"

	"sniffer/model"
	"sniffer/output"
	"sniffer/rules"
)

// Config is what the pipeline does to each call.
type Config struct {
	Decode       bool         // decode gzip/deflate/br/zstd bodies (SNIFFER_DECODE_BODIES)
	BodyLimit    int64        // body bytes kept per message, decoded (USAGE_LOGGERS_BODY_LIMIT)
	RealIPHeader string       // header added to requests without it, carrying the client address
	Rules        *rules.Rules // the logging rules; nil: rules.Default()
}

// Pipeline delivers calls. Calls go in through Run (or Handle); Close flushes the sinks.
type Pipeline struct {
	cfg       Config
	out       *output.Fanout
	filtered  atomic.Int64        // calls the rules stopped or sampled out
	anomalies model.AnomalyCounts // calls by anomaly, before the rules
}

// New makes a pipeline delivering to out.
func New(cfg Config, out *output.Fanout) *Pipeline {
	if cfg.Rules == nil {
		cfg.Rules = rules.Default()
	}
	return &Pipeline{cfg: cfg, out: out}
}

// Run consumes calls until the channel closes.
func (p *Pipeline) Run(calls <-chan *model.Call) {
	for c := range calls {
		p.Handle(c)
	}
}

// Handle delivers one call.
func (p *Pipeline) Handle(c *model.Call) {
	if p.cfg.Decode {
		c.Decode(p.cfg.BodyLimit)
	}
	p.anomalies.Add(c.Anomalies)
	if h := p.cfg.RealIPHeader; h != "" && c.Request.Get(h) == "" {
		c.Request.Headers = append(c.Request.Headers, model.Header{Name: h, Value: c.Client.Addr().String()})
	}
	details, keep := p.cfg.Rules.Apply(output.ResurfaceDetails(c))
	if !keep {
		p.filtered.Add(1)
		return
	}
	p.out.Send(output.NewRecord(c, details))
}

// Stats is the live account of the sinks, with the calls the rules filtered, for metrics.
func (p *Pipeline) Stats() output.Summary {
	sum := p.out.Stats()
	sum.Filtered += p.filtered.Load()
	return sum
}

// Anomalies counts the calls handed to the pipeline by anomaly (model/anomaly.go), those
// the rules filter out included: what was odd on the wire, parsing and decoding.
func (p *Pipeline) Anomalies() *model.AnomalyCounts { return &p.anomalies }

// Filtered is the number of calls the rules stopped or sampled out.
func (p *Pipeline) Filtered() int64 { return p.filtered.Load() }

// RuleFailures is the number of regex evaluations that ran out of time and failed closed.
func (p *Pipeline) RuleFailures() uint64 { return p.cfg.Rules.EngineFailures() }

// Close flushes every sink within ctx, reporting each (see output.Fanout.Close), and
// returns the total account.
func (p *Pipeline) Close(ctx context.Context, report func(name string, s output.Summary, err error)) output.Summary {
	return p.out.Close(ctx, report)
}
