"""Vectorized search primitives shared by the SMC modes: windowed extremes, first-reach, segment argmins.

The reference library answers "first later bar that touches this level" with one Python loop per
level; here every such question is answered for all levels at once in O(log n) numpy steps.
"""

from __future__ import annotations

import numpy as np


def window_max(x: np.ndarray, width: int) -> np.ndarray:
    """out[k] = max(x[k : k + width]) for every full window (log2(width) numpy steps)."""
    n = len(x)
    if width <= 0 or n < width:
        return np.empty(0, dtype=x.dtype)
    span, best = 1, x
    while span * 2 <= width:
        best = np.maximum(best[:-span], best[span:])
        span *= 2
    count = n - width + 1
    return np.maximum(best[:count], best[width - span : width - span + count])


def window_min(x: np.ndarray, width: int) -> np.ndarray:
    """out[k] = min(x[k : k + width]) for every full window."""
    return -window_max(-x, width)


class FirstReach:
    """First index >= start at which a row of values is <= (or < when strict) a threshold.

    Bars are grouped in blocks of 16; a sparse table of block minima lets every query skip runs of
    2^k blocks that cannot qualify, greedily from the largest run down, and two 16-wide scans finish
    the bars from start and the block found. All queries go in one batch, no Python loop over them.
    Rows are usually (low, -high) or (close, -close): a ">= level" question becomes "<= -level".
    """

    BLOCK = 16

    def __init__(self, rows: np.ndarray) -> None:
        rows = np.atleast_2d(np.asarray(rows, dtype=np.float64))
        count, n = rows.shape
        self.n = n
        blocks = n // self.BLOCK + 2  # at least one all-+inf sentinel block at the end
        self.blocks = blocks
        self.stride = blocks * self.BLOCK
        padded = np.full((count, self.stride), np.inf)
        padded[:, :n] = rows
        self.values = padded.ravel()
        self.block_ids = np.arange(blocks)
        self.minima = np.minimum.reduceat(padded, self.block_ids * self.BLOCK, axis=1)
        step = self.values.strides[0]  # windows[k] = values[k : k + BLOCK], a view, no copy
        self.windows = np.ndarray((len(self.values) - self.BLOCK + 1, self.BLOCK), dtype=np.float64,
                                  buffer=self.values, strides=(step, step))
        self._levels: list[np.ndarray] | None = None

    def find(self, row: np.ndarray | int, start: np.ndarray, threshold: np.ndarray,
             strict: bool = False) -> np.ndarray:
        """Index of the first qualifying bar at or after each start; self.n where there is none.

        `row` is one row number or an int array with one per query; `start` and `threshold` are
        arrays with one value per query. Values past the end are +inf and never qualify.
        """
        start = np.minimum(start, self.n)
        if start.size == 0:
            return start
        here = self._scan(row * self.stride + start, threshold, strict)
        hit = here.any(axis=1)
        found = start + here.argmax(axis=1)
        if hit.all():
            return found
        # the rest: the first block, from the one holding start + BLOCK, whose minimum qualifies
        rest = np.flatnonzero(~hit)
        row = row[rest] if isinstance(row, np.ndarray) else row
        threshold = threshold[rest]
        first = (start[rest] + self.BLOCK) // self.BLOCK
        if len(rest) * self.blocks <= 65_536:
            minima = self.minima[row] if isinstance(row, np.ndarray) else self.minima[row][None, :]
            ok = minima < threshold[:, None] if strict else minima <= threshold[:, None]
            ok &= self.block_ids >= first[:, None]
            pos = np.where(ok.any(axis=1), ok.argmax(axis=1), self.blocks - 1)
        else:
            pos = self._skip_blocks(row * self.blocks, first, threshold, strict)
        later = self._scan(row * self.stride + pos * self.BLOCK, threshold, strict)
        found[rest] = np.where(later.any(axis=1), pos * self.BLOCK + later.argmax(axis=1), self.n)
        return found

    def _skip_blocks(self, block_base: np.ndarray, pos: np.ndarray, threshold: np.ndarray,
                     strict: bool) -> np.ndarray:
        """Binary lifting over a sparse table of block minima (built on first use)."""
        if self._levels is None:
            level = self.minima
            self._levels = [level.ravel()]
            span = 1
            while span * 2 <= self.blocks:
                nxt = level.copy()
                np.minimum(level[:, :-span], level[:, span:], out=nxt[:, :-span])
                level = nxt
                self._levels.append(level.ravel())
                span *= 2
        last = self.blocks - 1
        for k in range(len(self._levels) - 1, -1, -1):
            minima = self._levels[k][block_base + pos]
            skip = minima >= threshold if strict else minima > threshold
            pos = np.minimum(pos + (skip << k), last)
        return pos

    def _scan(self, offsets: np.ndarray, threshold: np.ndarray, strict: bool) -> np.ndarray:
        """Which of the BLOCK values from each offset qualify (one contiguous copy per query)."""
        values = self.windows[offsets]
        return values < threshold[:, None] if strict else values <= threshold[:, None]


def segment_arg_extreme(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, largest: bool) -> np.ndarray:
    """For each non-empty range [lo, hi): the LAST index holding the range's min (or max)."""
    if len(lo) == 0:
        return np.empty(0, dtype=np.int64)
    lengths = hi - lo
    offsets = np.cumsum(lengths) - lengths
    owner = np.repeat(np.arange(len(lo)), lengths)
    index = np.arange(int(lengths.sum())) + np.repeat(lo - offsets, lengths)
    picked = values[index]
    best = (np.maximum if largest else np.minimum).reduceat(picked, offsets)
    hit = picked == best[owner]
    return np.maximum.reduceat(np.where(hit, index, -1), offsets)
