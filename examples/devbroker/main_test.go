package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flex"
	"github.com/segmentio/kafka-go"
)

// waitTimeout bounds every wait: it turns a hang into a failure, and is no
// performance target.
const waitTimeout = 30 * time.Second

// envChild makes the test binary run main, so that a test can run the
// program as a child process without building it.
const envChild = "DEVBROKER_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// started is a broker run in the test's process by run.
type started struct {
	addr string
	stop func() error // cancels run's context and returns what run returned
}

// startInProcess calls run with args in a goroutine, without signal
// handling, and waits for the address it prints.
func startInProcess(t *testing.T, args ...string) started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, args, pw, io.Discard, flex.WithSignals())
		pw.CloseWithError(errors.New("run returned"))
		done <- err
	}()
	var once sync.Once
	var runErr error
	stop := func() error { // once: a test stops it, and its cleanup again
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(waitTimeout):
				runErr = errors.New("run did not return")
			}
		})
		return runErr
	}
	addr, err := readAddr(pr)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	t.Cleanup(func() { stop() })
	return started{addr: addr, stop: stop}
}

// readAddr reads the FLEX_KAFKA_BROKERS= line the program prints.
func readAddr(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		return "", err
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "FLEX_KAFKA_BROKERS=")
	if !ok {
		return "", errors.New("first line " + line + " is not FLEX_KAFKA_BROKERS=addr")
	}
	return addr, nil
}

// toFirst puts every message in the first partition, so that a reader of
// that partition alone sees them.
var toFirst = kafka.BalancerFunc(func(_ kafka.Message, partitions ...int) int { return partitions[0] })

// produce writes one message to topic on the broker at addr over TCP,
// creating the topic on the way.
func produce(t *testing.T, addr, topic, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Balancer: toFirst,
		AllowAutoTopicCreation: true, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	// The first write may find the topic still being created.
	for {
		err := w.WriteMessages(ctx, kafka.Message{Key: []byte("k"), Value: []byte(value)})
		if err == nil {
			return
		}
		if !errors.Is(err, kafka.UnknownTopicOrPartition) && !errors.Is(err, kafka.LeaderNotAvailable) || ctx.Err() != nil {
			t.Fatalf("produce to %s on %s: %v", topic, addr, err)
		}
	}
}

// consumeFirst reads the first message of topic's first partition.
func consumeFirst(t *testing.T, addr, topic string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: 0, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	msg, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("consume from %s on %s: %v", topic, addr, err)
	}
	return string(msg.Value)
}

// partitionCount asks the broker how many partitions topic has.
func partitionCount(t *testing.T, addr, topic string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(addr)}
	resp, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || resp.Topics[0].Error != nil {
		t.Fatalf("metadata of %s: %+v", topic, resp.Topics)
	}
	return len(resp.Topics[0].Partitions)
}

// TestProduceConsume starts the broker in-process on a free port and
// sends a message through it with kafka-go over TCP; the topic is created
// automatically with -partitions partitions.
func TestProduceConsume(t *testing.T) {
	b := startInProcess(t, "-addr", "127.0.0.1:0", "-partitions", "5")
	produce(t, b.addr, "greetings", "hello")
	if got, want := consumeFirst(t, b.addr, "greetings"), "hello"; got != want {
		t.Errorf("consumed %q, want %q", got, want)
	}
	if got, want := partitionCount(t, b.addr, "greetings"), 5; got != want {
		t.Errorf("partitions = %d, want %d", got, want)
	}
	if err := b.stop(); err != nil {
		t.Errorf("run = %v, want nil after a clean shutdown", err)
	}
}

// TestDataDir restarts a broker that keeps its data in a directory: the
// message produced before the restart is consumed after it.
func TestDataDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(envDataDir, dir) // the variable, as the flag is tested above
	b := startInProcess(t, "-addr", "127.0.0.1:0")
	produce(t, b.addr, "kept", "still here")
	if err := b.stop(); err != nil {
		t.Fatalf("run = %v", err)
	}
	b = startInProcess(t, "-addr", "127.0.0.1:0")
	if got, want := consumeFirst(t, b.addr, "kept"), "still here"; got != want {
		t.Errorf("after a restart consumed %q, want %q", got, want)
	}
}

// TestSIGTERM runs the program as a child process listening on
// DEVBROKER_ADDR, sends a message through it, and checks that SIGTERM ends
// it with status 0.
func TestSIGTERM(t *testing.T) {
	cmd := exec.Command(os.Args[0]) // no flags: main parses os.Args
	cmd.Env = append(os.Environ(), envChild+"=1", envAddr+"=127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })

	addr, err := readAddr(stdout)
	if err != nil {
		t.Fatalf("reading the address: %v; stderr:\n%s", err, &stderr)
	}
	produce(t, addr, "child", "from a child")
	if got, want := consumeFirst(t, addr, "child"), "from a child"; got != want {
		t.Errorf("consumed %q, want %q", got, want)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after SIGTERM: %v, want exit status 0; stderr:\n%s", err, &stderr)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("still running %v after SIGTERM; stderr:\n%s", waitTimeout, &stderr)
	}
}

func TestInvalidConfig(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{args: []string{"-addr", "nope"}, want: `devbroker: invalid -addr "nope": address nope: missing port in address`},
		{args: []string{"-partitions", "0"}, want: `devbroker: invalid -partitions 0: want at least 1`},
		{env: "x", want: `devbroker: invalid DEVBROKER_PARTITIONS "x": want an integer`},
		{args: []string{"extra"}, want: `devbroker: unexpected arguments ["extra"]`},
	} {
		t.Setenv(envPartitions, tc.env)
		err := run(context.Background(), tc.args, io.Discard, io.Discard, flex.WithSignals())
		if err == nil || err.Error() != tc.want {
			t.Errorf("run(%q) with %s=%q = %v, want %q", tc.args, envPartitions, tc.env, err, tc.want)
		}
	}
}

// TestAddrInUse: a second broker on a taken address fails, naming it.
func TestAddrInUse(t *testing.T) {
	b := startInProcess(t, "-addr", "127.0.0.1:0")
	err := run(context.Background(), []string{"-addr", b.addr}, io.Discard, io.Discard, flex.WithSignals())
	if err == nil || !strings.Contains(err.Error(), "devbroker: start a broker on "+b.addr) {
		t.Errorf("second broker on %s: %v, want an error naming the address", b.addr, err)
	}
}
