package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/muhr-pki/muhr/audit/checkpoint"
	"github.com/muhr-pki/muhr/config"
	"github.com/muhr-pki/muhr/store"
)

// checkpointSource is --checkpoints (a directory, or a muhrd operations
// listener's URL), else audit.checkpoint_dir of muhrd.yaml.
func checkpointSource(cfgPath, flag string) (checkpoint.Source, error) {
	switch {
	case strings.HasPrefix(flag, "http://") || strings.HasPrefix(flag, "https://"):
		return checkpoint.HTTPSource{Base: strings.TrimSuffix(strings.TrimRight(flag, "/"), "/audit/checkpoints")}, nil
	case flag != "":
		return checkpoint.Dir{Path: flag}, nil
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	return checkpoint.Dir{Path: cfg.Audit.CheckpointDir}, nil
}

// checkpointReport is what verifyCheckpoints found.
type checkpointReport struct {
	count  int
	newest *checkpoint.File
	tsa    string
}

// verifyCheckpoints checks every checkpoint's signature and timestamp
// (against the center's CAs) and that the chain holds each one's head.
func verifyCheckpoints(ctx context.Context, r store.Reader, src checkpoint.Source) (checkpointReport, error) {
	var rep checkpointReport
	files, err := src.Checkpoints(ctx)
	if err != nil {
		return rep, err
	}
	if len(files) == 0 {
		return rep, nil
	}
	trust, err := checkpoint.TrustFromCAs(ctx, r)
	if err != nil {
		return rep, fmt.Errorf("checkpoints: %w", err)
	}
	for _, f := range files {
		v, err := checkpoint.Verify(f, trust)
		if err != nil {
			return rep, fmt.Errorf("checkpoint %d from %s: %w", f.Number, src, err)
		}
		rep.tsa = v.TSA
	}
	if err := checkpoint.CheckChain(ctx, r, files); err != nil {
		return rep, err
	}
	rep.count, rep.newest = len(files), files[len(files)-1]
	return rep, nil
}

func printCheckpoints(out io.Writer, src checkpoint.Source, rep checkpointReport) {
	if rep.newest == nil {
		fmt.Fprintf(out, "checkpoints: none in %s (audit.checkpoints is off, or none was written yet)\n", src)
		return
	}
	f := rep.newest
	fmt.Fprintf(out, "checkpoints OK: %d in %s; the newest, %d, vouches for record %d (timestamped %s by %s)\n",
		rep.count, src, f.Number, f.Seq, f.TSAGenTime.Format("2006-01-02T15:04:05Z"), rep.tsa)
}
