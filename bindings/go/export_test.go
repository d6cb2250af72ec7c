package evio

import "sync/atomic"

// LiveTimers is the number of timers whose handle is not deleted yet: every timer's
// handle goes once it has run, ended with its connection or server, or was stopped on
// its loop (the tests check that none is left over).
func LiveTimers() int64 { return atomic.LoadInt64(&liveTimers) }

// LiveDials is the number of dials whose handle is not deleted yet: each goes once, when
// the dial ends in Dialed (or Opened) or DialFailed, or when Dial refuses it.
func LiveDials() int64 { return atomic.LoadInt64(&liveDials) }
