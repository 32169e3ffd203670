// Package output encodes calls and delivers them: NDJSON on standard output or to a
// file, HAR, or a Resurface collector.
package output

import (
	"context"
	"io"
	"strconv"
	"time"

	"sniffer/model"
)

// EncodeNDJSON appends the call as one JSON object and a newline to dst.
//
// Fields: start (RFC 3339 with nanoseconds), duration_ms, client, server, vni (VXLAN
// only), request {method, url, target, proto, headers, body, body_size}, response
// {status, reason, proto, headers, trailers, body, body_size}, interim (1xx statuses),
// incomplete (the reason, when the call is not complete), anomalies (what was odd about
// the messages, read all the same: "request:NAME" or "response:NAME", see
// model/anomaly.go), mirrored (true for a request a proxy mirrored to SNIFFER_MIRROR_LISTEN:
// no response by design, no server address), shed (what an overloaded pipeline left out:
// "bodies not decoded" or "bodies dropped"). Headers are [name, value]
// pairs in wire order. A body that is not valid UTF-8 is base64 with
// "body_encoding":"base64"; "truncated":true marks a body cut at the body limit.
func EncodeNDJSON(dst []byte, c *model.Call) []byte {
	dst = append(dst, `{"start":"`...)
	dst = c.Start.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","duration_ms":`...)
	dst = strconv.AppendFloat(dst, float64(c.Duration().Microseconds())/1000, 'f', -1, 64)
	dst = append(dst, `,"client":"`...)
	dst = c.Client.AppendTo(dst)
	dst = append(dst, `","server":"`...)
	dst = c.Server.AppendTo(dst)
	dst = append(dst, '"')
	if c.VNI >= 0 {
		dst = append(dst, `,"vni":`...)
		dst = strconv.AppendInt(dst, int64(c.VNI), 10)
	}
	r := &c.Request
	dst = append(dst, `,"request":{"method":`...)
	dst = appendString(dst, r.Method)
	dst = append(dst, `,"url":`...)
	dst = appendString(dst, c.URL)
	dst = append(dst, `,"target":`...)
	dst = appendString(dst, r.Target)
	dst = appendMessage(dst, &r.Message)
	dst = append(dst, '}')
	if p := c.Response; p != nil {
		dst = append(dst, `,"response":{"status":`...)
		dst = strconv.AppendInt(dst, int64(p.Status), 10)
		dst = append(dst, `,"reason":`...)
		dst = appendString(dst, p.Reason)
		dst = appendMessage(dst, &p.Message)
		dst = append(dst, '}')
	}
	if len(c.Interim) > 0 {
		dst = append(dst, `,"interim":[`...)
		for i, s := range c.Interim {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendInt(dst, int64(s), 10)
		}
		dst = append(dst, ']')
	}
	if c.Incomplete != "" {
		dst = append(dst, `,"incomplete":`...)
		dst = appendString(dst, c.Incomplete)
	}
	if len(c.Anomalies) > 0 {
		dst = append(dst, `,"anomalies":[`...)
		for i, a := range c.Anomalies {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, a)
		}
		dst = append(dst, ']')
	}
	if c.Mirrored {
		dst = append(dst, `,"mirrored":true`...)
	}
	if c.Shed != "" {
		dst = append(dst, `,"shed":`...)
		dst = appendString(dst, c.Shed)
	}
	return append(dst, "}\n"...)
}

func appendMessage(dst []byte, m *model.Message) []byte {
	dst = append(dst, `,"proto":`...)
	dst = appendString(dst, m.Proto)
	dst = append(dst, `,"headers":`...)
	dst = appendHeaders(dst, m.Headers)
	if len(m.Trailers) > 0 {
		dst = append(dst, `,"trailers":`...)
		dst = appendHeaders(dst, m.Trailers)
	}
	if len(m.Body) > 0 {
		dst = append(dst, `,"body":`...)
		var ok bool
		if dst, ok = appendUTF8String(dst, m.Body); !ok {
			dst = append(dst, '"')
			dst = appendBase64(dst, m.Body)
			dst = append(dst, `","body_encoding":"base64"`...)
		}
	}
	dst = append(dst, `,"body_size":`...)
	dst = strconv.AppendInt(dst, m.BodySize, 10)
	if m.Truncated {
		dst = append(dst, `,"truncated":true`...)
	}
	if m.DecodeError != "" {
		dst = append(dst, `,"decode_error":`...)
		dst = appendString(dst, m.DecodeError)
	}
	return dst
}

func appendHeaders(dst []byte, hs []model.Header) []byte {
	dst = append(dst, '[')
	for i, h := range hs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		dst = appendString(dst, h.Name)
		dst = append(dst, ',')
		dst = appendString(dst, h.Value)
		dst = append(dst, ']')
	}
	return append(dst, ']')
}

// Writer writes calls as NDJSON to a stream (standard output). Calls are encoded
// straight into one buffer that is written out when it passes writeChunk bytes, so
// each byte of output is copied once. It is a Sink: Close flushes the buffer.
type Writer struct {
	w       io.Writer
	buf     []byte
	pending int64 // calls in buf
	written int64
	failed  int64
	err     error
}

const writeChunk = 256 << 10

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, buf: make([]byte, 0, 2*writeChunk)}
}

// Send writes the record's masked call.
func (w *Writer) Send(r *Record) error { return w.Write(r.Call()) }

// DoneOnSend marks Writer as done with a record once Send returns: the call is encoded
// into its buffer.
func (w *Writer) DoneOnSend() {}

// Write encodes one call.
func (w *Writer) Write(c *model.Call) error {
	w.buf = EncodeNDJSON(w.buf, c)
	w.written++
	w.pending++
	if len(w.buf) >= writeChunk {
		return w.Flush()
	}
	return w.err
}

// Flush writes out what is buffered. After a write error every later call counts as
// failed.
func (w *Writer) Flush() error {
	if len(w.buf) > 0 && w.err == nil {
		_, w.err = w.w.Write(w.buf)
	}
	if w.err != nil {
		w.failed += w.pending
	}
	w.buf, w.pending = w.buf[:0], 0
	return w.err
}

// Close flushes; calls that could not be written count as dropped.
func (w *Writer) Close(context.Context) (Summary, error) {
	err := w.Flush()
	s := Summary{Written: w.written, Delivered: w.written - w.failed}
	if w.failed > 0 {
		s.Dropped = map[string]int64{DropEncode: w.failed}
	}
	return s, err
}
