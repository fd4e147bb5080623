"""The fused twin of SGD's momentum update (minirnn/optimizers.py): the same operations on each
number in the same order, so the same bits."""
from ..optimizers import momentum_step

SIGNATURES = ["void({t}[::1], {t}[::1], {t}[::1], {t}, {t}, boolean)"]


@momentum_step.fused(signatures=SIGNATURES, bitwise=True)
def momentum_step_loop(param, grad, m, lr, momentum, nesterov):
    """momentum_step for Numba, on flat arrays."""
    for k in range(param.shape[0]):
        m[k] = m[k] * momentum - lr * grad[k]
        param[k] = param[k] + (momentum * m[k] - lr * grad[k] if nesterov else m[k])
