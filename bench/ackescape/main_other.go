//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "ackescape: needs Linux (network namespaces, TUN)")
	os.Exit(1)
}
