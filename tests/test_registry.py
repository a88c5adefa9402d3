"""Every name in setup.cfg's entry points resolves through spaCy's registry,
and spaCy finds the factory without our package being imported."""
import configparser
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.language import Language
from spacy.util import registry

SETUP_CFG = Path(__file__).parent.parent / "setup.cfg"
REGISTRIES = {
    "spacy_factories": "factories",
    "spacy_architectures": "architectures",
    "spacy_scorers": "scorers",
    "thinc_losses": "losses",
}


def entry_points():
    parser = configparser.ConfigParser()
    parser.read(SETUP_CFG, encoding="utf8")
    section = parser["options.entry_points"]
    for group, registry_name in REGISTRIES.items():
        for line in section[group].strip().splitlines():
            name, target = (part.strip() for part in line.split("="))
            yield registry_name, name, target


ENTRY_POINTS = list(entry_points())


def test_entry_points_are_declared():
    names = {name for _, name, _ in ENTRY_POINTS}
    assert {
        "globalpointer_ner",
        "spacy-globalpointer.GlobalPointer.v1",
        "spacy-globalpointer.EfficientGlobalPointer.v1",
        "spacy-globalpointer.globalpointer_scorer.v1",
        "globalpointer_extractor",
        "spacy-globalpointer.answer_scorer.v1",
        "spacy-globalpointer.SpanSoftmaxLoss.v1",
        "spacy-globalpointer.ExpectedF1Loss.v1",
        "spacy-globalpointer.MultiLabelAnswerLoss.v1",
    } <= names


@pytest.mark.parametrize("registry_name,name,target", ENTRY_POINTS)
def test_registered_name_resolves(registry_name, name, target):
    module, attr = target.split(":")
    if registry_name == "factories":
        spacy.blank("zh")  # loads the spacy_factories entry points
        assert Language.get_factory_meta(name).factory == name
        func = registry.factories.get(Language.get_factory_name(name))
    else:
        func = getattr(registry, registry_name).get(name)
    assert func.__module__ == module
    assert func.__name__ == attr


@pytest.mark.parametrize(
    "factory,config,cls",
    [
        ("globalpointer_ner", {}, "GlobalPointerNER"),
        ("globalpointer_extractor",
         {"loss": {"@losses": "spacy-globalpointer.ExpectedF1Loss.v1", "entropy_weight": 0.1}},
         "GlobalPointerExtractor"),
    ],
)
def test_factory_found_without_import(factory, config, cls):
    """A fresh process that never imports spacy_globalpointer can add the pipe
    (and resolve its registered loss)."""
    code = (
        "import sys, spacy\n"
        "nlp = spacy.blank('zh')\n"
        f"pipe = nlp.add_pipe({factory!r}, config={config!r})\n"
        "print(type(pipe).__name__)\n"
        "assert pipe.model.get_ref('pointer').name == 'global_pointer'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == cls
