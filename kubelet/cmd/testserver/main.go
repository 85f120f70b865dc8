// Command testserver is the HTTP server of the test image
// (docker.io/flotilla/testserver): GET / answers the hostname, /echo echoes
// the request body (or ?msg=), /healthz answers ok, /exit?code=N exits with
// code N. It listens on $PORT (default 8080) and stops on SIGTERM.
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
	"syscall"
	"time"
)

func main() {
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
