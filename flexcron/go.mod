module github.com/go-flexible/flexible/flexcron

go 1.25

require github.com/go-flexible/flexible/flex v0.1.0

require github.com/robfig/cron/v3 v3.0.1

replace github.com/go-flexible/flexible/flex => ../flex
