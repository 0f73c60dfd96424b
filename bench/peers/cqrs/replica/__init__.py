"""The replica side of the django-cqrs peer: the model django-cqrs keeps in sync."""
