"""`GlobalPointerPipe` (`base.py`), the shared base of `globalpointer_ner` and
`globalpointer_extractor`."""
import pytest
import spacy
from spacy.util import registry

from spacy_globalpointer import GlobalPointerExtractor, GlobalPointerNER
from spacy_globalpointer.base import DEFAULT_GP_MODEL, GlobalPointerPipe


def test_extractor_and_ner_are_siblings():
    """Both pipes extend GlobalPointerPipe; the extractor has none of the NER
    pipe's methods, whose cfg keys it lacks."""
    assert issubclass(GlobalPointerExtractor, GlobalPointerPipe)
    assert issubclass(GlobalPointerNER, GlobalPointerPipe)
    assert not issubclass(GlobalPointerExtractor, GlobalPointerNER)
    for name in ("_gold_place", "_fit_score_weights", "threshold_table", "_set_ents", "_span_rows"):
        assert hasattr(GlobalPointerNER, name) and not hasattr(GlobalPointerExtractor, name)
    nlp = spacy.blank("zh")
    pipe = nlp.add_pipe("globalpointer_extractor")
    assert set(pipe.cfg) == {"labels", "spans_key", "context_key", "separator", "threshold",
                             "max_length", "learned_max_length"}


def _one_sgd_step(learn_rate_scale: float, efficient: bool):
    """The change of every head and encoder parameter after one plain-SGD
    update of a fresh pipe whose tok2vec is part of its own model."""
    import numpy
    from thinc.api import SGD, fix_random_seed

    from .conftest import NESTED_DATA, make_examples

    fix_random_seed(0)
    nlp = spacy.blank("zh")
    model = dict(DEFAULT_GP_MODEL, learn_rate_scale=learn_rate_scale)
    if efficient:
        model["@architectures"] = "spacy-globalpointer.EfficientGlobalPointer.v1"
    pipe = nlp.add_pipe("globalpointer_ner", config={"model": model})
    examples = make_examples(nlp, NESTED_DATA)
    nlp.initialize(lambda: examples)
    parts = {"head": pipe.model.get_ref("pointer"), "encoder": pipe.model.get_ref("tok2vec")}

    def params():
        return {(part, i, name): numpy.array(node.get_param(name))
                for part, model in parts.items() for i, node in enumerate(model.walk())
                for name in node.param_names if node.has_param(name)}

    before = params()
    nlp.update(examples, sgd=SGD(0.01, L2=0.0, grad_clip=0.0))
    return {key: value - before[key] for key, value in params().items()}


@pytest.mark.parametrize("efficient", [False, True])
def test_head_learn_rate_scale_scales_the_head_updates_only(efficient):
    """`learn_rate_scale` of the architecture multiplies the head's learning
    rate and leaves the encoder's as it is (plain SGD: the update of a
    parameter is the learning rate times its gradient)."""
    import numpy

    plain, fast = _one_sgd_step(1.0, efficient), _one_sgd_step(10.0, efficient)
    assert plain.keys() == fast.keys()
    head = [key for key in plain if key[0] == "head"]
    encoder = [key for key in plain if key[0] == "encoder"]
    assert head and encoder
    assert any(numpy.abs(plain[key]).max() > 0 for key in head)
    assert any(numpy.abs(plain[key]).max() > 0 for key in encoder)
    for key in head:
        numpy.testing.assert_allclose(fast[key], 10.0 * plain[key], rtol=1e-4, atol=1e-7)
    for key in encoder:
        numpy.testing.assert_allclose(fast[key], plain[key], rtol=1e-4, atol=1e-7)


@registry.architectures("test.GlobalPointerWithProjection.v1")
def _build_with_projection(tok2vec, set_pointer_ref: bool = True):
    """A custom architecture with a linear projection between the encoder and
    the head, in neither ref (or without the `pointer` ref)."""
    from thinc.api import Linear, chain, with_array

    from spacy_globalpointer.models import GlobalPointerHead

    width = tok2vec.get_dim("nO")
    head = GlobalPointerHead(head_size=64)
    model = chain(tok2vec, with_array(Linear(width, width)), head)
    model.set_ref("tok2vec", tok2vec)
    if set_pointer_ref:
        model.set_ref("pointer", head)
    return model


@pytest.mark.parametrize("set_pointer_ref,code", [(True, "GP032"), (False, "GP031")])
def test_custom_architecture_must_keep_its_layers_in_the_two_refs(set_pointer_ref, code):
    """The pipe runs (and `finish_update` trains) only the model's `tok2vec`
    and `pointer` refs: a layer outside both, or a missing ref, is refused
    when the component is made, naming the component."""
    nlp = spacy.blank("en")
    model = {"@architectures": "test.GlobalPointerWithProjection.v1",
             "tok2vec": DEFAULT_GP_MODEL["tok2vec"], "set_pointer_ref": set_pointer_ref}
    with pytest.raises(ValueError, match=code) as info:
        nlp.add_pipe("globalpointer_ner", name="custom_gp", config={"model": model})
    assert "custom_gp" in str(info.value)
    if code == "GP032":
        assert "linear" in str(info.value)
