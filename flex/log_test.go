package flex_test

import (
	"io"
	"log/slog"
)

type slogLogger = slog.Logger

func slogNew(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
