// Package fuzz holds the seed corpora of the project's fuzz targets and
// the helper that loads them. The targets themselves live beside the code
// they fuzz (Go requires Fuzz functions in _test.go files of the package);
// each one seeds itself from corpus/<target>/ here.
//
// Run every target with `make fuzz` (FUZZTIME per target, default 30s).
package fuzz

import (
	"os"
	"path/filepath"
	"runtime"
	"sort"
)

// Dir is the absolute path of the corpus folder.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "corpus")
}

// Seeds returns the contents of every file in corpus/<target>/, sorted by
// name. A missing folder yields no seeds.
func Seeds(target string) [][]byte {
	dir := filepath.Join(Dir(), target)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var out [][]byte
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err == nil {
			out = append(out, b)
		}
	}
	return out
}
