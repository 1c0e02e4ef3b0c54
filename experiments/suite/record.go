package main

import (
	"encoding/csv"
	"fmt"
	"os"
	"strconv"
)

// table writes one experiment's CSV: a header row, then rows flushed as
// they are added, so a run that fails half-way keeps its samples.
type table struct {
	f      *os.File
	w      *csv.Writer
	header []string
	rows   int
}

// newTable creates the experiment's CSV (replacing an old one) with the
// given columns.
func (e *env) newTable(header ...string) (*table, error) {
	if err := os.MkdirAll(e.out, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(e.csvPath())
	if err != nil {
		return nil, err
	}
	t := &table{f: f, w: csv.NewWriter(f), header: header}
	if err := t.w.Write(header); err != nil {
		f.Close()
		return nil, err
	}
	t.w.Flush()
	return t, t.w.Error()
}

// add writes a row; values are flattened (a []any, such as sample.cols(),
// contributes its elements) and must match the header.
func (t *table) add(vals ...any) error {
	var rec []string
	var put func(v any)
	put = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, y := range x {
				put(y)
			}
		case float64:
			rec = append(rec, strconv.FormatFloat(x, 'g', 6, 64))
		case string:
			rec = append(rec, x)
		default:
			rec = append(rec, fmt.Sprint(x))
		}
	}
	for _, v := range vals {
		put(v)
	}
	if len(rec) != len(t.header) {
		return fmt.Errorf("csv row has %d fields, header %d", len(rec), len(t.header))
	}
	if err := t.w.Write(rec); err != nil {
		return err
	}
	t.w.Flush()
	t.rows++
	return t.w.Error()
}

// close flushes and closes the file.
func (t *table) close() error {
	t.w.Flush()
	if err := t.w.Error(); err != nil {
		t.f.Close()
		return err
	}
	return t.f.Close()
}

// cols joins column-name lists, for headers built from parts.
func cols(parts ...[]string) []string {
	var h []string
	for _, p := range parts {
		h = append(h, p...)
	}
	return h
}
