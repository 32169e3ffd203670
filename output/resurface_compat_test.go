package output

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"sniffer/model"
	"sniffer/output/resurfacetest"
)

// requestAddress is the client address the Resurface database stores for a message: the
// value of the last client-address header (resurfaceio/ndjson HttpMessage.add_request_header
// assigns request_address for each of them in turn).
func requestAddress(m [][2]string) string {
	addr := ""
	for _, kv := range m {
		if name, ok := strings.CutPrefix(kv[0], "request_header:"); ok && model.IsClientAddressHeader(name) {
			addr = kv[1]
		}
	}
	return addr
}

// The ten headers the database reads the client address from (resurfaceio/ndjson
// HttpMessage.add_request_header, verbatim): with any of them on the request, the proxy's
// address seen on the wire is not added, so the database stores the request's own.
func TestClientAddressHeaders(t *testing.T) {
	names := "cf-connecting-ip fastly-client-ip forwarded forwarded-for true-client-ip x-forwarded-for x-forwarded x-client-ip x-real-ip x-cluster-client-ip"
	if n := len(strings.Fields(names)); n != len(model.ClientAddressHeaders()) {
		t.Fatalf("%d names in the database's list, %d in model.ClientAddressHeaders", n, len(model.ClientAddressHeaders()))
	}
	for _, name := range strings.Fields(names) {
		c := formCall() // its client on the wire is 192.0.2.10, a proxy here
		c.Request.Headers = append(c.Request.Headers, model.Header{Name: strings.ToUpper(name[:1]) + name[1:], Value: "203.0.113.7"})
		d := ResurfaceDetails(c)
		if got := requestAddress(d); got != "203.0.113.7" {
			t.Errorf("%s: the database would store %q as the client: %v", name, got, d)
		}
		if x := all(d, "request_header:x-forwarded-for"); name != "x-forwarded-for" && len(x) != 0 {
			t.Errorf("%s: x-forwarded-for %q added", name, x)
		}
	}
	if got := requestAddress(ResurfaceDetails(formCall())); got != "192.0.2.10" {
		t.Errorf("no client-address header: stored client %q, want the address on the wire", got)
	}
}

// "now" is the response's completion and "interval" a decimal the database keeps: at
// least 1 for a call under a millisecond, the whole milliseconds otherwise.
func TestNowAndInterval(t *testing.T) {
	for _, tc := range []struct {
		d      time.Duration
		want   string
		stored int64
	}{
		{0, "0.000", 1},
		{250 * time.Microsecond, "0.250", 1},
		{999 * time.Microsecond, "0.999", 1},
		{time.Millisecond, "1.000", 1},
		{42*time.Millisecond + 600*time.Microsecond, "42.600", 42},
		{90 * time.Second, "90000.000", 90000},
		{-time.Millisecond, "0.000", 1}, // clock step between the two packets
	} {
		c := formCall()
		c.End = c.Start.Add(tc.d)
		d := ResurfaceDetails(c)
		if got := get(d, "interval"); got != tc.want || resurfacetest.DatabaseInterval(got) != tc.stored {
			t.Errorf("%v: interval %q (stored %d), want %q (stored %d)", tc.d, got, resurfacetest.DatabaseInterval(got), tc.want, tc.stored)
		}
		if got, want := get(d, "now"), c.End.UnixMilli(); got != itoa(want) {
			t.Errorf("%v: now %s, want the response's end %d", tc.d, got, want)
		}
		if errs := resurfacetest.CheckMessage(AppendTrailer(d, "sniffer", "t")); len(errs) > 0 {
			t.Errorf("%v: %v", tc.d, errs)
		}
	}
	c := formCall()
	c.Response, c.End = nil, time.Time{}
	if d := ResurfaceDetails(c); get(d, "now") != itoa(c.Start.UnixMilli()) || get(d, "interval") != "" {
		t.Errorf("call without response or end: %v", d)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
