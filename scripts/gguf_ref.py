#!/usr/bin/env python3
"""gguf_ref.py — a small, independent GGUF reader and dequantiser in numpy.

Written from the format descriptions (docs/gguf.md, docs/quant.md), not from gptc's C code, so
that the HF comparison (scripts/hf_reference.py) checks gptc against values decoded a second way.
Formats: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, MXFP4.

    python3 scripts/gguf_ref.py FILE.gguf          # print metadata and tensors
    python3 scripts/gguf_ref.py FILE.gguf --check  # also dequantise every tensor (stats)
"""
import struct
import sys

import numpy as np

# ggml type id -> (name, elements per block, bytes per block)
TYPES = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    30: ("BF16", 1, 2),
    39: ("MXFP4", 32, 17),
}

# GGUF metadata value types
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
            11: "<q", 12: "<d"}
_NP_SCALARS = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "<u1",
               10: "<u8", 11: "<i8", 12: "<f8"}


class Tensor:
    def __init__(self, name, ne, ggml_type, offset):
        self.name, self.ne, self.type, self.offset = name, ne, ggml_type, offset
        tname, be, bb = TYPES[ggml_type]
        self.type_name = tname
        n_rows = 1
        for x in ne[1:]:
            n_rows *= x
        if ne[0] % be:
            raise ValueError(f"{name}: ne0 {ne[0]} not a multiple of {be}")
        self.row_bytes = ne[0] // be * bb
        self.n_bytes = self.row_bytes * n_rows
        self.data = None

    @property
    def shape(self):
        """numpy (row-major) shape: reversed ne."""
        return tuple(reversed(self.ne))

    def dequant(self):
        """float32 array of self.shape."""
        rows = self.data.reshape(-1, self.row_bytes)
        out = dequant_rows(self.type, rows, self.ne[0])
        return out.reshape(self.shape)


class GGUF:
    def __init__(self, path):
        self.path = path
        self.buf = np.memmap(path, dtype=np.uint8, mode="r")
        self.pos = 0
        magic = bytes(self.buf[0:4])
        if magic != b"GGUF":
            raise ValueError(f"{path}: bad magic {magic!r}")
        self.pos = 4
        self.version = self._scalar("<I")
        if self.version not in (2, 3):
            raise ValueError(f"{path}: unsupported version {self.version}")
        n_tensors = self._scalar("<Q")
        n_kv = self._scalar("<Q")
        self.kv = {}
        for _ in range(n_kv):
            key = self._string()
            vt = self._scalar("<I")
            self.kv[key] = self._value(vt)
        self.tensors = {}
        order = []
        for _ in range(n_tensors):
            name = self._string()
            n_dims = self._scalar("<I")
            ne = [self._scalar("<Q") for _ in range(n_dims)]
            while len(ne) < 4:
                ne.append(1)
            ggml_type = self._scalar("<I")
            offset = self._scalar("<Q")
            if ggml_type not in TYPES:
                raise ValueError(f"{name}: unsupported ggml type {ggml_type}")
            t = Tensor(name, ne[:max(n_dims, 1)], ggml_type, offset)
            self.tensors[name] = t
            order.append(t)
        self.alignment = int(self.kv.get("general.alignment", 32))
        self.data_start = (self.pos + self.alignment - 1) // self.alignment * self.alignment
        for t in order:
            a = self.data_start + t.offset
            if a + t.n_bytes > len(self.buf):
                raise ValueError(f"{t.name}: data past the end of the file")
            t.data = self.buf[a:a + t.n_bytes]
        self.order = [t.name for t in order]

    def _scalar(self, fmt):
        n = struct.calcsize(fmt)
        v = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += n
        return v

    def _string(self):
        n = self._scalar("<Q")
        s = bytes(self.buf[self.pos:self.pos + n]).decode("utf-8", errors="surrogateescape")
        self.pos += n
        return s

    def _value(self, vt):
        if vt in _SCALARS:
            return self._scalar(_SCALARS[vt])
        if vt == 8:
            return self._string()
        if vt == 9:
            et = self._scalar("<I")
            n = self._scalar("<Q")
            if et in _NP_SCALARS:
                dt = np.dtype(_NP_SCALARS[et])
                arr = np.frombuffer(self.buf, dtype=dt, count=n, offset=self.pos).copy()
                self.pos += n * dt.itemsize
                return arr
            return [self._value(et) for _ in range(n)]
        raise ValueError(f"bad metadata value type {vt}")

    def get(self, key, default=None):
        return self.kv.get(key, default)

    def arch(self):
        return self.kv["general.architecture"]

    def arch_key(self, suffix, default=None):
        return self.kv.get(f"{self.arch()}.{suffix}", default)


# ---- dequantisation (quant.md) ------------------------------------------------------------------
def _f16(b):
    """bytes [..., 2] (uint8) -> float32"""
    return np.ascontiguousarray(b).view("<f2").astype(np.float32)[..., 0]


KVALUES_MXFP4 = np.array([0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12], dtype=np.float32)


def _scale_min_k4(scales):
    """scales: [nb, 12] uint8 -> sc [nb, 8], m [nb, 8] (get_scale_min_k4)."""
    s = scales.astype(np.int32)
    sc = np.empty((s.shape[0], 8), np.int32)
    m = np.empty((s.shape[0], 8), np.int32)
    for j in range(4):
        sc[:, j] = s[:, j] & 63
        m[:, j] = s[:, j + 4] & 63
    for j in range(4, 8):
        sc[:, j] = (s[:, j + 4] & 0x0F) | ((s[:, j - 4] >> 6) << 4)
        m[:, j] = (s[:, j + 4] >> 4) | ((s[:, j] >> 6) << 4)
    return sc.astype(np.float32), m.astype(np.float32)


def dequant_blocks(ggml_type, b):
    """b: [nb, block_bytes] uint8 -> [nb, block_elems] float32."""
    name = TYPES[ggml_type][0]
    nb = b.shape[0]
    if name == "F32":
        return np.ascontiguousarray(b).view("<f4").astype(np.float32)
    if name == "F16":
        return np.ascontiguousarray(b).view("<f2").astype(np.float32)
    if name == "BF16":
        u = np.ascontiguousarray(b).view("<u2").astype(np.uint32) << 16
        return u.view(np.float32)
    if name == "Q8_0":
        d = _f16(b[:, 0:2])
        q = np.ascontiguousarray(b[:, 2:34]).view(np.int8).astype(np.float32)
        return d[:, None] * q
    if name in ("Q4_0", "Q4_1"):
        d = _f16(b[:, 0:2])
        qs = b[:, 2:18] if name == "Q4_0" else b[:, 4:20]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32)
        if name == "Q4_0":
            return (q - 8.0) * d[:, None]
        m = _f16(b[:, 2:4])
        return q * d[:, None] + m[:, None]
    if name in ("Q5_0", "Q5_1"):
        d = _f16(b[:, 0:2])
        if name == "Q5_0":
            qh = np.ascontiguousarray(b[:, 2:6]).view("<u4")[:, 0]
            qs = b[:, 6:22]
        else:
            qh = np.ascontiguousarray(b[:, 4:8]).view("<u4")[:, 0]
            qs = b[:, 8:24]
        j = np.arange(16, dtype=np.uint32)
        hlo = ((qh[:, None] >> j[None, :]) & 1) << 4
        hhi = ((qh[:, None] >> (j[None, :] + 16)) & 1) << 4
        lo = (qs & 0x0F).astype(np.uint32) | hlo
        hi = (qs >> 4).astype(np.uint32) | hhi
        q = np.concatenate([lo, hi], axis=1).astype(np.float32)
        if name == "Q5_0":
            return (q - 16.0) * d[:, None]
        m = _f16(b[:, 2:4])
        return q * d[:, None] + m[:, None]
    if name in ("Q4_K", "Q5_K"):
        d = _f16(b[:, 0:2])
        dmin = _f16(b[:, 2:4])
        sc, m = _scale_min_k4(b[:, 4:16])
        if name == "Q4_K":
            qs = b[:, 16:144]
            qh = None
        else:
            qh = b[:, 16:48]
            qs = b[:, 48:176]
        y = np.empty((nb, 256), np.float32)
        for c in range(4):
            q = qs[:, 32 * c:32 * c + 32]
            lo = (q & 0x0F).astype(np.float32)
            hi = (q >> 4).astype(np.float32)
            if qh is not None:
                lo += 16.0 * ((qh >> (2 * c)) & 1)
                hi += 16.0 * ((qh >> (2 * c + 1)) & 1)
            d1 = d * sc[:, 2 * c]
            m1 = dmin * m[:, 2 * c]
            d2 = d * sc[:, 2 * c + 1]
            m2 = dmin * m[:, 2 * c + 1]
            y[:, 64 * c:64 * c + 32] = d1[:, None] * lo - m1[:, None]
            y[:, 64 * c + 32:64 * c + 64] = d2[:, None] * hi - m2[:, None]
        return y
    if name == "Q6_K":
        ql = b[:, 0:128].astype(np.int32)
        qh = b[:, 128:192].astype(np.int32)
        sc = np.ascontiguousarray(b[:, 192:208]).view(np.int8).astype(np.float32)
        d = _f16(b[:, 208:210])
        y = np.empty((nb, 256), np.float32)
        for n in range(2):
            L = ql[:, 64 * n:64 * n + 64]
            H = qh[:, 32 * n:32 * n + 32]
            base = 128 * n
            q1 = ((L[:, 0:32] & 0x0F) | (((H >> 0) & 3) << 4)) - 32
            q2 = ((L[:, 32:64] & 0x0F) | (((H >> 2) & 3) << 4)) - 32
            q3 = ((L[:, 0:32] >> 4) | (((H >> 4) & 3) << 4)) - 32
            q4 = ((L[:, 32:64] >> 4) | (((H >> 6) & 3) << 4)) - 32
            for k, q in enumerate((q1, q2, q3, q4)):
                e = base + 32 * k + np.arange(32)
                s = sc[:, e // 16]  # element e uses scales[e / 16]
                y[:, e] = d[:, None] * s * q.astype(np.float32)
        return y
    if name == "MXFP4":
        e = b[:, 0].astype(np.int32)
        qs = b[:, 1:17]
        codes = np.concatenate([qs & 0x0F, qs >> 4], axis=1)
        scale = np.ldexp(np.float64(1.0), e - 128).astype(np.float32)  # 2^(e-128), exact
        return KVALUES_MXFP4[codes] * scale[:, None]
    raise ValueError(f"no dequantiser for {name}")


def dequant_rows(ggml_type, rows, n):
    """rows: [R, row_bytes] uint8 -> [R, n] float32."""
    _, be, bb = TYPES[ggml_type]
    R = rows.shape[0]
    blocks = np.ascontiguousarray(rows).reshape(R * (n // be), bb)
    out = np.empty((R, n), np.float32)
    step = max(1, (1 << 22) // bb)  # keep temporaries small
    flat = out.reshape(-1, be)
    for i in range(0, blocks.shape[0], step):
        flat[i:i + step] = dequant_blocks(ggml_type, blocks[i:i + step])
    return out


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 1
    g = GGUF(argv[1])
    print(f"GGUF v{g.version}, {len(g.kv)} keys, {len(g.tensors)} tensors, data at {g.data_start}")
    for k, v in g.kv.items():
        if isinstance(v, np.ndarray) or isinstance(v, list):
            print(f"  {k}: array[{len(v)}]")
        else:
            s = repr(v)
            print(f"  {k}: {s[:80]}")
    for name in g.order:
        t = g.tensors[name]
        line = f"  {name:40s} {t.type_name:6s} ne={t.ne}"
        if "--check" in argv:
            x = t.dequant()
            line += f" mean={x.mean():+.4f} std={x.std():.4f} max|x|={np.abs(x).max():.4f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
