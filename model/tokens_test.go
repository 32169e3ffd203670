package model

import (
	"slices"
	"testing"
)

// hasTokenBut agrees with HeaderTokens, which it stands for on the hot path.
func TestHasTokenButAgreesWithHeaderTokens(t *testing.T) {
	for _, v := range []string{"", " ", ",", " , \t,", "gzip", "identity", "Identity, ", "identity, gzip", " ,br", "\vgzip", "x-gzip ,  identity"} {
		hs := []Header{{Name: "Host", Value: "gzip"}, {Name: "content-encoding", Value: v}}
		toks := HeaderTokens(hs, "Content-Encoding")
		if got, want := hasTokenBut(hs, "Content-Encoding", ""), len(toks) > 0; got != want {
			t.Errorf("%q: any token %v, HeaderTokens %q", v, got, toks)
		}
		other := slices.ContainsFunc(toks, func(s string) bool { return s != "identity" })
		if got := hasTokenBut(hs, "Content-Encoding", "identity"); got != other {
			t.Errorf("%q: a token but identity %v, HeaderTokens %q", v, got, toks)
		}
	}
}
