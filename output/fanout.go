package output

import "context"

// Fanout hands every record to each of its sinks, in the order they were added, and
// accounts for them together.
type Fanout struct {
	sinks []Sink
	names []string
}

// Add appends a sink; name says which in reports ("collector URL", a file name).
func (f *Fanout) Add(name string, s Sink) {
	f.sinks, f.names = append(f.sinks, s), append(f.names, name)
}

// DoneOnSend is a sink that has written all it needs of a record by the time its Send
// returns (the NDJSON writers, HAR): it keeps no reference to the record, its call or its
// details after.
type DoneOnSend interface {
	Sink
	DoneOnSend()
}

// DoneOnSend tells whether every sink is a DoneOnSend one: then nothing reads a record
// after Send returns, and buffers its values lie in may be reused.
func (f *Fanout) DoneOnSend() bool {
	for _, s := range f.sinks {
		if _, ok := s.(DoneOnSend); !ok {
			return false
		}
	}
	return len(f.sinks) > 0
}

// Len is the number of sinks.
func (f *Fanout) Len() int { return len(f.sinks) }

// Send gives r to every sink. A sink that fails counts the failure itself (Summary.Dropped),
// so Send goes on with the others.
func (f *Fanout) Send(r *Record) {
	for _, s := range f.sinks {
		_ = s.Send(r)
	}
}

// Stats is the live account of the sinks that keep one (LiveSink: the collector, Kafka);
// file sinks report at Close.
func (f *Fanout) Stats() Summary {
	sum := Summary{Dropped: map[string]int64{}}
	for _, s := range f.sinks {
		if l, ok := s.(LiveSink); ok {
			sum.Add(l.Stats())
		}
	}
	return sum
}

// Close closes every sink within ctx, passes each one's name, account and error to report
// (which may be nil), and returns the total.
func (f *Fanout) Close(ctx context.Context, report func(name string, s Summary, err error)) Summary {
	var total Summary
	for i, s := range f.sinks {
		sum, err := s.Close(ctx)
		total.Add(sum)
		if report != nil {
			report(f.names[i], sum, err)
		}
	}
	return total
}

// detailsOnly is a sink that writes the details alone and has no use for the masked call
// (the collector; Kafka in resurface format).
type detailsOnly interface{ DetailsOnly() bool }

// Prepare does the work on r that Send would do first and that needs no sink: masking the
// call, when a sink writes it. A worker calls it, so that Send, which runs in order on one
// goroutine, has less to do.
func (f *Fanout) Prepare(r *Record) {
	for _, s := range f.sinks {
		if d, ok := s.(detailsOnly); !ok || !d.DetailsOnly() {
			r.Call()
			return
		}
	}
}
