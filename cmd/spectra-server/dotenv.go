package main

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"strings"
)

// readDotEnv reads KEY=VALUE lines the way the existing server's dotenv
// does: "#" starts a comment (in an unquoted value too), "export " may
// precede the key, values may be quoted with ', " or ` (a quoted value may
// span lines; \n and \r are expanded inside double quotes). A missing file
// is no error.
func readDotEnv(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	return parseDotEnv(string(b)), nil
}

func parseDotEnv(src string) map[string]string {
	out := make(map[string]string)
	src = strings.ReplaceAll(src, "\r\n", "\n")
	sc := bufio.NewScanner(strings.NewReader(src))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "" || line[0] == '#' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		eq := strings.IndexByte(line, '=')
		if eq <= 0 {
			continue
		}
		key := strings.TrimSpace(line[:eq])
		if !validEnvKey(key) {
			continue
		}
		val := strings.TrimLeft(line[eq+1:], " \t")
		if val != "" && (val[0] == '"' || val[0] == '\'' || val[0] == '`') {
			q := val[0]
			body := val[1:]
			// A quoted value ends at the last matching quote of its line, or
			// of a later line for a multi-line value.
			j := i
			for strings.LastIndexByte(body, q) < 0 && j+1 < len(lines) {
				j++
				body += "\n" + lines[j]
			}
			if end := strings.LastIndexByte(body, q); end >= 0 {
				i = j
				val = body[:end]
				if q == '"' {
					val = strings.NewReplacer(`\n`, "\n", `\r`, "\r").Replace(val)
				}
				out[key] = val
				continue
			}
			// No closing quote anywhere: the value is taken as written.
		}
		if h := strings.IndexByte(val, '#'); h >= 0 {
			val = val[:h]
		}
		out[key] = strings.TrimSpace(val)
	}
	return out
}

func validEnvKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c == '.' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
