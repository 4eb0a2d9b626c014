"""graphengine.training.errors: TrainingError, the one error training raises."""

import graphengine as ge
from graphengine.training import trainer as trainer_module
from graphengine.training.errors import TrainingError


def test_training_error_is_a_graphengine_and_a_value_error_exported_where_it_was():
    assert issubclass(TrainingError, ge.GraphEngineError) and issubclass(TrainingError, ValueError)
    assert trainer_module.TrainingError is TrainingError is ge.training.TrainingError
    assert issubclass(ge.training.UnknownArgumentError, TrainingError)
