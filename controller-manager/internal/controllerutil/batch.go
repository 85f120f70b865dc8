package controllerutil

import (
	"context"
	"sync"
)

// SlowStartInitialBatchSize is the first batch of SlowStartBatch, as
// upstream's.
const SlowStartInitialBatchSize = 1

// SlowStartBatch calls fn count times in batches of 1, 2, 4, ... running
// each batch in parallel; it stops after the first batch with an error, so
// a create the apiserver keeps refusing (quota, invalid template) costs a
// few calls rather than count. It returns how many calls succeeded and the
// first error.
func SlowStartBatch(ctx context.Context, count, initial int, fn func(ctx context.Context) error) (int, error) {
	remaining := count
	successes := 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		errs := make(chan error, batch)
		var wg sync.WaitGroup
		for range batch {
			wg.Go(func() {
				if err := fn(ctx); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		successes += batch - len(errs)
		if err, failed := <-errs; failed {
			return successes, err
		}
		remaining -= batch
	}
	return successes, nil
}
