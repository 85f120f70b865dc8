// Command testserver is the HTTP server of the test image
// (docker.io/flotilla/testserver): GET / answers the hostname, /echo echoes
// the request body (or ?msg=), /healthz answers ok, /exit?code=N exits with
// code N, /api/pods?namespace=NS lists the pods of NS through the apiserver
// as the pod's service account (in-cluster config) and answers the names,
// or 403 with the apiserver's refusal; `testserver list-pods NS` does the
// same once and exits 0, or 3 when refused. It listens on $PORT (default 8080)
// and stops on SIGTERM.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/sdk/client"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "list-pods" {
		os.Exit(listPodsOnce(os.Args[2]))
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testserver:", err)
		os.Exit(1)
	}
}

func run() error {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	exit := make(chan int, 1)
	srv := &http.Server{Addr: ":" + port, Handler: handler(exit), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	fmt.Printf("testserver listening on :%s\n", port)
	select {
	case err := <-errc:
		return err
	case code := <-exit:
		fmt.Printf("exiting with code %d\n", code)
		os.Exit(code)
	case <-ctx.Done():
		fmt.Println("SIGTERM: shutting down")
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func handler(exit chan<- int) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		h, _ := os.Hostname()
		fmt.Fprintln(w, h)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		if msg := r.URL.Query().Get("msg"); msg != "" {
			fmt.Fprintln(w, msg)
			return
		}
		_, _ = io.Copy(w, io.LimitReader(r.Body, 1<<20))
	})
	mux.HandleFunc("/api/pods", func(w http.ResponseWriter, r *http.Request) {
		names, err := listPods(r.Context(), r.URL.Query().Get("namespace"))
		switch {
		case client.IsForbidden(err):
			http.Error(w, err.Error(), http.StatusForbidden)
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadGateway)
		default:
			for _, n := range names {
				fmt.Fprintln(w, n)
			}
		}
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.URL.Query().Get("code"))
		if err != nil {
			code = 0
		}
		fmt.Fprintf(w, "exiting with code %d\n", code)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		exit <- code
	})
	return mux
}

// listPods lists the pods of ns through the apiserver as the pod's service
// account: the in-cluster config (KUBERNETES_SERVICE_*, the mounted token
// and CA).
func listPods(ctx context.Context, ns string) ([]string, error) {
	cfg, err := client.InClusterConfig()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	list, err := client.For[*corev1.Pod](c).List(ctx, client.ListOptions{Namespace: ns})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range list.Items {
		names = append(names, p.GetMetadata().GetName())
	}
	return names, nil
}

// listPodsOnce is `testserver list-pods NS`: the names, exit 0; refused by
// RBAC, exit 3; any other failure, exit 1.
func listPodsOnce(ns string) int {
	names, err := listPods(context.Background(), ns)
	switch {
	case client.IsForbidden(err):
		fmt.Println("forbidden:", err)
		return 3
	case err != nil:
		fmt.Println("error:", err)
		return 1
	}
	fmt.Printf("pods in %s: %s\n", ns, strings.Join(names, " "))
	return 0
}
