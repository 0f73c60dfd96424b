"""System checks of strangler.sagas: a saga type that cannot run fails `manage.py check`."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register

from strangler.sagas.conf import SagaConfigurationError, saga_settings


@register()
def check_saga_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    try:
        conf = saga_settings()
        for saga_type in conf.types.values():
            saga_type.on_timeout()
    except SagaConfigurationError as exc:
        return [Error(str(exc), id="sagas.E001")]
    return []
