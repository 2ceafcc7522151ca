"""Ignite engines: the trainers (:mod:`.supervised`, :mod:`.gan`), the validation and test evaluators
(:mod:`.validation`, :mod:`.testing`) and their one metric path (:mod:`.metrics`). Import from the modules:
this package imports nothing, so an evaluation never loads the training steps."""
