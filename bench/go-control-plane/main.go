// gcp-serve: the go-control-plane side of `npm run bench:xds` (GO_CONTROL_PLANE_BIN). It serves a
// fixed snapshot with go-control-plane's SnapshotCache over ADS (state of the world), to every node;
// the contract is in bench/lib/go-control-plane.ts and docs/xds.md ("Beside go-control-plane").
// The project does not build it: its Go modules are not packaged; docs/xds.md says how it was built.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io/ioutil"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	cachelog "github.com/envoyproxy/go-control-plane/pkg/log"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	server "github.com/envoyproxy/go-control-plane/pkg/server/v3"

	// Register every type that may appear in an Any.
	_ "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/lua/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/http/early_header_mutation/header_mutation/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

type stderrLogger struct{}

func (stderrLogger) Debugf(string, ...interface{})     {}
func (stderrLogger) Infof(string, ...interface{})      {}
func (stderrLogger) Warnf(f string, a ...interface{})  { logf("cache warn: "+f, a...) }
func (stderrLogger) Errorf(f string, a ...interface{}) { logf("cache error: "+f, a...) }

type constantHash struct{}

func (constantHash) ID(node *core.Node) string { return "all" }

func logf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "gcp-serve: "+format+"\n", args...)
}

func loadSnapshot(dir string) (map[resource.Type][]types.Resource, error) {
	out := map[resource.Type][]types.Resource{}
	for i := 0; ; i++ {
		path := filepath.Join(dir, strconv.Itoa(i)+".pb")
		data, err := ioutil.ReadFile(path)
		if err != nil {
			if os.IsNotExist(err) {
				if i == 0 {
					return nil, fmt.Errorf("no %s", path)
				}
				break
			}
			return nil, err
		}
		var dr discoverygrpc.DiscoveryResponse
		if err := proto.Unmarshal(data, &dr); err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		for j, a := range dr.GetResources() {
			msg, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{})
			if err != nil {
				return nil, fmt.Errorf("%s resource %d (%s): %v", path, j, a.GetTypeUrl(), err)
			}
			tu := a.GetTypeUrl()
			if dr.GetTypeUrl() != "" && tu != dr.GetTypeUrl() {
				logf("%s: resource %d type %s differs from response type_url %s (grouping by resource type)", path, j, tu, dr.GetTypeUrl())
			}
			out[tu] = append(out[tu], msg)
		}
	}
	return out, nil
}

func main() {
	port := flag.Int("port", 0, "listen port on 127.0.0.1 (0 = pick a free one)")
	dir := flag.String("snapshot", "", "directory with 0.pb, 1.pb, ... (DiscoveryResponse each)")
	cacheLog := flag.Bool("cache-log", false, "log the snapshot cache's warnings/errors (e.g. ADS requests it will not answer) to stderr")
	flag.Parse()
	if *dir == "" {
		logf("-snapshot DIR is required")
		os.Exit(2)
	}

	res, err := loadSnapshot(*dir)
	if err != nil {
		logf("load snapshot: %v", err)
		os.Exit(1)
	}
	keys := make([]string, 0, len(res))
	for k := range res {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		logf("loaded %d x %s", len(res[k]), k)
	}

	snap, err := cache.NewSnapshot("1", res)
	if err != nil {
		logf("new snapshot: %v", err)
		os.Exit(1)
	}
	if err := snap.Consistent(); err != nil {
		logf("snapshot inconsistent (serving anyway): %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var lg cachelog.Logger // nil: go-control-plane's default (silent)
	if *cacheLog {
		lg = stderrLogger{}
	}
	sc := cache.NewSnapshotCache(true, constantHash{}, lg)
	if err := sc.SetSnapshot(ctx, "all", snap); err != nil {
		logf("set snapshot: %v", err)
		os.Exit(1)
	}
	srv := server.NewServer(ctx, sc, nil)

	const gib = 1 << 30
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(gib), grpc.MaxSendMsgSize(gib))
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(gs, srv)

	lis, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		logf("listen: %v", err)
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(w, "ready %d\n", lis.Addr().(*net.TCPAddr).Port)
	w.Flush()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-sigs
		logf("got %v, exiting", s)
		cancel()
		gs.Stop()
	}()
	if err := gs.Serve(lis); err != nil {
		logf("serve: %v", err)
		os.Exit(1)
	}
}
