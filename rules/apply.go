package rules

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
	"unsafe"

	"sniffer/internal/bufpool"
)

// Apply runs the rules on one call's details, the [name, value] pairs of a Resurface
// message, in the Java logger's order: stop rules, then sampling, then every remove rule,
// then replace rules in the order written, then details left with empty values are
// dropped. keep is false when the call must not be logged at all: a stop rule fired,
// sampling skipped it, or no detail is left.
//
// Header and parameter names are lower-cased first ("request_header:Cookie" becomes
// "request_header:cookie"), as the loggers build them, so that no rule is dodged by the
// case a client happened to send.
//
// Details named "session_field:NAME" are kept only if a copy_session_field rule matches
// NAME, as the loggers copy only those fields from the session; the request's cookies
// whose names such a rule matches are added as session fields (see addCookieFields).
//
// Like slices.DeleteFunc, Apply works in place: out shares details' backing array and
// values are replaced in it, so the caller must not use details afterwards. No
// allocation happens per detail unless a replace rule changes its value.
//
// A regex on the backtracking engine that gives up (see MatchTimeout) fails closed: a
// stop rule stops the call, a remove rule removes the detail, a replace rule removes the
// detail it could not mask. EngineFailures counts these.
//
// Apply is safe for concurrent use.
func (r *Rules) Apply(details [][2]string) (out [][2]string, keep bool) {
	return r.apply(details, nil, 0, Verdict{})
}

// ApplyPooled is Apply, and appends to *bufs the buffers of internal/bufpool it made new
// values in (masked bodies, from bufpool.Min bytes up), one buffer per value, each the
// caller's alone: once nothing reads those values any more (the sinks have written the
// call), the caller may hand the buffers back with bufpool.Put. Apply makes such values
// with strings.Clone and leaves them to the garbage collector.
func (r *Rules) ApplyPooled(details [][2]string, bufs *[][]byte) (out [][2]string, keep bool) {
	return r.apply(details, bufs, 0, Verdict{})
}

func (r *Rules) apply(details [][2]string, bufs *[][]byte, opaque Opaque, v Verdict) (out [][2]string, keep bool) {
	if len(details) == 0 {
		return nil, false
	}
	st := &callState{r: r, bufs: bufs, opaque: opaque, gaveUp: v.gaveUp, deadline: v.deadline}
	var scopeBuf [32]uint64
	details, scopes := st.begin(details, scopeBuf[:0])
	if !v.decided && !st.passes(details, scopes) {
		return nil, false
	}
	details, scopes = st.remove(details, scopes)
	if len(details) == 0 {
		return nil, false
	}
	st.replace(details, scopes)
	out = details[:0]
	for _, d := range details {
		if d[1] != "" {
			out = append(out, d)
		}
	}
	clear(details[len(out):])
	if len(out) == 0 {
		return nil, false
	}
	return out, true
}

// begin readies a call's details for the rules: names lower-cased, session fields
// filtered and taken from cookies; and returns the cached scopes that match each detail,
// appended to buf (nil when no scope is cached, as for include debug).
func (st *callState) begin(details [][2]string, buf []uint64) ([][2]string, []uint64) {
	lowerNames(details)
	details = st.filterSessionFields(details)
	if len(st.r.copySession) > 0 {
		details = st.addCookieFields(details)
	}
	if len(st.r.cache.matchers) == 0 {
		return details, nil
	}
	scopes := buf
	if len(details) > cap(buf) {
		scopes = make([]uint64, 0, len(details))
	}
	for _, d := range details {
		scopes = append(scopes, st.r.cache.bits(d[0]))
	}
	return details, scopes
}

// passes runs the stop rules, then sampling (its one random draw for the call): false
// when the call is dropped.
func (st *callState) passes(details [][2]string, scopes []uint64) bool {
	if st.stopped(details, scopes) {
		return false
	}
	return st.r.sample == 0 || rand.IntN(100) < st.r.sample
}

// callState is what one Apply call remembers about the backtracking engine. A call gets
// MatchTimeout of it in all: once a match gives up, or the time is spent, every further
// backtracking match in the call fails closed at once. Pathological rules so cost a
// call about two MatchTimeouts at most, not one per detail and rule.
type callState struct {
	r        *Rules
	gaveUp   bool
	deadline time.Time // set at the call's first backtracking match
	bufs     *[][]byte // ApplyPooled's: where the pooled buffers of new values go
	opaque   Opaque    // bodies replace rules leave alone (see Opaque)
}

// cachedAt is scopes[i], or nothing when no scope is cached.
func cachedAt(scopes []uint64, i int) uint64 {
	if scopes == nil {
		return 0
	}
	return scopes[i]
}

// inScope tells whether rl's scope matches a detail's name, given the cached scopes that
// match it (Rules.cache); failClosed is the answer when the backtracking engine gives up.
func (st *callState) inScope(rl *rule, cached uint64, name string, failClosed bool) bool {
	if rl.scopeBit >= 0 {
		if rl.scope.bt != nil && st.gaveUp {
			return failClosed // as the engine would have answered once the call gave up
		}
		return cached&(1<<rl.scopeBit) != 0
	}
	return st.matches(rl.scope, name, failClosed)
}

func (st *callState) filterSessionFields(details [][2]string) [][2]string {
	out := details[:0]
	for _, d := range details {
		if !isSessionField(d[0]) || st.copySessionField(d[0][len(sessionPrefix):]) {
			out = append(out, d)
		}
	}
	clear(details[len(out):])
	return out
}

// maxCookieFields bounds the session fields taken from one request's cookies.
const maxCookieFields = 100

// addCookieFields adds a "session_field:NAME" detail for each cookie of the request whose
// lower-cased NAME a copy_session_field rule matches. On the wire the session is what the
// cookies carry; logger-go copies them the same way (SendHttpMessage: req.Cookies(), name
// lower-cased), logger-java copies the servlet session's attributes. They are added before
// any rule runs, so rules see them (and "include standard" removing the cookie header does
// not remove them; a rule on session_field:.* does). At most maxCookieFields.
func (st *callState) addCookieFields(details [][2]string) [][2]string {
	var cookies []string
	for _, d := range details {
		if d[0] == "request_header:cookie" {
			cookies = append(cookies, d[1])
		}
	}
	if cookies == nil {
		return details
	}
	n := 0
	for _, c := range (&http.Request{Header: http.Header{"Cookie": cookies}}).Cookies() {
		name := strings.ToLower(c.Name)
		if c.Value == "" || !st.copySessionField(name) {
			continue
		}
		if n++; n > maxCookieFields {
			break
		}
		details = append(details, [2]string{sessionPrefix + name, c.Value})
	}
	return details
}

func (st *callState) copySessionField(name string) bool {
	for _, m := range st.r.copySession {
		if st.matches(m, name, false) {
			return true
		}
	}
	return false
}

// mayBacktrack tells whether the call may still run a backtracking match.
func (st *callState) mayBacktrack() bool {
	if st.gaveUp {
		return false
	}
	now := time.Now()
	if st.deadline.IsZero() {
		st.deadline = now.Add(MatchTimeout)
	} else if now.After(st.deadline) {
		st.fail()
		return false
	}
	return true
}

func (st *callState) fail() {
	st.r.engineFailures.Add(1)
	st.gaveUp = true
}

// matches runs m; when the backtracking engine gives up (now or earlier in the call)
// the answer is failClosed.
func (st *callState) matches(m *matcher, s string, failClosed bool) bool {
	if m.bt != nil && m.names != nil && !st.gaveUp {
		ok, _ := m.names.match(s) // never unknown: a look-ahead set is not case-folded
		return ok
	}
	if m.bt != nil && !st.mayBacktrack() {
		return failClosed
	}
	ok, err := m.match(s)
	if err != nil {
		st.fail()
		return failClosed
	}
	return ok
}

// hit tells whether rule rl applies to detail d: its scope matches the name and, for
// verbs with a value regex, the value matches too. failClosed is the answer when an
// engine gives up.
func (st *callState) hit(rl *rule, cached uint64, d [2]string, failClosed bool) bool {
	if !st.inScope(rl, cached, d[0], failClosed) {
		return false
	}
	return rl.value == nil || st.matches(rl.value, d[1], failClosed)
}

// stopped evaluates the stop rules. Unlike the Java logger, which counts matching
// details across all stop_unless rules together (so one rule matching twice covers for
// another matching none), each stop_unless rule must be met by at least one detail.
func (st *callState) stopped(details [][2]string, scopes []uint64) bool {
	r := st.r
	for _, group := range [][]*rule{r.stop, r.stopIfFound, r.stopIf} {
		for _, rl := range group {
			for i, d := range details {
				if st.hit(rl, cachedAt(scopes, i), d, true) {
					return true
				}
			}
		}
	}
	for _, group := range [][]*rule{r.stopUnlessFound, r.stopUnless} {
		for _, rl := range group {
			met := false
			for i, d := range details {
				if st.hit(rl, cachedAt(scopes, i), d, false) {
					met = true
					break
				}
			}
			if !met {
				return true
			}
		}
	}
	return false
}

// remove drops every detail that some remove rule selects.
// scopes is kept in step with details.
func (st *callState) remove(details [][2]string, scopes []uint64) ([][2]string, []uint64) {
	if len(st.r.removes) == 0 {
		return details, scopes
	}
	out := details[:0]
	for i, d := range details {
		if !st.removed(cachedAt(scopes, i), d) {
			if scopes != nil {
				scopes[len(out)] = scopes[i]
			}
			out = append(out, d)
		}
	}
	clear(details[len(out):])
	if scopes != nil {
		scopes = scopes[:len(out)]
	}
	return out, scopes
}

func (st *callState) removed(cached uint64, d [2]string) bool {
	for _, rl := range st.r.removes {
		if !st.inScope(rl, cached, d[0], true) {
			continue
		}
		switch rl.verb {
		case vRemove:
			return true
		case vRemoveIf, vRemoveIfFound:
			if st.matches(rl.value, d[1], true) {
				return true
			}
		case vRemoveUnless, vRemoveUnlessFound:
			if !st.matches(rl.value, d[1], false) {
				return true
			}
		}
	}
	return false
}

// replace applies the replace rules in order; a value that could not be masked is
// emptied, so that it is dropped with the other empty values.
//
// It goes detail by detail, each through every rule in order (a detail's value depends on
// no other detail, so the results are those of rule by rule). A value the rules change is
// built in two scratch buffers, reused from call to call, and copied out once: one new
// string per changed value however many rules change it, where a 16 KiB body masked by
// the e-mail and then the digit rule used to cost two fresh 16 KiB strings. For
// ApplyPooled a large value is not copied at all: the scratch buffer it was built in is
// handed out with it (see keep).
func (st *callState) replace(details [][2]string, scopes []uint64) {
	if len(st.r.replaces) == 0 {
		return
	}
	var sc *scratch
	defer func() {
		if sc != nil {
			sc.put()
		}
	}()
	for i := range details {
		d := &details[i]
		if st.opaque != 0 && st.opaque&bodyBit(d[0]) != 0 {
			continue
		}
		v := d[1]
		cur := -1 // the scratch buffer v lies in, or -1
		for _, rl := range st.r.replaces {
			if !st.inScope(rl, cachedAt(scopes, i), d[0], true) {
				continue
			}
			if rl.value.ruledOut(v) {
				continue
			}
			m := rl.value.forInput(v)
			if m.bt != nil {
				var nv string
				changed, err := false, error(nil)
				if !st.mayBacktrack() {
					err = errEngine
				} else if nv, changed, err = btReplaceAll(m.bt, rl.repl, v); err != nil {
					st.fail()
				}
				if err != nil {
					nv, changed = "", true
				}
				if changed {
					v, cur = nv, -1
				}
				continue
			}
			if sc == nil {
				sc = getScratch()
			}
			next := 0
			if cur == 0 {
				next = 1
			}
			if st.handsOut(v) {
				sc.fit(next, len(v))
			}
			if buf, changed := appendReplaced(sc.buf[next][:0], m, rl.repl, v); changed {
				sc.buf[next] = buf
				v, cur = unsafe.String(unsafe.SliceData(buf), len(buf)), next
			}
		}
		if cur >= 0 {
			v = st.keep(sc, cur, v)
		}
		d[1] = v
	}
}

// handsOut tells whether a value built from v is handed out in the scratch buffer it is
// built in (see keep): for ApplyPooled, from bufpool.Min bytes up.
func (st *callState) handsOut(v string) bool {
	return st.bufs != nil && len(v) >= bufpool.Min && !st.r.copyOut
}

// keep returns v, built in sc.buf[cur], as a value the details may hold after the call.
//
// For ApplyPooled a value from bufpool.Min bytes up is handed out in the scratch buffer
// itself, sized by fit from internal/bufpool, instead of being copied into one: the buffer
// leaves the scratch (sc.buf[cur] becomes nil, so nothing in this or a later call writes
// into it) and goes to *st.bufs, to be handed back to the pool by the caller once nothing
// reads the value. A buffer more than twice the value's size (fit did not size it) is not
// handed out, so that a small value does not hold a large buffer while it is queued; the
// value is then copied into a pooled buffer of its size, as are all values when
// Rules.copyOut is set (tests compare both ways). Apply's values are copies of their own.
func (st *callState) keep(sc *scratch, cur int, v string) string {
	if st.bufs == nil || len(v) < bufpool.Min {
		return strings.Clone(v)
	}
	b := sc.buf[cur]
	if st.r.copyOut || cap(b) > 2*len(v) {
		b = append(bufpool.Get(len(v)), v...)
	} else {
		sc.buf[cur] = nil
	}
	*st.bufs = append(*st.bufs, b)
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// scratch holds the two buffers replace builds values in.
type scratch struct{ buf [2][]byte }

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

// fit gives sc.buf[i] room for a value of about n bytes from internal/bufpool, unless it
// has room already and no more than twice that (see callState.keep). The buffer it
// replaces holds no value anyone reads: a value handed out left the scratch with its
// buffer, and buf[i] is never the buffer the value being rewritten lies in.
func (sc *scratch) fit(i, n int) {
	if c := cap(sc.buf[i]); c >= n && c <= 2*n {
		return
	}
	if sc.buf[i] != nil {
		bufpool.Put(sc.buf[i])
	}
	sc.buf[i] = bufpool.Get(n)
}

// maxScratch keeps the pool from holding on to the buffers of an unusually large value.
const maxScratch = 4 << 20

func (sc *scratch) put() {
	for i, b := range sc.buf {
		if cap(b) > maxScratch {
			sc.buf[i] = nil
		}
	}
	scratchPool.Put(sc)
}

// lowerNames lower-cases header and parameter names in place (allocating only for a name
// that has upper-case letters).
func lowerNames(details [][2]string) {
	for i := range details {
		n := details[i][0]
		if !strings.HasPrefix(n, "request_header:") && !strings.HasPrefix(n, "response_header:") &&
			!strings.HasPrefix(n, "request_param:") {
			continue
		}
		for j := 0; j < len(n); j++ {
			if 'A' <= n[j] && n[j] <= 'Z' {
				details[i][0] = strings.ToLower(n)
				break
			}
		}
	}
}
