package pipeline

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"

	"sniffer/model"
	"sniffer/output"
)

// gzipped returns s compressed, as a server sends it with Content-Encoding: gzip.
func gzipped(t *testing.T, s string) []byte {
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	io.WriteString(z, s)
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// call i: a GET whose gzip response body names i, so a line can be checked against its call.
func call(t *testing.T, i int) *model.Call {
	body := gzipped(t, fmt.Sprintf(`{"i":%d,"pad":%q}`, i, bytes.Repeat([]byte("x"), 2000)))
	c := &model.Call{
		Start:  time.Unix(1700000000, int64(i)),
		End:    time.Unix(1700000000, int64(i)+1000),
		Client: netip.MustParseAddrPort("10.0.0.1:40000"),
		Server: netip.MustParseAddrPort("10.0.0.2:80"),
		URL:    fmt.Sprintf("http://api.test/items/%d", i),
		VNI:    -1,
	}
	c.Request.Method, c.Request.Target, c.Request.Proto = "GET", fmt.Sprintf("/items/%d", i), "HTTP/1.1"
	c.Request.Headers = []model.Header{{Name: "Host", Value: "api.test"}}
	c.Response = &model.Response{Status: 200, Reason: "OK"}
	c.Response.Proto = "HTTP/1.1"
	c.Response.Headers = []model.Header{{Name: "Content-Type", Value: "application/json"}, {Name: "Content-Encoding", Value: "gzip"}}
	c.Response.Body, c.Response.BodySize = body, int64(len(body))
	return c
}

type line struct {
	Request struct {
		URL  string `json:"url"`
		Body string `json:"body"`
	} `json:"request"`
	Response struct {
		Body string `json:"body"`
	} `json:"response"`
	Shed string `json:"shed"`
}

func parse(t *testing.T, out []byte) []line {
	t.Helper()
	var ls []line
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("bad NDJSON line %q: %v", sc.Text(), err)
		}
		ls = append(ls, l)
	}
	return ls
}

// TestOrderKeptAcrossWorkers: with several workers, a waiting pipeline (a capture file)
// delivers every call, decoded, in the order it was put, whatever worker finished first.
func TestOrderKeptAcrossWorkers(t *testing.T) {
	var out bytes.Buffer
	var f output.Fanout
	f.Add("stdout", output.NewWriter(&out))
	p := New(Config{Decode: true, BodyLimit: 1 << 20, Workers: 4, QueueBytes: 64 << 10, Wait: true}, &f)
	const n = 500
	for i := range n {
		p.Put(call(t, i))
	}
	sum := p.Close(context.Background(), nil)
	if sum.Delivered != n || sum.Undelivered() != 0 {
		t.Fatalf("account %v, want %d delivered", sum, n)
	}
	ls := parse(t, out.Bytes())
	if len(ls) != n {
		t.Fatalf("%d lines, want %d", len(ls), n)
	}
	for i, l := range ls {
		if want := fmt.Sprintf("http://api.test/items/%d", i); l.Request.URL != want {
			t.Fatalf("line %d is %s, want %s: order not kept", i, l.Request.URL, want)
		}
		if want := fmt.Sprintf(`{"i":%d,`, i); len(l.Response.Body) < len(want) || l.Response.Body[:len(want)] != want || l.Shed != "" {
			t.Fatalf("line %d: body %.20q shed %q, want the decoded body of call %d, nothing shed", i, l.Response.Body, l.Shed, i)
		}
	}
	if c := p.Counters(); c.Undecoded+c.NoBodies+c.Dropped != 0 || c.Bytes != 0 || c.Calls != 0 {
		t.Errorf("a waiting pipeline shed or kept something: %+v", c)
	}
}

// TestLiveNeverWaits: with a live pipeline whose sink is stuck (standard output into a pipe
// nobody reads), Put keeps returning at once; past the thresholds calls lose their bodies,
// then are dropped, every one counted; once the sink reads again, what was queued comes out,
// every call whole or marked, none mixed with another's body.
func TestLiveNeverWaits(t *testing.T) {
	pr, pw := io.Pipe()
	var f output.Fanout
	f.Add("stdout", output.NewWriter(pw))
	p := New(Config{Decode: true, BodyLimit: 1 << 20, Workers: 2, QueueBytes: 512 << 10, QueueCalls: 4096}, &f)
	const n = 1500
	calls := make([]*model.Call, n)
	for i := range calls {
		calls[i] = call(t, i)
	}
	start := time.Now()
	for _, c := range calls {
		p.Put(c)
	}
	took := time.Since(start)
	c := p.Counters()
	t.Logf("%d puts in %v with the sink stuck: %+v", n, took, c)
	if took > 5*time.Second { // each Put is a few microseconds; a wait would be for ever
		t.Errorf("Put waited: %d puts took %v", n, took)
	}
	if c.NoBodies == 0 || c.Dropped == 0 {
		t.Errorf("queue of 512 KiB took %d calls without shedding bodies or dropping: %+v", n, c)
	}
	if c.Bytes > 512<<10+64<<10 {
		t.Errorf("%d bytes queued, budget 512 KiB", c.Bytes)
	}
	var out bytes.Buffer
	read := make(chan struct{})
	go func() { io.Copy(&out, pr); close(read) }()
	sum := p.Close(context.Background(), nil)
	pw.Close()
	<-read
	ls := parse(t, out.Bytes())
	c = p.Counters()
	if int64(len(ls)) != n-c.Dropped || sum.Delivered != int64(len(ls)) {
		t.Fatalf("%d lines, %d delivered; want %d put - %d dropped", len(ls), sum.Delivered, n, c.Dropped)
	}
	var shedBodies, undecoded int64
	for _, l := range ls {
		var i int
		if _, err := fmt.Sscanf(l.Request.URL, "http://api.test/items/%d", &i); err != nil {
			t.Fatalf("line for %q", l.Request.URL)
		}
		switch l.Shed {
		case "":
			if want := fmt.Sprintf(`{"i":%d,`, i); len(l.Response.Body) < len(want) || l.Response.Body[:len(want)] != want {
				t.Fatalf("call %d: body %.20q, want its own decoded body", i, l.Response.Body)
			}
		case model.ShedBodies:
			shedBodies++
			if l.Response.Body != "" {
				t.Fatalf("call %d marked %q has a body", i, l.Shed)
			}
		case model.ShedDecoding:
			undecoded++
		default:
			t.Fatalf("call %d: shed %q", i, l.Shed)
		}
	}
	if shedBodies != c.NoBodies || undecoded != c.Undecoded {
		t.Errorf("lines marked: %d without bodies, %d undecoded; counters %+v", shedBodies, undecoded, c)
	}
}

// TestBehindTheWireLeavesBodiesUndecoded: while the packet reader reports a backlog past a
// quarter of the kernel's buffer, calls go out undecoded and marked, though the queue is
// empty; once it has caught up, they are decoded again.
func TestBehindTheWireLeavesBodiesUndecoded(t *testing.T) {
	var out bytes.Buffer
	var f output.Fanout
	f.Add("stdout", output.NewWriter(&out))
	p := New(Config{Decode: true, BodyLimit: 1 << 20, Workers: 1}, &f)
	p.CaptureBacklog(0.5)
	p.Put(call(t, 0))
	for deadline := time.Now().Add(10 * time.Second); p.Counters().Undecoded == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	p.CaptureBacklog(0.1)
	p.Put(call(t, 1))
	p.Close(context.Background(), nil)
	ls := parse(t, out.Bytes())
	if len(ls) != 2 || ls[0].Shed != model.ShedDecoding || ls[1].Shed != "" || !bytes.HasPrefix([]byte(ls[1].Response.Body), []byte(`{"i":1,`)) {
		t.Fatalf("got %+v; want call 0 undecoded and marked, call 1 decoded", ls)
	}
	if c := p.Counters(); c.Undecoded != 1 || c.NoBodies+c.Dropped != 0 {
		t.Errorf("counters %+v, want 1 undecoded", c)
	}
}
