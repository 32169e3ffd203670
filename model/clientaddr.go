package model

import "strings"

// clientAddressHeaders are the request headers proxies put the client's address in, as
// the Resurface database reads them (resurfaceio/ndjson HttpMessage.add_request_header:
// each sets request_address, so the last one in a message wins).
var clientAddressHeaders = map[string]bool{
	"cf-connecting-ip": true, "fastly-client-ip": true, "forwarded": true, "forwarded-for": true,
	"true-client-ip": true, "x-forwarded-for": true, "x-forwarded": true, "x-client-ip": true,
	"x-real-ip": true, "x-cluster-client-ip": true,
}

// IsClientAddressHeader tells whether the header name (any case) is one a proxy puts the
// client's address in: X-Forwarded-For, X-Real-IP, CF-Connecting-IP, Forwarded...
func IsClientAddressHeader(name string) bool {
	if clientAddressHeaders[name] {
		return true
	}
	return clientAddressHeaders[strings.ToLower(name)]
}

// ClientAddressHeaders lists those names, in lower case.
func ClientAddressHeaders() []string {
	out := make([]string, 0, len(clientAddressHeaders))
	for n := range clientAddressHeaders {
		out = append(out, n)
	}
	return out
}
