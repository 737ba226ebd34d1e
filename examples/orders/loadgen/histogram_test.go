package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestBuckets checks that every value falls in a bucket whose top is at
// least the value and within the histogram's relative error of it, and
// that buckets are contiguous and increasing.
func TestBuckets(t *testing.T) {
	values := []int64{0, 1, 63, 64, 127, 128, 129, 191, 192, 255, 256, 1000, 1 << 20, 1<<40 + 12345, math.MaxInt64 - 1, math.MaxInt64}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		values = append(values, r.Int64N(1<<r.IntN(63)+1))
	}
	for _, v := range values {
		i := bucket(v)
		if i < 0 || i >= nBuckets {
			t.Fatalf("bucket(%d) = %d, outside [0, %d)", v, i, nBuckets)
		}
		hi := upper(i)
		if hi < v {
			t.Errorf("upper(bucket(%d)) = %d, below the value", v, hi)
		}
		if float64(hi-v) > float64(v)/subHalf {
			t.Errorf("upper(bucket(%d)) = %d: more than 1/%d above", v, hi, subHalf)
		}
		if i > 0 && upper(i-1) >= v {
			t.Errorf("value %d is in bucket %d, but bucket %d ends at %d", v, i, i-1, upper(i-1))
		}
	}
	for i := 1; i < nBuckets; i++ {
		if upper(i) <= upper(i-1) {
			t.Fatalf("upper(%d) = %d ≤ upper(%d) = %d", i, upper(i), i-1, upper(i-1))
		}
	}
}

// TestQuantiles compares the histogram's quantiles with those of the
// sorted values (nearest rank), on a skewed distribution with a long tail.
func TestQuantiles(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var h histogram
	var sorted []time.Duration
	for range 50000 {
		d := time.Duration(r.ExpFloat64() * float64(3*time.Millisecond))
		if r.IntN(100) == 0 {
			d += 2 * time.Second // the tail
		}
		h.record(d)
		sorted = append(sorted, d)
	}
	slices.Sort(sorted)
	for _, q := range []float64{0, 0.5, 0.9, 0.95, 0.99, 0.999, 1} {
		rank := max(int(math.Ceil(q*float64(len(sorted)))), 1)
		want := sorted[rank-1]
		got := h.quantile(q)
		if got < want || float64(got-want) > float64(want)/subHalf {
			t.Errorf("quantile(%v) = %v, want %v (+1/%d)", q, got, want, subHalf)
		}
	}
	if got, want := h.quantile(1), sorted[len(sorted)-1]; got != want {
		t.Errorf("quantile(1) = %v, want the maximum %v", got, want)
	}
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	if got, want := h.mean(), sum/time.Duration(len(sorted)); got != want {
		t.Errorf("mean = %v, want %v", got, want)
	}
}

func TestHistogramMergeEmpty(t *testing.T) {
	var a, b histogram
	if got := a.quantile(0.99); got != 0 {
		t.Errorf("empty quantile = %v, want 0", got)
	}
	b.record(5 * time.Millisecond)
	b.record(time.Millisecond)
	a.merge(&b)
	a.merge(&histogram{})
	if a.count() != 2 || a.min != time.Millisecond || a.max != 5*time.Millisecond {
		t.Errorf("merged: n=%d min=%v max=%v, want 2, 1ms, 5ms", a.count(), a.min, a.max)
	}
}
