// A Go client of keygate for the compatibility suite (tests/interop/go.test.mjs):
// golang.org/x/oauth2/clientcredentials from Debian's golang-golang-x-oauth2-dev, built in
// GOPATH mode with no network (GO111MODULE=off, GOPATH=/usr/share/gocode).  It uses the
// library as its documentation shows: a clientcredentials.Config fetches the token, and the
// http.Client from Config.Client (or oauth2.NewClient over a token held already) calls
// keygate with it.
//
// Input: a JSON list of steps on stdin; output: a JSON list with one result per step on
// stdout.  A step the library refuses gives {"ok": false, "error", "status", "body"}: the test
// decides whether that refusal was right.  Steps:
//
//	{"op": "fetch", "token_url", "client_id", "client_secret", "auth_style":
//	 "header"|"params"|"auto", "scopes": [..], "gets": [URL, ..]}
//	{"op": "call", "access_token", "gets": [URL, ..]}
package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

type step struct {
	Op           string   `json:"op"`
	TokenURL     string   `json:"token_url"`
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	AuthStyle    string   `json:"auth_style"`
	Scopes       []string `json:"scopes"`
	AccessToken  string   `json:"access_token"`
	Gets         []string `json:"gets"`
}

type call struct {
	URL    string          `json:"url"`
	Status int             `json:"status"`
	JSON   json.RawMessage `json:"json,omitempty"`
	Error  string          `json:"error,omitempty"`
}

type result struct {
	OK     bool            `json:"ok"`
	Error  string          `json:"error,omitempty"`
	Status int             `json:"status,omitempty"`
	Body   json.RawMessage `json:"body,omitempty"`
	Token  map[string]any  `json:"token,omitempty"`
	Calls  []call          `json:"calls,omitempty"`
}

var styles = map[string]oauth2.AuthStyle{
	"auto":   oauth2.AuthStyleAutoDetect,
	"header": oauth2.AuthStyleInHeader,
	"params": oauth2.AuthStyleInParams,
}

// jsonOrString keeps a JSON body as it is and quotes anything else.
func jsonOrString(b []byte) json.RawMessage {
	if json.Valid(b) {
		return b
	}
	q, _ := json.Marshal(string(b))
	return q
}

func get(client *http.Client, urls []string) []call {
	calls := []call{}
	for _, u := range urls {
		c := call{URL: u}
		resp, err := client.Get(u)
		if err != nil {
			c.Error = err.Error()
		} else {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			c.Status = resp.StatusCode
			if len(b) > 0 {
				c.JSON = jsonOrString(b)
			}
		}
		calls = append(calls, c)
	}
	return calls
}

func run(ctx context.Context, s step) result {
	switch s.Op {
	case "fetch":
		style, known := styles[s.AuthStyle]
		if !known {
			return result{Error: "unknown auth_style " + s.AuthStyle}
		}
		cfg := clientcredentials.Config{
			ClientID: s.ClientID, ClientSecret: s.ClientSecret, TokenURL: s.TokenURL,
			Scopes: s.Scopes, AuthStyle: style,
		}
		tok, err := cfg.Token(ctx)
		if err != nil {
			r := result{Error: err.Error()}
			var re *oauth2.RetrieveError
			if errors.As(err, &re) {
				r.Status = re.Response.StatusCode
				r.Body = jsonOrString(re.Body)
			}
			return r
		}
		r := result{OK: true, Token: map[string]any{
			"access_token": tok.AccessToken,
			"token_type":   tok.Type(),
			"valid":        tok.Valid(),
			"expires_in":   tok.Extra("expires_in"),
			"scope":        tok.Extra("scope"),
			"expiry_unix":  tok.Expiry.Unix(),
		}}
		r.Calls = get(cfg.Client(ctx), s.Gets)
		return r
	case "call":
		src := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: s.AccessToken, TokenType: "Bearer"})
		return result{OK: true, Calls: get(oauth2.NewClient(ctx, src), s.Gets)}
	}
	return result{Error: "unknown op " + s.Op}
}

func main() {
	var steps []step
	if err := json.NewDecoder(os.Stdin).Decode(&steps); err != nil {
		os.Stderr.WriteString("goclient: bad input: " + err.Error() + "\n")
		os.Exit(2)
	}
	// Every request the library makes goes through this client: bounded in time.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Timeout: 10 * time.Second})
	results := []result{}
	for _, s := range steps {
		results = append(results, run(ctx, s))
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		os.Exit(1)
	}
}
