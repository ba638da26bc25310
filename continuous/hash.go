package continuous

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// Hash is the number a target's phase and shard come from: FNV-1a 64
// over the module's name, a zero byte and the target as written
// ("db-1.example.net:5432"). It depends on nothing else, so a target
// keeps its phase across restarts and reloads, and every exporter that
// shares a target list puts it in the same shard.
func Hash(module, target string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(module))
	h.Write([]byte{0})
	h.Write([]byte(target))
	return h.Sum64()
}

// Phase is where in each interval a target with hash h is checked: its
// checks start at the instants t with (t - phase) a whole number of
// intervals since the Unix epoch.
func Phase(h uint64, interval time.Duration) time.Duration {
	return time.Duration(h % uint64(interval))
}

// nextSlot is the first instant at or after now at which a target of
// this phase and interval is due.
func nextSlot(now time.Time, phase, interval time.Duration) time.Time {
	ns := now.UnixNano() - int64(phase)
	k := ns / int64(interval)
	if ns%int64(interval) != 0 {
		k++
	}
	return time.Unix(0, k*int64(interval)+int64(phase))
}

// Shard is one exporter's share of the targets: those whose Hash mod
// Count is Index. The zero Shard (Count 0) keeps every target.
type Shard struct {
	Index, Count uint64
}

// ParseShard reads --continuous.shard: "I/N" with 0 <= I < N, or "" for
// every target.
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{}, nil
	}
	i, n, ok := strings.Cut(s, "/")
	index, err1 := strconv.ParseUint(i, 10, 64)
	count, err2 := strconv.ParseUint(n, 10, 64)
	if !ok || err1 != nil || err2 != nil || count == 0 || index >= count {
		return Shard{}, fmt.Errorf("shard %q: want I/N with 0 <= I < N, such as 0/3", s)
	}
	return Shard{Index: index, Count: count}, nil
}

// Keeps reports whether this shard checks the target with hash h.
func (s Shard) Keeps(h uint64) bool {
	return s.Count == 0 || h%s.Count == s.Index
}

// String is the flag's form, "" for every target.
func (s Shard) String() string {
	if s.Count == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}
