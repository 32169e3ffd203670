//go:build !amd64

package output

// Elsewhere the word loop of appendJSONString and the pairs loop of appendBase64 do all
// the work.
const hasSSSE3 = false

func escapeBlocks(dst, src []byte, high uint64) (n, i int) { return 0, 0 }

func base64Blocks(dst, src []byte) int { return 0 }
