module github.com/go-flexible/flexible/flexkafka/internal/kafkatest

go 1.26.0

require (
	github.com/go-flexible/flexible/flex v0.1.0
	github.com/go-flexible/flexible/flexkafka v0.1.0
	github.com/segmentio/kafka-go v0.4.51
	github.com/twmb/franz-go/pkg/kfake v0.0.0-20260918054303-01f206a7e32c
	github.com/twmb/franz-go/pkg/kmsg v1.15.1
)

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/twmb/franz-go v1.22.3 // indirect
)

replace (
	github.com/go-flexible/flexible/flex => ../../../flex
	github.com/go-flexible/flexible/flexkafka => ../..
)
