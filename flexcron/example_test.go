package flexcron_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/go-flexible/flexible/flex"
	"github.com/go-flexible/flexible/flexcron"
)

// A scheduler runs beside the other workers of a service and halts with
// them: flex.Start waits for running jobs until FLEX_SHUTDOWN_TIMEOUT.
func Example() {
	s, err := flexcron.New()
	if err != nil {
		log.Fatal(err)
	}
	err = s.Add("report", "CRON_TZ=Europe/Paris 0 7 * * MON-FRI", func(ctx context.Context) error {
		due, _ := flexcron.ScheduledTime(ctx)
		slog.InfoContext(ctx, "building the report", "for", due)
		return nil // return ctx.Err() at a safe point when ctx is cancelled
	})
	if err != nil {
		log.Fatal(err) // the spec is checked here, before the service starts
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond) // a service would run until SIGTERM
	defer cancel()
	if err := flex.Start(ctx, s); err != nil {
		log.Fatal(err)
	}
	fmt.Println("stopped")
	// Output: stopped
}

func ExampleScheduler_Add_invalidSpec() {
	s, _ := flexcron.New()
	err := s.Add("report", "* * *", func(context.Context) error { return nil })
	fmt.Println(err)
	// Output: flexcron: job "report": invalid spec "* * *": expected 5 to 6 fields, found 3: [* * *]
}

func ExampleScheduler_Trigger() {
	s, _ := flexcron.New(flexcron.WithLogger(slog.New(slog.DiscardHandler)))
	done := make(chan struct{})
	_ = s.Add("reindex", "@daily", func(context.Context) error {
		fmt.Println("reindexing")
		close(done)
		return nil
	})
	go s.Run(context.Background())
	<-s.Ready()
	if err := s.Trigger("reindex"); err != nil {
		fmt.Println(err)
	}
	<-done
	_ = s.Halt(context.Background())
	st := s.Stats()[0]
	fmt.Println(st.Name, st.Runs, st.Failures)
	// Output:
	// reindexing
	// reindex 1 0
}

func ExampleParse() {
	ny, _ := time.LoadLocation("America/New_York")
	s, _ := flexcron.Parse("30 2 * * *", ny)
	// 02:30 does not exist on 2026-03-08: the run happens once, at 03:00 EDT.
	t := time.Date(2026, 3, 7, 12, 0, 0, 0, ny)
	for range 3 {
		t = s.Next(t)
		fmt.Println(t.Format("2006-01-02 15:04 MST"))
	}
	// Output:
	// 2026-03-08 03:00 EDT
	// 2026-03-09 02:30 EDT
	// 2026-03-10 02:30 EDT
}

func ExampleWithLocker() {
	// A Locker that never gets the lock, as when another replica holds it.
	held := flexcron.LockerFunc(func(ctx context.Context, job string) (func(), error) {
		return nil, flexcron.ErrLockHeld
	})
	s, _ := flexcron.New(flexcron.WithLocker(held), flexcron.WithLogger(slog.New(slog.DiscardHandler)))
	_ = s.Add("cleanup", "@hourly", func(context.Context) error { return nil })
	go s.Run(context.Background())
	<-s.Ready()
	_ = s.Trigger("cleanup")
	_ = s.Halt(context.Background()) // waits for the triggered attempt
	st := s.Stats()[0]
	fmt.Println("runs:", st.Runs, "lock held elsewhere:", st.LockHeld)
	// Output: runs: 0 lock held elsewhere: 1
}
