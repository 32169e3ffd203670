// Package rules implements Resurface's logging rules, the language that decides which
// details of an API call are kept, masked or dropped before the call leaves the machine.
//
// Rules are text, one a line, '#' starting a comment (USAGE_LOGGERS_RULES, or
// "file://PATH" to read them from a file). Each rule acts on the call's details, the
// [name, value] pairs of the Resurface message (request_method, request_url,
// request_header:NAME, request_param:NAME, request_body, response_code,
// response_header:NAME, response_body, session_field:NAME, now, interval, ...):
//
//	allow_http_url                         the collector URL may be plain http://
//	copy_session_field /regex/             log session fields whose name matches
//	/scope/ remove                         remove details whose name matches scope
//	/scope/ remove_if /regex/              ... and whose whole value matches regex
//	/scope/ remove_if_found /regex/        ... and whose value contains a match
//	/scope/ remove_unless /regex/          ... unless the whole value matches
//	/scope/ remove_unless_found /regex/    ... unless the value contains a match
//	/scope/ replace /find/, /replacement/  replace every match in the value
//	sample N                               keep N% of calls (1-99, at most once)
//	skip_compression                       post messages uncompressed
//	skip_submission                        do not post messages
//	/scope/ stop                           drop the call if a detail's name matches
//	/scope/ stop_if /regex/                ... and its whole value matches
//	/scope/ stop_if_found /regex/          ... and its value contains a match
//	/scope/ stop_unless /regex/            drop the call unless a detail matches
//	/scope/ stop_unless_found /regex/      ... unless a detail's value contains a match
//	include debug|standard|strict|default  a predefined set (see DebugRules etc.)
//
// Regexes are delimited by / ~ ! % or |, with the delimiter escaped inside as \/ (and
// so on). Scopes, *_if and *_unless regexes must match the whole name or value, as
// Java's Matcher.matches does, even when they contain alternatives: /a|b/ is ^(a|b)$.
// *_found and replace regexes search within the value. Replacements use Java's syntax:
// $0-$9 and ${name} for groups, \$ and \\ for literal characters.
//
// Rules apply in the Java logger's order: stop rules, sampling, remove rules, replace
// rules (in the order written), then details left with empty values are dropped; a call
// left with no details is dropped.
//
// # Regex engines
//
// Rules were written for java.util.regex. Regexes that Go's linear-time RE2 engine can
// run with Java's meaning run there; regexes that need look-around, backreferences,
// atomic groups or possessive quantifiers (such as the strict set's
// "request_header:(?!user-agent).*") run on github.com/dlclark/regexp2 in its RE2 mode,
// within a budget of MatchTimeout per call; a match that runs out of it fails closed
// (the detail is removed, or the call stopped). Java syntax that
// either Go engine would read with another meaning is refused with a clear error rather
// than run differently: nested and intersected classes ([a[b]], [a&&b]), the U, x, u
// and d flags, \v \h \R \X, and Java's POSIX \p{Alpha}-style classes.
//
// Known differences from java.util.regex: '.' matches \r, \u0085, \u2028 and \u2029,
// which Java's '.' does not (so such values are matched, and masked, more); $ (without
// the m flag) matches only at the very end, where Java also matches before a final line
// terminator.
//
// # Speed
//
// The rules run on every call, bodies of tens of KiB included, so the common regex shapes
// are matched without running a regex engine over the whole value, always with exactly
// the engine's answer (each fast path is tested against the plain engine on random
// input, and FuzzFastPaths compares whole rule sets): scopes that are a few literals,
// each perhaps followed by .* (even after a negative look-ahead such as strict's
// (?!user-agent)), are string comparisons whose answers are cached per detail name
// (scopecache.go, names.go, lookahead.go); sequences of character classes such as the
// e-mail and digit-run regexes are matched by seqMatcher (seq.go), which finds '@' with
// strings.IndexByte and looks at
// every 9th byte for digit runs; regexes that need a literal (password=, "token")
// look for it first with a few byte scans chosen for text or binary values, and run
// anchored only where it starts (prefilter.go); the remaining regexes on large values
// run only on the runs of bytes a match can contain (segment.go). A value the replace
// rules change is built in reused buffers and copied out once.
//
// Regexes mean what java.util.regex makes of them where Go's engines would read the same
// text differently (\s with \x0B, octal \0mnn, ASCII-only (?i) without u): javasyntax.go
// rewrites them before they are compiled, and refuses what it cannot rewrite.
//
// Deliberate differences from the Java logger: stop_unless rules must each be met by some
// detail (Java compares a count of all matches to the number of rules); a replacement
// that names a group the regex lacks is an error when the rules are parsed (Java fails on
// the first matching call); header and parameter names are lower-cased before the rules
// run; the standard set masks request parameters, as documented (Java's text names a
// scope no detail has).
package rules
