package queue

import "container/heap"

// keyedHeap is a heap of queued pods addressable by key.
type keyedHeap struct {
	items []*QueuedPod
	index map[string]int
	less  func(a, b *QueuedPod) bool
}

func newHeap(less func(a, b *QueuedPod) bool) *keyedHeap {
	return &keyedHeap{index: map[string]int{}, less: less}
}

func (h *keyedHeap) Len() int           { return len(h.items) }
func (h *keyedHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *keyedHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.index[h.items[i].Key] = i
	h.index[h.items[j].Key] = j
}
func (h *keyedHeap) Push(x any) {
	qp := x.(*QueuedPod)
	h.index[qp.Key] = len(h.items)
	h.items = append(h.items, qp)
}
func (h *keyedHeap) Pop() any {
	n := len(h.items) - 1
	qp := h.items[n]
	h.items[n] = nil
	h.items = h.items[:n]
	delete(h.index, qp.Key)
	return qp
}

// upsert adds qp or replaces the entry with its key.
func (h *keyedHeap) upsert(qp *QueuedPod) {
	if i, ok := h.index[qp.Key]; ok {
		h.items[i] = qp
		heap.Fix(h, i)
		return
	}
	heap.Push(h, qp)
}

func (h *keyedHeap) get(key string) (*QueuedPod, bool) {
	i, ok := h.index[key]
	if !ok {
		return nil, false
	}
	return h.items[i], true
}

func (h *keyedHeap) remove(key string) (*QueuedPod, bool) {
	i, ok := h.index[key]
	if !ok {
		return nil, false
	}
	return heap.Remove(h, i).(*QueuedPod), true
}

func (h *keyedHeap) peek() *QueuedPod {
	if len(h.items) == 0 {
		return nil
	}
	return h.items[0]
}

func (h *keyedHeap) pop() *QueuedPod {
	if len(h.items) == 0 {
		return nil
	}
	return heap.Pop(h).(*QueuedPod)
}
