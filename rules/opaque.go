package rules

// Opaque marks the bodies of a call that are not text the rules can read: bodies still in
// their content coding (gzip, deflate, br, zstd) because decoding was off (-decode=false),
// shed under load, or failed, and not UTF-8 text (model.Message.Compressed; a body
// labelled gzip that is plain text is text, and masked).
//
// Replace rules leave such a body as it is. A regex run over compressed bytes cannot find
// what it masks (deflate, brotli and zstd store text as entropy-coded bits, not as its
// letters), so it masks nothing there; and when it matches by chance, as an e-mail pattern
// does about once per megabyte of random bytes, it rewrites bytes of the compressed stream,
// which then no longer decodes: bytes that were never on the wire, and not a body either.
// It also cost a tenth of the CPU of a -decode=false run. Remove and stop rules still act on
// such bodies by their names. The pipeline counts calls whose opaque bodies a replace rule
// would have masked (BodiesNotMasked), so that nobody takes them for masked.
type Opaque uint8

const (
	OpaqueRequestBody Opaque = 1 << iota
	OpaqueResponseBody
)

// bodyBit is the Opaque bit for a detail name, 0 for details other than the bodies.
func bodyBit(name string) Opaque {
	switch name {
	case "request_body":
		return OpaqueRequestBody
	case "response_body":
		return OpaqueResponseBody
	}
	return 0
}

// ApplyOpaque is ApplyPooled for a call whose bodies named in opaque are not text (bufs
// may be nil, as for Apply): replace rules skip those bodies.
func (r *Rules) ApplyOpaque(details [][2]string, bufs *[][]byte, opaque Opaque) (out [][2]string, keep bool) {
	return r.apply(details, bufs, opaque, Verdict{})
}

// MasksBodies tells which bodies some replace rule's scope names: the bodies whose
// masking an Opaque mark skips.
func (r *Rules) MasksBodies() Opaque {
	var o Opaque
	st := &callState{r: r}
	for _, rl := range r.replaces {
		for _, name := range [...]string{"request_body", "response_body"} {
			if st.inScope(rl, r.cache.bits(name), name, false) {
				o |= bodyBit(name)
			}
		}
	}
	return o
}
