package test

import (
	"bufio"
	"bytes"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	coordinationv1 "flotilla.io/proto/flotilla/coordination/v1"
	"go.uber.org/zap"
)

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

func trim(b []byte) []byte { return bytes.TrimSpace(b) }

func testserverEtcdClient(t *testing.T, endpoint string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

type coordinationLease = coordinationv1.Lease
