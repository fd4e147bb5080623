"""TensorFlow's string hashes in NumPy: the OOV buckets of the lookup layers and the ``Hashing`` layer.

Keras hashes tokens with two TensorFlow kernels; both are reproduced here bit for bit:

    tf.strings.to_hash_bucket_fast(s, n)          = Fingerprint64(s) mod n
    tf.strings.to_hash_bucket_strong(s, n, key)   = SipHash-2-4(key, s) mod n

(the modulo on the unsigned 64-bit hash), where ``s`` is the UTF-8 bytes of a string and a
number is hashed as its decimal text (``tf.strings.as_string``).

Fingerprint64 is FarmHash's ``farmhashna::Hash64`` (``tf.fingerprint``).  All arithmetic is
modulo 2**64; ``rot(x, r)`` rotates right; ``fetch(p)`` / ``fetch32(p)`` read 8 / 4 bytes
little-endian at byte ``p``; k0, k1, k2 are FarmHash's constants; for a length L:

    mix(v)        = v ^ (v >> 47)
    h16(u, v, m)  = mix((v ^ mix((u ^ v) m)) m) m
    L = 0         k2
    L in 1..3     mix((s[0] + 256 s[L/2]) k2 ^ (L + 4 s[L-1]) k0) k2
    L in 4..7     h16(L + 8 fetch32(0), fetch32(L-4), k2 + 2L)
    L in 8..16    a = fetch(0) + k2, b = fetch(L-8):  h16(rot(b, 37) m + a, (rot(a, 25) + b) m, m)
    L in 17..32   four words of both ends (hash_17_to_32)
    L in 33..64   eight words of both ends (hash_33_to_64)
    L > 64        a 56-byte state (x, y, z, v, w) over 64-byte blocks, then the last 64 bytes

SipHash-2-4 (Aumasson and Bernstein, 2012) with the key (k0, k1): four words
v = (k0 ^ "somepseu", k1 ^ "dorandom", k0 ^ "lygenera", k1 ^ "tedbytes"); each 8-byte word
m of the message, then the last word (its remaining bytes, with L mod 256 in the top byte),
is mixed in as ``v3 ^= m; 2 SipRounds; v0 ^= m``; then ``v2 ^= 0xff``, 4 SipRounds and
the hash is ``v0 ^ v1 ^ v2 ^ v3``.

The hashes are vectorised over a batch: strings of one byte length take the same path through
either algorithm, so each length's strings are hashed together as uint64 arrays.
"""
import numpy as np

K0 = np.uint64(0xc3a5c85c97cb3127)
K1 = np.uint64(0xb492b66fbe98f273)
K2 = np.uint64(0x9ae16a3b2f90404f)
SIP_INIT = tuple(np.uint64(c) for c in (0x736f6d6570736575, 0x646f72616e646f6d, 0x6c7967656e657261,
                                        0x7465646279746573))
MASK64 = 2**64 - 1
_U = {r: np.uint64(r) for r in range(65)}         # shift amounts as uint64 (no float promotion)


# -- strings as bytes, grouped by length ---------------------------------------------------------
def as_bytes(value):
    """A token as the bytes TensorFlow hashes: str as UTF-8, bytes as they are, an integer as its
    decimal text, a float truncated to an integer first, a bool as "true"/"false"."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, (str, np.str_)):
        return value.encode("utf-8")
    if isinstance(value, (bool, np.bool_)):
        return b"true" if value else b"false"            # tf.strings.as_string of a bool
    if isinstance(value, (float, np.floating)):
        value = int(value)                               # Hashing casts floats to int64 first
    if isinstance(value, (int, np.integer)):
        return str(int(value)).encode("ascii")
    raise ValueError(f"cannot hash {value!r} ({type(value).__name__}): expected a string, bytes or an integer")


def _by_length(data):
    """[(positions, (n, L) uint8 matrix)] for the strings of each byte length L."""
    data = [as_bytes(v) for v in data]
    lengths = np.fromiter((len(b) for b in data), np.int64, len(data))
    groups = []
    for length in np.unique(lengths):
        where = np.flatnonzero(lengths == length)
        joined = b"".join(data[k] for k in where)
        groups.append((where, np.frombuffer(joined, np.uint8).reshape(len(where), int(length))))
    return groups


def _hash_batch(data, one_length):
    flat = list(np.ravel(np.asarray(data, dtype=object))) if not isinstance(data, list) else data
    out = np.empty(len(flat), np.uint64)
    for where, matrix in _by_length(flat):
        out[where] = one_length(matrix)
    return out


def _fetch64(s, p):
    return np.ascontiguousarray(s[:, p:p + 8]).view("<u8")[:, 0].astype(np.uint64)


def _fetch32(s, p):
    return np.ascontiguousarray(s[:, p:p + 4]).view("<u4")[:, 0].astype(np.uint64)


def _rot(v, r):
    return (v >> _U[r]) | (v << _U[64 - r])


def _rotl(v, r):
    return (v << _U[r]) | (v >> _U[64 - r])


# -- FarmHash Fingerprint64 ----------------------------------------------------------------------
def _mix(v):
    return v ^ (v >> _U[47])


def _h16(u, v, mul):
    a = _mix((u ^ v) * mul)
    b = _mix((v ^ a) * mul)
    return b * mul


def _hash_0_to_16(s, n):
    if n >= 8:
        mul = K2 + np.uint64(2 * n)
        a = _fetch64(s, 0) + K2
        b = _fetch64(s, n - 8)
        return _h16(_rot(b, 37) * mul + a, (_rot(a, 25) + b) * mul, mul)
    if n >= 4:
        mul = K2 + np.uint64(2 * n)
        return _h16(np.uint64(n) + (_fetch32(s, 0) << _U[3]), _fetch32(s, n - 4), mul)
    if n > 0:
        y = s[:, 0].astype(np.uint64) + (s[:, n >> 1].astype(np.uint64) << _U[8])
        z = np.uint64(n) + (s[:, n - 1].astype(np.uint64) << _U[2])
        return _mix((y * K2) ^ (z * K0)) * K2
    return np.full(len(s), K2)


def _hash_17_to_32(s, n):
    mul = K2 + np.uint64(2 * n)
    a = _fetch64(s, 0) * K1
    b = _fetch64(s, 8)
    c = _fetch64(s, n - 8) * mul
    d = _fetch64(s, n - 16) * K2
    return _h16(_rot(a + b, 43) + _rot(c, 30) + d, a + _rot(b + K2, 18) + c, mul)


def _weak_32(s, p, a, b):
    """FarmHash's WeakHashLen32WithSeeds of the 32 bytes at p with seeds a, b."""
    w, x, y, z = (_fetch64(s, p + 8 * k) for k in range(4))
    a = a + w
    b = _rot(b + a + z, 21)
    c = a
    a = a + x + y
    b = b + _rot(a, 44)
    return a + z, b + c


def _hash_33_to_64(s, n):
    mul = K2 + np.uint64(2 * n)
    a = _fetch64(s, 0) * K2
    b = _fetch64(s, 8)
    c = _fetch64(s, n - 8) * mul
    d = _fetch64(s, n - 16) * K2
    y = _rot(a + b, 43) + _rot(c, 30) + d
    z = _h16(y, a + _rot(b + K2, 18) + c, mul)
    e = _fetch64(s, 16) * mul
    f = _fetch64(s, 24)
    g = (y + _fetch64(s, n - 32)) * mul
    h = (z + _fetch64(s, n - 24)) * mul
    return _h16(_rot(e + f, 43) + _rot(g, 30) + h, e + _rot(f + a, 18) + g, mul)


def _hash_over_64(s, n):
    zero = np.zeros(len(s), np.uint64)
    seed = np.uint64(81)
    x = zero + seed
    y = x * K1 + np.uint64(113)
    z = _mix(y * K2 + np.uint64(113)) * K2
    v, w = (zero, zero), (zero, zero)
    x = x * K2 + _fetch64(s, 0)
    for p in range(0, ((n - 1) // 64) * 64, 64):          # whole blocks; 1..64 bytes remain
        x = _rot(x + y + v[0] + _fetch64(s, p + 8), 37) * K1
        y = _rot(y + v[1] + _fetch64(s, p + 48), 42) * K1
        x = x ^ w[1]
        y = y + v[0] + _fetch64(s, p + 40)
        z = _rot(z + w[0], 33) * K1
        v = _weak_32(s, p, v[1] * K1, x + w[0])
        w = _weak_32(s, p + 32, z + w[1], y + _fetch64(s, p + 16))
        z, x = x, z
    mul = K1 + ((z & np.uint64(0xff)) << _U[1])
    p = n - 64                                             # the last 64 bytes
    w0 = w[0] + np.uint64((n - 1) & 63)
    v0 = v[0] + w0
    w0 = w0 + v0
    x = _rot(x + y + v0 + _fetch64(s, p + 8), 37) * mul
    y = _rot(y + v[1] + _fetch64(s, p + 48), 42) * mul
    x = x ^ (w[1] * np.uint64(9))
    y = y + v0 * np.uint64(9) + _fetch64(s, p + 40)
    z = _rot(z + w0, 33) * mul
    v = _weak_32(s, p, v[1] * mul, x + w0)
    w = _weak_32(s, p + 32, z + w[1], y + _fetch64(s, p + 16))
    z, x = x, z
    return _h16(_h16(v[0], w[0], mul) + _mix(y) * K0 + z, _h16(v[1], w[1], mul) + x, mul)


def _fingerprint64_of_length(s):
    n = s.shape[1]
    if n <= 16:
        return _hash_0_to_16(s, n)
    if n <= 32:
        return _hash_17_to_32(s, n)
    if n <= 64:
        return _hash_33_to_64(s, n)
    return _hash_over_64(s, n)


def fingerprint64(data):
    """FarmHash Fingerprint64 (uint64) of each string of `data` (``tf.fingerprint``'s value)."""
    return _hash_batch(data, _fingerprint64_of_length)


# -- SipHash-2-4 ---------------------------------------------------------------------------------
def _sip_round(v0, v1, v2, v3):
    v0 = v0 + v1
    v1 = _rotl(v1, 13) ^ v0
    v0 = _rotl(v0, 32)
    v2 = v2 + v3
    v3 = _rotl(v3, 16) ^ v2
    v0 = v0 + v3
    v3 = _rotl(v3, 21) ^ v0
    v2 = v2 + v1
    v1 = _rotl(v1, 17) ^ v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def siphash64(data, key):
    """SipHash-2-4 (uint64) of each string of `data` with the 128-bit key ``(k0, k1)``."""
    k0, k1 = (np.uint64(int(k) & MASK64) for k in key)

    def one_length(s):
        rows, n = s.shape
        whole = n // 8
        tail = np.zeros((rows, 8), np.uint8)
        tail[:, :n - 8 * whole] = s[:, 8 * whole:]
        tail[:, 7] = n & 0xff
        words = np.concatenate([np.ascontiguousarray(s[:, :8 * whole]).reshape(rows, 8 * whole), tail], axis=1)
        words = words.view("<u8").astype(np.uint64)                    # (rows, whole + 1)
        v = [np.full(rows, k0 ^ SIP_INIT[0]), np.full(rows, k1 ^ SIP_INIT[1]),
             np.full(rows, k0 ^ SIP_INIT[2]), np.full(rows, k1 ^ SIP_INIT[3])]
        for m in words.T:
            v[3] = v[3] ^ m
            v = list(_sip_round(*_sip_round(*v)))                     # c = 2 compression rounds
            v[0] = v[0] ^ m
        v[2] = v[2] ^ np.uint64(0xff)
        for _ in range(4):                                             # d = 4 finalization rounds
            v = _sip_round(*v)
        return v[0] ^ v[1] ^ v[2] ^ v[3]

    return _hash_batch(data, one_length)


def hash_buckets(data, num_buckets, salt=None):
    """int64 bucket in [0, num_buckets) of each token of `data`: Fingerprint64 mod num_buckets
    (``tf.strings.to_hash_bucket_fast``), or with ``salt=(k0, k1)`` SipHash-2-4 mod num_buckets
    (``tf.strings.to_hash_bucket_strong``)."""
    hashed = fingerprint64(data) if salt is None else siphash64(data, salt)
    return (hashed % np.uint64(num_buckets)).astype(np.int64)


def salt_key(salt, what):
    """Keras's ``salt`` as SipHash's key: a pair of integers, or one integer used for both words."""
    if isinstance(salt, (tuple, list)) and len(salt) == 2 and all(
            isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in salt):
        return [int(k) for k in salt]
    if isinstance(salt, (int, np.integer)) and not isinstance(salt, bool):
        return [int(salt), int(salt)]
    raise ValueError(f"{what}: The `salt` argument can only be a tuple of size 2 integers, or a single "
                     f"integer. Received: salt={salt!r}")
