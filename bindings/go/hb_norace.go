//go:build !race

package evio

// hbVar is empty without the race detector: the C library's own synchronisation
// orders the events (see hb_race.go).
type hbVar struct{}

func (*hbVar) release() {}
func (*hbVar) acquire() {}
