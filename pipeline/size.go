package pipeline

import "sniffer/model"

// callOverhead is what a queued call costs besides its bodies and headers: the Call, its
// Request and Response, the job, slices' headers (measured roughly; it only needs to keep
// a queue of small calls from looking free).
const callOverhead = 512

// size estimates the bytes a queued call holds.
func size(c *model.Call) int64 {
	n := int64(callOverhead + len(c.URL))
	n += messageSize(&c.Request.Message) + int64(len(c.Request.Target))
	if c.Response != nil {
		n += messageSize(&c.Response.Message)
	}
	return n
}

func messageSize(m *model.Message) int64 {
	n := int64(cap(m.Body))
	for _, hs := range [][]model.Header{m.Headers, m.Trailers} {
		for _, h := range hs {
			n += int64(len(h.Name) + len(h.Value) + 32)
		}
	}
	return n
}

// bodiesSize is the part of size that the bodies are.
func bodiesSize(c *model.Call) int64 {
	n := int64(cap(c.Request.Body))
	if c.Response != nil {
		n += int64(cap(c.Response.Body))
	}
	return n
}

func hasBody(c *model.Call) bool {
	return len(c.Request.Body) > 0 || c.Response != nil && len(c.Response.Body) > 0
}

// dropBodies leaves the bodies out of c, marked; BodySize still says how long they were.
func dropBodies(c *model.Call) {
	c.Request.Body, c.Request.Truncated = nil, c.Request.BodySize > 0
	if c.Response != nil {
		c.Response.Body, c.Response.Truncated = nil, c.Response.BodySize > 0
	}
	c.Shed = model.ShedBodies
}
