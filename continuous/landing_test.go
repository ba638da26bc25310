package continuous

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

func TestLanding(t *testing.T) {
	r, _ := newRunner(t, Options{Checker: newFakeChecker(0)})
	if r.Landing() != "" {
		t.Error("a section without targets")
	}
	// A long interval: no check runs; the test writes the samples.
	cfg := load(t, "modules:\n  m: {}\ncontinuous:\n  - targets: [\"127.0.0.1:22\", \"127.0.0.1:23\"]\n    module: m\n    interval: 1h\n    labels: {team: \"<db>\"}\n")
	if err := r.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	var tg *target
	for _, x := range r.targets {
		if x.name == "127.0.0.1:22" {
			tg = x
		}
	}
	r.mu.Unlock()
	// The ring holds 10 (5 minutes of 1h, at least 10). Two misses that
	// the next 10 push out, then 10: misses at 2, 5 and 9, the others open
	// at 1, 2, 4, 5, 7, 8 and 9 ms.
	tg.mu.Lock()
	tg.record(prober.ClassTimeout, 0)
	tg.record(prober.ClassTimeout, 0)
	for i := range 10 {
		class, d := prober.ClassOpen, time.Duration(i+1)*time.Millisecond
		if i == 2 || i == 5 || i == 9 {
			class, d = prober.ClassTimeout, 0
		}
		tg.record(class, d)
	}
	tg.mu.Unlock()

	doc, err := html.Parse(strings.NewReader(string(r.Landing())))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]*html.Node{}
	for tr := range doc.Descendants() {
		if tr.Type == html.ElementNode && tr.Data == "tr" {
			if cells := cellTexts(tr); len(cells) > 1 {
				rows[cells[1]] = tr
			}
		}
	}
	busy, idle := rows["127.0.0.1:22"], rows["127.0.0.1:23"]
	if busy == nil || idle == nil {
		t.Fatalf("rows for %v, want both targets", keys(rows))
	}
	// Module, target, labels (escaped by the template), last, checks,
	// loss, median.
	cells := cellTexts(busy)
	want := []string{"m", "127.0.0.1:22", "team=<db>", "timeout", "10", "30.0%", "5ms"}
	for i, w := range want {
		if cells[i] != w {
			t.Errorf("cell %d = %q, want %q (row %q)", i, cells[i], w, cells)
		}
	}
	if !hasClass(busy, "failed") {
		t.Error("the row of a target whose last check missed is not marked failed")
	}
	// The plot: one dot per open sample (7), one bar per miss (3).
	circles, misses := count(busy, "circle"), count(busy, "line")
	if circles != 7 || misses != 3 {
		t.Errorf("plot has %d dots and %d bars, want 7 and 3", circles, misses)
	}
	if n := count(busy, "svg"); n != 1 {
		t.Errorf("%d svg elements in the row, want 1", n)
	}
	if c := cellTexts(idle); c[3] != "-" || c[4] != "0" || count(idle, "circle") != 0 {
		t.Errorf("a target with no checks yet: %q", c)
	}
	// The worst loss comes first.
	if strings.Index(string(r.Landing()), "127.0.0.1:22") > strings.Index(string(r.Landing()), "127.0.0.1:23") {
		t.Error("the target with loss is not listed first")
	}
}

func cellTexts(tr *html.Node) []string {
	var out []string
	for td := range tr.ChildNodes() {
		if td.Type == html.ElementNode && (td.Data == "td" || td.Data == "th") {
			var b strings.Builder
			for n := range td.Descendants() {
				if n.Type == html.TextNode {
					b.WriteString(n.Data)
				}
			}
			out = append(out, strings.TrimSpace(b.String()))
		}
	}
	return out
}

func count(n *html.Node, tag string) int {
	c := 0
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && d.Data == tag {
			c++
		}
	}
	return c
}

func hasClass(n *html.Node, class string) bool {
	for _, a := range n.Attr {
		if a.Key == "class" && a.Val == class {
			return true
		}
	}
	return false
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
