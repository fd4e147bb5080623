"""PyTorch nn.RNN / nn.LSTM / nn.GRU <-> minirnn: the same outputs and gradients for each module
configuration, from a module, a state_dict and a safetensors file, and back."""
import numpy as np
import pytest
import torch

import minirnn as mr
from minirnn.interop.torch_weights import (layers_from_torch, save_safetensors, torch_module_args,
                                           torch_state_dict)

CONFIGS = {   # (module class, kwargs): every kind, several layers, both directions, bias, batch layout
    "rnn_tanh": (torch.nn.RNN, dict(num_layers=2)),
    "rnn_relu_bidirectional": (torch.nn.RNN, dict(nonlinearity="relu", bidirectional=True)),
    "lstm_2_layers_bidirectional": (torch.nn.LSTM, dict(num_layers=2, bidirectional=True)),
    "lstm_no_bias_time_major": (torch.nn.LSTM, dict(bias=False, batch_first=False)),
    "gru_2_layers": (torch.nn.GRU, dict(num_layers=2)),
    "gru_bidirectional": (torch.nn.GRU, dict(bidirectional=True)),
}
D, N, B, T = 3, 4, 5, 6


def torch_module(case, seed=0):
    cls, kwargs = CONFIGS[case]
    torch.manual_seed(seed)
    module = cls(D, N, **{"batch_first": True, **kwargs}).double()
    with torch.no_grad():                       # biases away from 0 so that both are exercised
        for name, p in module.named_parameters():
            if name.startswith("bias"):
                p.uniform_(-0.5, 0.5)
    return module


def torch_run(module, x, dy):
    """(output, {name: gradient}) of sum(output * dy); x and dy batch-first."""
    module.zero_grad()
    batch_first = module.batch_first
    xt = torch.tensor(x if batch_first else x.transpose(1, 0, 2), requires_grad=False)
    out, _ = module(xt)
    out = out if batch_first else out.transpose(0, 1)
    (out * torch.tensor(dy)).sum().backward()
    return out.detach().numpy(), {name: p.grad.numpy().copy() for name, p in module.named_parameters()}


def minirnn_run(layers, x, dy):
    model = mr.Sequential([mr.Input((None, D), dtype="float64"), *layers])
    out = model(x, training=True)
    model.backward(dy)
    return out, [g for layer in model.layers for g in layer.grads]


def grads_as_torch(layers, grads):
    """minirnn's gradients laid out as PyTorch's parameters (the same linear re-arrangement as
    the weights; outside the GRU, both PyTorch biases receive the one bias's gradient).
    Overwrites the layers' weights with the gradients."""
    for w, g in zip([w for layer in layers for w in layer.weights], grads, strict=True):
        w[...] = g
    state = torch_state_dict(layers)
    if torch_module_args(layers)[0] != "GRU":
        state.update({k: state[k.replace("bias_hh", "bias_ih")] for k in state if k.startswith("bias_hh")})
    return state


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_outputs_and_gradients_equal(case):
    module = torch_module(case)
    rng = np.random.default_rng(1)
    x, dy = rng.standard_normal((B, T, D)), rng.standard_normal((B, T, N * (1 + module.bidirectional)))
    expected, expected_grads = torch_run(module, x, dy)
    layers = layers_from_torch(module, dtype="float64")
    out, grads = minirnn_run(layers, x, dy)
    np.testing.assert_allclose(out, expected, atol=1e-10)
    ours = grads_as_torch(layers, grads)
    assert sorted(ours) == sorted(expected_grads)
    for name, g in expected_grads.items():
        np.testing.assert_allclose(ours[name], g, atol=1e-10, err_msg=name)


@pytest.mark.parametrize("case", ["lstm_2_layers_bidirectional", "gru_2_layers", "rnn_relu_bidirectional"])
def test_one_sgd_step_then_minirnn_weights_back_into_torch(case, tmp_path):
    """Both take one SGD step on the same loss; minirnn's weights written back into a fresh
    module (via a safetensors file) reproduce minirnn's outputs and PyTorch's stepped kernels."""
    module = torch_module(case)
    rng = np.random.default_rng(2)
    x, dy = rng.standard_normal((B, T, D)), rng.standard_normal((B, T, N * (1 + module.bidirectional)))
    layers = layers_from_torch(module, dtype="float64")
    _, grads = minirnn_run(layers, x, dy)
    params = [w for layer in layers for w in layer.weights]
    mr.optimizers.SGD(0.1).apply_gradients(params, grads)
    torch_run(module, x, dy)
    torch.optim.SGD(module.parameters(), lr=0.1).step()
    save_safetensors(layers, tmp_path / "stepped.safetensors")
    name, kwargs = torch_module_args(layers)
    fresh = getattr(torch.nn, name)(**kwargs).double()
    stepped = layers_from_torch(tmp_path / "stepped.safetensors", mode=name,
                                nonlinearity=kwargs.get("nonlinearity", "tanh"), dtype="float64")
    state = torch_state_dict(stepped)
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    for key, p in module.named_parameters():
        if key.startswith("weight"):            # kernels take the same step on both sides
            np.testing.assert_allclose(state[key], p.detach().numpy(), atol=1e-10, err_msg=key)
    out = mr.Sequential([mr.Input((None, D), dtype="float64"), *layers]).predict(x, verbose=0)
    np.testing.assert_allclose(torch_run(fresh, x, dy)[0], out, atol=1e-10)


def test_state_dict_with_prefix_and_last_output_only():
    module = torch_module("lstm_2_layers_bidirectional")
    wrapped = {f"encoder.rnn.{k}": v for k, v in module.state_dict().items()}
    wrapped["head.weight"] = torch.zeros(1)
    layers = layers_from_torch(wrapped, mode="LSTM", prefix="encoder.rnn.", return_sequences=False,
                               dtype="float64")
    x = np.random.default_rng(3).standard_normal((B, T, D))
    out, (h_n, _) = module(torch.tensor(x))
    last = torch.cat([h_n[-2], h_n[-1]], dim=1).detach().numpy()   # forward's last step, backward's first
    np.testing.assert_allclose(mr.Sequential([mr.Input((None, D), dtype="float64"), *layers]).predict(x, verbose=0),
                               last, atol=1e-10)


def test_refusals_name_the_problem():
    with pytest.raises(ValueError, match=r"Layer 'g' \(GRU\): a GRU with reset_after=False has no PyTorch"):
        torch_state_dict([_built(mr.GRU(3, reset_after=False, name="g"))])
    with pytest.raises(ValueError, match=r"merge_mode='sum'; PyTorch concatenates"):
        torch_state_dict([_built(mr.Bidirectional(mr.LSTM(3), merge_mode="sum"))])
    with pytest.raises(ValueError, match="proj_size=2 has no minirnn counterpart"):
        layers_from_torch(torch.nn.LSTM(3, 4, proj_size=2))
    with pytest.raises(ValueError, match="mode='LSTM', 'GRU' or 'RNN'"):
        layers_from_torch(torch.nn.LSTM(3, 4).state_dict())


def _built(layer):
    layer.build((None, None, D))
    return layer
