package rules

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Error is a rule that did not parse: where it is, what it says and what is wrong.
type Error struct {
	Source string // "" for inline rules, else the file named by file://
	Line   int    // 1-based line number in the rules text
	Text   string // the line as written
	Msg    string // what is wrong, and how to fix it when that is known
}

func (e *Error) Error() string {
	where := "rules"
	if e.Source != "" {
		where = e.Source
	}
	return fmt.Sprintf("%s line %d: %s: %q", where, e.Line, e.Msg, e.Text)
}

// Limits that keep Parse bounded on any input.
const (
	maxRulesBytes = 1 << 20 // rules text or file
	maxLineBytes  = 64 << 10
)

// Java's grammar for one rule, as java.util.regex patterns in HttpRules.java, carried over
// with Java's \s and '.' spelt out (Go's \s lacks \x0B, Go's '.' matches \r), so that every
// line is split into scope, verb and arguments exactly as the Java logger splits it.
const (
	jws   = `[\t\n\x0B\f\r ]`
	jdot  = `[^\n\r\x{85}\x{2028}\x{2029}]`
	delim = `[~!%|/]`
	expr  = `(` + delim + jdot + `+` + delim + `)`
	tail  = jws + `*(?:#` + jdot + `*)?$`
)

func lineRE(body string) *regexp.Regexp { return regexp.MustCompile(`^` + jws + `*` + body + tail) }

var (
	reBlankOrComment = regexp.MustCompile(`^` + jws + `*(?:#` + jdot + `*)*$`)
	reInclude        = regexp.MustCompile(`^` + jws + `*include` + jws + `+(` + jdot + `*?)` + tail)
	reSample         = lineRE(`sample` + jws + `+(\d+)`)
	reFlag           = lineRE(`(allow_http_url|skip_compression|skip_submission)`)
	reCopySession    = lineRE(`copy_session_field` + jws + `+` + expr)
	scopedForms      []scopedForm // in Java's order: the first form a line fits decides
)

// scopedForm is the grammar of one verb that takes a /scope/.
type scopedForm struct {
	verb verb
	re   *regexp.Regexp
}

func init() {
	for _, v := range []verb{vRemove, vRemoveIf, vRemoveIfFound, vRemoveUnless, vRemoveUnlessFound,
		vReplace, vStop, vStopIf, vStopIfFound, vStopUnless, vStopUnlessFound} {
		var body string
		switch v {
		case vRemove, vStop:
			body = expr + jws + `*` + v.String()
		case vReplace:
			body = expr + jws + `*replace` + jws + `+` + expr + `,` + jws + `+(` + delim + jdot + `*` + delim + `)`
		default:
			body = expr + jws + `*` + v.String() + jws + `+` + expr
		}
		scopedForms = append(scopedForms, scopedForm{v, lineRE(body)})
	}
}

// Parse compiles rules written in the Resurface logging-rules language: one rule a line,
// '#' starts a comment, "include debug|standard|strict|default" pulls in a predefined set.
// Text of the form "file://PATH" (the whole text) loads the rules from that file. Blank
// text means the sniffer's default rules (see Default). Every line is checked; the first
// bad one is returned as an *Error with its line number.
func Parse(text string) (*Rules, error) {
	source := ""
	if strings.HasPrefix(text, "file://") {
		source = strings.TrimSpace(text[len("file://"):])
		b, err := readLimited(source)
		if err != nil {
			return nil, fmt.Errorf("load rules: %w", err)
		}
		text = string(b)
	}
	if len(text) > maxRulesBytes {
		return nil, fmt.Errorf("rules text is %d bytes; at most %d are allowed", len(text), maxRulesBytes)
	}
	if strings.TrimSpace(text) == "" {
		text = defaultText
	}
	r := &Rules{}
	if err := r.addText(text, source, 0); err != nil {
		// network-sniffer's .env writes its rules on one line with literal \n between them
		// (USAGE_LOGGERS_RULES=include debug\nallow_http_url) and its entrypoint expands
		// them with echo -e. Text that does not parse as written is read that way too;
		// text that parses as written keeps its \n, which in a regex means a line feed.
		if source != "" || !strings.Contains(text, `\n`) {
			return nil, err
		}
		split := splitEscapedLines(text)
		if split == text {
			return nil, err
		}
		r = &Rules{}
		if err2 := r.addText(split, source, 0); err2 != nil {
			return nil, err2 // its line numbers count the \n as line breaks
		}
		r.text = text
	}
	r.finish()
	return r, nil
}

// splitEscapedLines turns the literal \n of one-line rules into line breaks, but only
// where a rule ends: a line is cut at a \n when the text before it (since the last cut)
// is a whole rule, a comment or blank, so that a \n inside a regex
// (include debug\n/request_body/ replace /\n/, / /) stays a regex escape.
func splitEscapedLines(text string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		parts := strings.Split(line, `\n`)
		cur := parts[0]
		for _, p := range parts[1:] {
			if strings.HasSuffix(cur, `\`) || (&Rules{}).addLine(strings.TrimSuffix(cur, "\r"), 0) != nil {
				cur += `\n` + p
				continue
			}
			out = append(out, cur)
			cur = p
		}
		out = append(out, cur)
	}
	return strings.Join(out, "\n")
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w (USAGE_LOGGERS_RULES=file://PATH must name a readable file)", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRulesBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxRulesBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes; that is not a rules file", path, maxRulesBytes)
	}
	return b, nil
}

// addText parses text line by line. depth guards include recursion (the predefined sets
// include nothing, but include default expands to a set that includes standard).
func (r *Rules) addText(text, source string, depth int) error {
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		line = strings.TrimSuffix(line, "\r") // Java splits on \r?\n
		if err := r.addLine(line, depth); err != nil {
			return &Error{Source: source, Line: i + 1, Text: line, Msg: err.Error()}
		}
	}
	if depth == 0 {
		r.text = text
	}
	return nil
}

func (r *Rules) addLine(line string, depth int) error {
	if len(line) > maxLineBytes {
		return fmt.Errorf("line is %d bytes long; at most %d are allowed", len(line), maxLineBytes)
	}
	if reBlankOrComment.MatchString(line) {
		return nil
	}
	if m := reInclude.FindStringSubmatch(line); m != nil {
		return r.include(strings.TrimSpace(m[1]), depth)
	}
	if m := reFlag.FindStringSubmatch(line); m != nil {
		switch m[1] {
		case "allow_http_url":
			r.allowHTTPURL = true
		case "skip_compression":
			r.skipCompression = true
		case "skip_submission":
			r.skipSubmission = true
		}
		r.size++
		return nil
	}
	if m := reSample.FindStringSubmatch(line); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n < 1 || n > 99 {
			return fmt.Errorf("sample takes a percentage of calls to keep, 1 to 99, not %s", m[1])
		}
		if r.sample != 0 {
			return fmt.Errorf("more than one sample rule (an earlier line already says sample %d)", r.sample)
		}
		r.sample = n
		r.size++
		return nil
	}
	if m := reCopySession.FindStringSubmatch(line); m != nil {
		re, err := parseRegex(m[1], true)
		if err != nil {
			return err
		}
		r.copySession = append(r.copySession, re)
		r.size++
		return nil
	}
	for _, f := range scopedForms {
		m := f.re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		scope, err := parseRegex(m[1], true)
		if err != nil {
			return err
		}
		rl := &rule{verb: f.verb, scope: scope}
		switch f.verb {
		case vRemove, vStop:
		case vReplace:
			if rl.value, err = parseRegexFor(m[2], false, true); err != nil {
				return err
			}
			repl, err := unquote(m[3])
			if err != nil {
				return err
			}
			if rl.repl, err = parseReplacement(repl, rl.value); err != nil {
				return fmt.Errorf("replace %s: %v", m[3], err)
			}
		default:
			if rl.value, err = parseRegex(m[2], !f.verb.finds()); err != nil {
				return err
			}
		}
		r.add(rl)
		return nil
	}
	return diagnose(line)
}

// include expands a predefined set in place.
func (r *Rules) include(name string, depth int) error {
	if depth > 2 {
		return fmt.Errorf("include nested too deeply")
	}
	var text string
	switch name {
	case "debug":
		text = DebugRules
	case "standard":
		text = StandardRules
	case "strict":
		text = StrictRules
	case "default":
		text = defaultText
	default:
		return fmt.Errorf("unknown rule set %q; include takes debug, standard, strict or default", name)
	}
	for _, line := range strings.Split(text, "\n") {
		if err := r.addLine(line, depth+1); err != nil {
			return fmt.Errorf("in include %s: %v", name, err) // only if a predefined set is broken
		}
	}
	return nil
}

// parseRegex turns a delimited expression into a matcher; full selects whole-value
// matching (scopes, *_if, *_unless, copy_session_field), else find (*_found, replace).
func parseRegex(delimited string, full bool) (*matcher, error) {
	return parseRegexFor(delimited, full, false)
}

// parseRegexFor is parseRegex; replacing marks a replace rule's find regex.
func parseRegexFor(delimited string, full, replacing bool) (*matcher, error) {
	s, err := unquote(delimited)
	if err != nil {
		return nil, err
	}
	if full && (s == "*" || s == "+" || s == "?") {
		return nil, fmt.Errorf("invalid regex %s: nothing to repeat", delimited)
	}
	m, err := compileMatcherFor(s, full, replacing)
	if err != nil {
		return nil, fmt.Errorf("regex %s: %v", delimited, err)
	}
	return m, nil
}

// unquote strips the delimiters of /regex/ (or ~ ! % |) and unescapes the delimiter
// inside, as Java's parseString does: the first delimiter that both opens and closes the
// expression wins, and an unescaped one inside is an error.
func unquote(e string) (string, error) {
	for _, sep := range []byte{'~', '!', '%', '|', '/'} {
		if len(e) < 2 || e[0] != sep || e[len(e)-1] != sep {
			continue
		}
		in := e[1 : len(e)-1]
		if len(in) > 0 && in[0] == sep {
			return "", fmt.Errorf("unescaped delimiter %c in %s; write \\%c inside the expression", sep, e, sep)
		}
		for i := 1; i < len(in); i++ {
			if in[i] == sep && in[i-1] != '\\' {
				return "", fmt.Errorf("unescaped delimiter %c in %s; write \\%c inside the expression", sep, e, sep)
			}
		}
		return strings.ReplaceAll(in, `\`+string(sep), string(sep)), nil
	}
	return "", fmt.Errorf("expression %s must start and end with the same delimiter: / ~ ! %% or |", e)
}

// diagnose explains a line that matches no rule form.
func diagnose(line string) error {
	fields := strings.Fields(line)
	for _, f := range fields {
		if u, ok := usage[f]; ok {
			return fmt.Errorf("malformed %s rule; write it as: %s", f, u)
		}
	}
	first := ""
	if len(fields) > 0 {
		first = fields[0]
	}
	if len(fields) > 1 && strings.IndexByte("/~!%|", first[0]) >= 0 {
		return fmt.Errorf("unknown verb in rule; after /scope/ comes one of remove, remove_if, remove_if_found, remove_unless, remove_unless_found, replace, stop, stop_if, stop_if_found, stop_unless, stop_unless_found")
	}
	return fmt.Errorf("not a rule; rules are allow_http_url, copy_session_field /regex/, /scope/ remove..., /scope/ replace /find/, /with/, /scope/ stop..., sample N, skip_compression, skip_submission, include SET, or # comment")
}

var usage = map[string]string{
	"allow_http_url":      "allow_http_url",
	"skip_compression":    "skip_compression",
	"skip_submission":     "skip_submission",
	"sample":              "sample N (N from 1 to 99)",
	"include":             "include debug|standard|strict|default",
	"copy_session_field":  "copy_session_field /regex/",
	"remove":              "/scope/ remove",
	"stop":                "/scope/ stop",
	"replace":             "/scope/ replace /find/, /replacement/",
	"remove_if":           "/scope/ remove_if /regex/",
	"remove_if_found":     "/scope/ remove_if_found /regex/",
	"remove_unless":       "/scope/ remove_unless /regex/",
	"remove_unless_found": "/scope/ remove_unless_found /regex/",
	"stop_if":             "/scope/ stop_if /regex/",
	"stop_if_found":       "/scope/ stop_if_found /regex/",
	"stop_unless":         "/scope/ stop_unless /regex/",
	"stop_unless_found":   "/scope/ stop_unless_found /regex/",
}
