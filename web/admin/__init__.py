"""Django admin for the domain apps: a page shell, so its actions may call notifications.replanning.
Django's autodiscovery imports `web.admin`; each module registers its app's models."""

from web.admin import scheduler, visits  # noqa: F401  (registers the ModelAdmins)
