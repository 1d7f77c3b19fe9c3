"""The replication's experiments, declared: nets, regimes, prunings, rows, and what the doc
compares and judges. One place per fact: the runner and the renderer derive everything
from these records (rows run in declaration order, the longest last; within a row the
seed with the most training left starts first)."""
from __future__ import annotations

from dataclasses import dataclass, field

SEEDS = (1, 2, 3)
EPOCH = 938  # batches of 64 in 60,000 images (937.5)
IMAGENET = 1281167  # ILSVRC-2012 training images
# The original AlexNet solver (63000 iterations, a step every 15000, batch 256) in epochs,
# scaled to this dataset's 937.5 batches of 64.
ALEX_ITERS = round(63000 * 256 / IMAGENET * 60000 / 64)
ALEX_STEP = round(15000 * 256 / IMAGENET * 60000 / 64)

# The paper's schedules (ResNet-18, Table 3), the original's AlexNet campaign, and the INQ
# author's schedule for sparse models.
C5 = "0.5,0.75,0.875,1"
C4 = "0.3,0.5,0.8,0.9,0.95,1"
C3 = "0.2,0.4,0.6,0.7,0.8,0.9,0.95,1"
C2 = "0.2,0.4,0.6,0.7,0.8,0.85,0.9,0.95,0.975,1"
ORIGINAL = "0.3,0.6,0.8,1"
FINE = "0.05,0.1,0.15,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.95,1"
SCHEDULES = {5: C5, 4: C4, 3: C3, 2: C2}

FLOAT_SOLVER = "prototxt/fashion_lenet_solver.prototxt"
INQ_SOLVER = "prototxt/fashion_lenet_inq_solver.prototxt"
# What the answer for the 2-bit ResNet-18 user points at (ImageNet; not run here).
RESNET18_NET = "prototxt/resnet18_train_val.prototxt"
RESNET18_SOLVER = "prototxt/resnet18_inq_solver.prototxt"


@dataclass(frozen=True)
class Net:
    prototxt: str
    float_solver: str = FLOAT_SOLVER


NETS = {"lenet": Net("prototxt/fashion_lenet_train_test.prototxt"),
        "lenet_bn": Net("prototxt/fashion_lenet_bn_train_test.prototxt"),
        "resnet8": Net("prototxt/fashion_resnet8_train_test.prototxt", "prototxt/fashion_resnet8_solver.prototxt")}


@dataclass(frozen=True)
class Regime:
    """A retraining solver: the shipped INQ solver (or the net's float solver) with these
    fields changed (None clears one)."""
    description: str
    overrides: dict = field(default_factory=dict)
    base: str = "inq"  # "inq" or "float" (written per seed: its random_seed)


REGIMES = {
    "advice": Regime("each phase until lr reaches 1e-5, a step every 1/3 epoch (the author's advice): "
                     "1252 iterations = 1.33 epochs"),
    "epoch": Regime("one epoch per phase (938 iterations), lr 0.003 fixed: the original solver cut to one "
                    "epoch, whose first step would come after 3 epochs",
                    {"lr_policy": "fixed", "max_iter": EPOCH, "stepsize": None, "gamma": None}),
    "low": Regime("as `advice`, with base_lr 0.001 instead of the original's 0.003 (the float model ended "
                  "at lr 0.0001: 0.003 is 30 times that)", {"base_lr": 0.001}),
    "long": Regime("4 epochs per phase (3752 iterations), lr 0.003 falling x0.2 every epoch (938); used to retrain "
                   "pruning steps", {"stepsize": EPOCH, "max_iter": 4 * EPOCH}),
    "float": Regime("the float model's own solver (20 epochs, lr 0.01 falling tenfold after epochs 10 and 15); "
                    "used to retrain a pruned model at its final sparsity", base="float"),
    "float_low": Regime("as `float`, from lr 0.001 (to 1e-5): the retrained weights stay closer to the pruned model's",
                        {"base_lr": 0.001}, base="float"),
    "alexnet": Regime(f"the original AlexNet solver scaled by epochs: 63000 x 256 images = "
                      f"{63000 * 256 / IMAGENET:.2f} ImageNet epochs -> {ALEX_ITERS} iterations of 64 here, a step "
                      f"(x0.2) every 15000 x 256 = {15000 * 256 / IMAGENET:.2f} epochs -> {ALEX_STEP}",
                      {"stepsize": ALEX_STEP, "max_iter": ALEX_ITERS, "snapshot": 2000}),  # a resume point
}


@dataclass(frozen=True)
class Prune:
    """Magnitude pruning (python -m inq_layer.tools.prune) of a float model or of another pruning's."""
    sparsity: str  # --sparsity
    steps: str  # --steps
    regime: str  # the solver that retrains each step
    start: str | None = None  # the pruning whose model this one starts from (None: the float LeNet)


HAN_LENET5 = "conv1=0.34,conv2=0.88,ip1=0.92,ip2=0.81"  # Han et al. 2015's LeNet-5 rates (8 % of ip1 kept)
HAN_IP1_95 = "conv1=0.34,conv2=0.88,ip1=0.95,ip2=0.81"
C75 = "conv2=0.75,ip1=0.95,ip2=0.75"  # conv1 not pruned
PRUNES = {
    "p90": Prune("0.9", "0.5,0.7,0.8,0.9", "advice"),
    "player": Prune("conv1=0.6,conv2=0.85,ip1=0.95,ip2=0.8", "0.5,0.75,0.9,1", "advice"),
    "han_long": Prune(HAN_LENET5, "0.5,0.75,0.9,1", "long"),
    # han_long's model retrained 20 more epochs at its sparsity, then ip1 pruned further
    "han_f20": Prune(HAN_LENET5, "1", "float", start="han_long"),
    "han95_f20": Prune(HAN_IP1_95, "1", "float", start="han_f20"),
    "han_low20": Prune(HAN_LENET5, "1", "float_low", start="han_long"),
    # the size margin of han95_f20 (61x) spent on the small layers: conv1 dense, conv2 and ip2 at 75 %
    "c75_long": Prune(C75, "0.5,0.75,0.9,1", "long"),
    "c75_f20": Prune(C75, "1", "float", start="c75_long"),
}


@dataclass(frozen=True)
class Row:
    """One INQ campaign, run once per seed (solver_driver.py). `start` is "float" or a
    pruning; a row that starts from a pruning runs with --keep-zeros."""
    description: str
    net: str = "lenet"
    start: str = "float"
    regime: str = "advice"
    bits: int = 5
    schedule: str | None = None  # None: SCHEDULES[bits]
    layer_bits: tuple[tuple[str, int], ...] = ()
    n1_rule: str = "max"
    rule: str = "paper"
    strategy: str = "magnitude"
    quantize: str = "default"
    keep_momentum: bool = False
    act_bits: int | None = None  # fixed-point activations (--act-bits), None: float
    act_calibration: str = "mse"
    act_from: str = "start"

    @property
    def campaign(self) -> str:
        return self.schedule or SCHEDULES[self.bits]

    @property
    def pruned(self) -> bool:
        return self.start != "float"

    def options(self) -> list[str]:
        """The driver options that differ from its defaults."""
        o = ["--bits", str(self.bits), "--campaign", self.campaign]
        for flag, value, default in (("--n1-rule", self.n1_rule, "max"), ("--strategy", self.strategy, "magnitude"),
                                     ("--rule", self.rule, "paper"), ("--quantize", self.quantize, "default")):
            if value != default:
                o += [flag, value]
        if self.layer_bits:
            o += ["--layer-bits", ",".join(f"{k}={v}" for k, v in self.layer_bits)]
        if self.keep_momentum:
            o.append("--keep-momentum")
        if self.pruned:
            o.append("--keep-zeros")
        if self.act_bits is not None:
            o += ["--act-bits", str(self.act_bits)]
            for flag, value, default in (("--act-calibration", self.act_calibration, "mse"),
                                         ("--act-from", self.act_from, "start")):
                if value != default:
                    o += [flag, value]
        return o


def _pruned(start: str, bits: int, description: str, schedule: str | None = None, regime: str = "advice") -> Row:
    return Row(description, start=start, bits=bits, schedule=schedule, regime=regime)


DENSE = {
    "b5": Row("5 bits"),
    "b4": Row("4 bits", bits=4),
    "b5_mse": Row("5 bits, mse n1", n1_rule="mse"),
    "b3": Row("3 bits, max n1 (paper)", bits=3),
    "b3_mse": Row("3 bits, mse n1", bits=3, n1_rule="mse"),
    "b2": Row("2 bits, max n1 (paper)", bits=2),
    "b2_mse": Row("2 bits, mse n1", bits=2, n1_rule="mse"),
    "b5_low": Row("5 bits, base_lr 0.001", regime="low"),
    "b2_mse_low": Row("2 bits mse, base_lr 0.001", regime="low", bits=2, n1_rule="mse"),
    "random": Row("5 bits, random partition", strategy="random"),
    "reference": Row("5 bits, reference rule", rule="reference"),
    "original": Row("5 bits, the original's campaign 0.3/0.6/0.8/1 and rule", schedule=ORIGINAL, rule="reference"),
    "momentum": Row("5 bits, momentum kept across phases", keep_momentum=True),
    "bn_default": Row("LeNet-BN 5 bits, BatchNorm float", net="lenet_bn"),
    "bn_every": Row("LeNet-BN 5 bits, every blob 0 quantized (the original)", net="lenet_bn", quantize="every-blob0"),
    "b5_epoch": Row("5 bits, one epoch per phase", regime="epoch"),
    "b2_mse_epoch": Row("2 bits mse, one epoch per phase", regime="epoch", bits=2, n1_rule="mse"),
}
PRUNED = {
    "k5_p90": _pruned("p90", 5, "pruned 90 %, 5 bits"),
    "k5_p90_fine": _pruned("p90", 5, "pruned 90 %, 5 bits, finer schedule", FINE),
    "k4_p90": _pruned("p90", 4, "pruned 90 %, 4 bits"),
    "k3_p90": _pruned("p90", 3, "pruned 90 %, 3 bits"),
    "k5_player": _pruned("player", 5, "pruned per layer, 5 bits"),
    "k5_player_fine": _pruned("player", 5, "pruned per layer, 5 bits, finer schedule", FINE),
    "k5_han_long": _pruned("han_long", 5, "pruned at Han et al.'s LeNet-5 rates, 4 epochs a step, 5 bits"),
    "k5_han_long_fine": _pruned("han_long", 5, "pruned at Han et al.'s LeNet-5 rates, 4 epochs a step, 5 bits, "
                                "finer schedule", FINE),
    "k5_han_f20": _pruned("han_f20", 5, "Han rates + 20 epochs, 5 bits"),
    "k5_han_f20_fine": _pruned("han_f20", 5, "Han rates + 20 epochs, 5 bits, finer schedule", FINE),
    "k4_han_f20": _pruned("han_f20", 4, "Han rates + 20 epochs, 4 bits"),
    "k3_han_f20": _pruned("han_f20", 3, "Han rates + 20 epochs, 3 bits"),
    "k5_han_low20": _pruned("han_low20", 5, "Han rates + 20 epochs from lr 0.001, 5 bits"),
    "k5_han95_f20": _pruned("han95_f20", 5, "Han rates, ip1 95 %, + 20 epochs, 5 bits"),
    "k5_han95_f20_fine": _pruned("han95_f20", 5, "Han rates, ip1 95 %, + 20 epochs, 5 bits, finer schedule", FINE),
    "k5_c75_f20_fine": _pruned("c75_f20", 5, "conv1 dense, conv2/ip2 75 %, ip1 95 %, + 20 epochs, 5 bits, "
                               "finer schedule", FINE),
}
LONGEST = {  # the AlexNet solver scaled: 9.4x `advice` a phase, run last
    "b5_alexnet": Row("5 bits, AlexNet solver scaled", regime="alexnet"),
    "b2_mse_alexnet": Row("2 bits mse, AlexNet solver scaled", regime="alexnet", bits=2, n1_rule="mse"),
    "k5_han95_f20_alexnet": _pruned("han95_f20", 5, "Han rates, ip1 95 %, + 20 epochs, 5 bits, AlexNet solver "
                                    "scaled", regime="alexnet"),
    "k5_c75_f20_alexnet": _pruned("c75_f20", 5, "conv1 dense, conv2/ip2 75 %, ip1 95 %, + 20 epochs, 5 bits, "
                                  "AlexNet solver scaled", regime="alexnet"),
}
# ResNet-8 (BatchNorm + Scale after every convolution): the 2-bit ResNet-18 question where it was asked.
FIRST_LAST_8 = (("conv1", 8), ("ip", 8))  # the first convolution and the last fully-connected layer
RESNET = {
    "r5": Row("ResNet-8 5 bits", net="resnet8"),
    "r2_mse": Row("ResNet-8 2 bits, mse n1", net="resnet8", bits=2, n1_rule="mse"),
    "r2_mse_fl8": Row("ResNet-8 2 bits mse, conv1 and ip at 8 bits", net="resnet8", bits=2, n1_rule="mse",
                      layer_bits=FIRST_LAST_8),
    "r2": Row("ResNet-8 2 bits, max n1 (paper)", net="resnet8", bits=2),
    # one epoch a phase: the short end of the phase-length question (the LeNet rows' `epoch`)
    "r2_mse_epoch": Row("ResNet-8 2 bits mse, one epoch per phase", net="resnet8", regime="epoch", bits=2,
                        n1_rule="mse"),
    "r5_epoch": Row("ResNet-8 5 bits, one epoch per phase", net="resnet8", regime="epoch"),
    "r3_mse": Row("ResNet-8 3 bits, mse n1", net="resnet8", bits=3, n1_rule="mse"),
    "r4": Row("ResNet-8 4 bits", net="resnet8", bits=4),
    "r5_every": Row("ResNet-8 5 bits, every blob 0 quantized (the original)", net="resnet8", quantize="every-blob0"),
    # the 2-bit choices measured together, at one epoch a phase (r2_mse_fl8 has them at advice)
    "r2_mse_fl8_epoch": Row("ResNet-8 2 bits mse, conv1 and ip at 8 bits, one epoch per phase", net="resnet8",
                            regime="epoch", bits=2, n1_rule="mse", layer_bits=FIRST_LAST_8),
}
# Fixed-point activations (--act-bits): the weights of b5, b2_mse, r5 and r2_mse_fl8_epoch,
# activations at 8 and 4 bits; at W5/A4 the calibration rule and when the quantizers come in.
ACTIVATIONS = {
    "b5_a8": Row("5 bits, activations 8 bits", act_bits=8),
    "b5_a4": Row("5 bits, activations 4 bits", act_bits=4),
    "b5_a4_max": Row("5 bits, activations 4 bits, max calibration", act_bits=4, act_calibration="max"),
    "b5_a4_end": Row("5 bits, activations 4 bits, from an extra phase at the end", act_bits=4, act_from="end"),
    "b2_mse_a8": Row("2 bits mse, activations 8 bits", bits=2, n1_rule="mse", act_bits=8),
    "r5_a8": Row("ResNet-8 5 bits, activations 8 bits", net="resnet8", act_bits=8),
    "r5_a4": Row("ResNet-8 5 bits, activations 4 bits", net="resnet8", act_bits=4),
    "r2_mse_fl8_epoch_a8": Row("ResNet-8 2 bits mse, conv1 and ip at 8 bits, one epoch per phase, activations "
                               "8 bits", net="resnet8", regime="epoch", bits=2, n1_rule="mse",
                               layer_bits=FIRST_LAST_8, act_bits=8),
}
RESNET_LONGEST = {
    "r2_mse_alexnet": Row("ResNet-8 2 bits mse, AlexNet solver scaled", net="resnet8", regime="alexnet", bits=2,
                          n1_rule="mse"),
    # the recommended 2-bit recipe: mse n1, conv1 and ip at 8 bits, the AlexNet phase length
    "r2_mse_fl8_alexnet": Row("ResNet-8 2 bits mse, conv1 and ip at 8 bits, AlexNet solver scaled", net="resnet8",
                              regime="alexnet", bits=2, n1_rule="mse", layer_bits=FIRST_LAST_8),
}
ROWS: dict[str, Row] = {**DENSE, **PRUNED, **LONGEST, **RESNET, **ACTIVATIONS, **RESNET_LONGEST}
# ResNet-8 2 bits mse by phase length, shortest first (`advice` is r2_mse)
RESNET_PHASE_LENGTH = ("r2_mse_epoch", "r2_mse", "r2_mse_alexnet")
# mse n1 with conv1 and ip at 8 bits, by phase length, shortest first
RESNET_TOGETHER = ("r2_mse_fl8_epoch", "r2_mse_fl8", "r2_mse_fl8_alexnet")

# -- what the doc compares and judges -------------------------------------------------
TABLES = {  # section -> rows of its table
    "phase_length": ["b5_epoch", "b5", "b5_alexnet", "b2_mse_epoch", "b2_mse", "b2_mse_alexnet"],
    "bits": ["b5", "b5_mse", "b4", "b3", "b3_mse", "b2", "b2_mse"],
    "lr": ["b5", "b5_low", "b2_mse", "b2_mse_low"],
    "partition": ["b5", "random"],
    "rules": ["b5", "reference", "original"],
    "momentum": ["b5", "momentum"],
    "bn": ["bn_default", "bn_every"],
    "pruned": ["k5_p90", "k5_p90_fine", "k4_p90", "k3_p90", "k5_player", "k5_player_fine", "k5_han_long",
               "k5_han_long_fine", "k5_han_f20", "k5_han_f20_fine", "k4_han_f20", "k3_han_f20", "k5_han_low20",
               "k5_han95_f20", "k5_han95_f20_alexnet", "k5_han95_f20_fine", "k5_c75_f20_alexnet", "k5_c75_f20_fine"],
}
PHASE_LENGTH = {"5 bits": ("b5_epoch", "b5", "b5_alexnet"), "2 bits mse": ("b2_mse_epoch", "b2_mse", "b2_mse_alexnet")}
TERNARY = ("b2", "b2_mse")  # the paper's n1, then ours
OTHER_CHOICES = (  # (baseline row, row, what the difference means)
    ("b5", "random", "random against pruning-inspired partition (5 bits)"),
    ("b5", "reference", "reference rule (re-selection) against paper rule"),
    ("b5", "original", "the original's campaign and rule against the paper's 5-bit schedule"),
    ("b5", "momentum", "momentum kept against reset"),
    ("b3", "b3_mse", "mse n1 against max n1 at 3 bits"),
    ("b5", "b5_low", "base_lr 0.001 against 0.003 at 5 bits"),
    ("b2_mse", "b2_mse_low", "base_lr 0.001 against 0.003 at 2 bits (mse)"),
    ("bn_default", "bn_every", "quantizing BatchNorm/Scale blob 0 against leaving them float"),
)


@dataclass(frozen=True)
class Goal:
    row: str
    limit: float  # the least change from float (points, mean of the seeds) that meets it
    text: str


FLOAT_GOAL = 90.0  # the float LeNet's accuracy, every seed
FIVE_BIT_GOAL = Goal("b5", -0.2, "5 bits, no loss (>= float - 0.2)")
GOALS = (Goal("b3", -1.0, "3 bits, max n1 (>= float - 1.0)"), Goal("b3_mse", -1.0, "3 bits, mse n1 (>= float - 1.0)"),
         Goal("b2_mse", -2.0, "2 bits with the mse n1 (>= float - 2.0)"))
# fixed-point activations: the tables, goals and choices of the doc's section
ACT_TABLES = {"LeNet": ["b5", "b5_a8", "b5_a4", "b5_a4_max", "b5_a4_end", "b2_mse", "b2_mse_a8"],
              "ResNet-8": ["r5", "r5_a8", "r5_a4", "r2_mse_fl8_epoch", "r2_mse_fl8_epoch_a8"]}
ACT_GOALS = (Goal("b5_a8", -0.3, "LeNet W5/A8 (>= float - 0.3)"),
             Goal("r5_a8", -0.3, "ResNet-8 W5/A8 (>= float - 0.3)"),
             Goal("b5_a4", -1.0, "LeNet W5/A4 (>= float - 1.0)"),
             Goal("r5_a4", -1.0, "ResNet-8 W5/A4 (>= float - 1.0)"),
             Goal("r2_mse_fl8_epoch_a8", -2.0, "ResNet-8 2-bit recipe at A8 (>= float - 2.0)"))
ACT_PLOT = (("LeNet", {4: "b5_a4", 8: "b5_a8", 32: "b5"}), ("ResNet-8", {4: "r5_a4", 8: "r5_a8", 32: "r5"}))
ACT_CHOICES = (("b5_a4_max", "b5_a4", "mse calibration against max (LeNet W5/A4)"),
               ("b5_a4_end", "b5_a4", "quantizers from the start against an extra phase at the end (LeNet W5/A4)"),
               ("b5", "b5_a8", "8-bit activations against float ones (LeNet W5)"),
               ("r5", "r5_a8", "8-bit activations against float ones (ResNet-8 W5)"))
# The README's summary: (weights / activations, LeNet row, ResNet-8 row)
ACT_README_ROWS = (("W5, float activations", "b5", "r5"), ("W5/A8", "b5_a8", "r5_a8"), ("W5/A4", "b5_a4", "r5_a4"),
                   ("W2 mse, float activations (ResNet-8: conv1 and ip at 8 bits, `epoch`)", "b2_mse",
                    "r2_mse_fl8_epoch"),
                   ("W2 mse/A8 (ResNet-8: the same)", "b2_mse_a8", "r2_mse_fl8_epoch_a8"))
# The README's advice: (choice, row a, row b, if within the seeds' spread, if a is better, if b is better)
ACT_ADVICE = (
    ("8 bits on W5 (LeNet)", "b5", "b5_a8", "costs nothing the seeds can tell: use `--act-bits 8`",
     "costs accuracy: weigh it against the hardware", "use `--act-bits 8`"),
    ("8 bits on W5 (ResNet-8)", "r5", "r5_a8", "costs nothing the seeds can tell: use `--act-bits 8`",
     "costs accuracy: weigh it against the hardware", "use `--act-bits 8`"),
    ("8 bits on W2 mse (LeNet)", "b2_mse", "b2_mse_a8", "costs nothing the seeds can tell: use `--act-bits 8`",
     "costs accuracy: weigh it against the hardware", "use `--act-bits 8`"),
    ("8 bits on the 2-bit recipe (ResNet-8)", "r2_mse_fl8_epoch", "r2_mse_fl8_epoch_a8",
     "costs nothing the seeds can tell: use `--act-bits 8`", "costs accuracy: weigh it against the hardware",
     "use `--act-bits 8`"),
    ("4 bits against 8 (LeNet W5)", "b5_a8", "b5_a4", "4 bits cost nothing the seeds can tell",
     "use 8 bits unless the hardware needs 4", "4 bits"),
    ("4 bits against 8 (ResNet-8 W5)", "r5_a8", "r5_a4", "4 bits cost nothing the seeds can tell",
     "use 8 bits unless the hardware needs 4", "4 bits"),
    ("Calibration (LeNet W5/A4, mse against max)", "b5_a4_max", "b5_a4", "either; mse is the default",
     "use `--act-calibration max`", "keep `--act-calibration mse` (the default)"),
    ("When the quantizers come in (LeNet W5/A4, from the start against an extra phase at the end)", "b5_a4_end",
     "b5_a4", "either; `--act-from start` (the default) needs no extra phase", "use `--act-from end`",
     "keep `--act-from start` (the default)"),
)
PRUNING_HOLDS = -0.5  # a pruning holds within this many points of float
SIZE_GOAL = (50, -0.5)  # pruned 5-bit rows: this many times smaller than float32, within these points
PER_PHASE = ("b5", "b3", "b3_mse", "b2", "b2_mse")
BITS_PLOT = (("max n1 (paper)", {5: "b5", 4: "b4", 3: "b3", 2: "b2"}),
             ("mse n1", {5: "b5", 4: "b4", 3: "b3_mse", 2: "b2_mse"}))
PHASES_PLOT = ("b5", "b2_mse", "b2")
RESNET_BITS_PLOT = (("max n1 (paper)", {5: "r5", 4: "r4", 2: "r2"}),
                    ("mse n1", {5: "r5", 4: "r4", 3: "r3_mse", 2: "r2_mse"}),
                    ("mse, conv1 and ip at 8 bits", {2: "r2_mse_fl8"}))

# The papers' numbers, beside ours for shape only.
PAPER_T5 = {"5": 53, "4": 71, "3": 89}  # INQ + pruning on AlexNet, compression x (Table 5)
DEEP_COMPRESSION = {"AlexNet": 35, "LeNet-5": 39}
PAPER_T3 = {"float": 31.73, "5": 31.02, "4": 31.11, "3": 31.92, "2": 33.98}  # ResNet-18 top-1 error %
PAPER_T2 = {"random": 32.11, "pruning": 31.02}


def five_bit_variants() -> list[str]:
    """Dense LeNet rows at 5 bits other than b5: what was tried for the 5-bit goal."""
    return [k for k, r in ROWS.items() if r.bits == 5 and k != "b5" and not r.pruned and r.net == "lenet"]


def pruned_5bit_rows() -> list[str]:
    """The pruned rows the size goal is about."""
    return [k for k in TABLES["pruned"] if ROWS[k].bits == 5]
