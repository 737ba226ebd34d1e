module github.com/go-flexible/flexible/flexkafka

go 1.25

require (
	github.com/go-flexible/flexible/flex v0.1.0
	github.com/segmentio/kafka-go v0.4.51
)

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
)

replace github.com/go-flexible/flexible/flex => ../flex
