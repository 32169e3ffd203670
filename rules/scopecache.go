package rules

import (
	"strings"
	"sync"
	"sync/atomic"
)

// scopeCache remembers, per detail name, which scopes match it. The same few dozen names
// (request_body, request_header:host, ...) come with every call, and each used to be
// matched against the scope of every rule: about a hundred matches a call for the default
// set. With the cache a detail costs one map lookup and each rule tests a bit.
//
// Only scopes that run no backtracking are cached (at most 64): those on Go's RE2 engine
// and those lookaheadNameSet answers; their answer depends on the name alone. Other
// scopes on the backtracking engine keep running per call, within the call's MatchTimeout
// budget. The map is copied on write and read without locks; it holds at most
// maxCachedNames names of at most maxCachedNameLen bytes, so names a client makes up cost
// what they cost before the cache, and bounded memory.
type scopeCache struct {
	matchers []*matcher // bit i answers matchers[i]
	names    atomic.Pointer[map[string]uint64]
	mu       sync.Mutex // serialises writers
}

const (
	maxCachedNames   = 2048
	maxCachedNameLen = 256
	maxCachedScopes  = 64
)

// finish assigns the rules' scopes their bits once parsing is done.
func (r *Rules) finish() {
	bySrc := map[string]int{}
	for _, g := range append(r.stops(), r.removes, r.replaces) {
		for _, rl := range g {
			rl.scopeBit = -1
			if rl.scope.re == nil && rl.scope.names == nil {
				continue // the backtracking engine, run per call within its budget
			}
			// Scopes are whole-name matches compiled the same way: the same source, the same answer.
			bit, ok := bySrc[rl.scope.src]
			if !ok {
				if len(r.cache.matchers) >= maxCachedScopes {
					continue
				}
				bit = len(r.cache.matchers)
				bySrc[rl.scope.src] = bit
				r.cache.matchers = append(r.cache.matchers, rl.scope)
			}
			rl.scopeBit = bit
		}
	}
	r.cache.names.Store(&map[string]uint64{})
}

// bits returns the scopes that match name, bit i for matchers[i].
func (c *scopeCache) bits(name string) uint64 {
	if len(c.matchers) == 0 {
		return 0
	}
	if b, ok := (*c.names.Load())[name]; ok {
		return b
	}
	var b uint64
	for i, m := range c.matchers {
		if ok, _ := m.match(name); ok { // RE2 only: no error
			b |= 1 << i
		}
	}
	if len(name) <= maxCachedNameLen && len(*c.names.Load()) < maxCachedNames {
		c.mu.Lock()
		old := *c.names.Load()
		if _, ok := old[name]; !ok && len(old) < maxCachedNames {
			next := make(map[string]uint64, len(old)+1)
			for k, v := range old {
				next[k] = v
			}
			next[strings.Clone(name)] = b
			c.names.Store(&next)
		}
		c.mu.Unlock()
	}
	return b
}
