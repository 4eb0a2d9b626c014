"""graphengine-example-plugin: what a graphengine plugin package looks like.

graphengine imports this module through the entry point in pyproject.toml and calls each
hook below with a ``register`` callback; each registered object has a ``name``:

* op ``prelu`` (``ge.ops.prelu(x, alpha)``), a ReLU with a learned negative slope;
* optimizer ``lion`` (``ge.optimizers.create("lion", g.params(), lr=1e-4)``);
* regularizer ``elastic_net`` (``ge.regularizers.create("elastic_net", strength=1e-4)``);
* initializer ``orthogonal`` (``ge.init.orthogonal((64, 32), seed=0)``);
* node style ``learnable_activations`` (used by ``graphengine.visualize.draw``).
"""

import graphengine as ge

from .initializers import Orthogonal
from .ops import PReLU
from .optimizers import Lion
from .regularizers import ElasticNet
from .styles import LearnableActivations

__version__ = "0.1.0"
__all__ = ["PReLU", "Lion", "ElasticNet", "Orthogonal", "LearnableActivations"]


@ge.hookimpl
def register_ops(register):
    register(PReLU())  # ops: an instance


@ge.hookimpl
def register_optimizers(register):
    register(Lion)  # optimizers: the class (graphengine builds one per create())


@ge.hookimpl
def register_regularizers(register):
    register(ElasticNet)  # regularizers: the class


@ge.hookimpl
def register_initializers(register):
    register(Orthogonal())  # initializers: a callable instance


@ge.hookimpl
def register_node_styles(register):
    register(LearnableActivations())  # node styles: an instance
