package main

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: each power of two is split into
// 2^(subBits-1) buckets of equal width, so a recorded value is off by less
// than 1/2^(subBits-1) (1.6%) of itself, as in HdrHistogram with two
// significant digits.
const subBits = 7

const (
	subCount = 1 << subBits                 // values below this have a bucket each
	subHalf  = subCount / 2                 // buckets per power of two above it
	nBuckets = (64 - subBits + 1) * subHalf // up to the bucket of math.MaxInt64
)

// histogram counts durations in logarithmic buckets of bounded relative
// error, in constant memory whatever the number of values. The zero value
// is empty and ready. It is not safe for concurrent use.
type histogram struct {
	counts [nBuckets]uint64
	n      uint64
	sum    time.Duration
	min    time.Duration
	max    time.Duration
}

// bucket returns the index of v's bucket; v < 0 counts as 0.
func bucket(v int64) int {
	if v < subCount {
		return int(max(v, 0))
	}
	e := bits.Len64(uint64(v)) - subBits // ≥ 1: the bits below the top subBits
	return (e+1)*subHalf + int(v>>e) - subHalf
}

// upper returns the largest value of bucket i.
func upper(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	e := i/subHalf - 1
	m := int64(i%subHalf + subHalf)
	hi := (m+1)<<e - 1
	if hi < 0 { // the last bucket ends at the top of int64
		return math.MaxInt64
	}
	return hi
}

// record adds d.
func (h *histogram) record(d time.Duration) {
	h.counts[bucket(int64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	h.max = max(h.max, d)
	h.n++
	h.sum += d
}

// merge adds every value of o.
func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// count returns the number of values recorded.
func (h *histogram) count() uint64 { return h.n }

// quantile returns a value v such that a fraction q (0–1) of the values
// recorded are at most v: the top of the bucket holding the value of rank
// ⌈q·n⌉, capped by the largest value recorded. It is 0 when the histogram
// is empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(upper(i)), h.max)
		}
	}
	return h.max
}

// mean returns the mean of the values recorded, or 0.
func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}
