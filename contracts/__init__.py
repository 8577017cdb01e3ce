"""Names shared by the API, the worker and the workflows: one definition of each."""
