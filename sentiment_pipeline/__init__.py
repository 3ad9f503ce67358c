"""Tweet sentiment pipeline: cleaning, tokenizer, model, data, run store, notebook runner, CLI."""

__version__ = "0.1.0"
