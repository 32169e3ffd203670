//go:build linux

package e2e

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// The server's endpoints and what each one answers are pure functions of the method and the
// request target, so that the client, the server and the checker of sniffer's output agree on
// every byte without passing anything but the target around.

// expectation is what one call must carry, as the sniffer should print it.
type expectation struct {
	reqBody  []byte
	status   int
	respBody []byte // after content decoding
	gzipped  bool   // the response is sent with Content-Encoding: gzip
}

// expect says what the call (method, target) sends and gets back.
func expect(method, target string) expectation {
	path, query, _ := strings.Cut(target, "?")
	n := queryInt(query, "n")
	switch {
	case path == "/hello":
		if method == http.MethodHead {
			return expectation{status: 200}
		}
		return expectation{status: 200, respBody: []byte("hello, world\n")}
	case path == "/json":
		return expectation{status: 200, respBody: []byte(fmt.Sprintf(`{"page":%d,"items":["a","b","c"]}`, queryInt(query, "page")))}
	case path == "/chunked":
		return expectation{status: 200, respBody: chunkedBody()}
	case path == "/gzip", path == "/gzip-chunked":
		return expectation{status: 200, respBody: bigJSON(), gzipped: true}
	case path == "/big":
		return expectation{status: 200, respBody: bigText()}
	case path == "/echo" && (method == http.MethodPost || method == http.MethodPut):
		b := echoPayload(n)
		return expectation{reqBody: b, status: 201, respBody: b}
	case path == "/upload" && method == http.MethodPost:
		b := uploadPayload(n)
		return expectation{reqBody: b, status: 200, respBody: uploadReply(b)}
	case path == "/nocontent":
		return expectation{status: 204}
	default:
		if method == http.MethodHead {
			return expectation{status: 404}
		}
		return expectation{status: 404, respBody: []byte("404 page not found\n")}
	}
}

func queryInt(query, name string) int {
	for _, kv := range strings.Split(query, "&") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

var chunkParts = []string{"first part\n", "second, longer part of the body\n", "third\n", strings.Repeat("fourth ", 900) + "\n"}

func chunkedBody() []byte { return []byte(strings.Join(chunkParts, "")) }

// bigJSON is about 40 KiB of JSON: gzip'd it still spans several TCP segments.
func bigJSON() []byte {
	var b bytes.Buffer
	b.WriteString(`{"items":[`)
	for i := range 400 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"user%05d","email":"user%05d@example.com","score":%d}`, i, i, i, i*7919%1000)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// bigText is 300 KiB: with offloads on, veth hands libpcap super-packets of up to 64 KiB.
func bigText() []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < 300<<10; i++ {
		fmt.Fprintf(&b, "line %06d of a large plain body\n", i)
	}
	return b.Bytes()
}

func echoPayload(n int) []byte {
	return []byte(fmt.Sprintf(`{"n":%d,"name":"alice","pad":"%s"}`, n, strings.Repeat("x", 100*n)))
}

// uploadPayload is 100 KiB of non-UTF-8 bytes: sniffer must print it base64'd.
func uploadPayload(n int) []byte {
	b := make([]byte, 100<<10)
	for i := range b {
		b[i] = byte(i*31 + n*7 + i>>8)
	}
	return b
}

func uploadReply(b []byte) []byte {
	return []byte(fmt.Sprintf("received %d bytes, sha256 %x\n", len(b), sha256.Sum256(b)))
}

// handler serves the endpoints above.
func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello, world\n")
	})
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(expect(r.Method, r.URL.RequestURI()).respBody)
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		for _, p := range chunkParts {
			io.WriteString(w, p)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/gzip", func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		z := gzip.NewWriter(&b)
		z.Write(bigJSON())
		z.Close()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
		w.Write(b.Bytes())
	})
	mux.HandleFunc("/gzip-chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		z := gzip.NewWriter(w)
		body := bigJSON()
		for i := 0; i < len(body); i += 8 << 10 {
			z.Write(body[i:min(i+8<<10, len(body))])
			z.Flush()
			w.(http.Flusher).Flush()
		}
		z.Close()
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		b := bigText()
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		w.Write(b)
	})
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		// Reading the body is what makes net/http send "100 Continue" to a client that expects it.
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write(uploadReply(b))
	})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(204)
	})
	return mux
}
