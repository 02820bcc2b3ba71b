// Command floor runs the bench's floor server (package bench/floor): the
// least a Spectra relay must do for spectra-bench's clients. spectra-bench
// builds and starts it like spectra-server and reads its listening line.
//
//	go run ./bench/cmd/floor -base-state testdata/replays/golden/bomb_regular.checkpoints.json
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"spectra-relay/bench/floor"
)

func main() {
	var (
		bind       = flag.String("bind", "127.0.0.1", "address to listen on")
		ingestPort = flag.Int("ingest-port", 0, "observer port (0: any free port)")
		outputPort = flag.Int("output-port", 0, "overlay port (0: any free port)")
		baseState  = flag.String("base-state", "", "golden checkpoints file whose last state seeds every match")
		level      = flag.Int("level", 6, "deflate level (6 is spectra-server's DEFLATE_STREAM=flate; its default, delta, has no level)")
		verbose    = flag.Bool("v", false, "log connection errors")
		plus       = flag.Bool("plus", false, "floor+: compress with spectra-server's deltaflate and write each broadcast in io_uring batches")
		adminBind  = flag.String("admin-bind", "", "address of a plain-HTTP /metrics (go_goroutines, each match's match_data sends) for spectra-bench; empty: none")
		gogc       = flag.Int("gogc", 50, "garbage collector target, like spectra-server's -gogc default, so both trade memory for CPU alike (GOGC in the environment wins)")
	)
	flag.Parse()
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(*gogc)
	}
	lvl := slog.LevelInfo
	if *verbose {
		lvl = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	srv, err := floor.New(floor.Config{BaseState: *baseState, Level: *level, Plus: *plus, Log: log})
	if err != nil {
		log.Error("floor: start", "err", err)
		os.Exit(1)
	}
	listen := func(port int) net.Listener {
		ln, err := net.Listen("tcp", net.JoinHostPort(*bind, strconv.Itoa(port)))
		if err != nil {
			log.Error("floor: listen", "err", err)
			os.Exit(1)
		}
		return ln
	}
	in, out := listen(*ingestPort), listen(*outputPort)
	errc := make(chan error, 3)
	go func() { errc <- srv.ServeIngest(in) }()
	go func() { errc <- srv.ServeOutput(out) }()
	admin := ""
	if *adminBind != "" {
		ln, err := net.Listen("tcp", *adminBind)
		if err != nil {
			log.Error("floor: admin listen", "err", err)
			os.Exit(1)
		}
		admin = " admin=" + ln.Addr().String()
		go func() { errc <- serveMetrics(ln, srv) }()
	}
	// The same line as spectra-server's, which spectra-bench parses.
	fmt.Printf("floor listening ingest=%s output=%s%s\n", in.Addr(), out.Addr(), admin)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case <-sig:
	case err := <-errc:
		log.Error("floor: serve", "err", err)
	}
	srv.Close()
}

// serveMetrics answers GET /metrics on ln with the floor's counters.
func serveMetrics(ln net.Listener, srv *floor.Server) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		srv.WriteMetrics(w)
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return hs.Serve(ln)
}
