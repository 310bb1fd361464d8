"""Adapters of the `AnswerGenerator` port, one module per `REPOCHAT_LLM` value: `openai`, `extractive`."""
