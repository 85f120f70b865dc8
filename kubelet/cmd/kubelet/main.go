// Command kubelet is not implemented yet; it exists so the workspace builds
// every component. It refuses to run rather than pretend.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "kubelet: not implemented yet")
	os.Exit(1)
}
