"""graphengine.training.arguments: fit's keywords, unknown ones refused with a "did you mean",
the regularization arguments read into regularizers."""

import inspect

import numpy as np
import pytest

import graphengine as ge
from graphengine.training import FIT_ARGUMENTS, TrainingError, UnknownArgumentError, fit
from graphengine.training.arguments import check_keywords, is_dtype, make_regularizers, own_keywords


def test_fit_arguments_are_fits_own_keywords_except_the_graph_ones():
    assert set(own_keywords(fit)) - set(FIT_ARGUMENTS) == {"x", "eval_output"}
    assert set(FIT_ARGUMENTS) <= set(inspect.signature(fit).parameters)


def test_check_keywords_lets_hyper_parameters_through_and_refuses_others_with_a_suggestion():
    check_keywords("fit()", ["epochs"], "momentum", {"momentum": 0.9})
    check_keywords("fit()", ["epochs"], "sgd", {})
    with pytest.raises(UnknownArgumentError, match=r"fit\(\) got an unknown keyword argument 'epoch'\. "
                                                   r"Did you mean 'epochs'\?.*optimizer 'sgd', which takes lr"):
        check_keywords("fit()", ["epochs"], "sgd", {"epoch": 3})


def test_check_keywords_on_an_optimizer_already_made_says_where_to_set_hyper_parameters():
    opt = ge.optimizers.create("sgd", [], lr=0.1)
    with pytest.raises(UnknownArgumentError, match="already made: set its hyper-parameters where you make it"):
        check_keywords("Trainer()", ["loss"], opt, {"momentum": 0.9})


def test_is_dtype():
    assert is_dtype("float32") and is_dtype(np.float64) and not is_dtype("weights")


def test_make_regularizers_reads_names_strengths_and_shorthands():
    regs = make_regularizers({"l2": 0.01}, None, 0.001)
    assert [type(r).__name__.lower() for r in regs] == ["l2", "l1"] and regs[0].strength == 0.01
    assert make_regularizers(None, None, None) == []
    with pytest.raises(TrainingError, match=r"regularizers are ge.Regularizer instances, names, or \{name: strength\}"):
        make_regularizers([3], None, None)
