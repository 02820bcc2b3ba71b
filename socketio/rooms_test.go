package socketio

import (
	"slices"
	"testing"
)

func TestAppendRooms(t *testing.T) {
	s := NewServer(Config{})
	defer s.Close()
	nsp := s.Of("/")
	a, _ := connectFake(t, s, "/", false)
	b, _ := connectFake(t, s, "/", false)
	_ = a.Join("r1")
	_ = b.Join("r1")
	_ = b.Join("r2")

	sorted := func() []RoomSize {
		rs := nsp.AppendRooms(nil)
		slices.SortFunc(rs, func(x, y RoomSize) int {
			if x.Name < y.Name {
				return -1
			}
			return 1
		})
		return rs
	}
	cases := []struct {
		name string
		act  func()
		want []RoomSize
	}{
		{"joined", func() {}, []RoomSize{{"r1", 2}, {"r2", 1}}},
		{"left", func() { a.Leave("r1") }, []RoomSize{{"r1", 1}, {"r2", 1}}},
		{"emptied room is gone", func() { b.Leave("r2") }, []RoomSize{{"r1", 1}}},
		{"disconnect leaves all", func() { b.Disconnect(false) }, nil},
	}
	for _, tc := range cases {
		tc.act()
		if got := sorted(); !slices.Equal(got, tc.want) {
			t.Errorf("%s: rooms %v, want %v", tc.name, got, tc.want)
		}
	}
	// Appends, keeping what dst held.
	_ = a.Join("x")
	if got := nsp.AppendRooms([]RoomSize{{"keep", 9}}); len(got) != 2 || got[0].Name != "keep" {
		t.Errorf("append: %v", got)
	}
}
