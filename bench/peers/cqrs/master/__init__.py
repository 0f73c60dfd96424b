"""The master side of the django-cqrs peer: the model whose saves are replicated."""
