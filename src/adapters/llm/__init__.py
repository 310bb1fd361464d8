"""Adapters of the `AnswerGenerator` and `QueryRewriter` ports, one module per `REPOCHAT_LLM` value:
`openai`, `extractive`."""
