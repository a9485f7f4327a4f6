"""Checks a file written by `eirl export --format torch` without PyTorch.

Reads the safetensors file with safetensors' numpy API, rebuilds the forward pass from the
architecture JSON in its metadata (`eirl_architecture`) the way `torch.nn` runs it -- every
`nn.Linear` as `x @ W.T + b` with `W: [out, in]` -- and compares the outputs for the given
observations with eirl's own (numpy's allclose, atol = rtol = 1e-4).

    python3 python/check_torch_export.py model.safetensors cases.json

`cases.json`: {"observations": [[...], ...], "outputs": [[...], ...]}. Needs numpy and
safetensors (`pip install numpy safetensors`).
"""

import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file


def forward(tensors, arch, x):
    """The exported network's output for observations `x: [B, obs_dim]`."""
    h = x
    for i, layer in enumerate(arch["net"]):
        kind = layer["type"]
        if kind == "Linear":
            w, b = tensors[f"net.{i}.weight"], tensors[f"net.{i}.bias"]
            assert w.shape == (layer["out_features"], layer["in_features"]), w.shape
            h = h @ w.T + b
        elif kind == "ReLU":
            h = np.maximum(h, 0.0)
        elif kind == "Tanh":
            h = np.tanh(h)
        else:
            raise ValueError(f"unknown layer {kind}")
    if arch["head"]["kind"] == "dueling":
        value = h @ tensors["value.weight"].T + tensors["value.bias"]
        advantage = h @ tensors["advantage.weight"].T + tensors["advantage.bias"]
        h = value + advantage - advantage.mean(axis=-1, keepdims=True)
    return h


def main():
    model, cases_path = sys.argv[1], sys.argv[2]
    tensors = load_file(model)
    with safe_open(model, framework="np") as f:
        meta = f.metadata()
    arch = json.loads(meta["eirl_architecture"])
    with open(cases_path) as f:
        cases = json.load(f)
    x = np.asarray(cases["observations"], dtype=np.float32)
    expected = np.asarray(cases["outputs"], dtype=np.float32)
    got = forward(tensors, arch, x)
    diff = float(np.max(np.abs(got - expected)))
    ok = got.shape == expected.shape and np.allclose(got, expected, atol=1e-4, rtol=1e-4)
    print(
        f"{model}: {arch['head']['kind']} head, {len(tensors)} tensors, batch {x.shape[0]}: "
        f"max |numpy - eirl| = {diff:.3g} ({'ok' if ok else 'MISMATCH'})"
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
