package output

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/klauspost/compress/zlib"
)

// Eight senders compressing at once through two writers: every stream inflates to its own
// input, and no more than two writers are ever made.
func TestCompressorsShared(t *testing.T) {
	c := newCompressors(3, 2)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var dst bytes.Buffer
			for i := range 50 {
				msgs := make([][]byte, 100+i*7)
				var src []byte
				for k := range msgs {
					msgs[k] = []byte(fmt.Sprintf(`{"sender":%d,"bundle":%d,"message":%d}`, g, i, k))
					src = append(append(src, msgs[k]...), '\n')
				}
				c.compress(&dst, msgs)
				zr, err := zlib.NewReader(bytes.NewReader(dst.Bytes()))
				if err != nil {
					errs <- err
					return
				}
				got, err := io.ReadAll(zr)
				if err != nil || !bytes.Equal(got, src) {
					errs <- fmt.Errorf("sender %d bundle %d: %d bytes back of %d, err %v", g, i, len(got), len(src), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	made := 0
	for range cap(c.free) {
		if <-c.free != nil {
			made++
		}
	}
	if made < 1 || made > 2 {
		t.Errorf("%d zlib writers made, want 1 or 2", made)
	}
}

// The stream compress frames itself is the one klauspost's zlib.Writer makes, byte for
// byte, at every level and for bundles of every size up to a few deflate blocks.
func TestCompressSameAsZlib(t *testing.T) {
	var msgs [][]byte
	var src []byte
	for k := range 400 {
		m := []byte(fmt.Sprintf(`[["request_method","GET"],["request_url","http://h/%d"],["response_body","%s"]]`, k, bytes.Repeat([]byte{byte('a' + k%26)}, k*k%3000)))
		msgs = append(msgs, m)
	}
	for level := 1; level <= 9; level++ {
		c := newCompressors(level, 1)
		for _, n := range []int{0, 1, 2, 7, 50, 400} {
			src = src[:0]
			for _, m := range msgs[:n] {
				src = append(append(src, m...), '\n')
			}
			var want, got bytes.Buffer
			zw, _ := zlib.NewWriterLevel(&want, level)
			zw.Write(src)
			zw.Close()
			c.compress(&got, msgs[:n])
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("level %d, %d messages: %d bytes, zlib.Writer %d, not the same", level, n, got.Len(), want.Len())
			}
			zr, err := zlib.NewReader(bytes.NewReader(got.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if back, err := io.ReadAll(zr); err != nil || !bytes.Equal(back, src) {
				t.Errorf("level %d, %d messages: inflated %d bytes of %d, %v", level, n, len(back), len(src), err)
			}
		}
	}
}
