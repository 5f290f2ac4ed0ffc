"""AI assistants: chat relayed to an OpenAI-compatible endpoint, and embeddings
stored with pgvector (docs/ai.md)."""
