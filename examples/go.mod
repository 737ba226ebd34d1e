module github.com/go-flexible/flexible/examples

go 1.25

require github.com/go-flexible/flexible/flex v0.1.0

replace github.com/go-flexible/flexible/flex => ../flex
