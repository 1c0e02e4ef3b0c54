package main

import (
	"encoding/hex"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// codec turns command-line arguments into key and value bytes and bytes
// into output, as the --hex and --quote flags choose (see the package
// doc for the rule).
type codec struct {
	hex, quote bool
}

// addFlags registers --hex and --quote on fs.
func (c *codec) addFlags(fs *flag.FlagSet) {
	fs.BoolVar(&c.hex, "hex", false, "keys and values are hex, in arguments and output")
	fs.BoolVar(&c.quote, "quote", false, "keys and values are Go string literals (strconv.Quote), in arguments and output")
}

// check rejects both flags at once.
func (c codec) check() error {
	if c.hex && c.quote {
		return fmt.Errorf("--hex and --quote exclude each other")
	}
	return nil
}

// decode returns the bytes an argument stands for; what names it in
// errors.
func (c codec) decode(what, s string) ([]byte, error) {
	switch {
	case c.hex:
		b, err := hex.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%s %q is not hex: %v", what, s, err)
		}
		return b, nil
	case c.quote:
		q := s
		if !strings.HasPrefix(q, `"`) {
			q = `"` + q + `"`
		}
		u, err := strconv.Unquote(q)
		if err != nil {
			return nil, fmt.Errorf("%s %s is not a Go string literal: %v", what, s, err)
		}
		return []byte(u), nil
	}
	return []byte(s), nil
}

// encode formats b for output.
func (c codec) encode(b []byte) string {
	switch {
	case c.hex:
		return hex.EncodeToString(b)
	case c.quote || !plain(b):
		return strconv.Quote(string(b))
	}
	return string(b)
}

// plain reports whether b prints as it is: non-empty valid UTF-8 of
// printable characters (space included, tab and newline not) that does
// not start with a double quote.
func plain(b []byte) bool {
	if len(b) == 0 || b[0] == '"' || !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
