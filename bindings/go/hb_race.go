//go:build race

package evio

import "sync/atomic"

// hbVar makes the ordering that the C library guarantees between events (its threads,
// locks and queues, which the race detector cannot see) visible to the race detector:
// a release followed by an acquire on the same hbVar is a happens-before edge.
type hbVar struct{ v atomic.Uint32 }

func (h *hbVar) release() { h.v.Add(1) }
func (h *hbVar) acquire() { h.v.Load() }
