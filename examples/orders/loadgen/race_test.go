//go:build race

package main

// raceEnabled: the order system under test is built with -race too, which
// finds races in it and shares the build cache with this test.
const raceEnabled = true
