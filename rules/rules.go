package rules

import (
	"strings"
	"sync/atomic"
)

// verb is what a rule does.
type verb int

const (
	vRemove verb = iota
	vRemoveIf
	vRemoveIfFound
	vRemoveUnless
	vRemoveUnlessFound
	vReplace
	vStop
	vStopIf
	vStopIfFound
	vStopUnless
	vStopUnlessFound
)

var verbNames = [...]string{"remove", "remove_if", "remove_if_found", "remove_unless",
	"remove_unless_found", "replace", "stop", "stop_if", "stop_if_found", "stop_unless",
	"stop_unless_found"}

func (v verb) String() string { return verbNames[v] }

// finds tells whether the verb's value regex searches within the value (find) rather
// than matching all of it.
func (v verb) finds() bool {
	return v == vRemoveIfFound || v == vRemoveUnlessFound || v == vStopIfFound ||
		v == vStopUnlessFound || v == vReplace
}

// rule is one parsed rule that acts on details.
type rule struct {
	verb  verb
	scope *matcher   // whole detail name
	value *matcher   // the value regex, if the verb has one
	repl  []replPart // replace only
	// scopeBit is the scope's bit in Rules.cache, or -1 when the scope runs per call.
	scopeBit int
}

// Rules is a compiled rule set. It is immutable after Parse and safe for concurrent use.
type Rules struct {
	text            string
	size            int
	allowHTTPURL    bool
	skipCompression bool
	skipSubmission  bool
	sample          int
	copySession     []*matcher

	// Rules that act on details, grouped by verb in the order Apply runs them.
	stop, stopIfFound, stopIf, stopUnlessFound, stopUnless []*rule
	removes                                                []*rule // every remove* verb
	replaces                                               []*rule // in the order written

	cache scopeCache

	// copyOut turns off handing out masked values in their scratch buffers (see
	// callState.keep), for tests that compare the fast paths with the plain ways.
	copyOut bool

	engineFailures atomic.Uint64
}

// stops returns the stop rules, group by group in the order Apply runs them.
func (r *Rules) stops() [][]*rule {
	return [][]*rule{r.stop, r.stopIfFound, r.stopIf, r.stopUnlessFound, r.stopUnless}
}

func (r *Rules) add(rl *rule) {
	switch rl.verb {
	case vStop:
		r.stop = append(r.stop, rl)
	case vStopIf:
		r.stopIf = append(r.stopIf, rl)
	case vStopIfFound:
		r.stopIfFound = append(r.stopIfFound, rl)
	case vStopUnless:
		r.stopUnless = append(r.stopUnless, rl)
	case vStopUnlessFound:
		r.stopUnlessFound = append(r.stopUnlessFound, rl)
	case vReplace:
		r.replaces = append(r.replaces, rl)
	default:
		r.removes = append(r.removes, rl)
	}
	r.size++
}

// Len is the number of rules after includes are expanded (comments and blanks not counted).
func (r *Rules) Len() int { return r.size }

// Text is the rules text as given (or as read from the file).
func (r *Rules) Text() string { return r.text }

// AllowHTTPURL reports an allow_http_url rule: the collector URL may be plain http://.
func (r *Rules) AllowHTTPURL() bool { return r.allowHTTPURL }

// SkipCompression reports a skip_compression rule: post messages uncompressed.
func (r *Rules) SkipCompression() bool { return r.skipCompression }

// SkipSubmission reports a skip_submission rule: build messages but do not send them.
func (r *Rules) SkipSubmission() bool { return r.skipSubmission }

// Sample is the percentage of calls to keep (sample N), or 0 when every call is kept.
func (r *Rules) Sample() int { return r.sample }

// EngineFailures counts regex matches the backtracking engine gave up on (MatchTimeout
// or its stack limit) since the rules were parsed; each one made its rule fail closed.
func (r *Rules) EngineFailures() uint64 { return r.engineFailures.Load() }

// CopySessionField reports whether a session field of this name is to be logged (as
// detail "session_field:NAME"): some copy_session_field rule matches the whole name.
func (r *Rules) CopySessionField(name string) bool {
	for _, m := range r.copySession {
		if ok, err := m.match(name); ok && err == nil {
			return true
		}
	}
	return false
}

const sessionPrefix = "session_field:"

func isSessionField(name string) bool { return strings.HasPrefix(name, sessionPrefix) }
