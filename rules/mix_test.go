package rules

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// The workload mix sniffer is measured on (internal/workload: nginx served
// to wrk, one request of each kind in turn), rebuilt deterministically as the details
// output.ResurfaceDetails makes of it, so that benchmarks and tests need no capture file:
//
//	GET /small.json?page=N with Authorization: Bearer ...  -> 200, 2 user records
//	GET /medium.json                                        -> 200, 150 records (16 KiB)
//	GET /large.json, Accept-Encoding: gzip                  -> 200, 600 records (64 KiB)
//	                                                           gzip'd, chunked
//	POST /users JSON with e-mail, password and card number  -> 201 {"created":true}
//	GET /missing/N                                          -> 404 nginx HTML page
//
// A record is {"id":N,"name":"user00042","email":"user00042@example.com",
// "ssn":"042-42-0042","score":0.8444218515250481}: an e-mail address and two runs of 9 or
// more digits each, as the standard set masks them.

// mixRecords is a JSON document of n user records, as the workload's Python writes it.
func mixRecords(n int, rng *rand.Rand) string {
	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"user%05d","email":"user%05d@example.com","ssn":"%03d-%02d-%04d","score":%s}`,
			i, i, i, i%900, i%90, i, strconv.FormatFloat(rng.Float64(), 'g', -1, 64))
	}
	b.WriteString("]}")
	return b.String()
}

func gzipString(s string) string {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed) // nginx's gzip_comp_level 1
	zw.Write([]byte(s))
	zw.Close()
	return buf.String()
}

const mixNotFound = "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n" +
	"<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"

// mixCalls builds n calls of the mix (n/5 of each kind, in turn). decoded selects the
// 64 KiB response as sniffer shows it with -decode=true (JSON) or false (gzip bytes).
func mixCalls(n int, decoded bool) [][][2]string {
	rng := rand.New(rand.NewPCG(7, 7))
	small, medium := mixRecords(2, rng), mixRecords(150, rng)
	large := mixRecords(600, rng)
	if !decoded {
		large = gzipString(large)
	}
	const date = "Mon, 30 Nov 2026 09:37:35 GMT"
	server := [][2]string{{"response_header:server", "nginx/1.22.1"}, {"response_header:date", date}}
	calls := make([][][2]string, 0, n)
	for i := range n {
		k := i + 1
		var d [][2]string
		head := func(method, url, code string, req ...[2]string) {
			d = append(d, [2]string{"request_method", method}, [2]string{"request_url", url}, [2]string{"response_code", code})
			d = append(d, req...)
			d = append(d, [2]string{"request_header:x-forwarded-for", "10.213.0.2"})
		}
		tail := func() {
			d = append(d, [2]string{"now", strconv.Itoa(1796031455895 + i)}, [2]string{"interval", strconv.Itoa(i % 3)})
		}
		switch k % 5 {
		case 0:
			head("GET", "http://10.213.0.1/small.json", "200",
				[2]string{"request_header:authorization", "Bearer secret-token-" + strconv.Itoa(k)},
				[2]string{"request_header:host", "10.213.0.1"})
			d = append(d, [2]string{"request_param:page", strconv.Itoa(k)})
			d = append(d, server...)
			d = append(d, [][2]string{{"response_header:content-type", "application/json"},
				{"response_header:content-length", strconv.Itoa(len(small))},
				{"response_header:last-modified", date}, {"response_header:connection", "keep-alive"},
				{"response_header:etag", `"6b0d43d9-e3"`}, {"response_header:accept-ranges", "bytes"},
				{"response_body", small}}...)
		case 1:
			head("GET", "http://10.213.0.1/medium.json", "200", [2]string{"request_header:host", "10.213.0.1"})
			d = append(d, server...)
			d = append(d, [][2]string{{"response_header:content-type", "application/json"},
				{"response_header:content-length", strconv.Itoa(len(medium))},
				{"response_header:last-modified", date}, {"response_header:connection", "keep-alive"},
				{"response_header:etag", `"6b0d43d9-3fbe"`}, {"response_header:accept-ranges", "bytes"},
				{"response_body", medium}}...)
		case 2:
			head("GET", "http://10.213.0.1/large.json", "200",
				[2]string{"request_header:accept-encoding", "gzip"}, [2]string{"request_header:host", "10.213.0.1"})
			d = append(d, server...)
			d = append(d, [][2]string{{"response_header:content-type", "application/json"},
				{"response_header:last-modified", date}, {"response_header:transfer-encoding", "chunked"},
				{"response_header:connection", "keep-alive"}, {"response_header:etag", `W/"6b0d43d9-ffd1"`},
				{"response_header:content-encoding", "gzip"}, {"response_body", large}}...)
		case 3:
			body := `{"name":"alice","email":"alice@example.com","password":"hunter2","card":"4111111111111111"}`
			head("POST", "http://10.213.0.1/users", "201",
				[2]string{"request_header:content-type", "application/json"},
				[2]string{"request_header:host", "10.213.0.1"},
				[2]string{"request_header:content-length", strconv.Itoa(len(body))})
			d = append(d, server...)
			d = append(d, [][2]string{{"response_header:content-type", "application/json"},
				{"response_header:content-length", "16"}, {"response_header:connection", "keep-alive"},
				{"request_body", body}, {"response_body", `{"created":true}`}}...)
		case 4:
			head("GET", "http://10.213.0.1/missing/"+strconv.Itoa(k), "404", [2]string{"request_header:host", "10.213.0.1"})
			d = append(d, server...)
			d = append(d, [][2]string{{"response_header:content-type", "text/html"},
				{"response_header:content-length", strconv.Itoa(len(mixNotFound))},
				{"response_header:connection", "keep-alive"}, {"response_body", mixNotFound}}...)
		}
		tail()
		calls = append(calls, d)
	}
	return calls
}
