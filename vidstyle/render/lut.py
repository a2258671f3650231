"""3D LUTs for the photorealistic look: fitting one to colour pairs, and applying one.

* `fit_lut` bakes a colour transform, known only through example pixels (a keyframe before and
  after), into a `Lut3D` by regularised lattice regression.
* `apply_lut` applies a LUT to uint8 RGB images in numpy (tetrahedral or trilinear, the same
  arithmetic as FFmpeg's ``lut3d``): for images and previews.
* `LutFilter` applies one while streaming, through FFmpeg's ``lut3d`` filter in-process (PyAV's
  filter graph) on ``av.VideoFrame`` s or uint8 arrays: several times faster than numpy.

Torch-free: numpy and PyAV only.
"""

from __future__ import annotations

import os
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import av.error
import cv2
import numpy as np

from vidstyle.errors import VideoError
from vidstyle.media.cube import DEFAULT_SIZE, MAX_SIZE, MIN_SIZE, Lut3D, cube_text, lattice, read_cube
from vidstyle.media.ffmpeg import SWS_FLAGS, reason

INTERPOLATIONS = ("tetrahedral", "trilinear")
DEFAULT_SMOOTHNESS = 1e-6  # measured: see fit_lut
MAX_SAMPLES = 150_000
# Coarse levels are solved to the tolerance (cheap: 17³ has 1/8 of 33³'s nodes); the finest then
# needs few iterations from their solution (60 give the held-out errors in fit_lut's docstring;
# more change them by under 0.05 levels).
_COARSE_ITERATIONS, _FINE_ITERATIONS, _TOLERANCE = 400, 60, 1e-6
_CHUNK = 1 << 18  # pixels per numpy pass: keeps the temporaries in cache-sized pieces


# -- interpolation (numpy) -----------------------------------------------------------------
def apply_lut(lut: Lut3D, rgb: np.ndarray, interp: str = "tetrahedral") -> np.ndarray:
    """``lut`` applied to uint8 RGB pixels (any shape ending in 3), uint8 out, rounded to nearest.

    The arithmetic is FFmpeg ``lut3d``'s (float32 lattice coordinates, the same tetrahedra) so the
    two agree to within a level; inputs outside the LUT's domain take its edge values."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim < 1 or rgb.shape[-1] != 3:
        raise ValueError(f"apply_lut needs uint8 RGB pixels (..., 3), got {rgb.dtype} {rgb.shape}")
    _check_interp(interp)
    n = lut.size
    planes = _planes(lut)
    # per channel, the lattice cell and the position in it of each of the 256 levels
    levels = np.arange(256, dtype=np.float32) / np.float32(255)
    pos = [_lattice_coord(levels, lut.domain_min[c], lut.domain_max[c], n) for c in range(3)]
    cells = [np.minimum(p.astype(np.int32), n - 2) for p in pos]
    fracs = [(p - c).astype(np.float32) for p, c in zip(pos, cells, strict=True)]
    offsets = [(cells[c] * (n * n, n, 1)[c]).astype(np.int32) for c in range(3)]
    src = rgb.reshape(-1, 3)
    out = np.empty(src.shape, dtype=np.uint8)
    for start in range(0, len(src), _CHUNK):
        part = src[start:start + _CHUNK].T
        base = np.take(offsets[0], part[0])
        base += np.take(offsets[1], part[1])
        base += np.take(offsets[2], part[2])
        frac = tuple(np.take(fracs[c], part[c]) for c in range(3))
        value = _interpolate(planes, n, base, frac, interp)
        value *= 255
        value += 0.5
        np.clip(value, 0, 255, out=value)
        out[start:start + _CHUNK] = value.T  # truncation after +0.5: round half up, as FFmpeg here
    return out.reshape(rgb.shape)


def apply_lut_float(lut: Lut3D, rgb: np.ndarray, interp: str = "trilinear") -> np.ndarray:
    """``lut`` applied to float RGB (..., 3) in the LUT's domain; float32 out, not clipped."""
    _check_interp(interp)
    rgb = np.asarray(rgb, dtype=np.float32)
    n = lut.size
    planes = _planes(lut)
    src = rgb.reshape(-1, 3)
    out = np.empty(src.shape, dtype=np.float32)
    for start in range(0, len(src), _CHUNK):
        part = src[start:start + _CHUNK]
        pos = [_lattice_coord(part[:, c], lut.domain_min[c], lut.domain_max[c], n) for c in range(3)]
        cells = [np.minimum(p.astype(np.int32), n - 2) for p in pos]
        base = cells[0] * (n * n) + cells[1] * n + cells[2]
        frac = tuple((p - c).astype(np.float32) for p, c in zip(pos, cells, strict=True))
        out[start:start + _CHUNK] = _interpolate(planes, n, base, frac, interp).T
    return out.reshape(rgb.shape)


def _planes(lut: Lut3D) -> np.ndarray:
    """The table as three flat planes (3, n³), node index r·n² + g·n + b: gathers from a plane
    are contiguous 1D takes, several times faster than taking (n³, 3) rows."""
    return np.ascontiguousarray(np.moveaxis(lut.table, -1, 0).reshape(3, -1))


def _lattice_coord(values: np.ndarray, lo: float, hi: float, n: int) -> np.ndarray:
    if lo == 0.0 and hi == 1.0:
        coord = values * np.float32(n - 1)
    else:
        coord = (values - np.float32(lo)) * np.float32((n - 1) / (hi - lo))
    return np.clip(coord, 0, n - 1).astype(np.float32)


def _check_interp(interp: str) -> None:
    if interp not in INTERPOLATIONS:
        raise ValueError(f"interp must be one of {', '.join(INTERPOLATIONS)}, got {interp!r}")


def _gather(planes: np.ndarray, index: np.ndarray, weight: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """out (+)= planes[:, index] * weight, channel by channel: (3, P)."""
    if out is None:
        out = np.empty((3, len(index)), dtype=np.float32)
        for c in range(3):
            np.multiply(np.take(planes[c], index), weight, out=out[c])
    else:
        for c in range(3):
            out[c] += np.take(planes[c], index) * weight
    return out


def _interpolate(planes: np.ndarray, n: int, base: np.ndarray, frac: tuple, interp: str) -> np.ndarray:
    """Interpolate ``planes`` ((3, n³), node index r·n² + g·n + b) at cells ``base`` (the index of
    each cell's lowest corner) and in-cell positions ``frac`` = (dr, dg, db) in [0, 1]: (3, P)."""
    dr, dg, db = frac
    sr, sg, sb = n * n, n, 1
    if interp == "trilinear":
        er, eg, eb = 1 - dr, 1 - dg, 1 - db
        weights = [er * eg * eb, dr * eg * eb, er * dg * eb, dr * dg * eb,
                   er * eg * db, dr * eg * db, er * dg * db, dr * dg * db]
        corners = [0, sr, sg, sr + sg, sb, sr + sb, sg + sb, sr + sg + sb]
        out = None
        for weight, corner in zip(weights, corners, strict=True):
            out = _gather(planes, base + corner, weight, out)
        return out
    # tetrahedral: FFmpeg's decision tree, so that ties split the cube the same way
    c1, c2, c3, c4, c5 = dr > dg, dg > db, dr > db, db > dg, db > dr
    a = c1 & c2                 # r > g > b
    b = c1 & ~c2 & c3           # r > b >= g
    c = c1 & ~c2 & ~c3          # b >= r > g
    d = ~c1 & c4                # b > g >= r
    e = ~c1 & ~c4 & c5          # g >= b > r
    first_r, first_b = a | b, c | d  # else green
    last_b, last_r = a | ~(a | b | c | d | e), d | e  # else green
    d_first = np.where(first_r, dr, np.where(first_b, db, dg))
    d_last = np.where(last_r, dr, np.where(last_b, db, dg))
    d_mid = dr + dg + db - d_first - d_last
    s_first = np.where(first_r, sr, np.where(first_b, sb, sg)).astype(np.int32)
    s_last = np.where(last_r, sr, np.where(last_b, sb, sg)).astype(np.int32)
    out = _gather(planes, base, 1 - d_first, None)
    base = base + s_first
    out = _gather(planes, base, d_first - d_mid, out)
    base += (sr + sg + sb) - s_first - s_last
    out = _gather(planes, base, d_mid - d_last, out)
    base += s_last
    return _gather(planes, base, d_last, out)


# -- fitting -------------------------------------------------------------------------------
def fit_lut(src_rgb: np.ndarray, dst_rgb: np.ndarray, size: int = DEFAULT_SIZE,
            smoothness: float = DEFAULT_SMOOTHNESS, weights: np.ndarray | None = None, *,
            max_samples: int = MAX_SAMPLES, title: str = "vidstyle look", seed: int = 0) -> Lut3D:
    """The ``size``³ LUT that best maps the colours ``src_rgb`` to ``dst_rgb``.

    Inputs: uint8 images (H, W, 3), or float (M, 3) arrays in [0, 1], the same number of pixels
    each; ``weights`` (H, W) or (M,) count some pixels more. Above ``max_samples`` pixels a fixed
    random subset (``seed``) is used.

    Method: regularised lattice regression. Each sample's trilinear weights on its cell's 8 nodes
    give the data term (its normal equations accumulated per cell with ``np.bincount`` as 27
    moments, so the cost is linear in the samples); the smoothness term is the discrete
    thin-plate energy of the table (squared second differences along r, g, b and mixed second
    differences), whose null space is the affine maps: lattice regions far from any sample
    continue the fitted transform linearly instead of flattening or bending towards identity.
    Energy: mean weighted squared error + ``smoothness`` × ∫|Hessian f|² over the unit cube (so
    the figure means the same at every lattice size). Solved by Jacobi-preconditioned conjugate
    gradients in numpy (float32, banded), coarse to fine (5³ -> 9³ -> 17³ -> 33³: each level
    starts from the previous one's solution), then clipped to [0, 1].

    Measured (tests/test_lut.py, ``look``: a 3x3 colour matrix, gamma 0.8 and a tint; the fit
    from in1.png resized to a 512x288 keyframe; errors in levels of 255): the LUT reproduces
    the target on in1 with a mean absolute error of 0.05 (99th percentile 1), on the held-out
    in2.png 0.19 (p99 1) and on in4..in9 0.09-0.77; on uniformly random colours, mostly far
    from any sample, 1.2 (p95 5). The fit takes 0.5 s of one core (1.0 s wall on a busy
    2-core machine). The default smoothness 1e-6 was chosen on the same data over 1e-7..1e-5
    (mean held-out error / random colours): clean 0.22-0.25 / 1.2-1.3 for 1e-7..1e-6 but 0.57 /
    1.8 at 1e-5 (it bends the gamma curve); target noised by σ 6 levels 0.60 / 1.2 (1e-7: 0.78);
    a 48x30 keyframe 0.60 / 1.5 (1e-5: 0.96 / 2.6). Lower follows the samples more closely,
    higher gives a smoother LUT.
    """
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"LUT size must be {MIN_SIZE}..{MAX_SIZE}, got {size}")
    if not smoothness > 0:
        raise ValueError(f"smoothness must be positive, got {smoothness}")
    src, dst, w = _samples(src_rgb, dst_rgb, weights, max_samples, seed)
    table = None
    for n in _levels(size):
        x0 = lattice(n).astype(np.float64) if table is None else _resample(table, n)
        iterations = _FINE_ITERATIONS if n == size and n > 9 else _COARSE_ITERATIONS
        table = _solve_level(src, dst, w, n, smoothness, x0, iterations)
    return Lut3D(np.clip(table, 0.0, 1.0), title=title)


def _levels(size: int) -> list[int]:
    """Lattice sizes coarse to fine: 33 -> [5, 9, 17, 33] (nested: node i of one is node 2i of the next)."""
    sizes = [size]
    while sizes[-1] > 5:
        sizes.append((sizes[-1] + 1) // 2)
    return sizes[::-1]


def _resample(table: np.ndarray, n: int) -> np.ndarray:
    """A coarser lattice's table evaluated at the nodes of an n³ lattice (trilinear)."""
    return apply_lut_float(Lut3D(table), lattice(n)).astype(np.float64)


def _as_pixels(rgb: np.ndarray, name: str) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.shape[-1:] != (3,):
        raise ValueError(f"{name} must be RGB pixels (..., 3), got shape {rgb.shape}")
    if rgb.dtype == np.uint8:
        return rgb.reshape(-1, 3).astype(np.float32) / np.float32(255)
    if not np.issubdtype(rgb.dtype, np.floating):
        raise ValueError(f"{name} must be uint8 or float in [0, 1], got {rgb.dtype}")
    out = rgb.reshape(-1, 3).astype(np.float32)
    if not np.isfinite(out).all():
        raise ValueError(f"{name} holds NaN or infinity")
    return out


def _samples(src_rgb, dst_rgb, weights, max_samples: int, seed: int):
    src = _as_pixels(src_rgb, "src_rgb")
    dst = _as_pixels(dst_rgb, "dst_rgb")
    if len(src) != len(dst) or not len(src):
        raise ValueError(f"src_rgb and dst_rgb must hold the same, non-zero number of pixels "
                         f"({len(src)} and {len(dst)})")
    w = np.ones(len(src), dtype=np.float64) if weights is None else np.asarray(weights, np.float64).reshape(-1)
    if len(w) != len(src) or not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
        raise ValueError("weights must be one finite, non-negative number per pixel, not all zero")
    if len(src) > max_samples:
        keep = np.sort(np.random.default_rng(seed).choice(len(src), max_samples, replace=False))
        src, dst, w = src[keep], dst[keep], w[keep]
    np.clip(src, 0.0, 1.0, out=src)
    return src, dst.astype(np.float64), w / w.sum()


def _solve_level(src, dst, w, n: int, smoothness: float, x0: np.ndarray, max_iter: int) -> np.ndarray:
    bands, rhs = _normal_equations(src, dst, w, n)
    for offset, band in _thin_plate_bands(n, smoothness * (n - 1)).items():
        bands[offset] = bands[offset] + band if offset in bands else band
    table, _ = _pcg(bands, rhs, x0, _TOLERANCE, max_iter)
    return table


def _normal_equations(src, dst, w, n: int):
    """The data term's normal equations on an n³ lattice: Σ_i w_i a_i a_iᵀ as bands (bands[o][node]
    is the entry between ``node`` and ``node + o``) and Σ_i w_i a_i y_iᵀ as (n, n, n, 3), where a_i
    are sample i's trilinear weights on its cell's 8 corners.

    Per cell, the 64 products of corner weights come from 27 moments Σ w Π_axes p_s(axis) with
    p_0 = (1-u)², p_1 = u(1-u), p_2 = u² (u: the position in the cell along that axis), each one
    ``np.bincount`` over the samples: the cost is linear in the samples, the result the size of
    the lattice."""
    m = n - 1
    pos = src.astype(np.float64) * m
    cell = np.minimum(pos.astype(np.int64), m - 1)
    frac = pos - cell
    index = (cell[:, 0] * m + cell[:, 1]) * m + cell[:, 2]

    def accumulate(values: np.ndarray) -> np.ndarray:
        return np.bincount(index, values, minlength=m ** 3).reshape(m, m, m)

    per_axis = [((1 - f) ** 2, (1 - f) * f, f * f) for f in frac.T]
    moments = {}
    for sr in range(3):
        wr = w * per_axis[0][sr]
        for sg in range(3):
            wrg = wr * per_axis[1][sg]
            for sb in range(3):
                moments[sr, sg, sb] = accumulate(wrg * per_axis[2][sb])
    corners = [(kr, kg, kb) for kr in (0, 1) for kg in (0, 1) for kb in (0, 1)]
    bands: dict[tuple[int, int, int], np.ndarray] = {}
    for k in corners:
        for lc in corners:
            offset = (lc[0] - k[0], lc[1] - k[1], lc[2] - k[2])
            band = bands.setdefault(offset, np.zeros((n, n, n)))
            band[k[0]:k[0] + m, k[1]:k[1] + m, k[2]:k[2] + m] += moments[k[0] + lc[0], k[1] + lc[1], k[2] + lc[2]]
    rhs = np.zeros((n, n, n, 3))
    axis_w = [(1 - f, f) for f in frac.T]
    for kr, kg, kb in corners:
        corner = w * axis_w[0][kr] * axis_w[1][kg] * axis_w[2][kb]
        for c in range(3):
            rhs[kr:kr + m, kg:kg + m, kb:kb + m, c] += accumulate(corner * dst[:, c])
    return bands, rhs


def _thin_plate_bands(n: int, weight: float) -> dict[tuple[int, int, int], np.ndarray]:
    """``weight`` × (Σ_a D_aaᵀD_aa + 2 Σ_{a<b} D_abᵀD_ab) as bands (boundary rows included)."""
    d1 = np.diff(np.eye(n), axis=0)
    d2 = np.diff(np.eye(n), n=2, axis=0)
    k1, k2 = d1.T @ d1, d2.T @ d2

    def diagonal(k: np.ndarray, o: int) -> np.ndarray:  # entry (i, i + o), aligned on i
        out = np.zeros(n)
        if o >= 0:
            out[:n - o] = np.diagonal(k, o)
        else:
            out[-o:] = np.diagonal(k, o)
        return out

    def shaped(v: np.ndarray, axis: int) -> np.ndarray:
        shape = [1, 1, 1]
        shape[axis] = n
        return v.reshape(shape)

    bands: dict[tuple[int, int, int], np.ndarray] = {}

    def add(offset, value):
        full = np.broadcast_to(value, (n, n, n))
        bands[offset] = bands[offset] + full if offset in bands else full.copy()

    for a in range(3):
        for o in (-2, -1, 0, 1, 2):
            offset = [0, 0, 0]
            offset[a] = o
            add(tuple(offset), weight * shaped(diagonal(k2, o), a))
    for a in range(3):
        for b in range(a + 1, 3):
            for oa in (-1, 0, 1):
                for ob in (-1, 0, 1):
                    offset = [0, 0, 0]
                    offset[a], offset[b] = oa, ob
                    add(tuple(offset), 2 * weight * shaped(diagonal(k1, oa), a) * shaped(diagonal(k1, ob), b))
    return bands


def _pcg(bands, rhs, x0, tol: float, max_iter: int) -> tuple[np.ndarray, int]:
    """Jacobi-preconditioned conjugate gradients on the banded system, three channels at once.

    Vectors are the lattice flattened (r·n² + g·n + b), channels first, float32: a band is zero
    wherever its neighbour would be off the lattice, so each band's product is one contiguous
    multiply-add over a shifted slice of a buffer with margins. Dots are float64 (einsum: BLAS's
    threaded dot stalls on a busy machine)."""
    n = rhs.shape[0]
    size = n ** 3
    dtype = np.float32

    def flat(a: np.ndarray) -> np.ndarray:  # (n, n, n[, c]) -> (c, size)
        a = a[..., None] if a.ndim == 3 else a
        return np.ascontiguousarray(np.moveaxis(a, -1, 0).reshape(a.shape[-1], size), dtype=dtype)

    offsets = [o for o, band in bands.items() if np.any(band)]
    margin = 2 * n * n + 2 * n + 2
    stacked = [flat(bands[o]) for o in offsets]
    ext = np.zeros((3, size + 2 * margin), dtype=dtype)
    views = [ext[:, margin + s:margin + s + size] for s in ((o[0] * n + o[1]) * n + o[2] for o in offsets)]
    tmp = np.empty((3, size), dtype=dtype)

    def matvec(x: np.ndarray) -> np.ndarray:
        ext[:, margin:margin + size] = x
        out = np.multiply(stacked[0], views[0])
        for band, view in zip(stacked[1:], views[1:], strict=True):
            np.multiply(band, view, out=tmp)
            out += tmp
        return out

    def dot(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.einsum("ij,ij->", a, b, dtype=np.float64))

    diag = flat(bands[(0, 0, 0)])
    inv_diag = np.where(diag > 0, 1 / np.where(diag > 0, diag, 1), 0).astype(dtype)
    b = flat(rhs)
    x = flat(x0)
    r = b - matvec(x)
    limit = tol ** 2 * max(dot(b, b), 1e-60)
    z = r * inv_diag
    p = z.copy()
    rz = dot(r, z)
    done = 0
    for done in range(max_iter):  # noqa: B007 - the count is returned
        if dot(r, r) <= limit:
            break
        ap = matvec(p)
        pap = dot(p, ap)
        if pap <= 0:
            break
        alpha = rz / pap
        x += np.float32(alpha) * p
        r -= np.float32(alpha) * ap
        np.multiply(r, inv_diag, out=z)
        rz_new = dot(r, z)
        p *= np.float32(rz_new / rz)
        p += z
        rz = rz_new
    return np.moveaxis(x.reshape(3, n, n, n), 0, -1).astype(np.float64), done


# -- streaming: FFmpeg's lut3d filter in-process ---------------------------------------------
def lut3d_graph(cube_path: str | os.PathLike, width: int, height: int, *, interp: str = "tetrahedral",
                time_base: Fraction = Fraction(1, 90000), threads: int | None = None) -> av.filter.Graph:
    """A configured filter graph: an rgb24 ``width``×``height`` buffer -> ``lut3d`` reading
    ``cube_path`` -> buffersink. The path goes to FFmpeg as an option value, not in
    filter-argument syntax, so spaces, colons, quotes and commas need no escaping. FFmpeg reads
    the file while the graph is built; it may be removed afterwards."""
    _check_interp(interp)
    graph = av.filter.Graph()
    if threads is not None:
        graph.threads = threads
    source = graph.add_buffer(width=width, height=height, format="rgb24", time_base=time_base)
    lut = graph.add("lut3d", file=os.path.abspath(cube_path), interp=interp)
    sink = graph.add("buffersink")
    graph.link_nodes(source, lut, sink).configure()
    return graph


class LutFilter:
    """Apply a LUT to a stream of frames with FFmpeg's ``lut3d`` filter, in-process.

    ``lut`` is a `Lut3D` or the path of a ``.cube`` file (read and checked with `read_cube`).
    FFmpeg is always given a copy that vidstyle writes to a temporary folder (removed as soon as
    the filter has read it): its domain resampled to [0, 1] (FFmpeg ignores DOMAIN_MIN and any
    DOMAIN line before LUT_3D_SIZE) and every value raised by half a level, because ``lut3d``
    truncates to 8 bits where numpy rounds; so the two paths agree to within a level.

    `filter` takes ``av.VideoFrame`` s in any pixel format (decoded YUV is converted to rgb24 the
    way the reader converts it) and returns rgb24 frames with the same pts and time base; calling
    the filter on a uint8 (H, W, 3) array returns the array. The graph is built for the first
    frame's size (or ``width`` × ``height`` at once) and rebuilt if the size changes.
    """

    def __init__(self, lut: Lut3D | str | os.PathLike, width: int | None = None, height: int | None = None, *,
                 interp: str = "tetrahedral", threads: int | None = None) -> None:
        _check_interp(interp)
        self.lut = lut if isinstance(lut, Lut3D) else read_cube(lut)
        self.interp = interp
        self.threads = threads
        self._text = _ffmpeg_cube_text(self.lut)
        self._graph: av.filter.Graph | None = None
        self._size: tuple[int, int] | None = None
        if width is not None and height is not None:
            self._build(width, height)

    def _build(self, width: int, height: int) -> None:
        try:
            with tempfile.TemporaryDirectory(prefix="vidstyle-lut-") as folder:
                path = Path(folder) / "look.cube"
                path.write_text(self._text, encoding="utf-8")
                self._graph = lut3d_graph(path, width, height, interp=self.interp, threads=self.threads)
        except (av.error.FFmpegError, ValueError) as exc:
            raise VideoError(f"FFmpeg's lut3d filter cannot be set up for {width}x{height} frames "
                             f"({reason(exc)})") from None
        except OSError as exc:
            raise VideoError(f"cannot write the LUT for FFmpeg to a temporary folder "
                             f"({exc.strerror or exc}); check free space in {tempfile.gettempdir()}") from None
        self._size = (width, height)

    def filter(self, frame: av.VideoFrame) -> av.VideoFrame:
        """One frame through the LUT: rgb24 out, with the input's pts and time base."""
        if frame.format.name != "rgb24":  # as the reader converts (vidstyle.media.reader.to_rgb)
            rgb = frame.reformat(format="rgb24", interpolation=SWS_FLAGS, src_color_range=frame.color_range or None)
        else:
            rgb = frame
        if self._size != (rgb.width, rgb.height):
            self._build(rgb.width, rgb.height)
        pts, time_base = frame.pts, frame.time_base
        try:
            self._graph.push(rgb)
            out = self._graph.pull()
        except av.error.FFmpegError as exc:
            raise VideoError(f"FFmpeg's lut3d filter failed ({reason(exc)})") from None
        out.pts = pts
        if time_base is not None:
            out.time_base = time_base
        return out

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        rgb = np.asarray(rgb)
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"LutFilter needs a uint8 (H, W, 3) frame, got {rgb.dtype} {rgb.shape}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        return self.filter(frame).to_ndarray()

    def close(self) -> None:
        self._graph = None
        self._size = None

    def __enter__(self) -> LutFilter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LutTable:
    """FFmpeg's lut3d output for each of the 2^24 8-bit colours, computed once, then looked up.

    Why: through the filter a 720p frame costs 13 ms on this 2-core machine, as much as a third
    of decoding and encoding it; the lookup costs 3 ms and gives the same bytes (the table *is*
    the filter's output: every colour, as a 4096x4096 frame through `LutFilter`, ~0.4 s and
    64 MB once per LUT). Worth it for clips, not for one image.
    """

    def __init__(self, lut: Lut3D | str | os.PathLike, interp: str = "tetrahedral") -> None:
        levels = np.arange(256, dtype=np.uint8)
        every = np.empty((256, 256, 256, 4), np.uint8)  # [b][g][r]: the order of a little-endian RGBX word
        every[..., 0], every[..., 1], every[..., 2], every[..., 3] = levels, levels[:, None], levels[:, None, None], 0
        with LutFilter(lut, interp=interp) as through:
            graded = through(np.ascontiguousarray(every[..., :3]).reshape(4096, 4096, 3))
        every[..., :3] = graded.reshape(256, 256, 256, 3)
        self.table = every.reshape(-1).view(np.uint32)
        self._buffers: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """One uint8 (H, W, 3) frame through the LUT (a new array)."""
        h, w = rgb.shape[:2]
        if self._buffers is None or self._buffers[0].shape[:2] != (h, w):  # reused: fresh 4-MB arrays page-fault
            self._buffers = (np.empty((h, w, 4), np.uint8), np.empty((h, w), np.uint32), np.empty((h, w), np.uint32))
        words, index, out = self._buffers
        cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2RGBA, dst=words)
        np.bitwise_and(words.view(np.uint32)[..., 0], 0xFFFFFF, out=index)
        np.take(self.table, index, out=out)
        return cv2.cvtColor(out.view(np.uint8).reshape(h, w, 4), cv2.COLOR_RGBA2RGB)


def _ffmpeg_cube_text(lut: Lut3D) -> str:
    if not lut.default_domain:  # resample onto [0, 1]: FFmpeg cannot place a general domain
        lut = Lut3D(apply_lut_float(lut, lattice(lut.size)), title=lut.title)
    return cube_text(lut, offset=0.5 / 255, decimals=7)


