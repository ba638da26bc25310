//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "bench: needs Linux (network namespaces, nftables, TUN)")
	os.Exit(1)
}
