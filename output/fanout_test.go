package output

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestFanoutGivesEverySinkTheMaskedRecord sends records through the rules' details to two
// real file sinks: both must write the masked call (a header the details leave out is gone)
// and the total must add both accounts.
func TestFanoutGivesEverySinkTheMaskedRecord(t *testing.T) {
	dir := t.TempDir()
	nd, err := NewNDJSONFile(filepath.Join(dir, "calls.ndjson"), 0)
	if err != nil {
		t.Fatal(err)
	}
	har, err := NewHAR(filepath.Join(dir, "calls.har"))
	if err != nil {
		t.Fatal(err)
	}
	var f Fanout
	f.Add("ndjson", nd)
	f.Add("har", har)
	const n = 5
	for i := range n {
		c := testCall(i)
		var details [][2]string
		for _, kv := range ResurfaceDetails(c) {
			if kv[0] != "request_header:accept" { // what a rule removing Accept leaves
				details = append(details, kv)
			}
		}
		r := NewRecord(c, details)
		f.Send(r)
		if r.Call() != r.Call() {
			t.Fatal("Record.Call masks again on every use; the sinks should share one masked call")
		}
		if c.Request.Get("Accept") == "" {
			t.Fatal("masking changed the captured call")
		}
	}
	var names []string
	total := f.Close(context.Background(), func(name string, s Summary, err error) {
		if err != nil || s.Written != n || s.Delivered != n {
			t.Errorf("%s: %v %v, want %d written and delivered", name, s, err, n)
		}
		names = append(names, name)
	})
	if strings.Join(names, ",") != "ndjson,har" {
		t.Errorf("reported %v, want the sinks in the order they were added", names)
	}
	if total.Written != 2*n || total.Delivered != 2*n || total.Undelivered() != 0 {
		t.Errorf("total %v, want %d written and delivered", total, 2*n)
	}
	for _, name := range []string{"calls.ndjson", "calls.har"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.ToLower(string(b)), "accept") {
			t.Errorf("%s has the header the rules removed:\n%s", name, b)
		}
		if !strings.Contains(string(b), "api.example.com") {
			t.Errorf("%s lacks the calls", name)
		}
	}
	if lines := strings.Count(mustRead(t, filepath.Join(dir, "calls.ndjson")), "\n"); lines != n {
		t.Errorf("%d NDJSON lines, want %d", lines, n)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSummaryAdd(t *testing.T) {
	a := Summary{Written: 1, Delivered: 1}
	a.Add(Summary{Written: 2, Filtered: 1, Delivered: 1, Pending: 3, Queued: 4, Recovered: 5, Posts: 6, PostFails: 7, Dropped: map[string]int64{DropRetries: 1}})
	a.Add(Summary{Dropped: map[string]int64{DropRetries: 2, DropEncode: 1}})
	want := Summary{Written: 3, Filtered: 1, Delivered: 2, Pending: 3, Queued: 4, Recovered: 5, Posts: 6, PostFails: 7,
		Dropped: map[string]int64{DropRetries: 3, DropEncode: 1}}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("Add gave %+v, want %+v", a, want)
	}
}

// TestFanoutDoneOnSend: only when every sink has written what it needs of a record by the
// time Send returns may the record's buffers be reused.
func TestFanoutDoneOnSend(t *testing.T) {
	var f Fanout
	if f.DoneOnSend() {
		t.Error("no sink: done on send")
	}
	f.Add("ndjson", NewWriter(io.Discard))
	har, err := NewHAR(filepath.Join(t.TempDir(), "calls.har"))
	if err != nil {
		t.Fatal(err)
	}
	defer har.Close(context.Background())
	f.Add("har", har)
	nd, err := NewNDJSONFile(filepath.Join(t.TempDir(), "calls.ndjson"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer nd.Close(context.Background())
	f.Add("ndjson file", nd)
	if !f.DoneOnSend() {
		t.Error("NDJSON writer, HAR and NDJSON file: not done on send")
	}
	f.Add("kafka", &Kafka{})
	if f.DoneOnSend() {
		t.Error("with Kafka, which produces asynchronously: done on send")
	}
}
