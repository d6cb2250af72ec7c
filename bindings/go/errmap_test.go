package evio

// The bridge's error table against the one list in the C header: include/evio.h defines
// every code once, as a row XX(NAME, value, "text") of EVIO_ERRNO_MAP. This is an
// internal test (package evio) because the table is unexported.

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

type errRow struct {
	name  string
	value int
	text  string
}

// headerRows reads the rows of EVIO_ERRNO_MAP from ../../include/evio.h. Every line of the
// macro's body must be a row, so a reformatted list cannot be half read.
func headerRows(t *testing.T) []errRow {
	t.Helper()
	path := filepath.Join("..", "..", "include", "evio.h")
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the header's error list: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var rows []errRow
	found, continued := false, false
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t")
		if !found {
			if strings.HasPrefix(line, "#define EVIO_ERRNO_MAP(XX)") {
				found, continued = true, strings.HasSuffix(line, "\\")
			}
			continue
		}
		if !continued {
			break
		}
		continued = strings.HasSuffix(line, "\\")
		row, ok := parseErrRow(strings.TrimSpace(strings.TrimSuffix(line, "\\")))
		if !ok {
			t.Fatalf("%s: EVIO_ERRNO_MAP line is not XX(NAME, value, \"text\"): %q", path, line)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !found || continued || len(rows) == 0 {
		t.Fatalf("%s: no complete EVIO_ERRNO_MAP (found %v, %d rows)", path, found, len(rows))
	}
	return rows
}

// parseErrRow reads `XX(EPERM, -1, "operation not permitted on this thread")`.
func parseErrRow(s string) (errRow, bool) {
	if !strings.HasPrefix(s, "XX(") || !strings.HasSuffix(s, ")") {
		return errRow{}, false
	}
	args := strings.SplitN(s[len("XX("):len(s)-1], ",", 3)
	if len(args) != 3 {
		return errRow{}, false
	}
	name := strings.TrimSpace(args[0])
	value, err := strconv.Atoi(strings.TrimSpace(args[1]))
	text := strings.TrimSpace(args[2])
	if name == "" || strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) >= 0 || err != nil || len(text) < 2 || text[0] != '"' || text[len(text)-1] != '"' {
		return errRow{}, false
	}
	text = text[1 : len(text)-1]
	if strings.ContainsAny(text, "\"\\") {
		return errRow{}, false
	}
	return errRow{name, value, text}, true
}

// TestErrnoTableIsTheHeadersList: the bridge maps every code of the list (and nothing
// else) to a syscall.Errno, the errno of the row's name (on Linux, where evio's values are
// the system's: -value), and codeError hands exactly that out.
func TestErrnoTableIsTheHeadersList(t *testing.T) {
	rows := headerRows(t)
	listed := map[int]bool{}
	for _, r := range rows {
		listed[r.value] = true
		e, ok := errnos[r.value]
		if !ok {
			t.Errorf("EVIO_%s (%d) is in evio.h but not in the errnos table of bridge.go", r.name, r.value)
			continue
		}
		errno, ok := e.(syscall.Errno)
		if !ok {
			t.Errorf("errnos[EVIO_%s] is %T, not a syscall.Errno", r.name, e)
			continue
		}
		if runtime.GOOS == "linux" && errno != syscall.Errno(-r.value) {
			t.Errorf("errnos[EVIO_%s] is errno %d (%v), want %d (%s)", r.name, int(errno), errno, -r.value, r.name)
		}
		if err := codeError(r.value); !errors.Is(err, errno) {
			t.Errorf("codeError(EVIO_%s) = %v, want %v", r.name, err, errno)
		}
	}
	for code := range errnos {
		if !listed[code] {
			t.Errorf("the errnos table of bridge.go maps %d, which is not in EVIO_ERRNO_MAP", code)
		}
	}
}

// TestErrorTextsAreTheHeadersList: the library's text for each code (what Go shows for a
// code without an errno) is the row's text, and a code outside the list is no row's text.
func TestErrorTextsAreTheHeadersList(t *testing.T) {
	rows := headerRows(t)
	texts := map[string]string{}
	for _, r := range rows {
		if got := strerror(r.value); got != r.text {
			t.Errorf("evio_strerror(EVIO_%s) = %q, evio.h says %q", r.name, got, r.text)
		}
		texts[r.text] = r.name
	}
	if err := codeError(-9999); err == nil || err.Error() != strerror(-9999) {
		t.Errorf("codeError(-9999) = %v, want evio_strerror's text %q", err, strerror(-9999))
	}
	if name, ok := texts[strerror(-9999)]; ok {
		t.Errorf("an unknown code has the text of EVIO_%s", name)
	}
	if codeError(0) != nil || codeError(1) != nil {
		t.Errorf("codeError of a non-negative value is not nil")
	}
}

func TestErrRowParserIsStrict(t *testing.T) {
	r, ok := parseErrRow(`XX(EPERM, -1, "operation not permitted on this thread")`)
	if !ok || r != (errRow{"EPERM", -1, "operation not permitted on this thread"}) {
		t.Fatalf("parsed %+v, %v", r, ok)
	}
	for _, bad := range []string{"", "XX(EPERM, -1)", `XX(EPERM, x, "t")`, `XX(E PERM, -1, "t")`,
		"XX(EPERM, -1, t)", "/* comment */"} {
		if _, ok := parseErrRow(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
