package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// printTable writes one row per result.
func printTable(out io.Writer, results []result) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"way", "deploys", "requests", "failed"}
	for k := kind(1); k < kinds; k++ {
		head = append(head, k.String())
	}
	head = append(head, "slowest", "deploy", "main lines")
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, r := range results {
		t := r.tally
		row := []string{r.way.name, fmt.Sprint(r.deploys), fmt.Sprint(t.requests), fmt.Sprint(t.failed())}
		for k := kind(1); k < kinds; k++ {
			row = append(row, fmt.Sprint(t.counts[k]))
		}
		row = append(row, round(t.slowest), round(r.deployDur), fmt.Sprint(r.mainLines))
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
}

// round shortens d for the table: milliseconds below 10 s, else tenths.
func round(d time.Duration) string {
	if d < 10*time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// printFailures writes the first few failures of each result, for -v.
func printFailures(out io.Writer, results []result) {
	for _, r := range results {
		for _, e := range r.tally.examples {
			fmt.Fprintf(out, "%s: %s\n", r.way.name, e)
		}
	}
}

// mainLines counts the lines of code of the Go file at path: lines that are
// neither blank nor only a // comment.
func mainLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "//") {
			n++
		}
	}
	return n, sc.Err()
}
