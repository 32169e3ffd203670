package output

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sniffer/model"
)

func TestNDJSONFileRotatesBySize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "calls.ndjson")
	line := len(EncodeNDJSON(nil, testCall(1000)))
	s, err := NewNDJSONFile(path, int64(10*line))
	if err != nil {
		t.Fatal(err)
	}
	const n = 95
	for i := 1000; i < 1000+n; i++ {
		if err := s.Write(testCall(i)); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := s.Close(context.Background())
	if err != nil || sum.Delivered != n || sum.Written != n {
		t.Fatalf("%v %v", sum, err)
	}
	// 95 lines of 10 per file: PATH holds 5, PATH.1..PATH.5 hold 10 each, older ones rotated away.
	seen := map[int]bool{}
	for _, name := range []string{path, path + ".1", path + ".2", path + ".3", path + ".4", path + ".5"} {
		f, err := os.Open(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		fi, _ := f.Stat()
		if fi.Size() > int64(10*line) {
			t.Errorf("%s is %d bytes, cap %d", name, fi.Size(), 10*line)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var obj struct {
				Request struct{ URL string } `json:"request"`
			}
			if err := json.Unmarshal(sc.Bytes(), &obj); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			id, _ := strconv.Atoi(obj.Request.URL[strings.LastIndexByte(obj.Request.URL, '=')+1:])
			seen[id] = true
		}
		f.Close()
	}
	if _, err := os.Stat(path + ".6"); err == nil {
		t.Error("more than 5 backups kept")
	}
	// Lines differ by a few bytes, so a file holds 9 or 10; what is kept is the newest calls,
	// contiguous, about six files' worth.
	if len(seen) < 50 || len(seen) > 60 {
		t.Errorf("%d calls in the kept files, want about 55", len(seen))
	}
	for i := 1000 + n - len(seen); i < 1000+n; i++ {
		if !seen[i] {
			t.Errorf("call %d missing from the newest %d", i, len(seen))
		}
	}
}

func TestNDJSONFileAppendsAcrossRuns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "calls.ndjson")
	for run := 0; run < 2; run++ {
		s, err := NewNDJSONFile(path, 0)
		if err != nil {
			t.Fatal(err)
		}
		s.Write(testCall(run))
		s.Close(context.Background())
	}
	b, _ := os.ReadFile(path)
	if strings.Count(string(b), "\n") != 2 {
		t.Errorf("file after two runs:\n%s", b)
	}
	if _, err := NewNDJSONFile(filepath.Join(t.TempDir(), "no", "such", "dir", "x"), 0); err == nil {
		t.Error("no error for an impossible path")
	}
}

// harRequired lists the fields HAR 1.2 requires of each object sniffer writes.
var harRequired = map[string][]string{
	"log":      {"version", "creator", "entries"},
	"creator":  {"name", "version"},
	"entry":    {"startedDateTime", "time", "request", "response", "cache", "timings"},
	"request":  {"method", "url", "httpVersion", "cookies", "headers", "queryString", "headersSize", "bodySize"},
	"response": {"status", "statusText", "httpVersion", "cookies", "headers", "content", "redirectURL", "headersSize", "bodySize"},
	"content":  {"size", "mimeType"},
	"timings":  {"send", "wait", "receive"},
	"postData": {"mimeType"},
}

func requireFields(t *testing.T, what string, obj any) map[string]any {
	t.Helper()
	m, ok := obj.(map[string]any)
	if !ok {
		t.Fatalf("%s is %T, not an object", what, obj)
	}
	for _, k := range harRequired[what] {
		if _, ok := m[k]; !ok {
			t.Errorf("%s lacks required %q", what, k)
		}
	}
	return m
}

func TestHARIsValidAndHoldsEveryCall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "capture.har")
	s, err := NewHAR(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := 0; i < n; i++ {
		s.Write(testCall(i))
	}
	form := formCall()
	form.Request.Headers = append(form.Request.Headers, reassemblyHeader("Cookie", "sid=abc; theme=dark"))
	s.Write(form)
	bin := testCall(n + 1)
	bin.Response.Body = []byte{0xff, 0x00, 0x89, 'P', 'N', 'G'}
	s.Write(bin)
	half := testCall(n + 2)
	half.Response, half.Incomplete = nil, "no response"
	s.Write(half)
	if _, err := os.Stat(path); err == nil {
		t.Error("archive visible before Close")
	}
	sum, err := s.Close(context.Background())
	if err != nil || sum.Delivered != n+3 {
		t.Fatalf("%v %v", sum, err)
	}

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("archive is not JSON: %v", err)
	}
	lg := requireFields(t, "log", doc["log"])
	if lg["version"] != "1.2" {
		t.Errorf("version %v", lg["version"])
	}
	requireFields(t, "creator", lg["creator"])
	entries := lg["entries"].([]any)
	if len(entries) != n+3 {
		t.Fatalf("%d entries, want %d", len(entries), n+3)
	}
	for i, ent := range entries {
		e := requireFields(t, "entry", ent)
		if _, err := time.Parse(time.RFC3339Nano, e["startedDateTime"].(string)); err != nil {
			t.Errorf("entry %d startedDateTime: %v", i, err)
		}
		req := requireFields(t, "request", e["request"])
		resp := requireFields(t, "response", e["response"])
		requireFields(t, "content", resp["content"])
		tm := requireFields(t, "timings", e["timings"])
		for _, k := range []string{"send", "wait", "receive"} {
			if v, _ := tm[k].(float64); v < 0 {
				t.Errorf("entry %d timings.%s = %v", i, k, v)
			}
		}
		if pd, ok := req["postData"]; ok {
			requireFields(t, "postData", pd)
		}
		for _, k := range []string{"cookies", "headers", "queryString"} {
			if _, ok := req[k].([]any); !ok {
				t.Errorf("entry %d request.%s is not an array", i, k)
			}
		}
		if i < n {
			if req["url"] != testCall(i).URL || resp["status"].(float64) != 200 {
				t.Errorf("entry %d: %v %v", i, req["url"], resp["status"])
			}
			qs := req["queryString"].([]any)
			if len(qs) != 1 || qs[0].(map[string]any)["value"] != strconv.Itoa(i) {
				t.Errorf("entry %d queryString %v", i, qs)
			}
		}
	}
	fe := entries[n].(map[string]any)
	pd := fe["request"].(map[string]any)["postData"].(map[string]any)
	if len(pd["params"].([]any)) != 3 {
		t.Errorf("form params %v", pd["params"])
	}
	if cs := fe["request"].(map[string]any)["cookies"].([]any); len(cs) != 2 {
		t.Errorf("request cookies %v", cs)
	}
	if cs := fe["response"].(map[string]any)["cookies"].([]any); len(cs) != 2 {
		t.Errorf("response cookies %v", cs)
	}
	bc := entries[n+1].(map[string]any)["response"].(map[string]any)["content"].(map[string]any)
	if dec, _ := base64.StdEncoding.DecodeString(bc["text"].(string)); bc["encoding"] != "base64" || string(dec) != string(bin.Response.Body) {
		t.Errorf("binary body %v", bc)
	}
	he := entries[n+2].(map[string]any)
	if he["response"].(map[string]any)["status"].(float64) != 0 || he["comment"] != "no response" {
		t.Errorf("half call entry %v", he)
	}
}

func reassemblyHeader(name, value string) model.Header {
	return model.Header{Name: name, Value: value}
}

func TestSinksCountANilCallAndGoOn(t *testing.T) {
	dir := t.TempDir()
	har, _ := NewHAR(filepath.Join(dir, "x.har"))
	nd, _ := NewNDJSONFile(filepath.Join(dir, "x.ndjson"), 0)
	for _, s := range []interface {
		Sink
		Write(*model.Call) error
	}{har, nd} {
		if err := s.Write(nil); err == nil {
			t.Errorf("%T accepted a nil call", s)
		}
		if err := s.Write(testCall(1)); err != nil {
			t.Errorf("%T after a nil call: %v", s, err)
		}
		sum, err := s.Close(context.Background())
		if err != nil || sum.Delivered != 1 || sum.Dropped[DropEncode] != 1 {
			t.Errorf("%T: %v %v", s, sum, err)
		}
	}
}
