package rules

import "math/rand/v2"

// Apply runs the rules on one call's details, the [name, value] pairs of a Resurface
// message, in the Java logger's order: stop rules, then sampling, then every remove rule,
// then replace rules in the order written, then details left with empty values are
// dropped. keep is false when the call must not be logged at all: a stop rule fired,
// sampling skipped it, or no detail is left.
//
// Details named "session_field:NAME" are kept only if a copy_session_field rule matches
// NAME, as the loggers copy only those fields from the session.
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
	if len(details) == 0 {
		return nil, false
	}
	details = r.filterSessionFields(details)
	if r.stopped(details) {
		return nil, false
	}
	if r.sample > 0 && rand.IntN(100) >= r.sample {
		return nil, false
	}
	details = r.remove(details)
	if len(details) == 0 {
		return nil, false
	}
	r.replace(details)
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

func (r *Rules) filterSessionFields(details [][2]string) [][2]string {
	out := details[:0]
	for _, d := range details {
		if !isSessionField(d[0]) || r.CopySessionField(d[0][len(sessionPrefix):]) {
			out = append(out, d)
		}
	}
	clear(details[len(out):])
	return out
}

// matches runs m and counts engine failures; on failure it returns failClosed.
func (r *Rules) matches(m *matcher, s string, failClosed bool) bool {
	ok, err := m.match(s)
	if err != nil {
		r.engineFailures.Add(1)
		return failClosed
	}
	return ok
}

// hit tells whether rule rl applies to detail d: its scope matches the name and, for
// verbs with a value regex, the value matches too. failClosed is the answer when an
// engine gives up.
func (r *Rules) hit(rl *rule, d [2]string, failClosed bool) bool {
	if !r.matches(rl.scope, d[0], failClosed) {
		return false
	}
	return rl.value == nil || r.matches(rl.value, d[1], failClosed)
}

// stopped evaluates the stop rules. Unlike the Java logger, which counts matching
// details across all stop_unless rules together (so one rule matching twice covers for
// another matching none), each stop_unless rule must be met by at least one detail.
func (r *Rules) stopped(details [][2]string) bool {
	for _, group := range [][]*rule{r.stop, r.stopIfFound, r.stopIf} {
		for _, rl := range group {
			for _, d := range details {
				if r.hit(rl, d, true) {
					return true
				}
			}
		}
	}
	for _, group := range [][]*rule{r.stopUnlessFound, r.stopUnless} {
		for _, rl := range group {
			met := false
			for _, d := range details {
				if r.hit(rl, d, false) {
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
func (r *Rules) remove(details [][2]string) [][2]string {
	if len(r.removes) == 0 {
		return details
	}
	out := details[:0]
	for _, d := range details {
		if !r.removed(d) {
			out = append(out, d)
		}
	}
	clear(details[len(out):])
	return out
}

func (r *Rules) removed(d [2]string) bool {
	for _, rl := range r.removes {
		if !r.matches(rl.scope, d[0], true) {
			continue
		}
		switch rl.verb {
		case vRemove:
			return true
		case vRemoveIf, vRemoveIfFound:
			if r.matches(rl.value, d[1], true) {
				return true
			}
		case vRemoveUnless, vRemoveUnlessFound:
			if !r.matches(rl.value, d[1], false) {
				return true
			}
		}
	}
	return false
}

// replace applies the replace rules in order; a value that could not be masked is
// emptied, so that it is dropped with the other empty values.
func (r *Rules) replace(details [][2]string) {
	for _, rl := range r.replaces {
		for i := range details {
			d := &details[i]
			if !r.matches(rl.scope, d[0], true) {
				continue
			}
			v, err := replaceAll(rl.value, rl.repl, d[1])
			if err != nil {
				r.engineFailures.Add(1)
				v = ""
			}
			d[1] = v
		}
	}
}
