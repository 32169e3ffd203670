//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"sniffer/internal/testenv"
)

// TestDemoCollectorBrowser opens the compose demo's collector page in headless Chromium, as a
// person would, after real calls went the demo's whole way without containers: the demo app
// (demo/app) serves on loopback, its own load mode and a Go client call it, sniffer captures
// them live on lo with the default logging rules and posts them to the demo collector
// (demo/collector), each the real binary. The page must list them newest first with method,
// URL, status and the masked body, filter by path and by status through its form and links,
// show a call's headers and bodies when it is opened, refresh itself with new calls, and show
// a body holding <script> as text. Screenshots are kept in $SNIFFER_ARTIFACTS, by default
// .cache/artifacts/ in the checkout, and their paths logged.
func TestDemoCollectorBrowser(t *testing.T) {
	needRoot(t)
	chromium := chromiumPath(t)
	bin := sniffer(t, true)
	collectorBin, appBin := buildDemo(t, "collector"), buildDemo(t, "app")

	colAddr, appAddr := freePort(t), freePort(t)
	_, appPort, _ := net.SplitHostPort(appAddr)
	col := start(t, "demo collector", exec.Command(collectorBin, "-addr", colAddr))
	waitListening(t, col, colAddr)
	app := start(t, "demo app", exec.Command(appBin, "-addr", appAddr))
	waitListening(t, app, appAddr)
	colURL, appURL := "http://"+colAddr, "http://"+appAddr

	// sniffer as the demo runs it: the app's port, the collector's URL, the default rules.
	cmd := snifferCmd(exec.Command(bin, "-i", "lo", "-ports", appPort))
	cmd.Env = append(cmd.Env, "USAGE_LOGGERS_URL="+colURL+"/message")
	sn := start(t, "sniffer", cmd)

	// Calls to /healthz until one reaches the collector: sniffer captures and posts. (Those made
	// before its capture was open are not on the page; the ones captured are.)
	client := &http.Client{Timeout: 10 * time.Second}
	call := func(method, path, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, appURL+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	tries, began := 0, time.Now()
	for deadline := time.Now().Add(60 * time.Second); len(collected(t, colURL)) == 0; time.Sleep(time.Second) {
		if sn.exited() || time.Now().After(deadline) {
			t.Fatalf("no call reached the collector within 60 s of sniffer's start (%d calls made); sniffer:\n%s", tries, tail(sn.stderr.Bytes(), 3000))
		}
		call("GET", "/healthz", "")
		tries++
	}
	t.Logf("the first call reached the collector %v after sniffer's start", time.Since(began).Round(time.Millisecond))

	// The demo's own client: list, create (a body with an e-mail address), read, miss; twice.
	load := start(t, "demo app -load", exec.Command(appBin, "-load", appURL, "-every", "100ms", "-n", "8"))
	select {
	case <-load.done:
		if load.err != nil {
			t.Fatalf("demo app -load: %v\n%s", load.err, load.stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("demo app -load did not finish 8 calls in 60 s:\n%s", load.stderr.String())
	}
	// A body an attacker chose: markup (as is: json.Marshal would escape < and >) and a password.
	const evil = `<script>document.title='pwned'</script><img src=x onerror=document.title='pwned'>`
	call("POST", "/api/items", `{"password":"hunter2","name":"`+evil+`"}`)

	type want struct{ method, path, status string }
	made := []want{ // oldest first, as made
		{"GET", "/api/items", "200"}, {"POST", "/api/items", "201"}, {"GET", "/api/items/1", "200"}, {"GET", "/api/items/999999", "404"},
		{"GET", "/api/items", "200"}, {"POST", "/api/items", "201"}, {"GET", "/api/items/1", "200"}, {"GET", "/api/items/999999", "404"},
		{"POST", "/api/items", "201"},
	}
	// Wait for them all at the collector; the rest it holds are the priming calls captured.
	var msgs []map[string]string
	primes := 0
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		msgs = collected(t, colURL)
		primes = 0
		for _, m := range msgs {
			if m["request_url"] == appURL+"/healthz" {
				primes++
			}
		}
		if len(msgs)-primes >= len(made) {
			break
		}
		if sn.exited() || time.Now().After(deadline) {
			t.Fatalf("the collector has %d of the %d calls made, 30 s after the last; sniffer:\n%s", len(msgs)-primes, len(made), tail(sn.stderr.Bytes(), 3000))
		}
	}
	for _, m := range msgs {
		for k, v := range m {
			if strings.Contains(v, "someone@example.com") || strings.Contains(v, "hunter2") {
				t.Errorf("the default rules left %s unmasked: %q", k, v)
			}
		}
	}

	dir := artifactsDir(t)
	b := newBrowser(t, chromium)
	page := func() []pageRow { return b.rows(t) }

	// The list: newest first, the calls made then the primes.
	b.open(t, chromedp.Navigate(colURL+"/"))
	all := page()
	if held := len(collected(t, colURL)); len(all) != held {
		t.Errorf("the page lists %d calls, the collector holds %d", len(all), held)
	}
	if len(all) < len(made) {
		t.Fatalf("the page lists %d calls, want at least %d: %+v", len(all), len(made), all)
	}
	host := "http://" + appAddr
	for i, w := range slices.Backward(made) {
		r := all[len(made)-1-i]
		if r.Method != w.method || r.URL != host+w.path || r.Status != w.status {
			t.Errorf("row %d: %s %s %s, want %s %s%s %s (newest first)", len(made)-1-i, r.Method, r.URL, r.Status, w.method, host, w.path, w.status)
		}
	}
	for _, r := range all[len(made):] {
		if r.URL != host+"/healthz" || r.Status != "200" {
			t.Errorf("below the calls made, want only the priming GET /healthz: %+v", r)
		}
	}
	// The create calls' bodies, masked by the default rules, on the list.
	if r := all[len(made)-2-4]; !strings.Contains(r.Req, `"email":"x@y.com"`) || !strings.Contains(r.Resp, `"email":"x@y.com"`) {
		t.Errorf("the list shows the create call's bodies as %q and %q, want the e-mail address masked to x@y.com", r.Req, r.Resp)
	}
	if r := all[0]; !strings.Contains(r.Req, `"password":"xxx"`) || !strings.Contains(r.Req, evil) {
		t.Errorf("the list shows the last call's request body as %q, want the password masked and the markup as text", r.Req)
	}
	b.screenshot(t, filepath.Join(dir, "demo-collector-list.png"))

	// Filter by path through the form: the typed value stays in the field.
	submit := chromedp.Click(chromedp.CSS(`#filter button[type=submit]`))
	b.open(t, chromedp.SendKeys(chromedp.ID("path"), "/api/items/"), submit)
	b.expect(t, "path /api/items/", page(), func(r pageRow) bool { return strings.HasPrefix(r.URL, host+"/api/items/") }, 4)
	if v, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.ID("path"))); err != nil || v != "/api/items/" {
		t.Errorf("the path field after filtering holds %q (%v)", v, err)
	}
	// ... and by path and status together.
	b.open(t, chromedp.SendKeys(chromedp.ID("status"), "404"), submit)
	b.expect(t, "path /api/items/ and status 404", page(), func(r pageRow) bool { return r.Status == "404" }, 2)
	b.screenshot(t, filepath.Join(dir, "demo-collector-filtered.png"))
	// A status class by its link, after "show all".
	b.open(t, chromedp.Click(chromedp.ID("clear")))
	b.open(t, chromedp.Click(chromedp.CSS(`.classes a.s2`)))
	b.expect(t, "status 2xx", page(), func(r pageRow) bool { return r.Status[0] == '2' }, len(all)-len(made)+7)

	// A call opened by a click on its row: the first create call, headers and bodies.
	b.open(t, chromedp.Click(chromedp.ID("clear")))
	first := all[len(made)-2]
	b.open(t, chromedp.Click(chromedp.CSS(`tr.call[data-id="`+first.ID+`"] td.when`)))
	d := b.details(t)
	if d.Title != "POST "+host+"/api/items 201" {
		t.Errorf("the call opened is %q, want POST %s/api/items 201", d.Title, host)
	}
	if d.ReqHeaders["content-type"] != "application/json" || d.ReqHeaders["host"] != appAddr || !strings.HasPrefix(d.ReqHeaders["user-agent"], "Go-http-client/") {
		t.Errorf("request headers shown: %v", d.ReqHeaders)
	}
	if d.RespHeaders["content-type"] != "application/json" || d.RespHeaders["content-length"] == "" {
		t.Errorf("response headers shown: %v", d.RespHeaders)
	}
	for name, body := range map[string]string{"request": d.ReqBody, "response": d.RespBody} {
		var v map[string]any
		if err := json.Unmarshal([]byte(body), &v); err != nil || v["email"] != "x@y.com" || !strings.HasPrefix(fmt.Sprint(v["name"]), "item-") {
			t.Errorf("the %s body shown is %q (%v), want the created item with the e-mail address masked", name, body, err)
		}
	}
	b.screenshot(t, filepath.Join(dir, "demo-collector-call.png"))

	// The attacker's call: its markup is text, nothing ran, and the password is masked.
	b.open(t, chromedp.Click(chromedp.ID("back")))
	b.open(t, chromedp.Click(chromedp.CSS(`tr.call[data-id="`+all[0].ID+`"] td.url a`)))
	d = b.details(t)
	var evilGot map[string]string
	if err := json.Unmarshal([]byte(d.ReqBody), &evilGot); err != nil || evilGot["name"] != evil || evilGot["password"] != "xxx" {
		t.Errorf("the attacker's request body shows as %q (%v), want the markup as text and the password masked", d.ReqBody, err)
	}
	if d.Scripts != 0 || d.Images != 0 || d.DocTitle != "POST /api/items 201 · sniffer demo collector" {
		t.Errorf("the attacker's body became markup: %d scripts, %d images, title %q", d.Scripts, d.Images, d.DocTitle)
	}
	b.screenshot(t, filepath.Join(dir, "demo-collector-script-as-text.png"))

	// The list refreshes itself: a call made while it is open shows up at the top.
	b.open(t, chromedp.Navigate(colURL+"/"))
	call("GET", "/api/items/2", "")
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](fmt.Sprintf(`(document.querySelector("#calls tbody tr.call td.url") || {}).textContent === %q`, host+"/api/items/2"),
		chromedp.WithPollingTimeout(30*time.Second), chromedp.WithPollingInterval(250*time.Millisecond))); err != nil {
		t.Errorf("a new call did not show at the top of the open page within 30 s: %v; top row %+v", err, page()[0])
	}

	if msgs := b.problems(); len(msgs) > 0 {
		t.Errorf("the browser reported %d problems (a script error, a dialog, a refused script):\n  %s", len(msgs), strings.Join(msgs, "\n  "))
	}
	if !sn.stop(t, syscall.SIGINT, 20*time.Second) {
		return
	}
	s, ok := parsePostSummary(sn.stderr.Bytes())
	got := len(collected(t, colURL))
	if !ok || s.delivered != got || s.dropped != 0 || s.pending != 0 {
		t.Errorf("sniffer's summary %+v (found %v), the collector holds %d:\n%s", s, ok, got, tail(sn.stderr.Bytes(), 2000))
	}
	t.Logf("%d calls captured on lo, posted and shown (%d priming /healthz of %d made)", got, primes, tries)
}

// chromiumPath finds Debian's chromium (scripts/setup.sh installs it); missing, it fails the
// test in CI and skips it elsewhere.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Missing(t, "chromium is not installed (bash scripts/setup.sh installs Debian's chromium package)")
	return ""
}

// buildDemo builds demo/NAME into the test run's build directory.
func buildDemo(t *testing.T, name string) string {
	t.Helper()
	out := filepath.Join(buildDir, "demo-"+name)
	cmd := exec.Command(goTool(), "build", "-o", out, "./demo/"+name)
	cmd.Dir = repoRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building demo/%s: %v\n%s", name, err, b)
	}
	return out
}

// artifactsDir is where the test run keeps what a person should look at: $SNIFFER_ARTIFACTS,
// or .cache/artifacts in the checkout.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SNIFFER_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(repoRoot(t), ".cache", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// collected is what the demo collector holds, from its /messages, one map per call.
func collected(t *testing.T, base string) []map[string]string {
	t.Helper()
	resp, err := http.Get(base + "/messages")
	if err != nil {
		t.Fatalf("the demo collector: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out []map[string]string
	for _, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
		var pairs [][2]string
		if json.Unmarshal(line, &pairs) != nil {
			continue
		}
		m := map[string]string{}
		for _, kv := range pairs {
			m[kv[0]] = kv[1]
		}
		out = append(out, m)
	}
	return out
}

// browser is one headless Chromium tab, and what it reported that a page should never cause:
// uncaught exceptions, console errors (a script refused by the Content-Security-Policy is
// one) and JavaScript dialogs.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	reported []string
}

func newBrowser(t *testing.T, path string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium's sandbox refuses to run as root
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	b := &browser{}
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			msg = fmt.Sprintf("dialog %s: %q", ev.Type, ev.Message)
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError {
				msg = fmt.Sprintf("%s error: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				msg = "console.error"
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.reported = append(b.reported, msg)
			b.mu.Unlock()
		}
	}))
	t.Cleanup(bcancel)
	b.ctx = bctx
	if err := chromedp.Do(bctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdplog.Enable, cdp.Empty{})
		return err
	})); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return b
}

func (b *browser) problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.reported)
}

// open runs steps that load a page (a click on a link, a form sent) and waits until it is
// loaded, failing unless the collector answered 200.
func (b *browser) open(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, steps...)
	if err != nil {
		t.Fatalf("in the browser: %v; it reported: %q", err, b.problems())
	}
	if resp.Status != 200 {
		t.Fatalf("%s: status %d", resp.URL, resp.Status)
	}
}

// pageRow is one row of the list, read from the page as shown.
type pageRow struct {
	ID, Method, URL, Status, Req, Resp string
}

func (b *browser) rows(t *testing.T) []pageRow {
	t.Helper()
	rows, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]pageRow](`[...document.querySelectorAll("#calls tbody tr.call")].map(tr => ({
		ID: tr.dataset.id,
		Method: tr.querySelector("td.method").textContent,
		URL: tr.querySelector("td.url").textContent,
		Status: tr.querySelector("td.code").textContent,
		Req: (tr.querySelector("code.req") || {}).textContent || "",
		Resp: (tr.querySelector("code.resp") || {}).textContent || "",
	}))`))
	if err != nil {
		t.Fatalf("reading the list: %v", err)
	}
	return rows
}

// expect checks that the filtered list holds n rows, all matching.
func (b *browser) expect(t *testing.T, filter string, rows []pageRow, match func(pageRow) bool, n int) {
	t.Helper()
	for _, r := range rows {
		if !match(r) {
			t.Errorf("filter %s lists %+v", filter, r)
		}
	}
	if len(rows) != n {
		t.Errorf("filter %s lists %d calls, want %d", filter, len(rows), n)
	}
}

// callPage is an opened call, read from the page as shown.
type callPage struct {
	Title, DocTitle         string
	ReqHeaders, RespHeaders map[string]string
	ReqBody, RespBody       string
	Scripts, Images         int
}

func (b *browser) details(t *testing.T) callPage {
	t.Helper()
	d, err := chromedp.Run(b.ctx, chromedp.Evaluate[callPage](`(() => {
		const table = id => Object.fromEntries([...document.querySelectorAll("#" + id + " tbody tr")].map(tr => [tr.cells[0].textContent, (tr.cells[1] || {}).textContent || ""]));
		const text = id => (document.getElementById(id) || {}).textContent || "";
		return {
			Title: document.getElementById("call").textContent.replace(/\s+/g, " ").trim(),
			DocTitle: document.title,
			ReqHeaders: table("request-headers"), RespHeaders: table("response-headers"),
			ReqBody: text("request-body"), RespBody: text("response-body"),
			Scripts: document.scripts.length, Images: document.images.length,
		};
	})()`))
	if err != nil {
		t.Fatalf("reading the call: %v", err)
	}
	return d
}

// screenshot saves the whole page as PNG and logs where.
func (b *browser) screenshot(t *testing.T, path string) {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}
