package proxymirror

import (
	"net/netip"
	"strconv"
	"strings"

	"sniffer/model"
)

// origin is what the proxy in front says about the request it mirrored: who sent it, to which
// host, over which scheme. The listener only sees the proxy's own connection, so these come
// from the headers the proxies add (see the README's proxy mirror section for each proxy):
//
//   - client: the first address in Forwarded's for= (RFC 7239), else the first in
//     X-Forwarded-For, else X-Real-IP; entries that are not addresses ("unknown", "_hidden",
//     names) are passed over. Invalid when none names one (the listener then takes the
//     address of the connection).
//   - host: Forwarded's host=, else X-Forwarded-Host, else Host. Envoy (and so Istio) sends a
//     shadowed request's Host with "-shadow" appended to the name ("api.example.com-shadow:8080"):
//     shadowHost takes it off.
//   - scheme: Forwarded's proto=, else X-Forwarded-Proto, when http or https; else http.
//
// These are claims: a client can send any X-Forwarded-For it likes, and a proxy appends to it
// rather than replacing it. The headers stay on the call as they arrived, so whoever reads the
// call can judge them.
type origin struct {
	client netip.AddrPort
	host   string
	scheme string
}

func originOf(hs []model.Header) origin {
	var o origin
	var xff, xrip, xfh, xfp, host string
	for _, h := range hs {
		switch {
		case strings.EqualFold(h.Name, "Forwarded"):
			if !o.client.IsValid() || o.host == "" || o.scheme == "" {
				fwd := parseForwarded(h.Value)
				if !o.client.IsValid() {
					o.client = fwd.client
				}
				if o.host == "" {
					o.host = fwd.host
				}
				if o.scheme == "" {
					o.scheme = fwd.scheme
				}
			}
		case strings.EqualFold(h.Name, "X-Forwarded-For"):
			if xff == "" {
				xff = h.Value
			}
		case strings.EqualFold(h.Name, "X-Real-IP"):
			if xrip == "" {
				xrip = h.Value
			}
		case strings.EqualFold(h.Name, "X-Forwarded-Host"):
			if xfh == "" {
				xfh, _, _ = strings.Cut(h.Value, ",")
				xfh = strings.TrimSpace(xfh)
			}
		case strings.EqualFold(h.Name, "X-Forwarded-Proto"):
			if xfp == "" {
				xfp, _, _ = strings.Cut(h.Value, ",")
			}
		case strings.EqualFold(h.Name, "Host"):
			if host == "" {
				host = h.Value
			}
		}
	}
	if !o.client.IsValid() {
		for _, a := range strings.Split(xff, ",") {
			if o.client = parseAddr(a); o.client.IsValid() {
				break
			}
		}
	}
	if !o.client.IsValid() {
		o.client = parseAddr(xrip)
	}
	if o.host == "" {
		o.host = xfh
	}
	if o.host == "" {
		o.host = shadowHost(host)
	}
	if o.scheme == "" {
		o.scheme = scheme(xfp)
	}
	if o.scheme == "" {
		o.scheme = "http"
	}
	return o
}

// shadowHost takes Envoy's "-shadow" off a mirrored request's Host: Envoy appends it to the
// host name, before any port (Envoy's router, shadowAppendedHost), so that the shadow backend
// can tell mirrored requests from real ones.
func shadowHost(host string) string {
	name, port := host, ""
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		name, port = host[:i], host[i:]
	}
	if n, ok := strings.CutSuffix(name, "-shadow"); ok && n != "" {
		return n + port
	}
	return host
}

// forwarded is the first element of a Forwarded header (the hop nearest the client).
type forwarded struct {
	client netip.AddrPort
	host   string
	scheme string
}

// parseForwarded reads the first element of an RFC 7239 Forwarded value: for=, host= and
// proto= pairs separated by ';', elements by ','; values may be quoted strings. Anything it
// cannot read is left out rather than guessed.
func parseForwarded(v string) forwarded {
	var f forwarded
	elem := firstElement(v)
	for _, pair := range strings.Split(elem, ";") {
		name, value, ok := strings.Cut(pair, "=")
		if !ok {
			continue
		}
		value = unquote(strings.TrimSpace(value))
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "for":
			f.client = parseAddr(value)
		case "host":
			f.host = value
		case "proto":
			f.scheme = scheme(value)
		}
	}
	return f
}

// firstElement returns the text up to the first ',' outside a quoted string.
func firstElement(v string) string {
	quoted := false
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				return v[:i]
			}
		}
	}
	return v
}

// unquote takes the quotes and backslash escapes off a quoted-string; other text is returned
// as it is.
func unquote(v string) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	v = v[1 : len(v)-1]
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// parseAddr reads one client address as proxies write them: "192.0.2.1", "192.0.2.1:4711",
// "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:4711". The port is 0 when not given.
func parseAddr(s string) netip.AddrPort {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxAddrLen {
		return netip.AddrPort{}
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a.Unmap(), 0)
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return netip.AddrPortFrom(a.Unmap(), 0)
		}
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	// Forwarded allows an obfuscated port ("192.0.2.1:_abc", "[2001:db8::1]:_abc"): keep the
	// address.
	if i := strings.LastIndexByte(s, ':'); i > 0 {
		if _, err := strconv.Atoi(s[i+1:]); err != nil {
			a := strings.TrimSuffix(strings.TrimPrefix(s[:i], "["), "]")
			if ip, err := netip.ParseAddr(a); err == nil && (ip.Is4() || s[0] == '[') {
				return netip.AddrPortFrom(ip.Unmap(), 0)
			}
		}
	}
	return netip.AddrPort{}
}

// maxAddrLen is longer than any address with a port and a zone ("[v6%zone]:port"); longer
// entries are not addresses, and are not parsed.
const maxAddrLen = 64

// scheme returns "http" or "https" for those (any case, surrounding space), else "".
func scheme(v string) string {
	switch v = strings.ToLower(strings.TrimSpace(v)); v {
	case "http", "https":
		return v
	}
	return ""
}
