package proxymirror

import (
	"strings"

	"sniffer/model"
)

// parseHeaders splits the header block of a request as it arrived (fasthttp keeps it aside as
// RawHeaders: "Name: value" lines ended by CRLF or LF, up to and with the blank line) into
// headers in wire order with their names' original case, the way captured calls carry them.
// A line that starts with a space or a tab continues the previous one (obs-fold) and joins it
// with one space; a line without a colon, or whose name is not a token, is left out: fasthttp refuses requests whose headers
// it cannot read, so such a line never reaches here from the listener, and the fuzz target
// holds this to "never panics, never invents a header".
//
// The block is copied once into a string that every name and value points into, so the call
// does not keep fasthttp's buffer, which is reused after the handler returns.
func parseHeaders(raw []byte) []model.Header {
	if len(raw) == 0 {
		return nil
	}
	s := string(raw)
	hs := make([]model.Header, 0, strings.Count(s, "\n"))
	for s != "" {
		var line string
		line, s, _ = strings.Cut(s, "\n")
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if n := len(hs); n > 0 {
				if v := strings.Trim(line, " \t"); v != "" {
					if hs[n-1].Value == "" {
						hs[n-1].Value = v
					} else {
						hs[n-1].Value += " " + v
					}
				}
			}
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t\r") {
			continue // not a field name (a token): nothing to invent a header from
		}
		hs = append(hs, model.Header{Name: name, Value: strings.Trim(value, " \t")})
	}
	return hs
}
