"""The benchmark cases: shapes, models and what is timed, shared by run.py and worker.py.

A model is a stack of recurrent layers (every one but the last returns sequences)
followed by Dense(1).  Every library builds the same stack from a case:

    cell      "simple_rnn" | "lstm" | "gru"
    units     units of each recurrent layer, e.g. [40, 40]
    bidir     wrap every recurrent layer in Bidirectional (merge "concat")
    vocab     (text cases) integer token ids in [1, vocab) padded with 0 at the end, read by
              Embedding(vocab, D) before the recurrent stack; `mask` sets mask_zero (minirnn,
              Keras) or packs the sequences by length (PyTorch's pack_padded_sequence)

Kinds of case (what one timed sample is):

    fit       one epoch of fit() over N samples with shuffled mini-batches of `batch`
    step      one training step on one batch: forward + full BPTT + optimizer update
    predict   one predict() call on N samples with batch size `batch`
    first_fit a fresh process: import, build, compile, then the first fit() of one epoch
    import    a fresh process: `import <library>` alone
    memory    a fresh process: peak RSS growth (resource.getrusage) over training steps of a
              warmed-up model (`steps`), over one fit epoch of a warmed-up model (`epoch`), or
              over building it and its first step (`first`)
    gemm      numpy float32 matmul of two 1024 x 1024 matrices (the machine's GEMM rate)
"""

# ---------------------------------------------------------------------------- settings
COURSE = dict(N=980, T=20, D=1, loss="huber")             # 1000-step series, windows of 20
COURSE_MODELS = {
    "simple_rnn": dict(cell="simple_rnn", units=[40, 40], bidir=False),
    "bilstm": dict(cell="lstm", units=[32, 32], bidir=True),
    "gru": dict(cell="gru", units=[32, 32], bidir=False),
}
COURSE_BATCHES = (32, 128)
JENA = dict(cell="lstm", units=[16], bidir=False, batch=256, T=120, D=14, loss="mse")
LARGE = dict(batch=256, T=50, D=128, loss="mse")
# A text classifier as users write it (pytorch/pytorch#94457: an IMDB LSTM trains 3-5x slower on
# CPU in PyTorch than in Keras): Embedding(20000, 128) -> LSTM(128) -> Dense(1, sigmoid), reviews
# of 200 tokens, batch 256; an epoch of 2048 reviews (8 batches) keeps a round short.
TEXT = dict(cell="lstm", units=[128], bidir=False, vocab=20000, D=128, T=200, batch=256, N=2048,
            min_length=50, loss="binary_crossentropy")
PREDICT_BATCHES = (1, 1024)                               # one sequence, and a batch of 1024
# Scaling sweeps: one LSTM layer -> Dense(1), one parameter varied around BASE.
SCALING_BASE = dict(cell="lstm", units=[64], bidir=False, batch=64, T=50, D=16, loss="mse")
SCALING = {"T": (10, 25, 50, 100, 200), "units": (16, 32, 64, 128, 256), "batch": (16, 32, 64, 128, 256, 512)}
LEARNING_RATE = 1e-6                                      # SGD(momentum=0.9) everywhere
MOMENTUM = 0.9
GEMM_SIZE = 1024
FIRST_FIT_MODEL = "simple_rnn"                            # course model of the cold-start cases
MEMORY_STEPS = 5                                          # training steps in the memory case

ALL_LIBS = ("minirnn", "keras", "torch")
# The goals run.py prints beside their measurements: (case, measure, comparison, bound), measure
# "torch" / "keras" = minirnn's median over that peer's, "seconds" = minirnn's median, "gemm share"
# = minirnn's GFLOP/s over the float32 GEMM rate measured in the same run.
TARGETS = ([(f"course_{m}_fit_b{b}", "torch", "<=", 0.4) for m in ("simple_rnn", "gru", "bilstm") for b in (32, 128)]
           + [("jena_lstm_step", "torch", "<=", 0.9)]
           + [(f"large_{c}_step", what, op, bound) for c in ("lstm", "gru")
              for what, op, bound in (("torch", "<=", 1.0), ("gemm share", ">=", 0.6))]
           + [(f"text_lstm_fit_{m}", peer, "<=", bound) for m in ("mask", "nomask")
              for peer, bound in (("keras", 1.0), ("torch", 0.5))]
           + [("first_fit_empty_cache", "seconds", "<=", 1.0), ("first_fit_warm_cache", "seconds", "<=", 0.3),
              ("import", "seconds", "<", 0.3), ("memory_bilstm_epoch", "torch", "<=", 1.0)])
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}


def _course_model(name):
    return dict(COURSE, **COURSE_MODELS[name])


def _build_cases():
    cases = {}

    def add(name, kind, title, libs=ALL_LIBS, group="main", **spec):
        cases[name] = dict(name=name, kind=kind, title=title, libs=tuple(libs), group=group, **spec)

    for model in COURSE_MODELS:
        for batch in COURSE_BATCHES:
            add(f"course_{model}_fit_b{batch}", "fit", f"course {model}, fit epoch, batch {batch}",
                batch=batch, **_course_model(model))
    for mask in (True, False):
        add(f"text_lstm_fit_{'mask' if mask else 'nomask'}", "fit",
            f"text Embedding(20000,128)→LSTM(128), T200, fit epoch of {TEXT['N']}, batch 256, "
            f"{'masked' if mask else 'no mask'}", mask=mask, **TEXT)
    add("jena_lstm_step", "step", "Jena LSTM(16), step, B256 T120 D14", **JENA)
    for cell in ("lstm", "gru"):
        add(f"large_{cell}_step", "step", f"{cell.upper()}(256), step, B256 T50 D128",
            cell=cell, units=[256], bidir=False, **LARGE)
    for batch in PREDICT_BATCHES:
        add(f"predict_{batch}", "predict", f"predict, course simple_rnn, {batch} seq",
            batch=batch, **dict(_course_model("simple_rnn"), N=batch))
    for param, values in SCALING.items():
        for value in values:
            spec = dict(SCALING_BASE)
            if param == "units":
                spec["units"] = [value]
            else:
                spec[param] = value
            add(f"scale_{param}_{value}", "step", f"scaling {param}={value}", libs=("minirnn", "torch"),
                group="scaling", scale_param=param, scale_value=value, **spec)
    course = dict(batch=32, **_course_model(FIRST_FIT_MODEL))
    add("first_fit_empty_cache", "first_fit", f"first fit, fresh process, empty numba cache "
        f"({FIRST_FIT_MODEL}, b32)", group="cold", numba_cache="empty", **course)
    add("first_fit_warm_cache", "first_fit", f"first fit, fresh process, warm numba cache "
        f"({FIRST_FIT_MODEL}, b32)", libs=("minirnn",), group="cold", numba_cache="warm",
        peers_from="first_fit_empty_cache", **course)
    add("import", "import", "import time", group="cold")
    add("memory_jena_steps", "memory", f"peak RSS growth, Jena LSTM(16), {MEMORY_STEPS} steps after warm-up",
        group="memory", memory_phase="steps", **JENA)
    add("memory_bilstm_epoch", "memory", "peak RSS growth, course bilstm, one fit epoch at batch 128",
        group="memory", memory_phase="epoch", batch=128, **_course_model("bilstm"))
    add("memory_jena_first", "memory", "peak RSS growth, Jena LSTM(16), build + first step",
        group="memory", memory_phase="first", **JENA)
    add("gemm", "gemm", f"numpy float32 GEMM {GEMM_SIZE}^2", libs=("minirnn",), group="machine")
    return cases


CASES = _build_cases()


def forward_flops(case):
    """Matmul FLOPs of one forward pass over one batch-worth of samples: sum over recurrent
    layers (and directions) of 2*B*T*(D_in+n)*G*n, with B = samples per timed unit."""
    samples = case["N"] if case["kind"] in ("fit", "predict") else case["batch"]
    dirs = 2 if case["bidir"] else 1
    d_in, total = case["D"], 0
    for n in case["units"]:
        total += dirs * 2 * samples * case["T"] * (d_in + n) * GATES[case["cell"]] * n
        d_in = dirs * n
    return total


def flops(case):
    """FLOPs of one timed unit: forward only for predict, forward + backward (~2x) for training."""
    if case["kind"] not in ("fit", "step", "predict"):
        return None
    f = forward_flops(case)
    return f if case["kind"] == "predict" else 3 * f
