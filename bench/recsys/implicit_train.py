#!/usr/bin/env python3
"""Trains the `implicit` package's ALS on a MovieLens CSV and writes its
factors as a Kino model file (format version 1, docs/recsys.md), so that
`kino recsys eval --model` scores it with exactly the code that scores Kino.

Confidence: implicit uses c = alpha * value (with the "- 1" inside its
solver), Kino uses c = 1 + alpha * r. To train the same objective we feed
implicit value = 1 + alpha * r and pass alpha = 1. Prints the wall time of
fit() alone, like Kino's "trained in" (file reading excluded on both sides).
"""
import argparse
import struct
import sys
import time
import zlib

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits
from implicit.cpu.als import AlternatingLeastSquares


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--regularization", type=float, default=0.1)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--solver", choices=["cholesky", "cg"], default="cholesky")
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()

    data = np.loadtxt(a.train, delimiter=",", skiprows=1,
                      dtype=np.float64, ndmin=2)
    users_ext, items_ext = data[:, 0].astype(np.int64), data[:, 1].astype(np.int64)
    user_ids, u = np.unique(users_ext, return_inverse=True)  # sorted, like Kino
    item_ids, i = np.unique(items_ext, return_inverse=True)
    conf = (1.0 + a.alpha * data[:, 2]).astype(np.float32)
    ui = sp.csr_matrix((conf, (u, i)), shape=(len(user_ids), len(item_ids)))
    ui.sum_duplicates()

    model = AlternatingLeastSquares(
        factors=a.factors, regularization=a.regularization, alpha=1.0,
        iterations=a.iterations, use_cg=(a.solver == "cg"),
        num_threads=a.threads, random_state=a.seed, dtype=np.float32)
    with threadpool_limits(limits=1, user_api="blas"):
        t0 = time.perf_counter()
        model.fit(ui, show_progress=False)
        seconds = time.perf_counter() - t0
    X = np.ascontiguousarray(model.user_factors, dtype=np.float32)
    Y = np.ascontiguousarray(model.item_factors, dtype=np.float32)
    assert X.shape == (len(user_ids), a.factors), X.shape
    assert Y.shape == (len(item_ids), a.factors), Y.shape

    source = b"implicit %s: %s" % (sys.modules["implicit"].__version__.encode(),
                                   a.train.encode())
    header = struct.pack(
        "<8sIIQQIIffQIIqqqQddII5d256s", b"KINOALS1", 1, 416,
        len(user_ids), len(item_ids), a.factors, a.iterations,
        a.regularization, a.alpha, a.seed, 1 if a.solver == "cg" else 0,
        3 if a.solver == "cg" else 0, int(time.time()), 0, 0, ui.nnz,
        seconds, 0.0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, source[:255])
    assert len(header) == 416
    body = (header + user_ids.astype("<i8").tobytes() +
            item_ids.astype("<i8").tobytes() + X.astype("<f4").tobytes() +
            Y.astype("<f4").tobytes())
    with open(a.out, "wb") as f:
        f.write(body)
        f.write(struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF))
    print("implicit trained in %.3f s" % seconds)


if __name__ == "__main__":
    main()
