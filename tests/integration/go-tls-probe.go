// SPDX-License-Identifier: Apache-2.0
// A TLS handshake on loopback between Go's standard library client and server, trusting only the
// given root: "server" mode presents -cert/-key as the server's chain and the client checks it for
// -name; "client" mode presents -cert/-key as a client certificate to a server that requires and
// verifies client certificates (-server-cert/-server-key is the server's own chain). Prints "ok",
// or "error:" and the error of the side that verified, and exits 1. Standard library only.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	root := flag.String("root", "", "PEM file of the only trusted root")
	cert := flag.String("cert", "", "the chain presented (leaf first)")
	key := flag.String("key", "", "its key")
	name := flag.String("name", "", "the server name the client checks")
	mode := flag.String("mode", "server", "server or client: which side presents -cert")
	serverCert := flag.String("server-cert", "", "client mode: the server's chain")
	serverKey := flag.String("server-key", "", "client mode: the server's key")
	flag.Parse()

	pem, err := os.ReadFile(*root)
	if err != nil {
		fail(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		fail(fmt.Errorf("no certificate in %s", *root))
	}
	presented, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		fail(err)
	}
	srvPair := presented
	if *mode == "client" {
		if srvPair, err = tls.LoadX509KeyPair(*serverCert, *serverKey); err != nil {
			fail(err)
		}
	}
	srvConf := &tls.Config{Certificates: []tls.Certificate{srvPair}, MinVersion: tls.VersionTLS12}
	cliConf := &tls.Config{RootCAs: pool, ServerName: *name, MinVersion: tls.VersionTLS12}
	if *mode == "client" {
		srvConf.ClientCAs = pool
		srvConf.ClientAuth = tls.RequireAndVerifyClientCert
		cliConf.Certificates = []tls.Certificate{presented}
	}

	ln, err := tls.Listen("tcp", "127.0.0.1:0", srvConf)
	if err != nil {
		fail(err)
	}
	serverErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			serverErr <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		serverErr <- c.(*tls.Conn).Handshake()
	}()

	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), cliConf)
	if err == nil {
		conn.Close()
	}
	sErr := <-serverErr
	// The side that verifies gives the reason: the client for a server's chain, the server for a
	// client's (the other side only sees the alert).
	if *mode == "client" && sErr != nil {
		fail(sErr)
	}
	if err != nil {
		fail(err)
	}
	if sErr != nil {
		fail(sErr)
	}
	fmt.Println("ok")
}

func fail(err error) {
	fmt.Println("error:", err)
	os.Exit(1)
}
