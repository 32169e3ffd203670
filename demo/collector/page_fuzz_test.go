package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// FuzzPages: whatever a call holds and whatever filter is asked for, both pages render (200,
// never a template error) and no value becomes markup: parsed as a browser would tokenize them,
// the pages hold only the templates' own elements, the only script is the page's own file, no
// attribute is an event handler and every link stays on the collector.
func FuzzPages(f *testing.F) {
	f.Add("GET", "http://app:8080/api/items?x=1", "200", "content-type", "application/json", `{"a":1}`, "1764496800000", "/api", "2xx")
	f.Add("<script>", "javascript:alert(1)", "4xx", "x-<b>", "<img src=x onerror=alert(1)>", "</pre><script>alert(1)</script>", "-1", "</title>", "40x")
	f.Add("", "%zz", "", "", "", "\x00\xff", "99999999999999999999", "\"'><", "none, 404,5xx")
	f.Fuzz(func(t *testing.T, method, rawURL, status, hname, hvalue, body, now, qpath, qstatus string) {
		st := newStore(4)
		st.msgs = append(st.msgs, message{ID: 1, Pairs: [][2]string{
			{"request_method", method}, {"request_url", rawURL}, {"response_code", status}, {"request_header:" + hname, hvalue},
			{"response_header:" + hname, hvalue}, {"request_param:" + hname, hvalue}, {"request_body", body}, {"response_body", body},
			{"now", now}, {"interval", now}, {"custom_field:anomalies", hvalue}, {hname, hvalue},
		}})
		st.total, st.next = 1, 1
		h := st.handler()
		q := "?" + url.Values{"path": {qpath}, "status": {qstatus}}.Encode()
		for _, target := range []string{"/" + q, "/calls/1" + q} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", target, nil))
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s: %d\n%s", target, w.Code, w.Body)
			}
			if err := onlyOwnMarkup(w.Body.String()); err != nil {
				t.Fatalf("GET %s: %v\n%s", target, err, w.Body)
			}
		}
	})
}

// ownElements are the elements the templates use.
var ownElements = map[string]bool{}

func init() {
	for _, e := range strings.Fields("html head meta title link script body header h1 h2 h3 form label input button span a p table thead tbody tr th td code pre small") {
		ownElements[e] = true
	}
}

func onlyOwnMarkup(page string) error {
	z := html.NewTokenizer(strings.NewReader(page))
	for {
		switch z.Next() {
		case html.ErrorToken:
			if z.Err() == io.EOF {
				return nil
			}
			return z.Err()
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			if !ownElements[tok.Data] {
				return fmt.Errorf("element <%s> is not the templates'", tok.Data)
			}
			for _, a := range tok.Attr {
				switch {
				case strings.HasPrefix(a.Key, "on") || a.Key == "style" || a.Key == "srcdoc":
					return fmt.Errorf("<%s %s=%q>", tok.Data, a.Key, a.Val)
				case (a.Key == "href" || a.Key == "src" || a.Key == "action" || a.Key == "data-href") && !strings.HasPrefix(a.Val, "/"):
					return fmt.Errorf("<%s %s=%q> leads off the collector", tok.Data, a.Key, a.Val)
				case tok.Data == "script" && a.Key == "src" && a.Val != "/static/page.js":
					return fmt.Errorf("script %q", a.Val)
				}
			}
			if tok.Data == "script" && len(tok.Attr) != 2 {
				return fmt.Errorf("a script that is not the page's: %v", tok)
			}
		}
	}
}
