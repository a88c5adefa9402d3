"""The project's scripts, a package: run each from project/ as
`python -m scripts.NAME` (see project.yml). What they share is in
`scripts.common`; the corpus readers are `scripts.corpora`."""
