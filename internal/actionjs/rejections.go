package actionjs

import "github.com/dop251/goja"

// Rejections is Deno's unhandled-rejection check, which both Lit runtimes
// apply (docs/naga-wire.md §8.2, docs/lit-v3.md §4.2): a promise rejected
// with no handler stays listed until a handler is attached to it, and a run
// that ends with one listed fails. The zero value is ready; Track it on
// one runtime per run.
type Rejections struct{ pending []*goja.Promise }

// Track installs the tracker on r.
func (t *Rejections) Track(r *goja.Runtime) {
	r.SetPromiseRejectionTracker(func(p *goja.Promise, op goja.PromiseRejectionOperation) {
		switch op {
		case goja.PromiseRejectionReject:
			t.pending = append(t.pending, p)
		case goja.PromiseRejectionHandle:
			for i, q := range t.pending {
				if q == p {
					t.pending = append(t.pending[:i], t.pending[i+1:]...)
					break
				}
			}
		}
	})
}

// Pending returns the promises rejected without a handler, in order.
func (t *Rejections) Pending() []*goja.Promise { return t.pending }
