// Package sample is what testsum's test runs `go test -json` on: one test passes, one fails,
// one skips, one has a skipping subtest.
package sample

import "testing"

func TestPasses(t *testing.T) { t.Log("passing-log-line") }

func TestFails(t *testing.T) { t.Error("failing-log-line") }

func TestSkips(t *testing.T) { t.Skip("skipped: no frobnicator here") }

func TestParent(t *testing.T) {
	t.Run("runs", func(t *testing.T) {})
	t.Run("skips", func(t *testing.T) { t.Skipf("needs %s", "a mirror") })
}
