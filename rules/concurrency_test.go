package rules

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

// One Rules value is shared by every capture goroutine: Apply must give each caller the
// same answer it gives alone. Run with -race.
func TestApplyConcurrently(t *testing.T) {
	sets := []string{"", "include standard", "include strict",
		"include strict\n/request_body/ replace /(?<=card=)\\d+/, /N/\ncopy_session_field /user/",
		"include debug\n/response_body/ replace /(\\w+)@(\\w+)/, /$2 at $1/"}
	for _, text := range sets {
		r, err := Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		inputs := make([][][2]string, 16)
		wants := make([][][2]string, len(inputs))
		for i := range inputs {
			in := wireCall()
			in = append(in, [2]string{"request_body", fmt.Sprintf("card=%d&mail=u%d@example.com", 4111111111111111+i, i)})
			inputs[i] = in
			wants[i], _ = r.Apply(clone(in))
		}
		var wg sync.WaitGroup
		errs := make(chan string, 64)
		for g := range 8 {
			wg.Go(func() {
				for n := range 200 {
					i := (g + n) % len(inputs)
					got, keep := r.Apply(clone(inputs[i]))
					if !keep || !slices.Equal(got, wants[i]) {
						select {
						case errs <- fmt.Sprintf("%q input %d: got %q", text, i, got):
						default:
						}
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	}
}
