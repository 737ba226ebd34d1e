module github.com/go-flexible/flexible/flex

go 1.25
