"""The cell contract, and what every recurrent cell shares.

A cell is one file: its equations, two time loops and a small class (see
``cells/lstm.py``).  The :class:`~minirnn.layers.RNN` wrapper owns everything
about sequences (batch-first layout, ``go_backwards``, initial and returned
states, ``return_sequences``, drawing the dropout masks, output masking,
splitting the batch across cores); a cell sees time-major arrays only.

The contract (what the wrapper calls):

* ``state_names`` (e.g. ``("h", "c")``): the states carried from step to step,
  each (B, n); the first is the output h_t.  ``gates``: G, the number of blocks of
  ``units`` columns in W and U; ``gate_names``: names of the activated blocks a
  cell keeps in ``cache.gates`` (read by :mod:`minirnn.inspect`).
* Weights are declared by name: :meth:`weight_shapes` gives ``{name: shape}``
  (``kernel`` W, ``recurrent_kernel`` U, ``bias`` b, plus any of the cell's own),
  :meth:`initial_weight` the starting values.  They drive :meth:`build`,
  :attr:`weights` (the layer's ``get_weights``/``set_weights`` and the saved file,
  in this order) and the gradients.
* ``forward(X, states, mask, R, input_masks) -> (H, final_states, cache)``:
  X (T, B, D); states a list (B, n) per state name; H (T, B, n) every carried
  h_t; ``cache`` a NamedTuple of what backward needs (never recomputed).  Its fields
  ``X``, ``mask``, ``R``, ``input_masks``, the carried states by upper-case name (``H``,
  ``C``) and, if the cell has gates, ``gates`` (T, B, G*n) are read by :mod:`minirnn.inspect`.
* ``backward_phases(cache, dH, dstates) -> (dX, dstates0, weight_grads)``:
  dH (T, B, n) is dL/dh_t from the outputs, dstates the gradients of the final
  states; dX (T, B, D), dstates0 the gradients of the initial states, and
  ``weight_grads()`` returns ``{weight name: gradient}``.  The layer below waits for
  dX only, so the wrapper may run ``weight_grads`` on a spare core meanwhile.
  :meth:`backward` is the same in one call, in the same order.  A cell whose class sets
  ``skips_input_grad = True`` also takes ``input_grad=False`` and then returns None for
  dX (nothing below needs it: the layer reads the model's input).

Masks and dropout.  The wrapper draws the masks; two reach the time loops as
arrays, empty (shape (0, 1, 1)) when unused:

* ``mask`` (T, B, 1), 1 for real steps and 0 for padding: a masked step keeps
  the previous state, s_t = s_{t-1} + m_t (s_new - s_{t-1}), and passes its
  gradient straight back.  It acts on the carried states inside the recurrence,
  so it cannot be applied outside the loop.
* ``R`` (G, B, n), recurrent dropout: one mask per gate, fixed for the whole
  sequence, applied to h_{t-1} before it meets that gate's block of U.

Input dropout (``input_masks``, one (B, D) mask per block of gates, or None) never
reaches the loops: :meth:`project` and :meth:`input_grad` apply it.

Shared products.  The part of the pre-activations that does not depend on the
recurrence is made before the time loop; the matching gradients after the backward loop:

    XW = X W + b                      before the loop
    dW = X^T dXW,  db = sum dXW       after the loop
    dX = dXW W^T

each one product over all T*B rows for row-major arrays, one product per step for the
column layout below.

Column layout.  A cell may keep its arrays with one column per sequence, step by step:
x_t W + b as (T, G*n, B) (``project(..., columns=True)``), states as (T, n, B) and (n, B),
so that each inner loop of its fused twin runs along one unit over the whole batch rather
than over one sequence's n units, and a step's block stays contiguous (cells/lstm.py does;
its class sets ``sequences_as_columns = True``).  It hands the wrapper and its cache (T, B, .)
views of them (:func:`row_view`, no copy) and gets its arrays back by
:func:`column_layout` (free for such a view); the shared products take either layout.

Every cell subclass registers itself in :mod:`minirnn.registry` under its class
name (package ``"minirnn"`` for minirnn's cells, ``"Custom"`` for any other), so a
saved ``RNN(MyCell(...))`` names its cell and loads again wherever MyCell is defined.
"""
import numpy as np

from .. import activations, initializers, registry
from ..backend import kernel
from ..blas import gemm
from ..utils import is_positive_int


@kernel(bitwise=True)
def recurrent_product_into(h, U, R, out):
    """out = h U, or with recurrent dropout (h * R_g) U_g in each gate block g: (B, G*n).

    The loops of both backends make these products through :func:`~minirnn.blas.gemm`."""
    if R.shape[0] == 0:
        gemm(h, U, out, 0.0)
        return
    n = h.shape[1]
    hR = np.empty(h.shape, h.dtype)           # row-major whatever h's layout, as the fused twin's
    for g in range(U.shape[1] // n):
        np.multiply(h, R[g], out=hR)
        gemm(hR, U[:, g * n:(g + 1) * n], out[:, g * n:(g + 1) * n], 0.0)


@kernel(bitwise=True)
def recurrent_grad_into(dM, U, R, out):
    """out = dL/dh from dM = dL/d(h U): dM U^T (B, n), or with recurrent dropout
    sum_g (dM_g U_g^T) * R_g.  U^T is read in place (BLAS's transpose flag)."""
    if R.shape[0] == 0:
        gemm(dM, U.T, out, 0.0)
        return
    n = U.shape[0]
    part = np.empty(out.shape, out.dtype)     # row-major whatever out's layout, as the fused twin's
    for g in range(U.shape[1] // n):
        gemm(dM[:, g * n:(g + 1) * n], U[:, g * n:(g + 1) * n].T, part, 0.0)
        if g == 0:
            out[:, :] = part * R[0]
        else:
            out += part * R[g]


@kernel(bitwise=True)
def recurrent_product(h, U, R):
    """h U, or with recurrent dropout [(h * R_g) U_g for each gate block g], as a new array."""
    out = np.empty((h.shape[0], U.shape[1]), h.dtype)
    recurrent_product_into(h, U, R, out)
    return out


@kernel(bitwise=True)
def recurrent_grad(dM, UT, R):
    """dL/dh from dL/d(h U), given UT = U^T, as a new array: dM U^T, or with recurrent dropout
    sum_g (dM_g U_g^T) * R_g."""
    out = np.empty((dM.shape[0], UT.shape[1]), dM.dtype)
    recurrent_grad_into(dM, UT.T, R, out)
    return out


def empty_masks(dtype):
    """The 'no mask' / 'no dropout' argument of the time loops."""
    return np.zeros((0, 1, 1), dtype)


def column_layout(A):
    """(T, B, k) -> (T, k, B), or a state (B, n) -> (n, B), C-contiguous: each sequence a
    column.  Free for a view :func:`row_view` made; a copy otherwise."""
    return np.ascontiguousarray(np.swapaxes(A, -1, -2))


def row_view(A):
    """The (T, B, k) (or (B, n)) view of a column-layout array: the inverse of :func:`column_layout`."""
    return np.swapaxes(A, -1, -2)


def in_columns(A):
    """Whether A (T, B, k) is a column-layout view: its batch axis, not its last, has unit stride."""
    return A.shape[2] > 1 and A.strides[2] != A.itemsize and A.strides[1] == A.itemsize


def as_matrix(A):
    """(T, B, k) as the (T*B, k) matrix of its rows (a copy unless A is row-major)."""
    return A.reshape(A.shape[0] * A.shape[1], A.shape[2])


@kernel(bitwise=True)
def products_by_step(A, X, out, beta):
    """out_t = A X_t^T + beta out_t for every step t: A (m, k), X (T, B, k), out (T, m, B)."""
    for t in range(X.shape[0]):
        gemm(A, X[t].T, out[t], beta)


@kernel(bitwise=True)
def sum_of_products_by_step(X, Y, out):
    """out = sum_t X_t^T Y_t: X (T, B, m), Y (T, B, k), out (m, k)."""
    if X.shape[0] == 0:
        out[:, :] = 0
    for t in range(X.shape[0]):
        gemm(X[t].T, Y[t], out, 0.0 if t == 0 else 1.0)


class Cell:
    """Base class: the contract above, weights by name, and the out-of-loop products."""

    gates = 1                 # G: blocks of `units` columns in W and U
    sequences_as_columns = False  # its loops keep each sequence as a column ("Column layout" above)
    gate_names = ()           # names of the blocks of cache.gates, if the cell keeps one
    state_names = ("h",)
    skips_input_grad = False  # backward_phases takes input_grad=False (see the contract)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        registry.register_class(cls)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 dtype="float32"):
        if not is_positive_int(units):
            raise ValueError(f"{type(self).__name__}: units must be a positive integer, received {units!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.dtype = np.dtype(dtype)
        self.input_dim = None

    # -- weights, by name ------------------------------------------------------
    def weight_shapes(self, input_dim):
        """{name: shape} of every weight, in the order of :attr:`weights`."""
        width = self.gates * self.units
        shapes = {"kernel": (input_dim, width), "recurrent_kernel": (self.units, width)}
        if self.use_bias:
            shapes["bias"] = (width,)
        return shapes

    def initial_weight(self, name, shape):
        """The starting value of weight `name`, drawn by its initializer (Keras's argument names:
        ``kernel_initializer``, ``recurrent_initializer``, ``bias_initializer``; a weight of a
        cell's own, ``{name}_initializer``)."""
        attribute = "recurrent_initializer" if name == "recurrent_kernel" else f"{name}_initializer"
        return getattr(self, attribute)(shape, dtype=self.dtype.name)

    def build(self, input_dim):
        self.input_dim = int(input_dim)
        for name, shape in self.weight_shapes(self.input_dim).items():
            value = np.ascontiguousarray(self.initial_weight(name, shape), self.dtype)
            if value.shape != tuple(shape):
                raise ValueError(f"{type(self).__name__}: initial weight '{name}' has shape {value.shape}, "
                                 f"expected {tuple(shape)}")
            setattr(self, name, value)

    @property
    def weight_names(self):
        return list(self.weight_shapes(self.input_dim))

    @property
    def weights(self):
        """The live weight arrays in declared order (Keras's: kernel, recurrent_kernel, bias)."""
        return [getattr(self, name) for name in self.weight_names]

    def ordered(self, grads):
        """The gradients {name: array} of ``weight_grads()`` as a list aligned with :attr:`weights`."""
        missing = [name for name in self.weight_names if name not in grads]
        if missing:
            raise ValueError(f"{type(self).__name__}: weight_grads() returned no gradient for {missing}")
        return [grads[name] for name in self.weight_names]

    def zero_states(self, batch):
        return [np.zeros((batch, self.units), self.dtype) for _ in self.state_names]

    # -- the layout of the (T, B, .) arrays it is handed ---------------------------------
    def in_layout(self, A):
        """A (T, B, k) as this cell's loops read it: C-contiguous, or for a column-layout cell a
        column-layout view (a copy only when A is neither already)."""
        if not self.sequences_as_columns:
            return np.ascontiguousarray(A)
        return row_view(column_layout(A))

    @staticmethod
    def batch_rows(A, rows):
        """The sequences `rows` (a slice) of A (T, B, k), for a batch split across cores: a view
        of a column-layout array (its loops read one as it stands; at Jena's shape copying
        the input's and dL/dH's chunks took a tenth of the step), else a contiguous copy."""
        part = A[:, rows]
        return part if in_columns(A) else np.ascontiguousarray(part)

    def sequence_zeros(self, T, B, k):
        """Zeros (T, B, k) in this cell's layout."""
        if self.sequences_as_columns:
            return row_view(np.zeros((T, k, B), self.dtype))
        return np.zeros((T, B, k), self.dtype)

    def recurrent_kernel_by_columns(self):
        """U as a column-major copy, for the row-layout backward loops: their da_t U^T then
        reads U^T row-major, which BLAS multiplies 1.2-1.8 times as fast at these sizes as the
        transposed row-major U (measured: batch 32-128, n 32-40)."""
        return np.asfortranarray(self.recurrent_kernel)

    # -- the products outside the time loop ----------------------------------
    def input_bias(self):
        """Bias added to the input projection XW (None when use_bias=False)."""
        return self.bias if self.use_bias else None

    def column_blocks(self, masks):
        """(columns, mask) pairs: one input-dropout mask per block of gates."""
        width = self.gates * self.units
        step = width // len(masks)
        return [(slice(k * step, (k + 1) * step), m) for k, m in enumerate(masks)]

    def project(self, X, input_masks=None, columns=False):
        """XW = X W + b for every step at once: (T, B, D) -> (T, B, G*n), or with `columns`
        in the column layout (T, G*n, B), one product per step.

        With input dropout, block k of the columns sees X * input_masks[k]."""
        T, B, D = X.shape
        width = self.gates * self.units
        XW = np.empty((T, width, B) if columns else (T * B, width), X.dtype)
        b = self.input_bias()
        if b is not None:                         # the product is then added to it: one pass less
            steps = XW if columns else XW.reshape(T, B, width)
            # Step 0 filled, then copied to the others: a copy runs over a whole step at a time,
            # a fill from b over one row at a time (at the course's shapes 10 us against 15-25).
            steps[0] = b[:, None] if columns else b
            steps[1:] = steps[0]
        beta = 0.0 if b is None else 1.0
        blocks = [(slice(None), None)] if input_masks is None else self.column_blocks(input_masks)
        for cols, m in blocks:
            Xm = X if m is None else X * m
            if columns:
                products_by_step(self.kernel[:, cols].T, Xm, XW[:, cols], beta)
            else:
                gemm(as_matrix(Xm), self.kernel[:, cols], XW[:, cols], beta)
        return XW if columns else XW.reshape(T, B, width)

    # The products after the loop run in both backends alike, so they may use NumPy's ``@``
    # (the loops call gemm, whose one routine both backends share).
    def input_grad(self, dXW, input_masks=None, needed=True):
        """dL/dX = dL/dXW W^T (with input dropout, block k of the columns times input_masks[k]);
        None when not `needed`.  A column-layout dXW gives a column-layout view."""
        if not needed:
            return None
        T, B, width = dXW.shape
        D = self.input_dim
        blocks = [(slice(None), None)] if input_masks is None else self.column_blocks(input_masks)
        columns = in_columns(dXW)
        dX = None
        for cols, m in blocks:
            if columns:
                part = np.empty((T, D, B), dXW.dtype)
                products_by_step(self.kernel[:, cols], dXW[..., cols], part, 0.0)
                part = row_view(part)
            else:
                part = np.matmul(as_matrix(dXW[..., cols]), self.kernel[:, cols].T).reshape(T, B, D)
            if m is not None:
                part *= m
            dX = part if dX is None else dX + part
        return dX

    def kernel_grads(self, X, dXW, input_masks=None):
        """dW = sum_t x_t^T dXW_t and db = sum_t dXW_t (the input bias's gradient)."""
        if input_masks is None:
            dW = self.outer(X, dXW)
        else:
            dW = np.empty_like(self.kernel)
            for cols, m in self.column_blocks(input_masks):
                dW[:, cols] = self.outer(X * m, dXW[..., cols])
        return dW, self.sum_over_steps(dXW)

    @staticmethod
    def sum_over_steps(A):
        """sum_t sum_b A_tb: (T, B, k) -> (k,): each step's sum over the batch as a product with
        ones, then the sum over steps.  NumPy's reduction over the strided batch axis takes 2-10
        times as long (and rounds more: one running sum per column)."""
        T, B, k = A.shape
        ones = np.ones(B, A.dtype)
        if in_columns(A):
            return np.matmul(column_layout(A).reshape(T * k, B), ones).reshape(T, k).sum(axis=0)
        return np.matmul(ones, A).sum(axis=0)

    def recurrent_kernel_grad(self, H_prev, dM, R):
        """dU = sum_t h_{t-1}^T dM_t, per gate block with h_{t-1} * R_g under recurrent dropout."""
        if R.shape[0] == 0:
            return self.outer(H_prev, dM)
        n = self.units
        return np.concatenate([self.outer(H_prev * R[g], dM[..., g * n:(g + 1) * n])
                               for g in range(dM.shape[-1] // n)], axis=1)

    def recurrent_kernel_grad_from_states(self, H, h0, dM, R):
        """recurrent_kernel_grad from the carried states H and h0 (without a copy of h_{t-1} for
        every step when there is no recurrent dropout)."""
        if R.shape[0] == 0:
            return self.outer_previous(H, h0, dM)
        return self.recurrent_kernel_grad(self.previous(H, h0), dM, R)

    @staticmethod
    def previous(H, h0):
        """h_{t-1} for every step: (T, B, n) with h0 first."""
        return np.concatenate([h0[None], H[:-1]], axis=0)

    @staticmethod
    def outer(A, dA):
        """sum_t A_t^T dA_t: (T, B, m), (T, B, k) -> (m, k); one product over all steps, or one
        per step when either is a column-layout view."""
        if in_columns(A) or in_columns(dA):
            out = np.empty((A.shape[2], dA.shape[2]), dA.dtype)
            sum_of_products_by_step(A, dA, out)
            return out
        return np.matmul(as_matrix(A).T, as_matrix(dA))

    @classmethod
    def outer_previous(cls, H, h0, dM):
        """outer(previous(H, h0), dM) without building h_{t-1} for every step: h_0^T dM_1 plus
        the product of the rest."""
        out = cls.outer(H[:-1], dM[1:])
        out += h0.T @ dM[0]
        return out

    # -- to be written by each cell (see the contract in the module docstring) ----
    def forward(self, X, states, mask, R, input_masks=None):
        """Run X (T, B, D) from `states`: returns (H, final_states, cache)."""
        raise NotImplementedError

    def backward_phases(self, cache, dH, dstates):
        """Backpropagate through time: returns (dX, dstates0, weight_grads), where
        ``weight_grads()`` computes {weight name: dL/dweight}."""
        raise NotImplementedError

    def backward(self, cache, dH, dstates, input_grad=True):
        """:meth:`backward_phases` in one call: (dX, dstates0, {weight name: dL/dweight})."""
        dX, dstates0, weight_grads = (self.backward_phases(cache, dH, dstates) if input_grad else
                                      self.backward_phases(cache, dH, dstates, input_grad=False))
        return dX, dstates0, weight_grads()
