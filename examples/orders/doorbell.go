package main

// doorbell wakes one waiting goroutine without blocking the one that
// rings: rings while nobody listens collapse into one, so that the
// listener, once it looks, finds everything written before the ring.
// A nil *doorbell rings nothing and never wakes.
type doorbell struct {
	c chan struct{}
}

func newDoorbell() *doorbell {
	return &doorbell{c: make(chan struct{}, 1)}
}

// ring wakes the listener, now or when it next listens.
func (d *doorbell) ring() {
	if d == nil {
		return
	}
	select {
	case d.c <- struct{}{}:
	default: // already rung: the listener will see this commit too
	}
}

// rung returns the channel that receives a value after each ring.
func (d *doorbell) rung() <-chan struct{} {
	if d == nil {
		return nil
	}
	return d.c
}
