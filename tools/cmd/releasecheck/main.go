// Command releasecheck checks the repository's modules as their users get
// them, through a module proxy built from git, and tags releases.
//
//	releasecheck head              check every module at HEAD, with temporary tags (CI)
//	releasecheck tags              check the latest tag of every module
//	releasecheck api               compare each module's API with its latest tag
//	releasecheck release TAG...    check, then tag: releasecheck release flex/v0.1.0 flexhttp/v0.1.0
//
// Flags come before the subcommand: -go sets the go line of the downstream
// modules (the lowest supported Go release), -repo the repository.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/go-flexible/flexible/tools/releasecheck"
)

func main() {
	goLine := flag.String("go", "1.25", "go line of the downstream modules: the lowest supported Go release")
	repoDir := flag.String("repo", ".", "a folder in the repository's work tree")
	verbose := flag.Bool("v", false, "print each go command run downstream, with its time")
	keep := flag.Bool("keep", false, "keep the proxy and the downstream modules, and print where")
	skipTests := flag.Bool("skip-tests", false, "release: do not run the modules' tests before tagging")
	apidiff := flag.String("apidiff", releasecheck.APIDiff, "api: the apidiff command, as `go run` takes it")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: releasecheck [flags] head|tags|api|release TAG...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	repo, err := releasecheck.OpenRepo(*repoDir)
	if err != nil {
		fail(err)
	}
	dir, err := os.MkdirTemp("", "releasecheck-")
	if err != nil {
		fail(err)
	}
	if *keep {
		fmt.Fprintln(os.Stderr, "releasecheck: work folder", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	checker := &releasecheck.Checker{Repo: repo, Go: *goLine, Dir: dir, Log: os.Stdout, Verbose: *verbose}

	switch cmd, args := flag.Arg(0), flag.Args()[1:]; cmd {
	case "head", "tags":
		plan := repo.HeadPlan
		if cmd == "tags" {
			plan = func(string) (releasecheck.Plan, error) { return repo.TagsPlan() }
		}
		var p releasecheck.Plan
		if p, err = plan("HEAD"); err == nil {
			err = checker.Run(ctx, p)
		}
	case "api":
		err = repo.CheckAPI(ctx, dir, *apidiff, os.Stdout)
	case "release":
		err = repo.Release(ctx, checker, args, !*skipTests, os.Stdout)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		if !*keep {
			os.RemoveAll(dir)
		}
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
