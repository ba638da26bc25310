package config

// blackboxHints finish the "unknown field" error for fields that a
// blackbox_exporter module has and ours do not: someone moving modules
// over meets one of them first, and the plain error would not say what to
// do about it.
var blackboxHints = map[string]string{
	"prober":         `blackbox_exporter style: drop "prober:" and move the fields under "tcp:" up into the module (see docs/blackbox-migration.md)`,
	"tcp":            `blackbox_exporter style: move the fields under "tcp:" up into the module and drop "prober:" (see docs/blackbox-migration.md)`,
	"query_response": `a half-open check sends no data; keep blackbox_exporter for this module (see docs/blackbox-migration.md)`,
	"tls":            `a half-open check never reaches TLS; keep blackbox_exporter for this module (see docs/blackbox-migration.md)`,
	"tls_config":     `a half-open check never reaches TLS; keep blackbox_exporter for this module (see docs/blackbox-migration.md)`,
}

// blackboxHint returns ": " and the hint for field, or "" if it has none.
func blackboxHint(field string) string {
	if hint, ok := blackboxHints[field]; ok {
		return ": " + hint
	}
	return ""
}
