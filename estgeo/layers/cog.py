"""Writing a large, mostly empty float32 raster tile by tile as a Cloud Optimized GeoTIFF.

A COG must hold its overviews and have its directories before the pixel data, so it cannot
be appended to tile by tile; GDAL's COG driver makes one from a finished dataset. What this
module adds is memory and time bounded by the tiles that hold data, not by the extent:

1. the tiles are written as they come into a *sparse* tiled GeoTIFF (a tile never written
   takes no space and reads as nodata), and their 2 × 2 means (the first overview) into a
   second one, so the full resolution is never read back;
2. each further overview level is made from the previous one, only for the tiles that hold
   data (mean of the valid pixels of each 2 × 2 block, nodata where all four are nodata),
   into a sparse GeoTIFF of its own — GDAL's own overview builder reads every block of the
   extent, which for a country takes hours;
3. a VRT puts the full resolution, the overviews, nodata and the tags together, and the COG
   driver copies it (overviews as they are, empty tiles left out) into the final file.

Step 3 still visits every block of the extent, empty or not (about 0.3 ms per 512² block on
one core, in GDAL's COG writer, whatever the source): nothing for a municipality, about a
minute per raster for all of Sweden at 5 m (220,000 blocks). Writing the COG layout
directly would remove it, at the price of our own TIFF writer.
The temporary files live beside the output and are removed however the writing ends.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numba
import numpy as np
import rasterio
import rasterio.shutil
from rasterio.windows import Window

from estgeo.layers.illuminance import Grid

#: Creation options of the final COG (GDAL COG driver); PREDICTOR=YES picks the floating-point predictor.
COG_OPTIONS = {
    "COMPRESS": "DEFLATE",
    # Float lux values carry noise in their low mantissa bits: level 6 saves ~4 % over level 1 at half the speed.
    "LEVEL": "1",
    "PREDICTOR": "YES",
    "OVERVIEWS": "FORCE_USE_EXISTING",
    "SPARSE_OK": "TRUE",
    "BIGTIFF": "IF_SAFER",
    "NUM_THREADS": "ALL_CPUS",
}
#: GDAL's block cache while writing (MB): bounds memory, whatever the extent.
GDAL_CACHE_MB = 256
#: The intermediate files favour speed: they are read once and deleted.
_SCRATCH_OPTIONS = {"compress": "ZSTD", "zstd_level": 1, "sparse_ok": True, "bigtiff": "YES"}


class SparseCogWriter:
    """Collect tiles of a `Grid` and write them as a COG on `finish()`.

    ``tags`` go into the dataset metadata (the default domain), ``description`` and ``units``
    onto the band. Use as a context manager: leaving the block normally writes the COG (unless
    `finish()` already did, e.g. in a thread beside another writer's), an exception leaves no
    output; either way the temporary files are removed.
    """

    def __init__(self, path: Path, grid: Grid, nodata: float, tags: dict[str, str] | None = None,
                 description: str = "", units: str = "", compress: str = "DEFLATE", scratch_dir: Path | None = None):
        self.path = Path(path)
        self.grid = grid
        self.nodata = float(nodata)
        self.tags = dict(tags or {})
        self.description = description
        self.units = units
        self.compress = compress.upper()
        self._scratch = Path(tempfile.mkdtemp(prefix=f".{self.path.stem}-", dir=scratch_dir or self.path.parent))
        self._tiles: set[tuple[int, int]] = set()
        self._base = rasterio.open(self._scratch / "level0.tif", "w", **self._profile(grid.width, grid.height, 0))
        self._first = None
        # First-overview blocks still being filled: tiles come row by row, so a block is
        # complete once a tile two rows further down arrives (at most one row of blocks).
        self._pending: dict[tuple[int, int], np.ndarray] = {}
        if max(grid.width, grid.height) > grid.tile_size:
            self._first = rasterio.open(self._scratch / "level1.tif", "w",
                                        **self._profile(-(-grid.width // 2), -(-grid.height // 2), 1))
        self.bytes_written = 0
        self.overview_seconds = 0.0
        self.cog_seconds = 0.0
        self.finished = False

    def _profile(self, width: int, height: int, level: int) -> dict:
        res = self.grid.resolution * 2**level
        return dict(driver="GTiff", width=width, height=height, count=1, dtype="float32", crs=self.grid.crs,
                    transform=rasterio.Affine(res, 0, self.grid.west, 0, -res, self.grid.north),
                    nodata=self.nodata, tiled=True, blockxsize=self.grid.tile_size, blockysize=self.grid.tile_size,
                    **_SCRATCH_OPTIONS)

    def __enter__(self) -> SparseCogWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and not self.finished:
                self.finish()
        finally:
            for dataset in (self._base, self._first):
                if dataset is not None and not dataset.closed:
                    dataset.close()
            shutil.rmtree(self._scratch, ignore_errors=True)

    def write_tile(self, tile_row: int, tile_col: int, data: np.ndarray) -> None:
        """Write one tile (its shape is cut at the grid's right and bottom edges)."""
        t = self.grid.tile_size
        data = np.asarray(data, dtype=np.float32)
        self._base.write(data, 1, window=Window(tile_col * t, tile_row * t, data.shape[1], data.shape[0]))
        if self._first is not None:
            self._flush_first(before_row=tile_row // 2)
            block = self._pending.get((tile_row // 2, tile_col // 2))
            if block is None:
                block = self._pending[(tile_row // 2, tile_col // 2)] = np.full((t, t), self.nodata, dtype=np.float32)
            half = average_2x2(data, self.nodata)
            r, c = (tile_row % 2) * t // 2, (tile_col % 2) * t // 2
            block[r:r + half.shape[0], c:c + half.shape[1]] = half
        self._tiles.add((tile_row, tile_col))

    def _flush_first(self, before_row: int) -> None:
        """Write the first-overview blocks of rows above `before_row` (all with a huge value)."""
        t = self.grid.tile_size
        width, height = -(-self.grid.width // 2), -(-self.grid.height // 2)
        assert self._first is not None, "the first overview is opened before blocks are written to it"
        for key in sorted(k for k in self._pending if k[0] < before_row):
            r, c = key
            h, w = min(t, height - r * t), min(t, width - c * t)
            self._first.write(self._pending.pop(key)[:h, :w], 1, window=Window(c * t, r * t, w, h))

    def finish(self) -> None:
        """Make the overviews and write the COG (atomically: a `.partial` file renamed at the end)."""
        self._base.close()
        if self._first is not None:
            self._flush_first(before_row=np.iinfo(np.int64).max)
            self._first.close()
        started = time.perf_counter()
        levels = self._overviews()
        self.overview_seconds = time.perf_counter() - started
        vrt = self._scratch / "cog.vrt"
        vrt.write_text(self._vrt(levels), encoding="utf-8")
        options = {**COG_OPTIONS, "COMPRESS": self.compress, "BLOCKSIZE": str(self.grid.tile_size)}
        if self.compress != "DEFLATE":
            options.pop("LEVEL")
        partial = self.path.with_name(self.path.name + ".partial")
        started = time.perf_counter()
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
            rasterio.shutil.copy(str(vrt), str(partial), driver="COG", **options)
        self.cog_seconds = time.perf_counter() - started
        partial.replace(self.path)
        self.bytes_written = self.path.stat().st_size
        self.finished = True

    def _overviews(self) -> list[tuple[Path, int, int]]:
        """Overview levels (path, width, height), halving until one tile holds the whole extent.

        Level 1 was written with the tiles; each further level is made from the one before."""
        t = self.grid.tile_size
        if self._first is None:
            return []
        width, height = -(-self.grid.width // 2), -(-self.grid.height // 2)
        source, tiles = self._scratch / "level1.tif", {(r // 2, c // 2) for r, c in self._tiles}
        levels: list[tuple[Path, int, int]] = [(source, width, height)]
        level = 1
        while max(width, height) > t:
            level += 1
            out_w, out_h = -(-width // 2), -(-height // 2)
            target = self._scratch / f"level{level}.tif"
            parents = sorted({(r // 2, c // 2) for r, c in tiles})
            with rasterio.open(source) as src, rasterio.open(target, "w", **self._profile(out_w, out_h, level)) as dst:
                for r, c in parents:
                    window = Window(c * 2 * t, r * 2 * t, min(2 * t, width - c * 2 * t), min(2 * t, height - r * 2 * t))
                    block = average_2x2(src.read(1, window=window), self.nodata)
                    dst.write(block, 1, window=Window(c * t, r * t, block.shape[1], block.shape[0]))
            levels.append((target, out_w, out_h))
            source, width, height, tiles = target, out_w, out_h, set(parents)
        return levels

    def _vrt(self, levels: list[tuple[Path, int, int]]) -> str:
        g = self.grid
        metadata = "".join(f"<MDI key={quoteattr(k)}>{escape(v)}</MDI>" for k, v in self.tags.items())
        overviews = "".join(
            f"<Overview><SourceFilename relativeToVRT=\"1\">{p.name}</SourceFilename><SourceBand>1</SourceBand></Overview>"
            for p, _w, _h in levels
        )
        with rasterio.open(self._scratch / "level0.tif") as src:
            wkt = src.crs.to_wkt()
        return (
            f'<VRTDataset rasterXSize="{g.width}" rasterYSize="{g.height}">'
            f"<SRS>{escape(wkt)}</SRS>"
            f"<GeoTransform>{g.west!r}, {g.resolution!r}, 0, {g.north!r}, 0, {-g.resolution!r}</GeoTransform>"
            f"<Metadata>{metadata}</Metadata>"
            f'<VRTRasterBand dataType="Float32" band="1">'
            f"<NoDataValue>{self.nodata!r}</NoDataValue>"
            f"<Description>{escape(self.description)}</Description>"
            f"<UnitType>{escape(self.units)}</UnitType>"
            f'<SimpleSource><SourceFilename relativeToVRT="1">level0.tif</SourceFilename><SourceBand>1</SourceBand>'
            f'<SrcRect xOff="0" yOff="0" xSize="{g.width}" ySize="{g.height}"/>'
            f'<DstRect xOff="0" yOff="0" xSize="{g.width}" ySize="{g.height}"/></SimpleSource>'
            f"{overviews}</VRTRasterBand></VRTDataset>"
        )


def average_2x2(block: np.ndarray, nodata: float) -> np.ndarray:
    """Mean of the valid pixels of each 2 × 2 block (half size, rounded up); nodata where none is valid."""
    block = np.ascontiguousarray(block, dtype=np.float32)
    out = np.empty(((block.shape[0] + 1) // 2, (block.shape[1] + 1) // 2), dtype=np.float32)
    _average_2x2(block, np.float32(nodata), out)
    return out


@numba.njit(nogil=True, cache=True)
def _average_2x2(block, nodata, out):  # pragma: no cover - compiled
    h, w = block.shape
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            total = 0.0
            n = 0
            for di in range(2):
                for dj in range(2):
                    r, c = 2 * i + di, 2 * j + dj
                    if r < h and c < w and block[r, c] != nodata:
                        total += block[r, c]
                        n += 1
            out[i, j] = total / n if n else nodata


def finish_all(writers: list[SparseCogWriter]) -> None:
    """Finish several writers side by side (GDAL releases the GIL while it compresses)."""
    with ThreadPoolExecutor(max_workers=max(1, len(writers))) as pool:
        for done in [pool.submit(w.finish) for w in writers]:
            done.result()
