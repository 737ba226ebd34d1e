package flexcron

import "github.com/go-flexible/flexible/flex"

// A Scheduler is a flex.Worker: this is why flexcron requires flex.
var _ flex.Worker = (*Scheduler)(nil)
