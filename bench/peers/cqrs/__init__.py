"""The django-cqrs peer: a master project and a replica project, configured as its docs say."""
