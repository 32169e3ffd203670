package main

import (
	"bytes"
	"cmp"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The pages are html/template (every value escaped for where it stands: bodies and headers are
// the monitored API's, so untrusted) with their CSS and script as files of their own, which lets
// the Content-Security-Policy below forbid inline script: a value that escaped escaping still
// could not run.
//
//go:embed web
var web embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"q": func(f filter) template.URL { return template.URL(f.query()) },
}).ParseFS(web, "web/*.html"))

const csp = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func secure(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

func serveStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	b, err := web.ReadFile("web/" + name)
	if err != nil || strings.HasSuffix(name, ".html") {
		http.NotFound(w, r)
		return
	}
	ct := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}[path.Ext(name)]
	if ct == "" {
		http.NotFound(w, r)
		return
	}
	secure(w)
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(b)
}

// call is one message read for the pages.
type call struct {
	ID                      int64
	Received, When          time.Time // When: the call's "now" (response complete); Received if absent
	Method, URL, Path       string
	Status                  string // "" for a call without response (mirrored)
	Interval                string // milliseconds, as sent
	ReqHeaders, RespHeaders [][2]string
	Params, Other           [][2]string
	ReqBody, RespBody       string
	Anomalies               string
	Mirrored                bool
	ReqPreview, RespPreview string
}

func readCall(m message) call {
	c := call{ID: m.ID, Received: m.Received, When: m.Received}
	fields := map[string]*string{
		"request_method": &c.Method, "request_url": &c.URL, "response_code": &c.Status, "interval": &c.Interval,
		"request_body": &c.ReqBody, "response_body": &c.RespBody, "custom_field:anomalies": &c.Anomalies,
	}
	lists := [...]struct {
		prefix string
		to     *[][2]string
	}{{"request_header:", &c.ReqHeaders}, {"response_header:", &c.RespHeaders}, {"request_param:", &c.Params}}
next:
	for _, kv := range m.Pairs {
		k, v := kv[0], kv[1]
		if f, ok := fields[k]; ok {
			*f = v
			continue
		}
		for _, l := range lists {
			if name, ok := strings.CutPrefix(k, l.prefix); ok {
				*l.to = append(*l.to, [2]string{name, v})
				continue next
			}
		}
		switch k {
		case "custom_field:mirrored":
			c.Mirrored = v == "true"
			continue
		case "now":
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
				c.When = time.UnixMilli(ms)
			}
		}
		c.Other = append(c.Other, kv)
	}
	c.Path = c.URL
	if u, err := url.Parse(c.URL); err == nil && u.Path != "" {
		c.Path = u.EscapedPath()
	}
	c.ReqPreview, c.RespPreview = preview(c.ReqBody), preview(c.RespBody)
	return c
}

// preview is the start of a body on one line, for the list.
func preview(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 120 {
		return string(r[:120]) + "…"
	}
	return s
}

// StatusClass names the status's class for the page's colours: s2 for 2xx..., sn without one.
func (c call) StatusClass() string {
	if len(c.Status) == 3 && c.Status[0] >= '1' && c.Status[0] <= '5' {
		return "s" + c.Status[:1]
	}
	return "sn"
}

// Millis is the call's duration for the list, rounded to what a person reads.
func (c call) Millis() string {
	f, err := strconv.ParseFloat(c.Interval, 64)
	if err != nil {
		return ""
	}
	if f < 10 {
		return strconv.FormatFloat(f, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(f, 'f', 0, 64) + " ms"
}

// Pretty is a JSON body indented for reading; other bodies as they are.
func (c call) Pretty(body string) string {
	if len(body) > 1<<20 || !json.Valid([]byte(body)) {
		return body
	}
	var b bytes.Buffer
	if json.Indent(&b, []byte(body), "", "  ") != nil {
		return body
	}
	return b.String()
}

// filter is what the list shows: calls whose path contains Path (any case) and whose status
// is one of Status's comma-separated codes (404), classes (4xx) or "none" (no response).
type filter struct {
	Path, Status string
	codes        []string
	Err          string
}

func parseFilter(r *http.Request) filter {
	f := filter{Path: strings.TrimSpace(r.FormValue("path")), Status: strings.TrimSpace(r.FormValue("status"))}
	for _, tok := range strings.FieldsFunc(strings.ToLower(f.Status), func(r rune) bool { return r == ',' || r == ' ' }) {
		ok := tok == "none" || len(tok) == 3 && tok[0] >= '1' && tok[0] <= '5' &&
			(tok[1:] == "xx" || tok[1] >= '0' && tok[1] <= '9' && tok[2] >= '0' && tok[2] <= '9')
		if !ok {
			f.Err = fmt.Sprintf("status %q: use codes such as 404, classes such as 4xx, or none, separated by commas", tok)
			f.codes = nil
			return f
		}
		f.codes = append(f.codes, tok)
	}
	return f
}

func (f filter) match(c call) bool {
	if f.Path != "" && !strings.Contains(strings.ToLower(c.Path), strings.ToLower(f.Path)) {
		return false
	}
	if len(f.codes) == 0 {
		return true
	}
	for _, code := range f.codes {
		switch {
		case code == "none":
			if c.Status == "" {
				return true
			}
		case code[1:] == "xx":
			if len(c.Status) == 3 && c.Status[0] == code[0] {
				return true
			}
		case c.Status == code:
			return true
		}
	}
	return false
}

// query is the filter as a query string ("?path=...&status=..."), empty without one.
func (f filter) query() string {
	v := url.Values{}
	if f.Path != "" {
		v.Set("path", f.Path)
	}
	if f.Status != "" {
		v.Set("status", f.Status)
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// With is the filter with its status replaced, for the page's status links.
func (f filter) With(status string) filter { f.Status = status; return f }

// maxRows bounds the rows of one list page (it refreshes itself every few seconds).
const maxRows = 200

func (s *store) serveList(w http.ResponseWriter, r *http.Request) {
	msgs, total, bad, posts, badPosts := s.snapshot()
	f := parseFilter(r)
	var rows []call
	for _, m := range msgs {
		if c := readCall(m); f.match(c) {
			rows = append(rows, c)
		}
	}
	// Newest first: by the time the call was complete, then by arrival.
	slices.SortFunc(rows, func(a, b call) int {
		if c := b.When.Compare(a.When); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	matching := len(rows)
	if len(rows) > maxRows {
		rows = rows[:maxRows]
	}
	secure(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	render(w, "list.html", map[string]any{
		"Rows": rows, "Matching": matching, "Filter": f, "Total": total, "Kept": len(msgs), "Bad": bad,
		"Posts": posts, "BadPosts": badPosts, "Up": time.Since(s.started).Round(time.Second),
		"Classes": []string{"2xx", "3xx", "4xx", "5xx", "none"},
	})
}

func (s *store) serveCall(w http.ResponseWriter, r *http.Request) {
	secure(w)
	f := parseFilter(r)
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	m, ok := s.get(id)
	if err != nil || !ok {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		render(w, "call.html", map[string]any{"Missing": r.PathValue("id"), "Filter": f})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	render(w, "call.html", map[string]any{"Call": readCall(m), "Filter": f})
}

// render executes a page into a buffer first, so that a failing template is a 500, not half
// a page.
func render(w http.ResponseWriter, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, "rendering "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Write(b.Bytes())
}
