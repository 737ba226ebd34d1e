module github.com/go-flexible/flexible/examples/compare

go 1.26.0

replace github.com/go-flexible/flexible/flex => ../../flex

replace github.com/go-flexible/flexible/flexhttp => ../../flexhttp

require (
	github.com/go-flexible/flexible/flex v0.1.0
	github.com/go-flexible/flexible/flexhttp v0.1.0
	github.com/oklog/run v1.2.0
	go.uber.org/fx v1.24.0
)

require (
	go.uber.org/dig v1.19.0 // indirect
	go.uber.org/multierr v1.10.0 // indirect
	go.uber.org/zap v1.26.0 // indirect
	golang.org/x/sys v0.0.0-20220412211240-33da011f77ad // indirect
)
