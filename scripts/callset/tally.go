package callset

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
)

// Tally accumulates what the checks need from one sniffer output: the multiset of keys, the
// markers, whether chosen response bodies are valid JSON (the proof that a gzip'd body was decoded
// and reassembled byte for byte), and a digest of the whole output to compare runs.
type Tally struct {
	Got        Set
	Calls      int
	Incomplete int
	Truncated  int
	Shed       int // calls an overloaded sniffer sent with bodies undecoded or dropped (not JSON-checked)
	// JSONPaths are request paths (query ignored) whose 200 response bodies must be valid JSON
	// (in complete calls).
	JSONPaths   []string
	JSONValid   int
	JSONInvalid int
	// FirstInvalid describes the first body that failed the JSON check.
	FirstInvalid string
	digest       hash.Hash

	// With CheckIDs: each response's X-Request-Id looked up in the server's log. Wrong counts
	// calls whose request, status or client port are not those the server logged under the id
	// (a response shown with another request); Unknown ids the server never sent; Repeated ids
	// printed twice; NoID calls without the header (no response, or the header not kept).
	ids                                       map[string]Served
	seen, whole                               map[string]bool
	IDChecked, IDWrong, IDUnknown, IDRepeated int
	NoID                                      int
	FirstWrongID                              string
}

// CheckIDs makes Add check every call against the server's log by request id (ReadServed).
func (t *Tally) CheckIDs(ids map[string]Served) {
	t.ids, t.seen, t.whole = ids, make(map[string]bool, len(ids)), make(map[string]bool, len(ids))
}

// Unprinted lists the served calls (by id) that were not printed complete and right.
func (t *Tally) Unprinted() []Served {
	var out []Served
	for id, s := range t.ids {
		if !t.whole[id] {
			out = append(out, s)
		}
	}
	return out
}

// checkID is Add's request-id check.
func (t *Tally) checkID(c *Call) {
	var id string
	ok := false
	if c.Response != nil {
		id, ok = c.Response.Header("X-Request-Id")
	}
	if !ok {
		t.NoID++
		return
	}
	t.IDChecked++
	s, known := t.ids[id]
	switch {
	case !known:
		t.IDUnknown++
		t.wrongID(fmt.Sprintf("X-Request-Id %s on %s was never sent by the server", id, c.Key()))
	case t.seen[id]:
		t.IDRepeated++
		t.wrongID(fmt.Sprintf("X-Request-Id %s (%s) printed twice", id, c.Key()))
	case s.Key != c.Key() || s.ClientPort != port(c.Client):
		t.IDWrong++
		t.wrongID(fmt.Sprintf("X-Request-Id %s: printed %s from client port %s, but the server answered %s from port %s with it",
			id, c.Key(), port(c.Client), s.Key, s.ClientPort))
	case !c.IsIncomplete():
		t.whole[id] = true
	}
	t.seen[id] = true
}

func (t *Tally) wrongID(why string) {
	if t.FirstWrongID == "" {
		t.FirstWrongID = why
	}
}

// port is the port of a host:port address ("10.0.0.2:51234", "[fd00::2]:51234").
func port(addr string) string {
	return addr[strings.LastIndexByte(addr, ':')+1:]
}

// NewTally starts an empty tally; see Tally.JSONPaths for jsonPaths.
func NewTally(jsonPaths ...string) *Tally {
	return &Tally{Got: Set{}, JSONPaths: jsonPaths, digest: sha256.New()}
}

// Add counts one call; its signature fits ReadNDJSON.
func (t *Tally) Add(line []byte, c *Call) error {
	t.digest.Write(line)
	t.digest.Write([]byte{'\n'})
	t.Calls++
	t.Got.Add(c.Key())
	if t.ids != nil {
		t.checkID(c)
	}
	if c.IsIncomplete() {
		t.Incomplete++
	}
	if c.IsTruncated() {
		t.Truncated++
	}
	if c.Shed != "" {
		t.Shed++
		return nil // its body is not the decoded one, by design and marked
	}
	path, _, _ := strings.Cut(Target(c.Request.URL), "?")
	// An incomplete call's body is the bytes before its hole: it makes no claim to be whole.
	if c.Response == nil || c.Response.Status != 200 || c.IsIncomplete() || !slices.Contains(t.JSONPaths, path) {
		return nil
	}
	body, err := c.Response.BodyBytes()
	switch {
	case err != nil:
		t.invalid(fmt.Sprintf("%s: body: %v", c.Request.URL, err))
	case !json.Valid(body):
		t.invalid(fmt.Sprintf("%s: %d-byte body (body_encoding %q) is not valid JSON, starts %q",
			c.Request.URL, len(body), c.Response.BodyEncoding, clip(body, 40)))
	default:
		t.JSONValid++
	}
	return nil
}

func (t *Tally) invalid(why string) {
	if t.JSONInvalid == 0 {
		t.FirstInvalid = why
	}
	t.JSONInvalid++
}

// Sum is the hex SHA-256 of every line added, in order.
func (t *Tally) Sum() string { return hex.EncodeToString(t.digest.Sum(nil)) }

// Report writes a summary of t against the served calls want, listing at most maxList keys of each
// kind of difference, and says whether everything matched: same multiset, every checked body
// valid JSON, and (with CheckIDs) every request id on the call the server answered with it.
func Report(w io.Writer, want Set, t *Tally, maxList int) bool {
	missing, extra, matched := Diff(want, t.Got)
	fmt.Fprintf(w, "served %d, printed %d (incomplete %d, truncated %d, shed %d), matched %d (%.2f%%), missing %d, extra %d\n",
		want.Len(), t.Calls, t.Incomplete, t.Truncated, t.Shed, matched, pct(matched, want.Len()), count(missing), count(extra))
	list(w, "missing (served, not printed)", missing, maxList)
	list(w, "extra (printed, not served)", extra, maxList)
	if len(t.JSONPaths) > 0 {
		fmt.Fprintf(w, "JSON bodies of %s: %d valid, %d invalid\n", strings.Join(t.JSONPaths, ","), t.JSONValid, t.JSONInvalid)
		if t.JSONInvalid > 0 {
			fmt.Fprintf(w, "  first invalid: %s\n", t.FirstInvalid)
		}
	}
	idsOK := true
	if t.ids != nil {
		fmt.Fprintf(w, "request ids (X-Request-Id against the server's log): %d checked, %d wrong, %d unknown, %d repeated; %d calls without one\n",
			t.IDChecked, t.IDWrong, t.IDUnknown, t.IDRepeated, t.NoID)
		if t.FirstWrongID != "" {
			fmt.Fprintf(w, "  first: %s\n", t.FirstWrongID)
		}
		idsOK = t.IDWrong+t.IDUnknown+t.IDRepeated == 0
	}
	return len(missing) == 0 && len(extra) == 0 && t.JSONInvalid == 0 && idsOK
}

func list(w io.Writer, title string, es []Entry, max int) {
	if len(es) == 0 {
		return
	}
	fmt.Fprintf(w, "  %s, %d distinct:\n", title, len(es))
	for i, e := range es {
		if i == max {
			fmt.Fprintf(w, "    ... %d more\n", len(es)-max)
			break
		}
		fmt.Fprintf(w, "    %dx %s\n", e.Count, e.Key)
	}
}

func count(es []Entry) int {
	n := 0
	for _, e := range es {
		n += e.Count
	}
	return n
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}
