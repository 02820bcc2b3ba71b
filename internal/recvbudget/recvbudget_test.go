package recvbudget

import (
	"errors"
	"sync"
	"testing"
)

// step sets holder h to n bytes (n < 0: Release) and expects err.
type step struct {
	h       int
	n       int64
	evicted bool // the call returns ErrEvicted
}

func TestBudget(t *testing.T) {
	tests := []struct {
		name      string
		limit     int64
		steps     []step
		wantUsed  int64
		wantEvict []int // holders evicted, in order
	}{
		{"the grower is the largest", 100, []step{{0, 40, false}, {1, 50, false}, {0, 60, true}}, 50, []int{0}},
		{"within", 100, []step{{0, 40, false}, {1, 50, false}, {1, 60, false}}, 100, nil},
		{"the largest goes, not the caller", 100, []step{{0, 70, false}, {1, 20, false}, {1, 40, false}}, 40, []int{0}},
		{"the caller when it is the largest", 100, []step{{0, 30, false}, {1, 80, true}}, 30, []int{1}},
		{"an evicted holder stays evicted", 100, []step{{0, 90, false}, {1, 20, false}, {0, 95, true}}, 20, []int{0}},
		{"release frees", 100, []step{{0, 90, false}, {0, -1, false}, {1, 100, false}}, 100, nil},
		{"shrinking never evicts", 10, []step{{0, 10, false}, {0, 5, false}}, 5, nil},
		{"several go until under", 100, []step{{0, 30, false}, {1, 30, false}, {2, 30, false}, {3, 95, true}}, 90, []int{3}},
		{"the largest of several", 100, []step{{0, 30, false}, {1, 31, false}, {2, 32, false}, {3, 7, false}, {3, 8, false}}, 69, []int{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := New(tc.limit)
			var hs [4]Holder
			var evicted []int
			for i := range hs {
				i := i
				hs[i].Init(b, func() { evicted = append(evicted, i) })
			}
			for k, s := range tc.steps {
				if s.n < 0 {
					hs[s.h].Release()
					continue
				}
				err := hs[s.h].Hold(s.n)
				if got := errors.Is(err, ErrEvicted); got != s.evicted {
					t.Fatalf("step %d: Hold(%d) on holder %d: %v", k, s.n, s.h, err)
				}
			}
			if b.Used() != tc.wantUsed {
				t.Errorf("used %d, want %d", b.Used(), tc.wantUsed)
			}
			if len(evicted) != len(tc.wantEvict) || b.Evictions() != uint64(len(tc.wantEvict)) {
				t.Fatalf("evicted %v (count %d), want %v", evicted, b.Evictions(), tc.wantEvict)
			}
			for i := range evicted {
				if evicted[i] != tc.wantEvict[i] {
					t.Fatalf("evicted %v, want %v", evicted, tc.wantEvict)
				}
			}
			for i := range hs {
				hs[i].Release()
			}
			if b.Used() != 0 || len(b.holders) != 0 {
				t.Errorf("after every release: used %d, %d listed", b.Used(), len(b.holders))
			}
		})
	}
}

func TestNilBudget(t *testing.T) {
	var h Holder
	h.Init(New(0), func() { t.Fatal("evicted without a budget") })
	if err := h.Hold(1 << 40); err != nil {
		t.Fatal(err)
	}
	h.Release()
	if New(-1).Used() != 0 || New(0).Limit() != 0 || New(0).Evictions() != 0 {
		t.Error("a nil budget reports something")
	}
}

// TestConcurrentHolders: holders growing and releasing on many goroutines,
// with evictions, leave the total consistent (run it under -race).
func TestConcurrentHolders(t *testing.T) {
	b := New(3_000)
	const goroutines, rounds = 16, 500
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var h Holder
			h.Init(b, func() {})
			for r := 0; r < rounds; r++ {
				for n := int64(100); n <= 2000; n += 300 {
					if err := h.Hold(n); errors.Is(err, ErrEvicted) {
						break
					} else if err != nil {
						t.Error(err)
					}
				}
				h.Release()
			}
		}()
	}
	wg.Wait()
	if b.Used() != 0 {
		t.Errorf("used %d after every holder released", b.Used())
	}
}
