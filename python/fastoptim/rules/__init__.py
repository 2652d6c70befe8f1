"""The update rules' Python classes, one module per rule (family), as ``torch/optim/`` keeps them.

Each module's ``__all__`` names the classes it exports; this package gathers them in the form type
checkers follow (``__all__ += module.__all__``), and ``fastoptim`` re-exports them all. A rule's
settings, their order and its state come from its C++ header (``cpp/include/fastoptim/rules/``).
"""

from . import adadelta, adafactor, adagrad, adam, adamax, adan, ademamix, asgd, dadapt, lamb, lars, lbfgs, lion, lookahead, muon, nadam, prodigy, radam, rmsprop, rprop, schedulefree, sgd, sparse
from .adadelta import *  # noqa: F403
from .adafactor import *  # noqa: F403
from .adagrad import *  # noqa: F403
from .adam import *  # noqa: F403
from .adamax import *  # noqa: F403
from .adan import *  # noqa: F403
from .ademamix import *  # noqa: F403
from .asgd import *  # noqa: F403
from .dadapt import *  # noqa: F403
from .lamb import *  # noqa: F403
from .lars import *  # noqa: F403
from .lbfgs import *  # noqa: F403
from .lion import *  # noqa: F403
from .lookahead import *  # noqa: F403
from .muon import *  # noqa: F403
from .nadam import *  # noqa: F403
from .prodigy import *  # noqa: F403
from .radam import *  # noqa: F403
from .rmsprop import *  # noqa: F403
from .rprop import *  # noqa: F403
from .schedulefree import *  # noqa: F403
from .sgd import *  # noqa: F403
from .sparse import *  # noqa: F403

__all__: list = []
__all__ += adadelta.__all__
__all__ += adafactor.__all__
__all__ += adagrad.__all__
__all__ += adam.__all__
__all__ += adamax.__all__
__all__ += adan.__all__
__all__ += ademamix.__all__
__all__ += asgd.__all__
__all__ += dadapt.__all__
__all__ += lamb.__all__
__all__ += lars.__all__
__all__ += lbfgs.__all__
__all__ += lion.__all__
__all__ += lookahead.__all__
__all__ += muon.__all__
__all__ += nadam.__all__
__all__ += prodigy.__all__
__all__ += radam.__all__
__all__ += rmsprop.__all__
__all__ += rprop.__all__
__all__ += schedulefree.__all__
__all__ += sgd.__all__
__all__ += sparse.__all__
