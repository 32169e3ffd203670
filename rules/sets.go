package rules

import (
	"fmt"
	"sync"
)

// DebugRules is "include debug": every detail kept, session fields copied, plain http://
// collector URLs allowed. For looking at test traffic only.
const DebugRules = "allow_http_url\ncopy_session_field /.*/\n"

// StandardRules is "include standard": cookies removed; e-mail addresses and runs of 9 or
// more digits (card, account and phone numbers, SSNs) masked in bodies and request
// parameters.
//
// The Java logger's text names the parameter scope "request_param", which its whole-name
// matching never finds (parameters are "request_param:NAME"), so Java leaves parameters
// unmasked while its documentation and the other loggers mask them. Here the scope is
// written "request_param:.*" to give the documented meaning.
const StandardRules = standardCookies + standardEmails +
	"/request_body|request_param:.*|response_body/ replace " + digitRuns + ", /xyxy/\n"

// The parts of the standard set that the default set shares.
const (
	standardCookies = "/request_header:cookie|response_header:set-cookie/ remove\n"
	standardEmails  = "/(request|response)_body|request_param:.*/ replace /[a-zA-Z0-9.!#$%&’*+\\/=?^_`{|}~-]+@[a-zA-Z0-9-]+(?:\\.[a-zA-Z0-9-]+)/, /x@y.com/\n"
	digitRuns       = "/[0-9\\.\\-\\/]{9,}/"
)

// StrictRules is "include strict", the Java logger's own default: the query cut from the
// URL; bodies and parameters removed; of the headers only the request's user-agent and
// the response's content-type and content-length kept. Its negative look-ahead runs on
// the backtracking engine, with the meaning Java gives it.
const StrictRules = "/request_url/ replace /([^\\?;]+).*/, /$1/\n" +
	"/request_body|response_body|request_param:.*|request_header:(?!user-agent).*|response_header:(?!(content-length)|(content-type)).*/ remove\n"

// secretNames are parameter and JSON field names whose values are credentials.
const secretNames = `password|passwd|pwd|passphrase|secret|client_secret|clientsecret|access_token|accesstoken|refresh_token|refreshtoken|id_token|idtoken|api_key|apikey|auth_token|authtoken|session_token|token`

// DefaultRules is the sniffer's default, used for blank rules and "include default".
//
// A sniffer sees every call on the wire, login forms and tokens included, and nobody
// chose what it logs call by call as an application's logger is configured; so it must
// not keep everything by default as "include debug" (network-sniffer's example) does.
// The Java logger's default, strict, drops bodies and most headers, which leaves too
// little to understand an API. The default is therefore standard plus what standard
// misses on the wire: credential headers (Authorization, Proxy-Authorization, API-key
// and token headers) removed, and password, secret and token values masked in JSON
// bodies, form bodies, query strings and parameters. One difference from standard:
// runs of 9 or more digits become "0", not "xyxy". A run in a JSON number (a score like
// 0.8373475738, an epoch in milliseconds) would otherwise leave the body invalid JSON;
// "0" is a valid number and a valid part of a string, so JSON bodies stay JSON.
//
// For strict masking set the rules to "include strict" (optionally with more rules);
// to see everything on a test network, "include debug".
const DefaultRules = standardCookies + standardEmails +
	"/request_body|request_param:.*|response_body/ replace " + digitRuns + ", /0/\n" +
	"/request_header:(authorization|proxy-authorization|x-api-key|api-key|x-auth-token|x-access-token|x-amz-security-token)/ remove\n" +
	"/request_body|response_body/ replace /(?i)(\"(?:" + secretNames + ")\"\\s*:\\s*)\"(?:[^\"\\\\]|\\\\.)*\"/, /$1\"xxx\"/\n" +
	"/request_url|request_body/ replace /(?i)((?:" + secretNames + ")=)[^&;#\\s\"]*/, /$1xxx/\n" +
	"/(?i)request_param:(?:" + secretNames + ")/ replace /(?s).+/, /xxx/\n"

var defaultText = DefaultRules

var defaultRules = sync.OnceValue(func() *Rules { return mustParse(DefaultRules) })

// Default returns the sniffer's default rules (DefaultRules), compiled once and shared.
func Default() *Rules { return defaultRules() }

func mustParse(text string) *Rules {
	r, err := Parse(text)
	if err != nil {
		panic(fmt.Sprintf("rules: predefined set does not parse: %v", err))
	}
	return r
}
