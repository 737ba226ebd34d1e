package flexkafka

import "github.com/go-flexible/flexible/flex"

// Consumers and Producers are flex.Workers: this is why flexkafka requires flex.
var (
	_ flex.Worker = (*Consumer)(nil)
	_ flex.Worker = (*Producer)(nil)
)
