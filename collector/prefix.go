package collector

// Serving under a path prefix, for an exporter behind a reverse proxy
// (--web.external-url, --web.route-prefix, as Prometheus and Alertmanager
// have them).

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/seed-5ff58b3a/synack_exporter/internal/quote"
)

// RoutePrefix returns the path prefix every endpoint is served under:
// routePrefix when given, else the path of externalURL; "" for the root.
// The result starts with "/" and has none at its end, so "/synack/"
// gives "/synack".
func RoutePrefix(externalURL, routePrefix string) (string, error) {
	if externalURL != "" {
		u, err := url.Parse(externalURL)
		if err != nil {
			return "", fmt.Errorf("--web.external-url: %w", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return "", fmt.Errorf("--web.external-url: want an absolute http or https URL such as https://proxy.example/synack/, got %s (a path alone goes in --web.route-prefix)", quote.Short(externalURL))
		}
		if routePrefix == "" {
			routePrefix = u.Path
		}
	}
	prefix := "/" + strings.Trim(routePrefix, "/")
	if prefix == "/" {
		return "", nil
	}
	for _, segment := range strings.Split(prefix[1:], "/") {
		if segment == "" || strings.ContainsFunc(segment, notPathRune) {
			return "", fmt.Errorf("--web.route-prefix: %s is not a plain path: use letters, digits, '-', '.', '_' and '~' between single slashes", quote.Short(routePrefix))
		}
	}
	return prefix, nil
}

// notPathRune reports a rune that a route prefix may not hold: anything
// that would need escaping in a URL, so that the prefix reads the same in
// a browser, a proxy's configuration and Prometheus's metrics_path.
func notPathRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '-' || r == '.' || r == '_' || r == '~')
}

// UnderPrefix serves h under prefix (from RoutePrefix): a request for
// prefix+"/metrics" reaches h as "/metrics". The prefix itself and "/"
// redirect to prefix+"/", the landing page; every other path is a 404.
// An unclean path ("//", "/./") redirects to its clean form first, as
// ServeMux does, but with the prefix kept.
// With prefix "" it returns h. The landing page's links are relative, so
// they work under any prefix, and behind a proxy that strips it too.
func UnderPrefix(h http.Handler, prefix string) http.Handler {
	if prefix == "" {
		return h
	}
	return &prefixHandler{prefix: prefix, inner: http.StripPrefix(prefix, h)}
}

// cleanPath is path.Clean keeping a final slash, as ServeMux cleans.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	cleaned := path.Clean(p)
	if strings.HasSuffix(p, "/") && cleaned != "/" {
		cleaned += "/"
	}
	return cleaned
}

type prefixHandler struct {
	prefix string
	inner  http.Handler
}

func (p *prefixHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requested := r.URL.Path
	switch {
	case cleanPath(requested) != requested:
		// The inner ServeMux would clean it too, but redirect to the
		// cleaned path without the prefix.
		u := *r.URL
		u.Path = cleanPath(requested)
		http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
	case strings.HasPrefix(requested, p.prefix+"/"):
		p.inner.ServeHTTP(w, r)
	case requested == p.prefix || requested == "/":
		http.Redirect(w, r, p.prefix+"/", http.StatusFound)
	default:
		http.NotFound(w, r)
	}
}
