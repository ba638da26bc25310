package collector

import (
	"fmt"
	"net/url"
)

// maxQueryLen bounds a /probe query string: a target, a module name and a
// debug flag fit many times over. It also bounds what an error message
// can repeat back to the client and into the log.
const maxQueryLen = 4096

// parseQuery parses a /probe query string strictly. r.URL.Query() drops a
// pair it cannot decode without a word, so "target=%zz:80" would read as
// a missing target and "target=a:1;module=b" would lose its module; here
// either is an error that says why.
func parseQuery(raw string) (url.Values, error) {
	if len(raw) > maxQueryLen {
		return nil, fmt.Errorf("query is %d bytes long; the limit is %d", len(raw), maxQueryLen)
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	return q, nil
}
