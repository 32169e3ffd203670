package output

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"sniffer/model"
)

// HAR writes an HTTP Archive 1.2 (the format browsers' devtools, Postman and Insomnia
// import). Entries stream to PATH.partial as calls arrive, so memory stays flat on long
// captures; Close ends the JSON and renames the file to PATH, so a reader never sees half
// an archive.
type HAR struct {
	mu      sync.Mutex
	path    string
	f       *os.File
	w       *bufio.Writer
	n       int64
	written int64
	dropped map[string]int64
	err     error
	closed  bool
}

// NewHAR creates the archive at path (as path.partial until Close).
func NewHAR(path string) (*HAR, error) {
	f, err := os.Create(path + ".partial")
	if err != nil {
		return nil, fmt.Errorf("har: cannot create the archive: %w", err)
	}
	h := &HAR{path: path, f: f, w: bufio.NewWriterSize(f, 256<<10), dropped: map[string]int64{}}
	creator, _ := json.Marshal(harCreator{Name: "sniffer", Version: buildVersion()})
	fmt.Fprintf(h.w, `{"log":{"version":"1.2","creator":%s,"pages":[],"entries":[`, creator)
	return h, nil
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}

// Send appends the record's masked call.
func (h *HAR) Send(r *Record) error { return h.Write(r.Call()) }

// DoneOnSend marks HAR as done with a record once Send returns: the entry is marshalled
// and written.
func (h *HAR) DoneOnSend() {}

// Write appends one entry.
func (h *HAR) Write(c *model.Call) error {
	var b []byte
	err := errNilCall
	if c != nil {
		b, err = json.Marshal(harEntryOf(c))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.written++
	if h.closed {
		h.dropped[DropClosed]++
		return ErrClosed
	}
	if err != nil { // this call only
		h.dropped[DropEncode]++
		return fmt.Errorf("har: %w", err)
	}
	if h.err == nil {
		if h.n > 0 {
			h.w.WriteByte(',')
		}
		h.w.WriteByte('\n')
		_, h.err = h.w.Write(b) // a write error is sticky: the archive is broken from here
	}
	if h.err != nil {
		h.dropped[DropEncode]++
		return fmt.Errorf("har: %w", h.err)
	}
	h.n++
	return nil
}

// Close ends the archive and moves it into place. Calls written are Delivered.
func (h *HAR) Close(context.Context) (Summary, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		h.w.WriteString("\n]}}\n")
		err := h.w.Flush()
		if err == nil {
			err = h.f.Sync()
		}
		if cerr := h.f.Close(); err == nil {
			err = cerr
		}
		if err == nil && h.err == nil {
			err = os.Rename(h.path+".partial", h.path)
		}
		if err != nil && h.err == nil {
			h.err = err
			h.dropped[DropEncode] += h.n
			h.n = 0
		}
	}
	s := Summary{Written: h.written, Delivered: h.n, Dropped: map[string]int64{}}
	for k, v := range h.dropped {
		s.Dropped[k] = v
	}
	if h.err != nil {
		return s, fmt.Errorf("har: archive %s not complete (left as %s.partial): %w", h.path, h.path, h.err)
	}
	return s, nil
}

// The HAR 1.2 objects sniffer fills (http://www.softwareishard.com/blog/har-12-spec/).
type harCreator struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type harNV struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type harCookie struct {
	Name     string `json:"name"`
	Value    string `json:"value"`
	Path     string `json:"path,omitempty"`
	Domain   string `json:"domain,omitempty"`
	Expires  string `json:"expires,omitempty"`
	HTTPOnly bool   `json:"httpOnly,omitempty"`
	Secure   bool   `json:"secure,omitempty"`
}

type harPostData struct {
	MimeType string  `json:"mimeType"`
	Text     string  `json:"text"`
	Params   []harNV `json:"params,omitempty"`
}

type harRequest struct {
	Method      string       `json:"method"`
	URL         string       `json:"url"`
	HTTPVersion string       `json:"httpVersion"`
	Cookies     []harCookie  `json:"cookies"`
	Headers     []harNV      `json:"headers"`
	QueryString []harNV      `json:"queryString"`
	PostData    *harPostData `json:"postData,omitempty"`
	HeadersSize int          `json:"headersSize"`
	BodySize    int64        `json:"bodySize"`
}

type harContent struct {
	Size     int64  `json:"size"`
	MimeType string `json:"mimeType"`
	Text     string `json:"text,omitempty"`
	Encoding string `json:"encoding,omitempty"`
}

type harResponse struct {
	Status      int         `json:"status"`
	StatusText  string      `json:"statusText"`
	HTTPVersion string      `json:"httpVersion"`
	Cookies     []harCookie `json:"cookies"`
	Headers     []harNV     `json:"headers"`
	Content     harContent  `json:"content"`
	RedirectURL string      `json:"redirectURL"`
	HeadersSize int         `json:"headersSize"`
	BodySize    int64       `json:"bodySize"`
}

type harTimings struct {
	Send    float64 `json:"send"`
	Wait    float64 `json:"wait"`
	Receive float64 `json:"receive"`
}

type harEntry struct {
	StartedDateTime string      `json:"startedDateTime"`
	Time            float64     `json:"time"`
	Request         harRequest  `json:"request"`
	Response        harResponse `json:"response"`
	Cache           struct{}    `json:"cache"`
	Timings         harTimings  `json:"timings"`
	ServerIPAddress string      `json:"serverIPAddress,omitempty"`
	Connection      string      `json:"connection,omitempty"`
	Comment         string      `json:"comment,omitempty"`
	VNI             *int        `json:"_vni,omitempty"`
	Anomalies       []string    `json:"_anomalies,omitempty"` // custom field (HAR 1.2 allows "_" names)
	Mirrored        bool        `json:"_mirrored,omitempty"`  // a proxy mirrored the request: no response by design
}

func harEntryOf(c *model.Call) *harEntry {
	ms := float64(c.Duration().Microseconds()) / 1000
	if ms < 0 {
		ms = 0
	}
	e := &harEntry{
		StartedDateTime: c.Start.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Time:            ms,
		Timings:         harTimings{Wait: ms},
		Comment:         c.Incomplete,
		Anomalies:       c.Anomalies,
	}
	if c.Shed != "" {
		e.Comment = strings.TrimPrefix(e.Comment+"; "+c.Shed, "; ")
	}
	if c.Server.IsValid() {
		e.ServerIPAddress = c.Server.Addr().Unmap().String()
	}
	if c.Client.IsValid() {
		e.Connection = c.Client.String()
	}
	if c.VNI >= 0 {
		v := c.VNI
		e.VNI = &v
	}
	if c.Mirrored {
		e.Mirrored = true
		if e.Comment == "" {
			e.Comment = "mirrored by a proxy: no response"
		}
	}
	r := &c.Request
	e.Request = harRequest{
		Method:      r.Method,
		URL:         c.URL,
		HTTPVersion: r.Proto,
		Cookies:     []harCookie{},
		Headers:     harHeaders(r.Headers),
		QueryString: []harNV{},
		HeadersSize: -1,
		BodySize:    r.BodySize,
	}
	_, query := splitURL(c.URL)
	for _, kv := range parsePairs(query, false) {
		e.Request.QueryString = append(e.Request.QueryString, harNV{kv[0], kv[1]})
	}
	for _, h := range r.Headers {
		if strings.EqualFold(h.Name, "Cookie") {
			if cs, err := http.ParseCookie(h.Value); err == nil {
				for _, ck := range cs {
					e.Request.Cookies = append(e.Request.Cookies, harCookie{Name: ck.Name, Value: ck.Value})
				}
			}
		}
	}
	if len(r.Body) > 0 {
		pd := &harPostData{MimeType: r.Get("Content-Type"), Text: strings.ToValidUTF8(string(r.Body), "\uFFFD")}
		if form := formBody(r); form != "" {
			for _, kv := range parsePairs(form, r.Truncated) {
				pd.Params = append(pd.Params, harNV{kv[0], kv[1]})
			}
		}
		e.Request.PostData = pd
	}

	e.Response = harResponse{Cookies: []harCookie{}, Headers: []harNV{}, HeadersSize: -1, Content: harContent{MimeType: "x-unknown"}}
	if p := c.Response; p != nil {
		e.Response.Status = p.Status
		e.Response.StatusText = p.Reason
		e.Response.HTTPVersion = p.Proto
		e.Response.Headers = harHeaders(p.Headers)
		e.Response.RedirectURL = p.Get("Location")
		e.Response.BodySize = p.BodySize
		for _, h := range p.Headers {
			if strings.EqualFold(h.Name, "Set-Cookie") {
				if ck, err := http.ParseSetCookie(h.Value); err == nil {
					hc := harCookie{Name: ck.Name, Value: ck.Value, Path: ck.Path, Domain: ck.Domain, HTTPOnly: ck.HttpOnly, Secure: ck.Secure}
					if !ck.Expires.IsZero() {
						hc.Expires = ck.Expires.UTC().Format(time.RFC3339)
					}
					e.Response.Cookies = append(e.Response.Cookies, hc)
				}
			}
		}
		if ct := p.Get("Content-Type"); ct != "" {
			e.Response.Content.MimeType = ct
		}
		e.Response.Content.Size = int64(len(p.Body))
		if utf8.Valid(p.Body) {
			e.Response.Content.Text = string(p.Body)
		} else {
			e.Response.Content.Text = base64.StdEncoding.EncodeToString(p.Body)
			e.Response.Content.Encoding = "base64"
		}
	} else {
		e.Response.HTTPVersion = r.Proto // no response seen: status 0, as browsers record a failed request
	}
	return e
}

func harHeaders(hs []model.Header) []harNV {
	out := make([]harNV, 0, len(hs))
	for _, h := range hs {
		out = append(out, harNV{h.Name, h.Value})
	}
	return out
}

// isForm reports whether a Content-Type is a URL-encoded form.
func isForm(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/x-www-form-urlencoded"
}
